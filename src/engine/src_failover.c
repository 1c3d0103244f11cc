/* src_failover.c — the failover wrapper (src_node.h): a source node whose priv holds the
 * main / backup / pad leaves, the backup's standby, the main re-check and the retry budget. */
#include "engine/src_node.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>

#include "common/redact.h"
#include "common/timeutil.h"
#include "engine/fallback.h"
#include "engine/retry.h"

#define ALT_PASS_MIN_MS 1000 /* a file alternate's passes start at least this far apart */
#define OPEN_POLL_MS 10      /* a leaf opening on the side is asked again this soon */

typedef struct failover {
    src_node *slot[FB_SLOTS];
    src_failover_conf conf;
    fallback fb;
    retry_budget retry;
    int playing;           /* the slot open, -1 = none */
    int told;              /* the slot operators were last told plays, -1 = none yet */
    bool checking;         /* the main leaf is opening on the side (a re-check) */
    bool pass_ended;       /* a file alternate has just played through */
    int64_t packets;       /* given by the leaf playing since it opened */
    int64_t alt_opened_ms; /* when a file alternate last opened */
    bool charged;          /* an episode's attempt is charged: the open comes next */
    bool files_ok;         /* file alternates may play */
    char error[SRC_ERR_MAX];
} failover;

static int64_t fo_now(const failover *f)
{
    return f->conf.now_ms ? f->conf.now_ms(f->conf.clock_ctx) : time_mono_ms();
}

static void fo_event(src_read *rd, engine_event_type type, engine_failure failure,
                     const char *alarm, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void fo_event(src_read *rd, engine_event_type type, engine_failure failure,
                     const char *alarm, const char *fmt, ...)
{
    rd->ev = (src_event){.set = true, .type = type, .failure = failure, .alarm = alarm};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rd->ev.error, sizeof(rd->ev.error), fmt, ap);
    va_end(ap);
}

/* The main leaf says so itself (a playlist); an alternate as configured. */
static bool fo_is_file(const failover *f, int s)
{
    return s == FB_MAIN ? f->slot[FB_MAIN]->is_file : f->fb.is_file[s];
}

static void fo_close_playing(failover *f)
{
    if (f->playing >= 0)
        src_node_close(f->slot[f->playing]);
    f->playing = -1;
}

static void fo_standby(failover *f, bool on)
{
    src_node *b = f->slot[FB_BACKUP];
    if (b && b->ops->standby && !f->fb.is_file[FB_BACKUP] && (f->conf.standby || !on))
        b->ops->standby(b, on);
}

/* Operators see which source plays: an alarm when an alternate takes over or the main one
 * comes back (not when a file alternate starts another pass). */
static void fo_tell_slot(failover *f, src_read *rd)
{
    int was = f->told;
    int cur = (int)f->fb.cur;
    f->told = cur;
    if (was == cur || (cur == FB_MAIN && was <= FB_MAIN))
        return;
    const char *url = REDACT_URL(f->slot[cur]->url);
    if (cur == FB_MAIN)
        fo_event(rd, ENGINE_EV_ALARM, ENGINE_FAIL_NONE, "MainSourceRestored",
                 "the main source %s plays again", url);
    else
        fo_event(rd, ENGINE_EV_ALARM, ENGINE_FAIL_PULL, "BackupSourceActive",
                 "playing the %s source %s (%.300s)", fallback_slot_name(f->fb.cur), url, f->error);
}

static src_status fo_read(src_node *n, src_read *rd);

/* fb.cur has just opened: it plays from a new epoch (the first one too). */
static src_status fo_installed(src_node *n, int64_t now, src_read *rd)
{
    failover *f = n->priv;
    f->playing = (int)f->fb.cur;
    f->packets = 0;
    if (fo_is_file(f, f->playing))
        f->alt_opened_ms = now;
    fallback_opened(&f->fb, now);
    fo_tell_slot(f, rd);
    if (f->playing == FB_MAIN)
        fo_standby(f, true);
    return SRC_DISCONTINUITY;
}

static src_status fo_give_up(failover *f, src_read *rd)
{
    fo_event(rd, ENGINE_EV_FAILED, ENGINE_FAIL_PULL, NULL, "%s", f->error);
    return SRC_FAILED;
}

static src_status fo_connect(src_node *n, src_read *rd);

/* The leaf of fb.cur failed to open or to read (why): the next alternate opens at once, or
 * a failure episode waits for its next attempt (RECOVERING) or gives up. */
static src_status fo_failed(src_node *n, int64_t now, const char *why, src_read *rd)
{
    failover *f = n->priv;
    fo_close_playing(f);
    snprintf(f->error, sizeof(f->error), "pull %s: %.400s", REDACT_URL(f->slot[f->fb.cur]->url),
             why);
    rd->failed = true;
    while (fallback_failed(&f->fb, now))
        if (f->files_ok || !f->fb.is_file[f->fb.cur])
            return fo_connect(n, rd);
    retry_failed(&f->retry, now, f->conf.retry_interval_ms);
    if (retry_exhausted(&f->retry, f->conf.retry_count))
        return fo_give_up(f, rd);
    fo_event(rd, ENGINE_EV_RECOVERING, ENGINE_FAIL_PULL, NULL, "%s", f->error);
    rd->until_ms = f->retry.next_ms;
    return SRC_RETRY;
}

/* Before fb.cur opens: a failure episode's next attempt, or a file alternate's next pass,
 * may not be due yet (then *until is set). */
static bool fo_open_due(failover *f, int64_t now, int64_t *until)
{
    *until = 0;
    if (f->retry.failing && !fallback_on_alternate(&f->fb) && now < f->retry.next_ms)
        *until = f->retry.next_ms;
    else if (fo_is_file(f, f->fb.cur) && f->fb.cur != FB_MAIN && f->alt_opened_ms &&
             now < f->alt_opened_ms + ALT_PASS_MIN_MS)
        *until = f->alt_opened_ms + ALT_PASS_MIN_MS;
    return *until == 0;
}

/* Opens fb.cur: at once, or when its attempt is due. An attempt of an episode is charged
 * first, in a RETRY of its own (until now) that says which one it is. */
static src_status fo_connect(src_node *n, src_read *rd)
{
    failover *f = n->priv;
    int64_t now = fo_now(f);
    bool episode = f->retry.failing && !fallback_on_alternate(&f->fb);
    if (episode && !f->charged) {
        if (retry_exhausted(&f->retry, f->conf.retry_count))
            return fo_give_up(f, rd);
        if (!fo_open_due(f, now, &rd->until_ms))
            return SRC_RETRY;
        retry_attempt(&f->retry);
        f->charged = true;
        rd->attempt = f->retry.attempts;
        rd->until_ms = now;
        return SRC_RETRY;
    }
    if (!episode && !fo_open_due(f, now, &rd->until_ms))
        return SRC_RETRY;
    f->charged = false;
    if (f->fb.cur == FB_MAIN)
        f->checking = false; /* a re-check in flight is what this open takes */
    if (f->fb.cur == FB_PAD)
        fo_standby(f, false); /* the backup is down too: no second pull of it */
    char why[SRC_ERR_MAX];
    int rc = src_node_open(f->slot[f->fb.cur], why, sizeof(why));
    if (rc == AVERROR(EAGAIN)) {
        rd->until_ms = now + OPEN_POLL_MS;
        return SRC_RETRY;
    }
    if (rc < 0)
        return fo_failed(n, now, why, rd);
    return fo_installed(n, now, rd);
}

/* On an alternate: the main leaf opens on the side when a try is due; true when it did and
 * the alternate has been closed for it. */
static bool fo_recheck(failover *f, int64_t now)
{
    if (!fallback_on_alternate(&f->fb))
        return false;
    if (!f->checking) {
        if (!fallback_check_due(&f->fb, now, f->pass_ended))
            return false;
        fallback_check_started(&f->fb, now);
        f->checking = true;
    }
    char why[SRC_ERR_MAX];
    int rc = src_node_open(f->slot[FB_MAIN], why, sizeof(why));
    if (rc == AVERROR(EAGAIN))
        return false;
    f->checking = false;
    if (rc < 0) {
        fallback_check_failed(&f->fb, now);
        return false;
    }
    fo_close_playing(f);
    fallback_main_returned(&f->fb, now);
    return true;
}

/* What the playing leaf's END means: a playlist (main) is over; a file alternate starts
 * another pass (unless the main leaf is back); anything else failed. */
static src_status fo_leaf_ended(src_node *n, int64_t now, src_read *rd)
{
    failover *f = n->priv;
    const src_node *leaf = f->slot[f->playing];
    if (leaf->is_file && f->playing == FB_MAIN)
        return SRC_END;
    if (!fo_is_file(f, f->playing))
        return fo_failed(n, now, "read: the source ended", rd);
    if (f->packets == 0)
        return fo_failed(n, now, "read: the file ended without a packet", rd);
    fo_close_playing(f);
    f->pass_ended = true;
    return fo_read(n, rd);
}

/* A playlist (the main leaf, is_file) that failed is over: every entry failed, and they
 * were its retries. Its reason is the task's error as it is. */
static src_status fo_playlist_failed(failover *f, const char *why, src_read *rd)
{
    fo_close_playing(f);
    snprintf(f->error, sizeof(f->error), "%s", why);
    rd->failed = true;
    return fo_give_up(f, rd);
}

/* What the playing leaf gave (in read() or cut()). */
static src_status fo_leaf_result(src_node *n, int64_t now, src_status st, src_read *rd)
{
    failover *f = n->priv;
    if (st == SRC_PACKET) {
        f->packets++;
    } else if (st == SRC_END) {
        return fo_leaf_ended(n, now, rd);
    } else if (st == SRC_FAILED) {
        char why[SRC_ERR_MAX];
        snprintf(why, sizeof(why), "%s", rd->ev.error[0] ? rd->ev.error : "read: failed");
        rd->ev.set = false;
        if (f->playing == FB_MAIN && f->slot[FB_MAIN]->is_file)
            return fo_playlist_failed(f, why, rd);
        return fo_failed(n, now, why, rd);
    }
    return st;
}

static src_status fo_read(src_node *n, src_read *rd)
{
    failover *f = n->priv;
    int64_t now = fo_now(f);
    if (fo_recheck(f, now))
        return fo_installed(n, now, rd);
    f->pass_ended = false;
    if (f->playing < 0)
        return fo_connect(n, rd);
    bool failed = rd->failed;
    src_status st = src_node_read(f->slot[f->playing], rd);
    rd->failed |= failed;
    return fo_leaf_result(n, now, st, rd);
}

/* The playing leaf has items (cut): it moves on from the one playing. */
static bool fo_cut(src_node *n, const char *why, src_read *rd, src_status *st)
{
    failover *f = n->priv;
    if (f->playing < 0 || !f->slot[f->playing]->ops->cut)
        return false;
    src_node *leaf = f->slot[f->playing];
    *st = fo_leaf_result(n, fo_now(f), leaf->ops->cut(leaf, why, rd), rd);
    return true;
}

static int fo_open(src_node *n, char *why, size_t len)
{
    (void)n;
    (void)why;
    (void)len;
    return 0; /* the first read opens the main leaf */
}

static void fo_close(src_node *n)
{
    failover *f = n->priv;
    fo_close_playing(f);
    if (f->checking)
        src_node_close(f->slot[FB_MAIN]);
    f->checking = false;
    fo_standby(f, false);
}

static void fo_free(src_node *n)
{
    failover *f = n->priv;
    for (int s = 0; s < FB_SLOTS; s++)
        src_node_free(f->slot[s]);
    free(f);
    n->priv = NULL;
}

static const src_node_ops src_failover_ops = {
    .name = "failover",
    .open = fo_open,
    .read = fo_read,
    .close = fo_close,
    .free = fo_free,
};

src_node *src_failover_new(src_node *main, src_node *backup, src_node *pad,
                           const src_failover_conf *conf)
{
    src_node *n = calloc(1, sizeof(*n));
    failover *f = calloc(1, sizeof(*f));
    if (!n || !f || !main) {
        free(n);
        free(f);
        src_node_free(main);
        src_node_free(backup);
        src_node_free(pad);
        return NULL;
    }
    f->slot[FB_MAIN] = main;
    f->slot[FB_BACKUP] = backup;
    f->slot[FB_PAD] = pad;
    f->conf = *conf;
    f->playing = f->told = -1;
    f->files_ok = true;
    fallback_init(&f->fb, backup != NULL, backup && backup->is_file, pad != NULL, conf->recheck_ms);
    *n = (src_node){.ops = &src_failover_ops, .priv = f, .url = main->url};
    return n;
}

int src_failover_playing(const src_node *n)
{
    const failover *f = n->priv;
    return f->playing;
}

const char *src_failover_error(const src_node *n)
{
    const failover *f = n->priv;
    return f->error;
}

int src_failover_slot(const src_node *n)
{
    const failover *f = n->priv;
    return (int)f->fb.cur;
}

bool src_failover_configure(src_node *n, bool backup, bool backup_is_file, bool pad,
                            const src_failover_conf *conf)
{
    failover *f = n->priv;
    f->conf.retry_count = conf->retry_count;
    f->conf.retry_interval_ms = conf->retry_interval_ms;
    f->conf.recheck_ms = conf->recheck_ms;
    f->conf.standby = conf->standby;
    f->fb.recheck_ms = conf->recheck_ms > 1000 ? conf->recheck_ms : 1000;
    backup = backup && f->slot[FB_BACKUP];
    return fallback_configure(&f->fb, backup, backup && backup_is_file, pad && f->slot[FB_PAD]);
}

void src_failover_restart(src_node *n)
{
    failover *f = n->priv;
    fo_close_playing(f);
    fallback_main_back(&f->fb);
    f->retry = (retry_budget){0};
    f->charged = false;
}

src_status src_failover_fail(src_node *n, const char *why, src_read *rd)
{
    failover *f = n->priv;
    src_status st;
    if (fo_cut(n, why, rd, &st))
        return st;
    return fo_failed(n, fo_now(f), why, rd);
}

src_status src_failover_ended(src_node *n, src_read *rd)
{
    failover *f = n->priv;
    src_status st;
    if (fo_cut(n, NULL, rd, &st))
        return st;
    if (f->playing < 0)
        return fo_read(n, rd);
    return fo_leaf_ended(n, fo_now(f), rd);
}

bool src_failover_poll(src_node *n, src_read *rd, src_status *st)
{
    failover *f = n->priv;
    int64_t now = fo_now(f);
    if (!fo_recheck(f, now))
        return false;
    *st = fo_installed(n, now, rd);
    return true;
}

void src_failover_allow_files(src_node *n, bool ok)
{
    failover *f = n->priv;
    f->files_ok = ok;
}

bool src_failover_can_switch(const src_node *n)
{
    const failover *f = n->priv;
    return !fallback_on_alternate(&f->fb) && fallback_has_alternates(&f->fb);
}

bool src_failover_on_alternate(const src_node *n)
{
    const failover *f = n->priv;
    return fallback_on_alternate(&f->fb);
}

bool src_failover_failing(const src_node *n)
{
    const failover *f = n->priv;
    return f->retry.failing;
}

int src_failover_recovered(src_node *n)
{
    failover *f = n->priv;
    if (!f->retry.failing)
        return -1;
    retry_recovered(&f->retry, fo_now(f));
    return f->retry.attempts;
}

void src_failover_side_stop(src_node *n)
{
    failover *f = n->priv;
    if (f->checking)
        src_node_close(f->slot[FB_MAIN]);
    f->checking = false;
    fo_standby(f, false);
}

void src_failover_side_resume(src_node *n)
{
    failover *f = n->priv;
    if (f->playing == FB_MAIN)
        fo_standby(f, true);
}
