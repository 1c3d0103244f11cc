/* test_src_failover.c — the composite source's failover wrapper driven by scripted fake
 * leaves: switches with a discontinuity, the main re-check, the retry budget, the pad, and a
 * playlist leaf's results (a new epoch per file, END, FAILED, cut). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libavutil/error.h>

#include "engine/fallback.h"
#include "engine/src_node.h"

/* ---- the fake leaf: its opens and reads follow a script ---- */

typedef struct fake {
    const char *opens; /* per open: 'y' opens, 'n' fails, 'w' still opening; then the last */
    int n_open;
    const char *reads; /* per read, across opens: 'p' packet, 'e' end, 'f' fails; then 'p' */
    int n_read;
    int tag; /* its packets carry it in pos */
    bool open;
    bool standby;
    int standby_takes; /* opens that took the standby connection */
} fake;

static char script_at(const char *s, int i, char after)
{
    int n = (int)strlen(s);
    return i < n ? s[i] : after ? after : s[n - 1];
}

static int fake_open(src_node *n, char *why, size_t len)
{
    fake *f = n->priv;
    char c = script_at(f->opens, f->n_open++, 0);
    if (c == 'w')
        return AVERROR(EAGAIN);
    if (c == 'n') {
        snprintf(why, len, "open: Connection refused");
        return AVERROR(ECONNREFUSED);
    }
    if (f->standby)
        f->standby_takes++;
    f->standby = false;
    f->open = true;
    return 0;
}

static src_status fake_read(src_node *n, src_read *rd)
{
    fake *f = n->priv;
    assert_true(f->open);
    char c = script_at(f->reads, f->n_read++, 'p');
    if (c == 'e')
        return SRC_END;
    if (c == 'f') {
        snprintf(rd->ev.error, sizeof(rd->ev.error), "read: stalled, no packet for 3000 ms");
        return SRC_FAILED;
    }
    rd->pkt->pos = f->tag;
    rd->kind = 0;
    return SRC_PACKET;
}

static void fake_close(src_node *n)
{
    ((fake *)n->priv)->open = false;
}

static void fake_standby(src_node *n, bool on)
{
    ((fake *)n->priv)->standby = on;
}

static const src_node_ops fake_ops = {.name = "fake",
                                      .open = fake_open,
                                      .read = fake_read,
                                      .close = fake_close,
                                      .standby = fake_standby};

/* The test keeps the fake's state (a leaf's priv is not freed: no free op). */
static src_node *fake_leaf(fake *f, const char *url, bool is_file)
{
    src_node *n = calloc(1, sizeof(*n));
    *n = (src_node){.ops = &fake_ops, .priv = f, .url = url, .is_file = is_file};
    return n;
}

/* ---- the clock and the wrapper ---- */

static int64_t now;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return now;
}

typedef struct rig {
    src_node *src;
    src_read rd;
    AVPacket *pkt;
} rig;

static void rig_start(rig *g, src_node *main, src_node *backup, src_node *pad, bool standby)
{
    now = 100000;
    src_failover_conf conf = {.retry_count = 2,
                              .retry_interval_ms = 5000,
                              .recheck_ms = 10000,
                              .standby = standby,
                              .now_ms = test_clock};
    g->src = src_failover_new(main, backup, pad, &conf);
    assert_non_null(g->src);
    g->pkt = av_packet_alloc();
    memset(&g->rd, 0, sizeof(g->rd));
    g->rd.pkt = g->pkt;
    assert_int_equal(src_node_open(g->src, NULL, 0), 0);
}

static void rig_end(rig *g)
{
    src_node_free(g->src);
    av_packet_free(&g->pkt);
}

static src_status rig_read(rig *g)
{
    return src_node_read(g->src, &g->rd);
}

/* One read gives a packet of the leaf tagged tag, with no event. */
static void expect_packet(rig *g, int tag)
{
    assert_int_equal(rig_read(g), SRC_PACKET);
    assert_int_equal(g->pkt->pos, tag);
    assert_false(g->rd.ev.set);
}

/* One read opens a leaf: a new epoch, with no event. */
static void expect_open(rig *g)
{
    assert_int_equal(rig_read(g), SRC_DISCONTINUITY);
    assert_false(g->rd.ev.set);
}

static void expect_alarm(rig *g, src_status st, const char *alarm, const char *text)
{
    assert_int_equal(rig_read(g), st);
    assert_true(g->rd.ev.set);
    assert_int_equal(g->rd.ev.type, ENGINE_EV_ALARM);
    assert_string_equal(g->rd.ev.alarm, alarm);
    if (!strstr(g->rd.ev.error, text))
        fail_msg("\"%s\" does not say \"%s\"", g->rd.ev.error, text);
}

/* ---- the chain ---- */

static void test_main_fails_backup_plays(void **state)
{
    (void)state;
    fake m = {.opens = "y", .reads = "ppf", .tag = 1}, b = {.opens = "y", .reads = "", .tag = 2};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false),
              fake_leaf(&b, "rtmp://127.0.0.1/live/backup", false), NULL, false);
    expect_open(&g); /* the first epoch */
    expect_packet(&g, 1);
    /* alarms name the sources with their stream keys hidden */
    expect_packet(&g, 1);
    expect_alarm(&g, SRC_DISCONTINUITY, "BackupSourceActive",
                 "playing the backup source rtmp://127.0.0.1/live/*** (pull "
                 "rtmp://127.0.0.1/live/***: read: stalled");
    assert_false(m.open);
    assert_int_equal(g.rd.ev.failure, ENGINE_FAIL_PULL);
    expect_packet(&g, 2);
    assert_int_equal(src_failover_playing(g.src), FB_BACKUP);
    rig_end(&g);
}

static void test_recheck_brings_main_back(void **state)
{
    (void)state;
    /* open 1 plays; the first re-check is refused, the second is still opening on the side
     * at one read and done at the next */
    fake m = {.opens = "ynwy", .reads = "pf", .tag = 1}, b = {.opens = "y", .reads = "", .tag = 2};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false),
              fake_leaf(&b, "rtmp://127.0.0.1/live/backup", false), NULL, true);
    expect_open(&g);
    expect_packet(&g, 1);
    assert_true(b.standby); /* kept connected while the main source plays */
    expect_alarm(&g, SRC_DISCONTINUITY, "BackupSourceActive", "backup");
    assert_int_equal(b.standby_takes, 1);
    assert_false(b.standby);
    now += 9999;
    expect_packet(&g, 2); /* not due yet */
    assert_int_equal(m.n_open, 1);
    now += 1;
    expect_packet(&g, 2); /* due: refused, the backup goes on */
    assert_int_equal(m.n_open, 2);
    now += 10000;
    expect_packet(&g, 2); /* due again: opening on the side */
    assert_true(b.open);
    expect_alarm(&g, SRC_DISCONTINUITY, "MainSourceRestored",
                 "the main source rtmp://127.0.0.1/live/*** plays again");
    assert_false(b.open);
    assert_true(b.standby); /* on standby again */
    expect_packet(&g, 1);
    assert_int_equal(src_failover_playing(g.src), FB_MAIN);
    rig_end(&g);
}

/* One read: a RETRY that charges attempt n of the episode, to open at once. */
static void expect_attempt(rig *g, int n)
{
    assert_int_equal(rig_read(g), SRC_RETRY);
    assert_int_equal(g->rd.attempt, n);
    assert_int_equal(g->rd.until_ms, now);
    assert_false(g->rd.ev.set);
}

static void test_retry_budget_exhausted(void **state)
{
    (void)state;
    fake m = {.opens = "yn", .reads = "pf", .tag = 1};
    rig g;
    rig_start(&g, fake_leaf(&m, "srt://127.0.0.1:9000", false), NULL, NULL, false);
    expect_open(&g);
    expect_packet(&g, 1);
    /* the source breaks after a stable run: an episode, the first attempt at once */
    assert_int_equal(rig_read(&g), SRC_RETRY);
    assert_true(g.rd.failed);
    assert_true(g.rd.ev.set);
    assert_int_equal(g.rd.ev.type, ENGINE_EV_RECOVERING);
    assert_string_equal(g.rd.ev.error,
                        "pull srt://127.0.0.1:9000: read: stalled, no packet for 3000 ms");
    assert_int_equal(g.rd.until_ms, now);
    assert_false(src_failover_can_switch(g.src));
    assert_true(src_failover_failing(g.src));
    /* attempt 1 of 2 is refused: the next one an interval (less jitter) later */
    expect_attempt(&g, 1);
    assert_int_equal(rig_read(&g), SRC_RETRY);
    assert_int_equal(g.rd.ev.type, ENGINE_EV_RECOVERING);
    assert_string_equal(g.rd.ev.error, "pull srt://127.0.0.1:9000: open: Connection refused");
    int64_t until = g.rd.until_ms;
    assert_true(until > now + 4000 && until <= now + 5000);
    assert_int_equal(rig_read(&g), SRC_RETRY); /* too early: no attempt, no event */
    assert_false(g.rd.ev.set);
    assert_int_equal(g.rd.attempt, 0);
    assert_int_equal(g.rd.until_ms, until);
    assert_int_equal(m.n_open, 2);
    now = until;
    expect_attempt(&g, 2);
    assert_int_equal(rig_read(&g), SRC_FAILED); /* attempt 2 of 2 refused: given up */
    assert_int_equal(g.rd.ev.type, ENGINE_EV_FAILED);
    assert_int_equal(g.rd.ev.failure, ENGINE_FAIL_PULL);
    assert_string_equal(g.rd.ev.error, "pull srt://127.0.0.1:9000: open: Connection refused");
    assert_int_equal(m.n_open, 3);
    assert_int_equal(rig_read(&g), SRC_FAILED); /* and stays so */
    assert_int_equal(m.n_open, 3);
    rig_end(&g);
}

static void test_recovery_ends_the_episode(void **state)
{
    (void)state;
    fake m = {.opens = "yny", .reads = "pf", .tag = 1};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false), NULL, NULL, false);
    expect_open(&g);
    expect_packet(&g, 1);
    assert_int_equal(rig_read(&g), SRC_RETRY); /* fails: the episode opens */
    expect_attempt(&g, 1);
    assert_int_equal(rig_read(&g), SRC_RETRY); /* attempt 1 refused */
    now = g.rd.until_ms;
    expect_attempt(&g, 2);
    assert_int_equal(rig_read(&g), SRC_DISCONTINUITY); /* attempt 2 opens: a new epoch */
    assert_false(g.rd.ev.set);                         /* the main source again: no alarm */
    expect_packet(&g, 1);
    assert_true(src_failover_failing(g.src)); /* until the caller sees packets pass */
    assert_int_equal(src_failover_recovered(g.src), 2);
    assert_false(src_failover_failing(g.src));
    assert_int_equal(src_failover_recovered(g.src), -1);
    expect_packet(&g, 1);
    assert_int_equal(src_failover_playing(g.src), FB_MAIN);
    rig_end(&g);
}

static void test_playlist_end(void **state)
{
    (void)state;
    fake m = {.opens = "y", .reads = "ppe", .tag = 1};
    rig g;
    rig_start(&g, fake_leaf(&m, "http://127.0.0.1/a.mp4", true), NULL, NULL, false);
    expect_open(&g);
    expect_packet(&g, 1);
    expect_packet(&g, 1);
    assert_int_equal(rig_read(&g), SRC_END);
    assert_false(g.rd.ev.set);
    rig_end(&g);
}

static void test_pad_plays_pass_after_pass(void **state)
{
    (void)state;
    fake m = {.opens = "n", .reads = "", .tag = 1}, p = {.opens = "y", .reads = "pe", .tag = 3};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false), NULL,
              fake_leaf(&p, "http://127.0.0.1/pad.mp4", true), false);
    /* the main source never opens: the pad stands in at once */
    expect_alarm(&g, SRC_DISCONTINUITY, "BackupSourceActive",
                 "playing the pad source http://127.0.0.1/pad.mp4 (pull "
                 "rtmp://127.0.0.1/live/***: open: Connection refused)");
    expect_packet(&g, 3);
    /* the pass ends: the main source is tried (refused), the next pass waits 1 s */
    assert_int_equal(rig_read(&g), SRC_RETRY);
    assert_int_equal(m.n_open, 2);
    assert_int_equal(g.rd.until_ms, now + 1000);
    now += 1000;
    assert_int_equal(rig_read(&g), SRC_DISCONTINUITY); /* another pass: no alarm */
    assert_false(g.rd.ev.set);
    expect_packet(&g, 3);
    assert_int_equal(src_failover_playing(g.src), FB_PAD);
    rig_end(&g);
}

static void test_empty_pad_pass_is_a_failure(void **state)
{
    (void)state;
    fake m = {.opens = "n", .reads = "", .tag = 1}, p = {.opens = "y", .reads = "e", .tag = 3};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false), NULL,
              fake_leaf(&p, "http://127.0.0.1/pad.mp4", true), false);
    expect_alarm(&g, SRC_DISCONTINUITY, "BackupSourceActive", "pad");
    /* nothing left to try: an episode of the main source */
    assert_int_equal(rig_read(&g), SRC_RETRY);
    assert_int_equal(g.rd.ev.type, ENGINE_EV_RECOVERING);
    assert_string_equal(g.rd.ev.error,
                        "pull http://127.0.0.1/pad.mp4: read: the file ended without a packet");
    rig_end(&g);
}

static void test_caller_found_it_broken(void **state)
{
    (void)state;
    fake m = {.opens = "y", .reads = "", .tag = 1}, b = {.opens = "y", .reads = "", .tag = 2};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false),
              fake_leaf(&b, "rtmp://127.0.0.1/live/backup", false), NULL, false);
    expect_open(&g);
    expect_packet(&g, 1);
    assert_true(src_failover_can_switch(g.src));
    memset(&g.rd, 0, sizeof(g.rd));
    g.rd.pkt = g.pkt;
    assert_int_equal(src_failover_fail(g.src, "the source sends 9000 kb/s", &g.rd),
                     SRC_DISCONTINUITY);
    assert_true(g.rd.failed);
    assert_string_equal(g.rd.ev.alarm, "BackupSourceActive");
    assert_string_equal(src_failover_error(g.src),
                        "pull rtmp://127.0.0.1/live/***: the source sends 9000 kb/s");
    assert_true(src_failover_on_alternate(g.src));
    assert_false(src_failover_can_switch(g.src));
    expect_packet(&g, 2);
    rig_end(&g);
}

static void test_no_file_alternate_while_files_wait(void **state)
{
    (void)state;
    fake m = {.opens = "n", .reads = "", .tag = 1}, p = {.opens = "y", .reads = "", .tag = 3};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false), NULL,
              fake_leaf(&p, "http://127.0.0.1/pad.mp4", true), false);
    src_failover_allow_files(g.src, false); /* pre-roll: a paced pad cannot wait */
    assert_int_equal(rig_read(&g), SRC_RETRY);
    assert_int_equal(g.rd.ev.type, ENGINE_EV_RECOVERING);
    assert_int_equal(p.n_open, 0);
    rig_end(&g);
}

static void test_alternate_removed_goes_back_to_main(void **state)
{
    (void)state;
    fake m = {.opens = "yy", .reads = "pf", .tag = 1}, b = {.opens = "y", .reads = "", .tag = 2};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false),
              fake_leaf(&b, "rtmp://127.0.0.1/live/backup", false), NULL, false);
    expect_open(&g);
    expect_packet(&g, 1);
    expect_alarm(&g, SRC_DISCONTINUITY, "BackupSourceActive", "backup");
    /* a live modification takes the backup away: the main source opens next */
    src_failover_conf conf = {.retry_count = 2, .retry_interval_ms = 5000, .recheck_ms = 10000};
    assert_true(src_failover_configure(g.src, false, false, false, &conf));
    src_failover_restart(g.src);
    assert_false(b.open);
    expect_alarm(&g, SRC_DISCONTINUITY, "MainSourceRestored", "main");
    expect_packet(&g, 1);
    rig_end(&g);
}

/* ---- a fake playlist leaf: entries that open ('y') or fail ('n'), loops, cut() ---- */

typedef struct fake_list {
    const char *entries; /* per entry: 'y' plays `len` packets (tag 10 + index), 'n' fails */
    int len, loops;
    int index, loop, failed_in_row, left;
    bool playing, any_played;
    int cuts;
} fake_list;

static src_status list_connect(fake_list *l, src_read *rd);

/* The entry is over (failed or played): the next one, END after the loops, FAILED when a
 * whole pass failed. */
static src_status list_next(fake_list *l, bool played, src_read *rd)
{
    l->playing = false;
    l->failed_in_row = played ? 0 : l->failed_in_row + 1;
    l->any_played |= played;
    int n = (int)strlen(l->entries);
    if (l->failed_in_row >= n) {
        snprintf(rd->ev.error, sizeof(rd->ev.error), "playlist: every file failed");
        return SRC_FAILED;
    }
    if (++l->index == n) {
        l->index = 0;
        if (++l->loop == l->loops)
            return SRC_END;
    }
    return list_connect(l, rd);
}

static src_status list_connect(fake_list *l, src_read *rd)
{
    if (l->entries[l->index] == 'n')
        return list_next(l, false, rd);
    l->playing = true;
    l->left = l->len;
    return SRC_DISCONTINUITY;
}

static int list_open(src_node *n, char *why, size_t len)
{
    (void)n;
    (void)why;
    (void)len;
    return 0;
}

static src_status list_read(src_node *n, src_read *rd)
{
    fake_list *l = n->priv;
    if (!l->playing)
        return list_connect(l, rd);
    if (l->left == 0)
        return list_next(l, true, rd);
    l->left--;
    rd->pkt->pos = 10 + l->index;
    rd->kind = 0;
    return SRC_PACKET;
}

static src_status list_cut(src_node *n, const char *why, src_read *rd)
{
    fake_list *l = n->priv;
    l->cuts++;
    return list_next(l, why == NULL, rd);
}

static void list_close(src_node *n)
{
    ((fake_list *)n->priv)->playing = false;
}

static const src_node_ops list_ops = {.name = "fake playlist",
                                      .open = list_open,
                                      .read = list_read,
                                      .close = list_close,
                                      .cut = list_cut};

static void rig_list(rig *g, fake_list *l)
{
    src_node *n = calloc(1, sizeof(*n));
    *n = (src_node){.ops = &list_ops, .priv = l, .url = "http://127.0.0.1/a.mp4", .is_file = true};
    rig_start(g, n, NULL, NULL, false);
    expect_open(g); /* the list opens; its first read opens the first entry */
}

/* A new epoch per file, nothing else said; END after the loops. */
static void test_playlist_discontinuity_per_file_then_end(void **state)
{
    (void)state;
    fake_list l = {.entries = "yy", .len = 2, .loops = 2};
    rig g;
    rig_list(&g, &l);
    for (int pass = 0; pass < 2; pass++) {
        for (int e = 0; e < 2; e++) {
            expect_open(&g);
            expect_packet(&g, 10 + e);
            expect_packet(&g, 10 + e);
        }
    }
    assert_int_equal(rig_read(&g), SRC_END);
    assert_false(g.rd.ev.set);
    assert_int_equal(src_failover_playing(g.src), FB_MAIN);
    rig_end(&g);
}

/* A file that fails is skipped by the playlist itself: no alarm of the wrapper, no episode. */
static void test_playlist_skips_a_failing_file(void **state)
{
    (void)state;
    fake_list l = {.entries = "yny", .len = 1, .loops = 1};
    rig g;
    rig_list(&g, &l);
    expect_open(&g);
    expect_packet(&g, 10);
    expect_open(&g); /* the second file fails to open: the third plays */
    expect_packet(&g, 12);
    assert_false(src_failover_failing(g.src));
    assert_int_equal(rig_read(&g), SRC_END);
    rig_end(&g);
}

/* Every file failed: the task fails at once with the playlist's reason, no retries. */
static void test_playlist_failed_is_given_up(void **state)
{
    (void)state;
    fake_list l = {.entries = "nn", .len = 1, .loops = -1};
    rig g;
    rig_list(&g, &l);
    assert_int_equal(rig_read(&g), SRC_FAILED);
    assert_true(g.rd.failed);
    assert_true(g.rd.ev.set);
    assert_int_equal(g.rd.ev.type, ENGINE_EV_FAILED);
    assert_string_equal(g.rd.ev.error, "playlist: every file failed");
    assert_string_equal(src_failover_error(g.src), "playlist: every file failed");
    rig_end(&g);
}

/* The caller finds the file playing broken (over the bitrate limit) or ended: the playlist
 * moves on to its next file, not the wrapper to a failure episode. */
static void test_playlist_cut_moves_on(void **state)
{
    (void)state;
    fake_list l = {.entries = "yyy", .len = 5, .loops = 1};
    rig g;
    rig_list(&g, &l);
    expect_open(&g);
    expect_packet(&g, 10);
    memset(&g.rd, 0, sizeof(g.rd));
    g.rd.pkt = g.pkt;
    assert_int_equal(src_failover_fail(g.src, "the source sends 9000 kb/s", &g.rd),
                     SRC_DISCONTINUITY);
    assert_false(g.rd.failed);
    assert_false(g.rd.ev.set);
    assert_false(src_failover_failing(g.src));
    expect_packet(&g, 11);
    memset(&g.rd, 0, sizeof(g.rd));
    g.rd.pkt = g.pkt;
    assert_int_equal(src_failover_ended(g.src, &g.rd), SRC_DISCONTINUITY);
    expect_packet(&g, 12);
    assert_int_equal(l.cuts, 2);
    rig_end(&g);
}

/* A live task's file backup that fails to open: the pad (a file too) plays, pass after pass. */
static void test_failing_file_alternate_goes_to_pad(void **state)
{
    (void)state;
    fake m = {.opens = "yn", .reads = "pf", .tag = 1}, b = {.opens = "n", .reads = "", .tag = 2},
         p = {.opens = "y", .reads = "pe", .tag = 3};
    rig g;
    rig_start(&g, fake_leaf(&m, "rtmp://127.0.0.1/live/main", false),
              fake_leaf(&b, "http://127.0.0.1/backup.mp4", true),
              fake_leaf(&p, "http://127.0.0.1/pad.mp4", true), false);
    src_failover_configure(
        g.src, true, true, true,
        &(src_failover_conf){.retry_count = 2, .retry_interval_ms = 5000, .recheck_ms = 10000});
    expect_open(&g);
    expect_packet(&g, 1);
    expect_alarm(&g, SRC_DISCONTINUITY, "BackupSourceActive",
                 "playing the pad source http://127.0.0.1/pad.mp4 (pull "
                 "http://127.0.0.1/backup.mp4: open: Connection refused)");
    assert_int_equal(b.n_open, 1);
    expect_packet(&g, 3);
    assert_int_equal(src_failover_playing(g.src), FB_PAD);
    rig_end(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main_fails_backup_plays),
        cmocka_unit_test(test_recheck_brings_main_back),
        cmocka_unit_test(test_retry_budget_exhausted),
        cmocka_unit_test(test_recovery_ends_the_episode),
        cmocka_unit_test(test_playlist_end),
        cmocka_unit_test(test_pad_plays_pass_after_pass),
        cmocka_unit_test(test_empty_pad_pass_is_a_failure),
        cmocka_unit_test(test_caller_found_it_broken),
        cmocka_unit_test(test_no_file_alternate_while_files_wait),
        cmocka_unit_test(test_alternate_removed_goes_back_to_main),
        cmocka_unit_test(test_playlist_discontinuity_per_file_then_end),
        cmocka_unit_test(test_playlist_skips_a_failing_file),
        cmocka_unit_test(test_playlist_failed_is_given_up),
        cmocka_unit_test(test_playlist_cut_moves_on),
        cmocka_unit_test(test_failing_file_alternate_goes_to_pad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
