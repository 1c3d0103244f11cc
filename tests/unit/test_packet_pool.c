/* test_packet_pool.c — unit tests of the packet buffer pools and their per-thread stash: reuse
 * of a buffer only its packet held, never of a shared one, and a blank packet afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <libavcodec/avcodec.h>

#include "engine/packet_pool.h"

/* A packet of size bytes from the pools, its payload filled with 0xAA. */
static AVPacket *pooled(int size)
{
    AVPacket *p = av_packet_alloc();
    assert_non_null(p);
    assert_int_equal(packet_pool_new(p, size), 0);
    memset(p->data, 0xAA, (size_t)size);
    return p;
}

static void assert_blank(const AVPacket *p)
{
    assert_null(p->buf);
    assert_null(p->data);
    assert_int_equal(p->size, 0);
    assert_int_equal(p->side_data_elems, 0);
    assert_true(p->pts == AV_NOPTS_VALUE && p->dts == AV_NOPTS_VALUE);
    assert_int_equal(p->flags, 0);
    assert_int_equal(p->stream_index, 0);
}

/* A buffer only its packet held comes back as the next one of its class, with zeroed padding
 * after the new size; the packet it left is blank. */
static void test_released_buffer_is_reused(void **state)
{
    (void)state;
    AVPacket *p = pooled(3000);
    p->pts = p->dts = 42;
    p->flags = AV_PKT_FLAG_KEY;
    p->stream_index = 1;
    const uint8_t *data = p->data;
    packet_pool_unref(p);
    assert_blank(p);

    assert_int_equal(packet_pool_new(p, 2500), 0); /* same class: 4 KiB */
    assert_ptr_equal(p->data, data);
    for (int i = 0; i < AV_INPUT_BUFFER_PADDING_SIZE; i++)
        assert_int_equal(p->data[2500 + i], 0);
    av_packet_free(&p);
}

/* A buffer another reference still holds is not taken back: that reference's bytes stay as
 * they were while new packets are written. */
static void test_shared_buffer_is_not_reused(void **state)
{
    (void)state;
    AVPacket *p = pooled(3000), *copy = av_packet_alloc();
    assert_non_null(copy);
    assert_int_equal(av_packet_ref(copy, p), 0);
    const uint8_t *data = p->data;
    packet_pool_unref(p);
    assert_blank(p);

    AVPacket *next = pooled(3000); /* overwrites with 0xAA: must not touch copy's bytes */
    assert_ptr_not_equal(next->data, data);
    memset(next->data, 0x55, 3000);
    assert_ptr_equal(copy->data, data);
    assert_int_equal(copy->data[0], 0xAA);
    assert_int_equal(copy->data[2999], 0xAA);
    av_packet_free(&next);
    av_packet_free(&copy);
    av_packet_free(&p);
}

/* A packet with side data is released as av_packet_unref would (no leak under ASan). */
static void test_side_data_is_freed(void **state)
{
    (void)state;
    AVPacket *p = pooled(100);
    uint8_t *side = av_packet_new_side_data(p, AV_PKT_DATA_NEW_EXTRADATA, 16);
    assert_non_null(side);
    packet_pool_unref(p);
    assert_blank(p);
    assert_null(p->side_data);
    av_packet_free(&p);
}

/* Past the largest class (256 KiB) there is no pooled buffer; packet_pool_new falls back
 * to a buffer of its own, which packet_pool_unref frees. */
static void test_large_payloads_bypass_the_pools(void **state)
{
    (void)state;
    assert_null(packet_pool_buffer(300 * 1024));
    AVPacket *p = pooled(300 * 1024);
    assert_true(p->buf->size >= 300 * 1024);
    packet_pool_unref(p);
    assert_blank(p);
    av_packet_free(&p);
}

/* Many buffers of one class released at once: the stash keeps a few, the rest go back to
 * the pool; every one can be had again (no leak, no double use). */
static void test_many_releases(void **state)
{
    (void)state;
    enum { N = 300 };
    AVPacket *ps[N];
    for (int i = 0; i < N; i++)
        ps[i] = pooled(1000);
    for (int i = 0; i < N; i++)
        packet_pool_unref(ps[i]);
    for (int i = 0; i < N; i++) {
        assert_int_equal(packet_pool_new(ps[i], 1000), 0);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(ps[i]->data, ps[j]->data);
    }
    for (int i = 0; i < N; i++)
        av_packet_free(&ps[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_released_buffer_is_reused),
        cmocka_unit_test(test_shared_buffer_is_not_reused),
        cmocka_unit_test(test_side_data_is_freed),
        cmocka_unit_test(test_large_payloads_bypass_the_pools),
        cmocka_unit_test(test_many_releases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
