/* test_gop_buffer.c — unit tests of the engine's pre-roll GOP buffer with synthetic packets:
 * keyframe resets, audio after the keyframe, the bounds, audio only, order and ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/gop_buffer.h"

enum { V = 0, A = 1 };
#define MS 1000 /* microseconds */

/* A packet of size bytes; the first payload byte carries a tag to check the order by. */
static AVPacket *make_pkt(int size, uint8_t tag)
{
    AVPacket *p = av_packet_alloc();
    assert_non_null(p);
    assert_int_equal(av_new_packet(p, size), 0);
    p->data[0] = tag;
    return p;
}

/* Offers one packet; returns the verdict and frees what the buffer did not take. */
static int offer(gop_buffer *b, int track, bool key, int64_t dts_ms, int size, uint8_t tag)
{
    AVPacket *p = make_pkt(size, tag);
    timeline_pkt tp = {.track = track,
                       .is_video = track == V,
                       .is_key = key,
                       .dts_us = dts_ms * MS,
                       .pts_us = dts_ms * MS,
                       .now_us = dts_ms * MS};
    int rc = gop_buffer_push(b, p, &tp);
    if (rc == GOP_KEPT) {
        assert_null(p->data); /* the reference moved into the buffer */
        assert_int_equal(p->size, 0);
    } else {
        assert_non_null(p->data); /* untouched */
        assert_int_equal(p->data[0], tag);
    }
    av_packet_free(&p);
    return rc;
}

static uint8_t front_tag(gop_buffer *b)
{
    gop_entry *e = gop_buffer_front(b);
    assert_non_null(e);
    return e->pkt->data[0];
}

static void video_buffer(gop_buffer *b, int max_packets, int64_t max_bytes)
{
    gop_buffer_init(b, max_packets, max_bytes, GOP_AUDIO_WINDOW_US);
    gop_buffer_reset(b, true);
}

static void test_nothing_before_the_first_keyframe(void **state)
{
    gop_buffer b;
    video_buffer(&b, GOP_MAX_PACKETS, GOP_MAX_BYTES);
    assert_false(gop_buffer_ready(&b));
    /* nginx-rtmp: audio at once, video from the publisher's next keyframe */
    assert_int_equal(offer(&b, A, true, 0, 100, 1), GOP_SKIPPED);
    assert_int_equal(offer(&b, V, false, 10, 100, 2), GOP_SKIPPED);
    assert_int_equal(b.count, 0);
    assert_false(gop_buffer_ready(&b));
    assert_null(gop_buffer_front(&b));
    assert_int_equal(offer(&b, V, true, 33, 1000, 3), GOP_KEPT);
    assert_true(gop_buffer_ready(&b));
    assert_int_equal(front_tag(&b), 3);
    gop_buffer_free(&b);
}

static void test_keyframe_drops_what_came_before(void **state)
{
    gop_buffer b;
    video_buffer(&b, GOP_MAX_PACKETS, GOP_MAX_BYTES);
    assert_int_equal(offer(&b, V, true, 0, 1000, 10), GOP_KEPT);
    for (int i = 1; i < 30; i++) {
        assert_int_equal(offer(&b, V, false, i * 33, 100, 11), GOP_KEPT);
        assert_int_equal(offer(&b, A, true, i * 33 + 5, 50, 12), GOP_KEPT);
    }
    assert_int_equal(b.count, 59);
    assert_int_equal(b.bytes, 1000 + 29 * 150);
    assert_int_equal(gop_buffer_span_us(&b), (29 * 33 + 5) * MS);
    assert_int_equal(offer(&b, V, true, 990, 2000, 20), GOP_KEPT);
    assert_int_equal(b.count, 1);
    assert_int_equal(b.bytes, 2000);
    assert_int_equal(front_tag(&b), 20);
    assert_true(gop_buffer_front(&b)->tp.is_key);
    gop_buffer_free(&b);
}

/* Audio after the keyframe stays, in arrival order, with its timeline view. */
static void test_audio_kept_after_keyframe_in_order(void **state)
{
    gop_buffer b;
    video_buffer(&b, GOP_MAX_PACKETS, GOP_MAX_BYTES);
    assert_int_equal(offer(&b, V, true, 1000, 500, 0), GOP_KEPT);
    uint8_t tag = 1;
    for (int i = 0; i < 150; i++) { /* past the ring's first size: it grows in order */
        assert_int_equal(offer(&b, A, true, 1000 + i * 23, 40, tag++), GOP_KEPT);
        if (i % 2)
            assert_int_equal(offer(&b, V, false, 1000 + i * 16, 200, tag++), GOP_KEPT);
    }
    assert_int_equal(b.count, 1 + 150 + 75);
    uint8_t want = 0;
    int audio = 0;
    for (gop_entry *e; (e = gop_buffer_front(&b)); gop_buffer_pop(&b)) {
        assert_int_equal(e->pkt->data[0], want++);
        audio += e->tp.track == A;
    }
    assert_int_equal(audio, 150);
    assert_int_equal(b.bytes, 0);
    assert_true(b.cap >= 226 && b.cap <= GOP_MAX_PACKETS);
    gop_buffer_free(&b);
}

/* A GOP beyond the packet bound is dropped whole; the buffer waits for the next keyframe. */
static void test_packet_cap_drops_the_gop(void **state)
{
    gop_buffer b;
    video_buffer(&b, 5, GOP_MAX_BYTES);
    assert_int_equal(offer(&b, V, true, 0, 100, 1), GOP_KEPT);
    for (int i = 1; i < 5; i++)
        assert_int_equal(offer(&b, V, false, i * 33, 100, 2), GOP_KEPT);
    assert_int_equal(b.count, 5);
    assert_int_equal(offer(&b, A, true, 170, 10, 3), GOP_OVERFLOW);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.bytes, 0);
    assert_false(gop_buffer_ready(&b));
    assert_int_equal(offer(&b, V, false, 198, 100, 4), GOP_SKIPPED);
    assert_int_equal(offer(&b, V, true, 231, 100, 5), GOP_KEPT);
    assert_true(gop_buffer_ready(&b));
    assert_int_equal(front_tag(&b), 5);
    gop_buffer_free(&b);
}

static void test_byte_cap_drops_the_gop(void **state)
{
    gop_buffer b;
    video_buffer(&b, GOP_MAX_PACKETS, 1000);
    assert_int_equal(offer(&b, V, true, 0, 400, 1), GOP_KEPT);
    assert_int_equal(offer(&b, V, false, 33, 300, 2), GOP_KEPT);
    assert_int_equal(offer(&b, A, true, 40, 300, 3), GOP_KEPT);
    assert_int_equal(b.bytes, 1000); /* exactly at the bound is allowed */
    assert_int_equal(offer(&b, V, false, 66, 1, 4), GOP_OVERFLOW);
    assert_int_equal(b.count, 0);
    /* a keyframe larger than the bound on its own is never held */
    assert_int_equal(offer(&b, V, true, 99, 1001, 5), GOP_OVERFLOW);
    assert_false(gop_buffer_ready(&b));
    assert_int_equal(offer(&b, V, true, 132, 999, 6), GOP_KEPT);
    assert_int_equal(front_tag(&b), 6);
    gop_buffer_free(&b);
}

/* Audio only: ready at once, the last half second, newest kept when the bounds bite. */
static void test_audio_only_keeps_the_last_window(void **state)
{
    gop_buffer b;
    gop_buffer_init(&b, GOP_MAX_PACKETS, GOP_MAX_BYTES, GOP_AUDIO_WINDOW_US);
    gop_buffer_reset(&b, false);
    assert_true(gop_buffer_ready(&b));
    for (int i = 0; i < 200; i++)
        assert_int_equal(offer(&b, A, true, i * 23, 100, (uint8_t)i), GOP_KEPT);
    int64_t newest = 199 * 23 * MS;
    gop_entry *e = gop_buffer_front(&b);
    assert_true(newest - e->tp.dts_us <= GOP_AUDIO_WINDOW_US);
    assert_true(newest - e->tp.dts_us > GOP_AUDIO_WINDOW_US - 23 * MS);
    assert_int_equal(b.count, 22); /* 21 steps of 23 ms fit in 500 ms */
    assert_int_equal(front_tag(&b), 199 - 21);
    /* a step backwards (a new clock): only the new packet stays */
    assert_int_equal(offer(&b, A, true, 5, 100, 77), GOP_KEPT);
    assert_int_equal(b.count, 1);
    assert_int_equal(front_tag(&b), 77);
    gop_buffer_free(&b);
}

static void test_audio_only_bounds_drop_the_oldest(void **state)
{
    gop_buffer b;
    gop_buffer_init(&b, 3, 250, GOP_AUDIO_WINDOW_US);
    gop_buffer_reset(&b, false);
    for (int i = 0; i < 6; i++)
        assert_int_equal(offer(&b, A, true, i * 23, 50, (uint8_t)i), GOP_KEPT);
    assert_int_equal(b.count, 3); /* the packet bound */
    assert_int_equal(front_tag(&b), 3);
    assert_int_equal(offer(&b, A, true, 6 * 23, 200, 6), GOP_KEPT);
    assert_int_equal(b.count, 2); /* the byte bound: 50 + 200 */
    assert_int_equal(b.bytes, 250);
    assert_int_equal(front_tag(&b), 5);
    assert_int_equal(offer(&b, A, true, 7 * 23, 251, 7), GOP_OVERFLOW);
    assert_int_equal(b.count, 2);
    gop_buffer_free(&b);
}

/* The ring wraps while packets come and go; reset and free leave a reusable buffer. */
static void test_wraps_resets_and_reuses(void **state)
{
    gop_buffer b;
    gop_buffer_init(&b, GOP_MAX_PACKETS, GOP_MAX_BYTES, 100 * MS);
    gop_buffer_reset(&b, false);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(offer(&b, A, true, i * 10, 10, (uint8_t)i), GOP_KEPT);
    assert_int_equal(b.count, 11);
    assert_int_equal(front_tag(&b), (uint8_t)(999 - 10));
    assert_int_equal(b.cap, 64); /* a sliding window never grows the ring */
    gop_buffer_reset(&b, true);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.bytes, 0);
    assert_false(gop_buffer_ready(&b));
    gop_buffer_free(&b);
    assert_int_equal(b.cap, 0);
    assert_int_equal(offer(&b, V, true, 0, 10, 9), GOP_KEPT);
    assert_int_equal(front_tag(&b), 9);
    gop_buffer_free(&b);
    gop_buffer_free(&b); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_before_the_first_keyframe),
        cmocka_unit_test(test_keyframe_drops_what_came_before),
        cmocka_unit_test(test_audio_kept_after_keyframe_in_order),
        cmocka_unit_test(test_packet_cap_drops_the_gop),
        cmocka_unit_test(test_byte_cap_drops_the_gop),
        cmocka_unit_test(test_audio_only_keeps_the_last_window),
        cmocka_unit_test(test_audio_only_bounds_drop_the_oldest),
        cmocka_unit_test(test_wraps_resets_and_reuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
