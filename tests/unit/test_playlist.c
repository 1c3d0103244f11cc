/* test_playlist.c — the playlist cursor (order, loops, first-loop start and offset, failures)
 * and the timeline across file switches: gaps at a switch and A/V offset after many loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine/playlist.h"
#include "engine/timeline.h"

/* Plays the list to its end (every entry works) and records the order of entries. */
static int play_all(playlist *p, int *order, int max)
{
    int n = 0;
    do {
        if (n < max)
            order[n] = p->index;
        n++;
    } while (playlist_advance(p, true) && n < 1000);
    return n;
}

static void test_order_and_loops(void **state)
{
    (void)state;
    playlist p;
    int order[32];
    playlist_init(&p, 3, 2, 0, 0);
    assert_int_equal(play_all(&p, order, 32), 6);
    int want[] = {0, 1, 2, 0, 1, 2};
    assert_memory_equal(order, want, sizeof(want));
    assert_int_equal(p.loops_done, 2);
    assert_true(p.done);
}

static void test_first_loop_start_and_offset(void **state)
{
    (void)state;
    playlist p;
    int order[32];
    playlist_init(&p, 3, 2, 2, 30);
    assert_int_equal(playlist_offset_ms(&p), 30000);
    assert_int_equal(playlist_peek_next(&p), 0);
    assert_true(playlist_advance(&p, true));
    assert_int_equal(p.loops_done, 1);
    assert_int_equal(playlist_offset_ms(&p), 0); /* the offset is for the first loop only */
    assert_int_equal(play_all(&p, order, 32), 3);
    int want[] = {0, 1, 2};
    assert_memory_equal(order, want, sizeof(want));
    assert_int_equal(p.loops_done, 2);
}

static void test_loop_count_edges(void **state)
{
    (void)state;
    playlist p;
    int order[8];
    playlist_init(&p, 1, 1, 0, 0); /* once */
    assert_int_equal(playlist_peek_next(&p), -1);
    assert_int_equal(play_all(&p, order, 8), 1);
    playlist_init(&p, 2, 0, 5, -3); /* bad values: once, from entry 0, no offset */
    assert_int_equal(p.index, 0);
    assert_int_equal(playlist_offset_ms(&p), 0);
    assert_int_equal(play_all(&p, order, 8), 2);
    playlist_init(&p, 2, -1, 1, 0); /* until stopped */
    for (int i = 0; i < 500; i++)
        assert_true(playlist_advance(&p, true));
    assert_int_equal(p.loops_done, 250);
    assert_int_equal(playlist_peek_next(&p), (p.index + 1) % 2);
}

static void test_broken_entries(void **state)
{
    (void)state;
    playlist p;
    playlist_init(&p, 3, -1, 0, 0);
    assert_true(playlist_advance(&p, true));  /* 0 plays */
    assert_true(playlist_advance(&p, false)); /* 1 fails: skipped */
    assert_false(playlist_all_failed(&p));
    assert_true(playlist_advance(&p, true)); /* 2 plays */
    for (int i = 0; i < 2; i++)
        assert_true(playlist_advance(&p, false));
    assert_false(playlist_all_failed(&p)); /* two in a row of three */
    playlist_advance(&p, false);
    assert_true(playlist_all_failed(&p)); /* a whole pass failed */

    playlist_init(&p, 3, 1, 2, 0); /* the first loop has one entry, and it fails */
    assert_false(playlist_advance(&p, false));
    assert_true(p.done);
    assert_true(playlist_all_failed(&p));
}

/* ---- the timeline across file switches ---- */

#define VIDEO_US (1000000.0 / 30)
#define AUDIO_US (1024 * 1000000.0 / 44100)

typedef struct track_out {
    int64_t last_ms;    /* output DTS in FLV milliseconds */
    int64_t dur_us;
    int64_t file_first; /* first output DTS in the current file, -1 = none yet */
} track_out;

typedef struct run {
    timeline tl;
    track_out t[2];
    int64_t now_us;
    int64_t max_gap_us[2]; /* largest extra gap at a switch, per track */
} run;

static void run_packet(run *r, int track, int64_t dts, int64_t dur, bool key)
{
    timeline_pkt p = {.track = track, .is_video = track == 0, .is_key = key, .dts_us = dts,
                      .pts_us = TIMELINE_NO_TS, .dur_us = dur, .now_us = r->now_us};
    int64_t od, op;
    if (timeline_map(&r->tl, &p, &od, &op) != TIMELINE_PASS)
        return;
    track_out *t = &r->t[track];
    int64_t ms = (od + 500) / 1000; /* the FLV muxer's rounding */
    if (t->file_first < 0 && t->last_ms >= 0) {
        int64_t gap = ms * 1000 - (t->last_ms * 1000 + t->dur_us);
        if (gap > r->max_gap_us[track])
            r->max_gap_us[track] = gap;
    }
    if (t->file_first < 0)
        t->file_first = ms;
    t->last_ms = ms;
    t->dur_us = dur;
}

/* One file of `seconds`: 30 fps video (with B-frames its DTS starts `delay` frames early)
 * and AAC at 44.1 kHz (audio runs past the video by part of a frame), interleaved by DTS. */
static void run_file(run *r, double seconds, int delay)
{
    int nv = (int)(seconds * 30 + 0.5);
    int na = (int)(seconds * 1000000 / AUDIO_US) + 1;
    int iv = 0, ia = 0;
    r->t[0].file_first = r->t[1].file_first = -1;
    while (iv < nv || ia < na) {
        int64_t vd = (int64_t)((iv - delay) * VIDEO_US), ad = (int64_t)(ia * AUDIO_US);
        if (iv < nv && (ia >= na || vd <= ad)) {
            run_packet(r, 0, vd, (int64_t)VIDEO_US, iv % 15 == 0);
            iv++;
        } else {
            run_packet(r, 1, ad, (int64_t)AUDIO_US, true);
            ia++;
        }
        r->now_us += 10000;
    }
    timeline_discontinuity(&r->tl);
}

static void run_loops(int files, int loops, int delay, int64_t *gap_v, int64_t *gap_a,
                      int64_t *av_us)
{
    run *r = calloc(1, sizeof(*r));
    timeline_init(&r->tl, 1000, true);
    r->t[0].last_ms = r->t[1].last_ms = -1;
    for (int l = 0; l < loops; l++)
        for (int f = 0; f < files; f++)
            run_file(r, 0.5 + 0.1 * f, delay); /* files of different lengths */
    *gap_v = r->max_gap_us[0];
    *gap_a = r->max_gap_us[1];
    *av_us = (r->t[0].last_ms * 1000 + r->t[0].dur_us) - (r->t[1].last_ms * 1000 + r->t[1].dur_us);
    free(r);
}

static void check_loops(int files, int loops)
{
    int64_t gv, ga, av;
    run_loops(files, loops, 0, &gv, &ga, &av);
    printf("# %d files x %d loops: largest switch gap video %.1f ms, audio %.1f ms; "
           "final A/V offset %.1f ms\n",
           files, loops, gv / 1000.0, ga / 1000.0, av / 1000.0);
    int64_t frame = (int64_t)VIDEO_US + 1000; /* one frame, plus FLV's 1 ms rounding */
    assert_true(gv <= frame);
    assert_true(ga <= frame);
    assert_true(av <= frame && av >= -frame);
}

static void test_switch_gaps_10x20(void **state)
{
    (void)state;
    check_loops(10, 20);
}

static void test_av_offset_after_100_loops(void **state)
{
    (void)state;
    check_loops(10, 100);
}

/* Files with B-frames (DTS two frames ahead of PTS): the rebase works on DTS, so a switch
 * leaves up to the reorder delay of extra gap; A/V stays together (one shared offset). */
static void test_b_frame_files(void **state)
{
    (void)state;
    int64_t gv, ga, av;
    run_loops(10, 20, 2, &gv, &ga, &av);
    printf("# B-frames, 10 files x 20 loops: largest switch gap video %.1f ms, audio %.1f ms; "
           "final A/V offset %.1f ms\n",
           gv / 1000.0, ga / 1000.0, av / 1000.0);
    int64_t bound = 3 * (int64_t)VIDEO_US + 1000; /* one frame plus the reorder delay */
    assert_true(gv <= bound && ga <= bound);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_loops),
        cmocka_unit_test(test_first_loop_start_and_offset),
        cmocka_unit_test(test_loop_count_edges),
        cmocka_unit_test(test_broken_entries),
        cmocka_unit_test(test_switch_gaps_10x20),
        cmocka_unit_test(test_av_offset_after_100_loops),
        cmocka_unit_test(test_b_frame_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
