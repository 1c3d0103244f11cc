/* test_flv_tracks.c — the FLV track mapping of an RTMP play session: sequence headers become
 * codec parameters, a new one rides on the next packet, timestamps unwrap past 2^32 ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/flv_tracks.h"
#include "engine/rtmp.h"

/* x264's AVCDecoderConfigurationRecord of a 320x240 stream, as an FLV video tag body. */
static const uint8_t avc_header[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x16, 0x67,
    0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
    0x00, 0x00, 0x0f, 0x03, 0xc5, 0x0a, 0xa8, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8};
/* AAC LC, 48 kHz (index 3), mono: 00010 0011 0001 000 */
static const uint8_t aac_header[] = {0xaf, 0x00, 0x11, 0x88};

static int take(flv_tracks *ft, uint8_t type, uint32_t ts, const uint8_t *b, size_t n,
                AVPacket *pkt, int *kind)
{
    char err[RTMP_ERR_LEN];
    *kind = -1;
    return flv_tracks_take(ft, type, ts, b, n, pkt, kind, err, sizeof(err));
}

static void test_headers_become_parameters(void **state)
{
    (void)state;
    flv_tracks ft;
    flv_tracks_init(&ft);
    AVPacket *pkt = av_packet_alloc();
    int kind;
    assert_int_equal(take(&ft, RTMP_MSG_VIDEO, 0, avc_header, sizeof(avc_header), pkt, &kind), 0);
    assert_int_equal(take(&ft, RTMP_MSG_AUDIO, 0, aac_header, sizeof(aac_header), pkt, &kind), 0);
    assert_true(flv_track_known(&ft, 0));
    assert_false(flv_track_usable(&ft, 0)); /* no size yet: no keyframe, no metadata */
    assert_true(flv_track_usable(&ft, 1));
    assert_false(flv_tracks_complete(&ft));
    assert_int_equal(ft.t[1].sample_rate, 48000);
    assert_int_equal(ft.t[1].channels, 1);
    AVFormatContext *ic = avformat_alloc_context();
    AVStream *st = avformat_new_stream(ic, NULL);
    assert_int_equal(flv_tracks_fill(&ft, 0, st), 0);
    assert_int_equal(st->codecpar->codec_id, AV_CODEC_ID_H264);
    assert_int_equal(st->codecpar->extradata_size, (int)sizeof(avc_header) - 5);
    assert_memory_equal(st->codecpar->extradata, avc_header + 5, sizeof(avc_header) - 5);
    assert_int_equal(st->time_base.den, 1000);
    avformat_free_context(ic);
    av_packet_free(&pkt);
    flv_tracks_free(&ft);
}

/* onMetaData with audiocodecid 0 (nginx-rtmp's way of saying "none") announces video only. */
static void test_metadata_codec_zero_is_no_track(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    amf_put_string(&b, "onMetaData");
    amf_put_object_start(&b);
    amf_put_key(&b, "videocodecid");
    amf_put_number(&b, 7);
    amf_put_key(&b, "audiocodecid");
    amf_put_number(&b, 0);
    amf_put_key(&b, "width");
    amf_put_number(&b, 320);
    amf_put_key(&b, "height");
    amf_put_number(&b, 240);
    amf_put_object_end(&b);
    flv_tracks ft;
    flv_tracks_init(&ft);
    AVPacket *pkt = av_packet_alloc();
    int kind;
    assert_int_equal(take(&ft, RTMP_MSG_DATA, 0, rtmp_buf_bytes(&b), rtmp_buf_size(&b), pkt, &kind),
                     0);
    assert_true(ft.meta_has[0]);
    assert_false(ft.meta_has[1]);
    take(&ft, RTMP_MSG_VIDEO, 0, avc_header, sizeof(avc_header), pkt, &kind);
    assert_true(flv_tracks_complete(&ft)); /* the size comes from the metadata */
    av_packet_free(&pkt);
    flv_tracks_free(&ft);
    rtmp_buf_free(&b);
}

static void test_new_header_rides_on_the_next_packet(void **state)
{
    (void)state;
    flv_tracks ft;
    flv_tracks_init(&ft);
    AVPacket *pkt = av_packet_alloc();
    int kind;
    const uint8_t frame[] = {0x27, 0x01, 0x00, 0x00, 0x21, 0, 0, 0, 2, 0x41, 0x9a};
    take(&ft, RTMP_MSG_VIDEO, 0, avc_header, sizeof(avc_header), pkt, &kind);
    /* the same header again: nothing new */
    take(&ft, RTMP_MSG_VIDEO, 10, avc_header, sizeof(avc_header), pkt, &kind);
    assert_int_equal(take(&ft, RTMP_MSG_VIDEO, 40, frame, sizeof(frame), pkt, &kind), 1);
    size_t size = 0;
    assert_null(av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size));
    assert_int_equal(kind, 0);
    assert_int_equal(pkt->dts, 40);
    assert_int_equal(pkt->pts, 40 + 0x21); /* the composition time offset */
    assert_false(pkt->flags & AV_PKT_FLAG_KEY);
    av_packet_unref(pkt);
    uint8_t other[sizeof(avc_header)];
    memcpy(other, avc_header, sizeof(other));
    other[sizeof(other) - 1] ^= 1;
    take(&ft, RTMP_MSG_VIDEO, 80, other, sizeof(other), pkt, &kind);
    assert_int_equal(take(&ft, RTMP_MSG_VIDEO, 80, frame, sizeof(frame), pkt, &kind), 1);
    const uint8_t *side = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size);
    assert_non_null(side);
    assert_int_equal(size, sizeof(other) - 5);
    assert_memory_equal(side, other + 5, size);
    av_packet_unref(pkt);
    assert_int_equal(take(&ft, RTMP_MSG_VIDEO, 120, frame, sizeof(frame), pkt, &kind), 1);
    assert_null(av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size)); /* once */
    av_packet_free(&pkt);
    flv_tracks_free(&ft);
}

static void test_timestamps_unwrap_past_2_32(void **state)
{
    (void)state;
    flv_tracks ft;
    flv_tracks_init(&ft);
    AVPacket *pkt = av_packet_alloc();
    int kind;
    const uint8_t audio[] = {0xaf, 0x01, 0x21, 0x10};
    take(&ft, RTMP_MSG_AUDIO, 0, aac_header, sizeof(aac_header), pkt, &kind);
    int64_t want[] = {0xffffffc0LL, 0xffffffe0LL, 0x100000000LL, 0x100000020LL};
    uint32_t ts[] = {0xffffffc0u, 0xffffffe0u, 0, 0x20};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(take(&ft, RTMP_MSG_AUDIO, ts[i], audio, sizeof(audio), pkt, &kind), 1);
        assert_int_equal(pkt->dts, want[i]);
        assert_true(pkt->flags & AV_PKT_FLAG_KEY);
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    flv_tracks_free(&ft);
}

/* A body in a pooled buffer: the packet holds that buffer (no copy) and its payload is the
 * body past the FLV header; a plain body is copied. */
static void test_pooled_body_taken_by_reference(void **state)
{
    (void)state;
    flv_tracks ft;
    flv_tracks_init(&ft);
    AVPacket *pkt = av_packet_alloc();
    int kind;
    take(&ft, RTMP_MSG_AUDIO, 0, aac_header, sizeof(aac_header), pkt, &kind);
    const uint8_t audio[] = {0xaf, 0x01, 0x21, 0x10, 0x05};
    AVBufferRef *ref = av_buffer_allocz(sizeof(audio) + AV_INPUT_BUFFER_PADDING_SIZE);
    assert_non_null(ref);
    memcpy(ref->data, audio, sizeof(audio));
    AVBufferRef *held = ref;
    flv_body body = {.data = ref->data, .len = sizeof(audio), .ref = &held};
    char err[RTMP_ERR_LEN];
    assert_int_equal(
        flv_tracks_take_body(&ft, RTMP_MSG_AUDIO, 7, &body, pkt, &kind, err, sizeof(err)), 1);
    assert_null(held);
    assert_ptr_equal(pkt->buf->buffer, ref->buffer);
    assert_ptr_equal(pkt->data, ref->data + 2);
    assert_int_equal(pkt->size, 3);
    assert_int_equal(pkt->dts, 7);
    ref = av_buffer_ref(pkt->buf);
    av_packet_unref(pkt);
    assert_int_equal(take(&ft, RTMP_MSG_AUDIO, 8, ref->data, sizeof(audio), pkt, &kind), 1);
    assert_ptr_not_equal(pkt->buf->buffer, ref->buffer);
    assert_memory_equal(pkt->data, audio + 2, 3);
    av_packet_unref(pkt);
    av_buffer_unref(&ref);
    av_packet_free(&pkt);
    flv_tracks_free(&ft);
}

static void test_bad_tags(void **state)
{
    (void)state;
    flv_tracks ft;
    flv_tracks_init(&ft);
    AVPacket *pkt = av_packet_alloc();
    int kind;
    const uint8_t short_avc[] = {0x17, 0x01};
    assert_true(take(&ft, RTMP_MSG_VIDEO, 0, short_avc, sizeof(short_avc), pkt, &kind) < 0);
    const uint8_t empty_header[] = {0x17, 0x00, 0, 0, 0};
    assert_true(take(&ft, RTMP_MSG_VIDEO, 0, empty_header, sizeof(empty_header), pkt, &kind) < 0);
    const uint8_t vp6[] = {0x14, 1, 2, 3}; /* a codec the mapping does not cover: skipped */
    assert_int_equal(take(&ft, RTMP_MSG_VIDEO, 0, vp6, sizeof(vp6), pkt, &kind), 0);
    assert_false(flv_track_known(&ft, 0));
    const uint8_t garbage_meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M',  'e', 't',
                                    'a',  'D',  'a',  't', 'a', 0x03, 0x00};
    assert_int_equal(take(&ft, RTMP_MSG_DATA, 0, garbage_meta, sizeof(garbage_meta), pkt, &kind),
                     0);
    assert_false(ft.meta);
    av_packet_free(&pkt);
    flv_tracks_free(&ft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_become_parameters),
        cmocka_unit_test(test_metadata_codec_zero_is_no_track),
        cmocka_unit_test(test_new_header_rides_on_the_next_packet),
        cmocka_unit_test(test_timestamps_unwrap_past_2_32),
        cmocka_unit_test(test_pooled_body_taken_by_reference),
        cmocka_unit_test(test_bad_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
