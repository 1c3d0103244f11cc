/* test_timeline.c — unit tests of the engine's output timeline with synthetic packets:
 * pass-through, rebase, shared A/V offset, keyframe wait, B-frames, jumps, jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/engine_internal.h"
#include "engine/timeline.h"

enum { V = 0, A = 1 };
#define TICK 1000       /* FLV: milliseconds */
#define VDUR 40000      /* 25 fps */
#define ADUR 21333      /* AAC 1024 samples at 48 kHz, rounded */
#define NOW0 1000000000 /* an arbitrary monotonic clock origin */

typedef struct out_ts {
    int64_t dts, pts;
} out_ts;

static timeline_verdict feed(timeline *tl, int track, bool key, int64_t dts, int64_t pts,
                             int64_t dur, int64_t now, out_ts *o)
{
    timeline_pkt p = {.track = track,
                      .is_video = track == V,
                      .is_key = key,
                      .dts_us = dts,
                      .pts_us = pts,
                      .dur_us = dur,
                      .now_us = now};
    out_ts scratch;
    if (!o)
        o = &scratch;
    o->dts = o->pts = -1;
    return timeline_map(tl, &p, &o->dts, &o->pts);
}

/* Video every 40 ms (key every 25th), audio 25 ms after each frame, wall = media clock. */
static void feed_av_seconds(timeline *tl, int64_t in0, int64_t now0, int frames, out_ts *last_v,
                            out_ts *last_a)
{
    for (int i = 0; i < frames; i++) {
        int64_t t = in0 + (int64_t)i * VDUR;
        assert_int_equal(feed(tl, V, i % 25 == 0, t, t, VDUR, now0 + i * VDUR, last_v),
                         TIMELINE_PASS);
        assert_int_equal(
            feed(tl, A, true, t + 25000, t + 25000, ADUR, now0 + i * VDUR + 25000, last_a),
            TIMELINE_PASS);
    }
}

static void test_pass_through_keeps_offset(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    /* Joined a live stream 5 s in: the first keyframe becomes output 0. */
    assert_int_equal(feed(&tl, V, true, 5000000, 5080000, VDUR, NOW0, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 0);
    assert_int_equal(v.pts, 80000);
    for (int i = 1; i < 100; i++) {
        int64_t t = 5000000 + (int64_t)i * VDUR;
        assert_int_equal(feed(&tl, A, true, t - 3000, t - 3000, 0, NOW0 + i * VDUR, &a),
                         TIMELINE_PASS);
        assert_int_equal(a.dts, t - 3000 - 5000000);
        assert_int_equal(feed(&tl, V, i % 25 == 0, t, t + 80000, 0, NOW0 + i * VDUR, &v),
                         TIMELINE_PASS);
        assert_int_equal(v.dts, t - 5000000);
        assert_int_equal(v.pts, t + 80000 - 5000000);
    }
    assert_int_equal(tl.discontinuities, 0);
    assert_int_equal(tl.jumps, 0);
}

static void test_rebase_continues_from_max_end(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    feed_av_seconds(&tl, 0, NOW0, 50, &v, &a);
    /* Last video 1.960 s + 40 ms, last audio 1.985 s + 21.333 ms: audio ends later. */
    assert_int_equal(v.dts, 1960000);
    assert_int_equal(a.dts, 1985000);
    assert_int_equal(timeline_next_dts(&tl), 1985000 + ADUR);

    timeline_discontinuity(&tl);
    int64_t now = NOW0 + 5000000; /* 3 s outage */
    /* The new source restarts at 0 (nginx-rtmp after a republish). */
    assert_int_equal(feed(&tl, V, true, 0, 0, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 1985000 + ADUR);
    assert_true(v.dts - (1960000 + VDUR) <= ADUR); /* video's extra gap: under one frame */
    assert_int_equal(feed(&tl, A, true, 5000, 5000, ADUR, now + 5000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 1985000 + ADUR + 5000);

    /* When video ends last, video continues exactly where it stopped. */
    timeline_init(&tl, TICK, true);
    feed_av_seconds(&tl, 0, NOW0, 50, &v, &a);
    assert_int_equal(feed(&tl, V, false, 2000000, 2000000, VDUR, NOW0 + 2000000, &v),
                     TIMELINE_PASS);
    timeline_discontinuity(&tl);
    assert_int_equal(feed(&tl, V, true, 0, 0, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 2000000 + VDUR);
    assert_int_equal(tl.discontinuities, 1);
}

static void test_audio_video_share_offset(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    feed_av_seconds(&tl, 0, NOW0, 10, &v, &a);
    timeline_discontinuity(&tl);
    /* New source on a clock 7 s away; audio 120 ms after the keyframe on that clock. */
    assert_int_equal(feed(&tl, V, true, 7000000, 7000000, VDUR, NOW0 + 2000000, &v), TIMELINE_PASS);
    assert_int_equal(feed(&tl, A, true, 7120000, 7120000, ADUR, NOW0 + 2000000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts - v.dts, 120000);
    assert_int_equal(feed(&tl, V, false, 7040000, 7040000, VDUR, NOW0 + 2040000, &v),
                     TIMELINE_PASS);
    assert_int_equal(a.dts - v.dts, 80000);
}

static void test_keyframe_wait_drops_until_key(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    feed_av_seconds(&tl, 0, NOW0, 10, &v, &a);
    int64_t next = timeline_next_dts(&tl);
    timeline_discontinuity(&tl);
    int64_t now = NOW0 + 1000000;
    assert_int_equal(feed(&tl, A, true, 100000, 100000, ADUR, now, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, V, false, 100000, 100000, VDUR, now, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, A, true, 121333, 121333, ADUR, now, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, V, false, 140000, 140000, VDUR, now, NULL), TIMELINE_DROP);
    /* Audio read after the keyframe but stamped before it is dropped too. */
    assert_int_equal(feed(&tl, V, true, 180000, 180000, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, next);
    assert_int_equal(feed(&tl, A, true, 164000, 164000, ADUR, now, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, A, true, 185333, 185333, ADUR, now, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, next + 5333);
    assert_int_equal(feed(&tl, V, false, 220000, 220000, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, next + 40000);
}

static void test_first_packet_waits_for_key(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v;
    assert_int_equal(feed(&tl, V, false, 0, 0, VDUR, NOW0, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, A, true, 10000, 10000, ADUR, NOW0, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, V, true, 40000, 40000, VDUR, NOW0, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 0);
    assert_int_equal(tl.discontinuities, 0);
}

static void test_b_frames_keep_pts_offset(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    /* I P B B P B B in decode order, composition delay 80 ms. */
    static const int64_t dts[] = {0, 40, 80, 120, 160, 200, 240};
    static const int64_t pts[] = {80, 200, 120, 160, 320, 240, 280};
    static const bool key[] = {true, false, false, false, false, false, false};
    int64_t base_in = 3000000;
    out_ts o, prev = {-1, -1};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(feed(&tl, V, key[i], base_in + dts[i] * 1000, base_in + pts[i] * 1000, 0,
                              NOW0 + dts[i] * 1000, &o),
                         TIMELINE_PASS);
        assert_int_equal(o.dts, dts[i] * 1000);
        assert_int_equal(o.pts - o.dts, (pts[i] - dts[i]) * 1000);
        assert_true(o.pts >= o.dts);
        assert_true(o.dts > prev.dts);
        prev = o;
    }
    /* After a rebase the composition offset survives as well. */
    timeline_discontinuity(&tl);
    assert_int_equal(feed(&tl, V, true, 0, 80000, 0, NOW0 + 900000, &o), TIMELINE_PASS);
    assert_int_equal(o.dts, 240000 + 40000);
    assert_int_equal(o.pts, 240000 + 40000 + 80000);
    assert_int_equal(feed(&tl, V, false, 40000, 200000, 0, NOW0 + 940000, &o), TIMELINE_PASS);
    assert_int_equal(o.dts, 320000);
    assert_int_equal(o.pts, 480000);
}

/* A file switch between B-frame files: the new keyframe is presented right after the last
 * frame shown (no gap of the decoder delay), and every track's DTS still increases. */
static void test_b_frame_switch_has_no_presentation_gap(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    /* File A: I P B B, delay 80 ms; audio ends with the video's presentation. */
    static const int64_t dts[] = {-80, -40, 0, 40};
    static const int64_t pts[] = {0, 120, 40, 80};
    out_ts o, a;
    for (int i = 0; i < 4; i++)
        assert_int_equal(feed(&tl, V, i == 0, dts[i] * 1000, pts[i] * 1000, VDUR,
                              NOW0 + (dts[i] + 80) * 1000, &o),
                         TIMELINE_PASS);
    assert_int_equal(feed(&tl, A, true, 0, 0, 160000, NOW0 + 80000, &a), TIMELINE_PASS);
    int64_t shown_end = 120000 + 80000 + VDUR; /* last pts (out) + duration */
    assert_int_equal(timeline_next_pts(&tl), shown_end);
    /* File B starts the same way: keyframe dts -80 ms, pts 0. */
    timeline_discontinuity(&tl);
    assert_int_equal(feed(&tl, V, true, -80000, 0, VDUR, NOW0 + 400000, &o), TIMELINE_PASS);
    assert_int_equal(o.pts, shown_end);
    assert_int_equal(o.pts - o.dts, 80000);
    assert_true(o.dts > 40000 + 80000); /* after file A's last video DTS */
    assert_int_equal(feed(&tl, A, true, 0, 0, 21333, NOW0 + 400000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, shown_end); /* audio on the same base, no gap either */
}

static void test_missing_or_broken_pts(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v;
    assert_int_equal(feed(&tl, V, true, 500000, TIMELINE_NO_TS, VDUR, NOW0, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 0);
    assert_int_equal(v.pts, 0);
    /* A pts before its dts cannot be decoded: it is raised to the dts. */
    assert_int_equal(feed(&tl, V, false, 540000, 520000, VDUR, NOW0 + VDUR, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 40000);
    assert_int_equal(v.pts, 40000);
    /* No timestamp at all: nothing to place the packet by. */
    assert_int_equal(feed(&tl, V, false, TIMELINE_NO_TS, TIMELINE_NO_TS, VDUR, NOW0, NULL),
                     TIMELINE_DROP);
}

static void test_backward_jump_is_discontinuity(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    feed_av_seconds(&tl, 10000000, NOW0, 25, &v, &a);
    int64_t next = timeline_next_dts(&tl);
    /* Same connection, publisher came back after 2 s: timestamps restart at 0. */
    int64_t now = NOW0 + 25 * VDUR + 2000000;
    assert_int_equal(feed(&tl, V, false, 0, 0, VDUR, now, NULL), TIMELINE_DROP);
    assert_int_equal(tl.jumps, 1);
    assert_int_equal(tl.discontinuities, 1);
    assert_int_equal(feed(&tl, A, true, 5000, 5000, ADUR, now, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, V, true, 40000, 40000, VDUR, now + 40000, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, next);
    assert_int_equal(feed(&tl, A, true, 45000, 45000, ADUR, now + 45000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, next + 5000);
    assert_int_equal(tl.jumps, 1);
}

static void test_forward_jump_beyond_wall_gap(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    feed_av_seconds(&tl, 0, NOW0, 25, &v, &a);
    /* 3 s of silence, then 60 s forward: the whole source jumped, a new epoch opens on
     * the keyframe right after what was last presented. */
    int64_t now = NOW0 + 25 * VDUR + 3000000;
    assert_int_equal(feed(&tl, V, true, 60000000, 60000000, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(tl.jumps, 1);
    assert_int_equal(tl.discontinuities, 1);
    assert_int_equal(v.dts, 24 * VDUR + 25000 + ADUR); /* audio ended last */

    /* A 5 s silence whose timestamps also moved 5 s is real time, not a jump. */
    timeline_init(&tl, TICK, true);
    feed_av_seconds(&tl, 0, NOW0, 25, &v, &a);
    now = NOW0 + 24 * VDUR + 5000000;
    assert_int_equal(feed(&tl, V, true, 24 * VDUR + 5000000, 24 * VDUR + 5000000, VDUR, now, &v),
                     TIMELINE_PASS);
    assert_int_equal(tl.jumps, 0);
    assert_int_equal(v.dts, 24 * VDUR + 5000000);
}

static void test_one_track_jumps_while_the_other_flows(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    feed_av_seconds(&tl, 0, NOW0, 25, &v, &a);
    /* Video alone moves 10 s forward (RTSP: its first RTCP report) while audio flows: it
     * goes on in real time, nothing is dropped, no new epoch. */
    int64_t now = NOW0 + 25 * VDUR;
    assert_int_equal(feed(&tl, V, false, 11000000, 11000000, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 25 * VDUR);
    assert_int_equal(tl.jumps, 1);
    assert_int_equal(tl.discontinuities, 0);
    /* Audio keeps its own clock meanwhile. */
    assert_int_equal(feed(&tl, A, true, 985000 + ADUR, 985000 + ADUR, ADUR, now + 6000, &a),
                     TIMELINE_PASS);
    assert_int_equal(a.dts, 985000 + ADUR);
    /* Then audio moves onto the same new clock: it takes video's skew, so the new clock's
     * A/V relation (audio 25 ms after its frame) holds. */
    now += VDUR;
    assert_int_equal(feed(&tl, V, false, 11040000, 11040000, VDUR, now, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 26 * VDUR);
    assert_int_equal(feed(&tl, A, true, 11065000, 11065000, ADUR, now + 25000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, v.dts + 25000);
    assert_int_equal(tl.jumps, 2);
    assert_int_equal(tl.discontinuities, 0);
    /* Both go on at their own pace on the new clock. */
    assert_int_equal(feed(&tl, V, false, 11080000, 11080000, VDUR, now + VDUR, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 27 * VDUR);
}

static void test_jitter_bumped_one_tick(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a;
    assert_int_equal(feed(&tl, V, true, 0, 0, VDUR, NOW0, &v), TIMELINE_PASS);
    assert_int_equal(feed(&tl, A, true, 0, 0, ADUR, NOW0, &a), TIMELINE_PASS);
    assert_int_equal(feed(&tl, A, true, 21000, 21000, ADUR, NOW0 + 21000, &a), TIMELINE_PASS);
    /* Equal DTS: bumped by one tick. */
    assert_int_equal(feed(&tl, A, true, 21000, 21000, ADUR, NOW0 + 22000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 22000);
    /* 50 ms backwards: jitter, bumped again, no discontinuity. */
    assert_int_equal(feed(&tl, A, true, -29000, -29000, ADUR, NOW0 + 23000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 23000);
    assert_int_equal(a.pts, 23000);
    /* Video with B-frame offset bumped: pts moves with dts. */
    assert_int_equal(feed(&tl, V, false, 0, 80000, VDUR, NOW0 + 40000, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, 1000);
    assert_int_equal(v.pts, 81000);
    assert_int_equal(tl.jumps, 0);
    assert_int_equal(tl.discontinuities, 0);
    /* The stream carries on at its own timestamps once past the bumps. */
    assert_int_equal(feed(&tl, A, true, 42000, 42000, ADUR, NOW0 + 42000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 42000);
}

static void test_audio_only_needs_no_key(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, false);
    out_ts a;
    assert_int_equal(feed(&tl, A, false, 900000, 900000, 0, NOW0, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 0);
    assert_int_equal(feed(&tl, A, false, 923220, 923220, 0, NOW0 + 23220, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 23220);
    timeline_discontinuity(&tl);
    /* Duration was guessed from the DTS step: the next epoch starts right after. */
    assert_int_equal(feed(&tl, A, false, 0, 0, 0, NOW0 + 3000000, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 23220 + 23220);
    assert_int_equal(feed(&tl, A, false, 23220, 23220, 0, NOW0 + 3023220, &a), TIMELINE_PASS);
    assert_int_equal(a.dts, 23220 * 3);
}

static void test_track_on_other_clock_dropped(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v;
    assert_int_equal(feed(&tl, V, true, 0, 0, VDUR, NOW0, &v), TIMELINE_PASS);
    /* Audio 60 s away from the video that opened the epoch: it cannot be in sync. */
    assert_int_equal(feed(&tl, A, true, 60000000, 60000000, ADUR, NOW0, NULL), TIMELINE_DROP);
    assert_int_equal(feed(&tl, V, false, VDUR, VDUR, VDUR, NOW0 + VDUR, &v), TIMELINE_PASS);
    assert_int_equal(v.dts, VDUR);
    assert_int_equal(tl.jumps, 0);
}

static void test_many_restarts_keep_sync(void **state)
{
    timeline tl;
    timeline_init(&tl, TICK, true);
    out_ts v, a, prev_v = {-1, -1}, prev_a = {-1, -1};
    int64_t now = NOW0;
    for (int loop = 0; loop < 1000; loop++) {
        if (loop)
            timeline_discontinuity(&tl);
        for (int i = 0; i < 5; i++) {
            int64_t t = (int64_t)i * VDUR;
            assert_int_equal(feed(&tl, V, i == 0, t, t, 0, now, &v), TIMELINE_PASS);
            assert_int_equal(feed(&tl, A, true, t + 5000, t + 5000, 0, now, &a), TIMELINE_PASS);
            assert_true(v.dts > prev_v.dts);
            assert_true(a.dts > prev_a.dts);
            assert_int_equal(a.dts - v.dts, 5000); /* A/V offset identical every loop */
            prev_v = v;
            prev_a = a;
            now += VDUR;
        }
    }
    /* 1000 loops of 200 ms: every loop continues right after the previous one. */
    assert_int_equal(v.dts, 999 * (4 * VDUR + 5000 + VDUR) + 4 * VDUR);
    assert_int_equal(tl.discontinuities, 999);
}

/* The engine's shortcut for FLV's millisecond time base gives av_rescale_q's answers to the
 * microsecond, halves and negatives included; other time bases take av_rescale_q itself. */
static void test_rescale_matches_ffmpeg(void **state)
{
    (void)state;
    const AVRational tbs[] = {{1, 1000}, {1, 1}, {1, 1000000}, {1, 90000}, {1, 48000}, {2, 1000}};
    const int64_t edges[] = {
        0,         1,         -1,        499,          500,           501,
        -499,      -500,      -501,      1499,         -1500,         999999,
        INT32_MAX, INT32_MIN, 1LL << 40, -(1LL << 40), INT64_MAX / 3, -INT64_MAX / 3};
    uint64_t x = 88172645463325252ULL;
    for (size_t t = 0; t < sizeof(tbs) / sizeof(tbs[0]); t++) {
        for (int i = 0; i < 20000; i++) {
            int64_t v;
            if (i < (int)(sizeof(edges) / sizeof(edges[0]))) {
                v = edges[i];
            } else {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                v = (int64_t)(x >> (i % 40)) * (i % 2 ? 1 : -1);
            }
            assert_int_equal(engine_us_to_ts(v, tbs[t]), av_rescale_q(v, AV_TIME_BASE_Q, tbs[t]));
            if (v > -INT64_MAX / 1000000 && v < INT64_MAX / 1000000)
                assert_int_equal(engine_ts_to_us(v, tbs[t]),
                                 av_rescale_q(v, tbs[t], AV_TIME_BASE_Q));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_through_keeps_offset),
        cmocka_unit_test(test_rebase_continues_from_max_end),
        cmocka_unit_test(test_audio_video_share_offset),
        cmocka_unit_test(test_keyframe_wait_drops_until_key),
        cmocka_unit_test(test_first_packet_waits_for_key),
        cmocka_unit_test(test_b_frames_keep_pts_offset),
        cmocka_unit_test(test_b_frame_switch_has_no_presentation_gap),
        cmocka_unit_test(test_missing_or_broken_pts),
        cmocka_unit_test(test_backward_jump_is_discontinuity),
        cmocka_unit_test(test_forward_jump_beyond_wall_gap),
        cmocka_unit_test(test_one_track_jumps_while_the_other_flows),
        cmocka_unit_test(test_jitter_bumped_one_tick),
        cmocka_unit_test(test_audio_only_needs_no_key),
        cmocka_unit_test(test_track_on_other_clock_dropped),
        cmocka_unit_test(test_many_restarts_keep_sync),
        cmocka_unit_test(test_rescale_matches_ffmpeg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
