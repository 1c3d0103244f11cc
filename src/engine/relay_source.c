/* relay_source.c — the relay's source side: opening the live source or the playlist's
 * entries, failures and retries, the switch to the backup or pad and back to the main one. */
#include "engine/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/engine_metrics.h"

#define PROBE_MIN_US 2000000   /* stream time the probe may read, at least ... */
#define PROBE_MAX_US 10000000  /* ... and at most; 1 s under connect_timeout if it fits */
#define PACE_LEAD_US 500000    /* files: how far the output runs ahead of the clock */
#define PACE_RESYNC_US 2000000 /* files: further behind than this, the clock restarts */
#define ALT_PASS_MIN_MS 1000   /* a file alternate's passes start at least this far apart */

static const char *const kind_names[MEDIA_KINDS] = {"video", "audio"};

/* "open: Immediate exit requested" becomes "open: timed out after N ms". */
static void relay_explain_timeout(const io_guard *g, char *why, size_t len, int timeout_ms)
{
    if (!g->expired)
        return;
    const char *colon = strstr(why, ": ");
    int keep = colon ? (int)(colon - why) : 0;
    char step[64];
    snprintf(step, sizeof(step), "%.*s", keep, why);
    snprintf(why, len, "%s%stimed out after %d ms", step, keep ? ": " : "", timeout_ms);
}

/* Appends FFmpeg's own first error line when it says more than "step: reason". */
void relay_add_av_detail(char *why, size_t len)
{
    const char *detail = engine_av_error_last();
    const char *reason = strstr(why, ": ");
    reason = reason ? reason + 2 : why;
    size_t n = strlen(why);
    if (detail[0] && !strstr(detail, reason) && !strstr(why, detail) && n + 4 < len)
        snprintf(why + n, len - n, " (%s)", detail);
}

/* ---------- the source side ---------- */

/* The probe must end inside the connect deadline, or a source with one stream (whose probe
 * always runs to its limit) would never connect. */
static int64_t relay_probe_us(const relay *r)
{
    int64_t us = ((int64_t)r->job->connect_timeout_ms - 1000) * 1000;
    return us < PROBE_MIN_US ? PROBE_MIN_US : us > PROBE_MAX_US ? PROBE_MAX_US : us;
}

/* The helper thread must be idle before the source closes; a read in flight is abandoned. */
static void relay_end_read_ahead(relay *r)
{
    if (read_ahead_pending(&r->ahead))
        io_guard_cut(r->sg);
    read_ahead_stop(&r->ahead);
}

void relay_close_source(relay *r)
{
    relay_end_read_ahead(r);
    if (!r->src_up)
        return;
    r->src.ops->close(&r->src);
    r->src_up = false;
    r->src_has_video = false;
    ingest_meter_reset(&r->ingest); /* the next source is measured on its own */
}

void relay_close_for_switch(relay *r)
{
    relay_close_source(r);
    gop_buffer_reset(&r->gop, r->gop.has_video); /* held packets belong to the lost session */
    if (r->tl.epoch_open)
        timeline_discontinuity(&r->tl);
    relay_sync_discontinuities(r);
}

/* The next alternate that may play now (a file cannot during pre-roll: it is paced). */
static bool relay_next_alternate(relay *r, int64_t now_ms)
{
    while (fallback_failed(&r->fb, now_ms))
        if (!(r->preroll && r->fb.is_file[r->fb.cur]))
            return true;
    return false;
}

void relay_pull_failed(relay *r, const char *why)
{
    relay_close_for_switch(r);
    snprintf(r->pull_error, sizeof(r->pull_error), "pull %s: %s", REDACT_URL(relay_source_url(r)),
             why);
    progress_set_error(r->w, r->pull_error);
    int64_t now = time_mono_ms();
    if (relay_next_alternate(r, now)) {
        tlog_warn(r->job->task_id, "engine: %s; trying the %s source %s", r->pull_error,
                  fallback_slot_name(r->fb.cur), REDACT_URL(relay_source_url(r)));
        return; /* the next connect opens it at once */
    }
    retry_failed(&r->pull, now, r->job->retry_interval_ms);
    r->announced_running = false;
    if (!retry_exhausted(&r->pull, r->job->retry_count)) /* else FAILED follows at once */
        relay_emit(r, ENGINE_EV_RECOVERING, ENGINE_FAIL_PULL, r->pull_error, NULL);
}

/* Video that FLV carries with global headers (SPS/PPS) is useless without them. */
static bool relay_lacks_headers(const AVCodecParameters *par)
{
    bool needs = par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC;
    return needs && par->extradata_size <= 0;
}

static int relay_shape_from(relay *r, int kind, const AVStream *st, char *why, size_t len)
{
    enum AVCodecID id = st->codecpar->codec_id;
    if (relay_lacks_headers(st->codecpar)) {
        snprintf(why, len, "probe: no %s parameter sets before the probe ended",
                 avcodec_get_name(id));
        return AVERROR_INVALIDDATA;
    }
    if (!r->shaped && !output_rtmp_can_carry(id)) {
        snprintf(why, len, "codec: %s %s cannot be carried by FLV", kind_names[kind],
                 avcodec_get_name(id));
        return AVERROR_PATCHWELCOME;
    }
    if (r->shaped && !r->shape.par[kind]) {
        tlog_warn(r->job->task_id, "engine: source now has %s the output does not carry: ignored",
                  kind_names[kind]);
        return 0;
    }
    if (r->shaped && r->shape.par[kind]->codec_id != id) {
        snprintf(why, len, "codec: %s changed from %s to %s; the output carries %s",
                 kind_names[kind], avcodec_get_name(r->shape.par[kind]->codec_id),
                 avcodec_get_name(id), avcodec_get_name(r->shape.par[kind]->codec_id));
        return AVERROR_PATCHWELCOME;
    }
    if (!r->shape.par[kind] && !(r->shape.par[kind] = avcodec_parameters_alloc()))
        return AVERROR(ENOMEM);
    if (kind == MEDIA_VIDEO && !r->shaped)
        r->shape.frame_rate = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    return avcodec_parameters_copy(r->shape.par[kind], st->codecpar);
}

/* Checks a newly opened source against the output session and takes its codec headers. */
static int relay_adopt_source(relay *r, char *why, size_t len)
{
    for (int k = 0; k < MEDIA_KINDS; k++) {
        const AVStream *st = source_stream(&r->src, k);
        int rc = st ? relay_shape_from(r, k, st, why, len) : 0;
        if (rc < 0) {
            if (rc == AVERROR(ENOMEM))
                snprintf(why, len, "codec: out of memory");
            for (int j = 0; j < MEDIA_KINDS && !r->shaped; j++)
                avcodec_parameters_free(&r->shape.par[j]); /* the next source decides */
            return rc;
        }
    }
    r->shaped = true;
    r->src_has_video = source_stream(&r->src, MEDIA_VIDEO) != NULL;
    bool video = r->src_has_video && r->shape.par[MEDIA_VIDEO];
    timeline_set_has_video(&r->tl, video);
    gop_buffer_reset(&r->gop, video);
    for (int i = 0; i < r->n_outs && !video; i++)
        if (r->outs[i].q)
            output_queue_expect_video(r->outs[i].q, false);
    return 0;
}

static void relay_log_source(relay *r, const char *url)
{
    if (!source_stream(&r->src, MEDIA_VIDEO) && !r->shape.par[MEDIA_VIDEO])
        tlog_warn(r->job->task_id,
                  "engine: the source shows no video within %lld ms: "
                  "the output session carries audio only",
                  (long long)relay_probe_us(r) / 1000);
    char desc[MEDIA_KINDS][64];
    for (int k = 0; k < MEDIA_KINDS; k++) {
        const AVStream *st = source_stream(&r->src, k);
        snprintf(desc[k], sizeof(desc[k]), "%s",
                 st ? avcodec_get_name(st->codecpar->codec_id) : "none");
    }
    tlog_info(r->job->task_id, "engine: source connected: %s (video %s, audio %s)", REDACT_URL(url),
              desc[MEDIA_VIDEO], desc[MEDIA_AUDIO]);
}

source_open_args relay_open_args(const relay *r, const char *url, io_guard *g)
{
    return (source_open_args){
        .url = url,
        .interrupt = io_guard_callback(g),
        .rw_timeout_us = (int64_t)r->job->stall_timeout_ms * 1000,
        .connect_timeout_us = (int64_t)r->job->connect_timeout_ms * 1000,
        .probe_us = relay_probe_us(r),
        .policy = &r->w->policy[ADDR_SOURCE],
        .max_bytes = config_account_picture_max_bytes(
            r->job->config, config_find_account(r->job->config, r->job->account)),
        .w = r->w,
    };
}

/* ---------- the live source, its backup and the pad ---------- */

const char *relay_source_url(const relay *r)
{
    if (r->files)
        return r->feed.list.urls[r->feed.pl.index];
    switch (r->fb.cur) {
    case FB_BACKUP:
        return r->job->backup_source;
    case FB_PAD:
        return r->job->pad_url;
    default:
        return r->job->sources[0];
    }
}

void relay_init_sources(relay *r)
{
    for (int i = 0; i < 3; i++)
        io_guard_init(&r->guards[i], r->w, 0);
    r->sg = &r->guards[0];
    const engine_job *j = r->job;
    bool live = j->kind == TASK_SOURCE_LIVE; /* the alternates stand in for a live source */
    fallback_init(&r->fb, live && j->backup_source, j->backup_is_file, live && j->pad_url,
                  j->recheck_ms);
    r->playing_slot = -1;
}

/* A guard that neither the source playing, the main source's re-check nor the standby
 * holds. */
static io_guard *relay_free_guard(relay *r)
{
    const io_guard *standby = r->standby ? relay_standby_guard(r->standby) : NULL;
    for (int i = 0; i < 3; i++)
        if (&r->guards[i] != r->sg && &r->guards[i] != r->check_guard && &r->guards[i] != standby)
            return &r->guards[i];
    return &r->guards[2]; /* not reached: on main no re-check runs, on a backup no standby */
}

/* Opens url into src, its context keeping g. On the worker, or on the re-check's helper
 * thread: an update drops the re-check before it changes the job. */
int relay_open_url(const relay *r, const char *url, engine_source *src, io_guard *g, char *why,
                   size_t len)
{
    source_open_args a = relay_open_args(r, url, g);
    io_guard_arm(g, (int64_t)r->job->connect_timeout_ms * 1000);
    src->ops = r->job->kind == TASK_SOURCE_PICTURE ? &source_picture_ops
                                                   : source_live_ops_for(url, r->job->config);
    src->stream_of[MEDIA_VIDEO] = src->stream_of[MEDIA_AUDIO] = -1;
    int rc = src->ops->open(src, &a, why, len);
    if (rc < 0) {
        relay_explain_timeout(g, why, len, r->job->connect_timeout_ms);
        if (!g->expired)
            relay_add_av_detail(why, len);
    }
    return rc;
}

/* Operators see which source plays: an alarm when an alternate takes over or the main
 * source comes back (not when a file alternate starts another pass). */
static void relay_tell_slot(relay *r)
{
    int was = r->playing_slot;
    r->playing_slot = (int)r->fb.cur;
    if (was == (int)r->fb.cur || (r->fb.cur == FB_MAIN && was <= (int)FB_MAIN))
        return;
    char why[ENGINE_ERR_MAX * 2];
    if (r->fb.cur == FB_MAIN) {
        snprintf(why, sizeof(why), "the main source %s plays again",
                 REDACT_URL(relay_source_url(r)));
        relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_NONE, why, "MainSourceRestored");
        return;
    }
    engine_metrics_failover();
    snprintf(why, sizeof(why), "playing the %s source %s (%s)", fallback_slot_name(r->fb.cur),
             REDACT_URL(relay_source_url(r)), r->pull_error);
    relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_PULL, why, "BackupSourceActive");
}

void relay_keep_standby(relay *r)
{
    bool want = r->job->kind == TASK_SOURCE_LIVE && r->src_up && r->fb.cur == FB_MAIN &&
                r->job->backup_source && !r->job->backup_is_file && r->job->backup_standby;
    if (want && !r->standby)
        r->standby = relay_standby_start(r, r->job->backup_source, relay_free_guard(r));
}

/* src is open with guard g: checked against the output session, it becomes the relay's. */
static int relay_install(relay *r, engine_source *src, io_guard *g, char *why, size_t len)
{
    r->src = *src;
    r->src_up = true;
    r->sg = g;
    int rc = relay_adopt_source(r, why, len);
    if (rc < 0) {
        relay_close_source(r);
        return rc;
    }
    relay_log_source(r, relay_source_url(r));
    r->last_read_us = r->last_pass_us = time_mono_us();
    r->src_packets = 0;
    if (r->fb.is_file[r->fb.cur])
        r->alt_opened_ms = time_mono_ms();
    bool was_paced = r->paced;
    r->paced = relay_job_paced(r->job) || r->fb.is_file[r->fb.cur];
    if (r->paced && !was_paced)
        r->pace_set = false;
    progress_set_source(r->w, relay_source_url(r), fallback_slot_name(r->fb.cur));
    fallback_opened(&r->fb, time_mono_ms());
    relay_tell_slot(r);
    relay_keep_standby(r);
    return 0;
}

/* The standby backup takes over: its source plays and what it holds since its latest
 * keyframe goes out first (or, in pre-roll, becomes the pre-roll's buffer). */
static int relay_take_standby(relay *r, char *why, size_t len)
{
    relay_standby *sb = r->standby;
    r->standby = NULL;
    io_guard *g = relay_standby_guard(sb);
    engine_source s;
    gop_buffer held;
    if (!relay_standby_take(sb, &s, &held))
        return AVERROR(EAGAIN); /* not flowing: open it the usual way */
    int rc = relay_install(r, &s, g, why, len);
    if (rc == 0) {
        gop_buffer_free(&r->gop);
        r->gop = held;
        r->flush_held = !r->preroll;
        tlog_info(r->job->task_id, "engine: the standby backup takes over with %d held packet(s)",
                  r->gop.count);
    } else {
        gop_buffer_free(&held);
    }
    return rc;
}

void relay_stop_standby(relay *r)
{
    relay_standby_stop(r->standby);
    r->standby = NULL;
}

/* ---------- the main source's re-check, on a helper thread ---------- */

static int relay_check_open(void *ctx, engine_source *src, io_guard *g, char *why, size_t len)
{
    relay *r = ctx;
    return relay_open_url(r, r->check_url, src, g, why, len);
}

static void relay_forget_check(relay *r)
{
    r->main_check = NULL;
    r->check_guard = NULL;
    free(r->check_url);
    r->check_url = NULL;
}

static int relay_take_check(relay *r, engine_source *src, char *why, size_t len)
{
    int rc = source_opener_take(r->main_check, src, why, len);
    relay_forget_check(r);
    return rc;
}

void relay_cancel_check(relay *r)
{
    source_opener_drop(r->main_check);
    relay_forget_check(r);
}

static void relay_start_check(relay *r)
{
    r->check_url = strdup(r->job->sources[0]);
    r->check_guard = relay_free_guard(r);
    fallback_check_started(&r->fb, time_mono_ms());
    if (r->check_url)
        r->main_check = source_opener_start(relay_check_open, r, r->check_guard, r->job->task_id);
    if (!r->main_check) {
        relay_forget_check(r);
        fallback_check_failed(&r->fb, time_mono_ms());
    }
}

/* The re-check ended: the main source replaces the alternate, or the alternate goes on. */
static void relay_main_checked(relay *r)
{
    engine_source s;
    char why[ENGINE_ERR_MAX];
    io_guard *g = r->check_guard;
    int64_t now = time_mono_ms();
    if (relay_take_check(r, &s, why, sizeof(why)) < 0) {
        fallback_check_failed(&r->fb, now);
        tlog_info(r->job->task_id, "engine: the main source is still down: %s", why);
        return;
    }
    fb_slot alternate = r->fb.cur;
    relay_close_for_switch(r);
    fallback_main_returned(&r->fb, now);
    if (relay_install(r, &s, g, why, sizeof(why)) < 0) {
        r->fb.cur = alternate; /* reopened by the next connect */
        fallback_check_failed(&r->fb, now);
        tlog_warn(r->job->task_id, "engine: the main source is back but %s; staying on the %s", why,
                  fallback_slot_name(alternate));
    }
}

int relay_check_main(relay *r, bool pass_ended)
{
    if (r->files || !fallback_on_alternate(&r->fb))
        return RELAY_GO;
    if (r->main_check) {
        if (source_opener_done(r->main_check))
            relay_main_checked(r);
    } else if (fallback_check_due(&r->fb, time_mono_ms(), pass_ended)) {
        relay_start_check(r);
    }
    return worker_stop_requested(r->w) ? relay_stop(r) : RELAY_GO;
}

/* Opens fb.cur (the main source: the re-check's result when one is in flight). */
static int relay_open_source(relay *r, char *why, size_t len)
{
    engine_source s;
    memset(&s, 0, sizeof(s));
    io_guard *g;
    int rc;
    if (r->fb.cur == FB_BACKUP && r->standby && relay_take_standby(r, why, len) == 0)
        return 0;
    if (r->fb.cur != FB_MAIN)
        relay_stop_standby(r); /* an alternate opens the usual way: no second pull of it */
    if (r->fb.cur == FB_MAIN && r->main_check) {
        g = r->check_guard;
        rc = relay_take_check(r, &s, why, len);
    } else {
        g = relay_free_guard(r);
        engine_av_error_clear();
        rc = relay_open_url(r, relay_source_url(r), &s, g, why, len);
    }
    return rc < 0 ? rc : relay_install(r, &s, g, why, len);
}

/* ---------- the file playlist ---------- */

/* The current entry is over (why NULL: played to its end); the next one opens at the next
 * connect. Ends the relay when the loops are done or every entry failed. A live task's file
 * alternate (backup or pad) is over: it plays again, or the main source does. */
int relay_file_over(relay *r, const char *why)
{
    if (!r->files && r->src_packets == 0) { /* an empty pass is a failed source */
        relay_pull_failed(r, "read: the file ended without a packet");
        return RELAY_GO;
    }
    relay_close_for_switch(r);
    if (!r->files) /* a file alternate played through: again, unless the main one is back */
        return relay_check_main(r, true);
    if (file_feed_next(&r->feed, why))
        return RELAY_GO;
    if (!file_feed_all_failed(&r->feed)) {
        r->end = ENGINE_EV_FINISHED;
        return RELAY_END;
    }
    char err[ENGINE_ERR_MAX];
    snprintf(err, sizeof(err), "playlist: every file failed (the last: %.400s)",
             why ? why : "no packet");
    progress_set_error(r->w, err);
    return relay_fail(r, ENGINE_FAIL_PULL, err);
}

/* Opens the entry and checks it against the output session. */
static int relay_open_file(relay *r, char *why, size_t len)
{
    int rc = file_feed_open(&r->feed, &r->src, why, len);
    if (rc < 0) {
        relay_add_av_detail(why, len);
        return rc;
    }
    r->src_up = true;
    r->sg = file_feed_guard(&r->feed);
    file_feed_opened(&r->feed, &r->src);
    rc = relay_adopt_source(r, why, len);
    if (rc < 0)
        relay_close_source(r);
    return rc;
}

/* Opens the playlist's current entry; an entry that fails is skipped with an alarm. */
static int relay_connect_file(relay *r)
{
    for (;;) {
        if (worker_stop_requested(r->w))
            return relay_stop(r);
        char why[ENGINE_ERR_MAX];
        if (relay_open_file(r, why, sizeof(why)) == 0) {
            relay_log_source(r, relay_source_url(r));
            r->last_read_us = r->last_pass_us = time_mono_us();
            file_feed_started(&r->feed);
            return RELAY_GO;
        }
        if (worker_stop_requested(r->w))
            return relay_stop(r);
        if (relay_file_over(r, why) != RELAY_GO)
            return RELAY_END;
    }
}

/* Files play in real time: a packet leaves when the clock reaches its output DTS (less the
 * lead). Far behind (a slow open), the clock restarts rather than bursting. */
int relay_pace(relay *r, int64_t out_dts_us)
{
    int64_t now = time_mono_us();
    int64_t due = r->pace_wall_us + (out_dts_us - r->pace_dts_us) - PACE_LEAD_US;
    if (!r->pace_set || due < now - PACE_RESYNC_US || due > now + PACE_RESYNC_US) {
        r->pace_set = true;
        r->pace_wall_us = now;
        r->pace_dts_us = out_dts_us;
        return RELAY_GO;
    }
    if (due > now && worker_wait_until(r->w, (due + 999) / 1000))
        return relay_stop(r);
    return RELAY_GO;
}

/* Files with a push time ahead: the first entry is open; the outputs wait for push time. */
int relay_wait_push(relay *r)
{
    r->push_wait = false;
    if (worker_wait_until(r->w, (r->push_mono_us + 999) / 1000))
        return relay_stop(r);
    r->last_read_us = r->last_pass_us = time_mono_us();
    return RELAY_GO;
}

/* A file alternate plays again at most once a second, however short it is. */
static int relay_wait_alternate(relay *r)
{
    if (!fallback_on_alternate(&r->fb) || !r->fb.is_file[r->fb.cur] || !r->alt_opened_ms)
        return RELAY_GO;
    int64_t due = r->alt_opened_ms + ALT_PASS_MIN_MS;
    if (time_mono_ms() < due && worker_wait_until(r->w, due))
        return relay_stop(r);
    return RELAY_GO;
}

/* Connects the source: at once, then every retry_interval, at most retry_count attempts
 * per failure episode (retry.h: flaps wait and spend the same budget). Waits are cut short
 * by engine_stop. */
int relay_connect_source(relay *r)
{
    if (r->files)
        return relay_connect_file(r);
    for (;;) {
        if (relay_wait_alternate(r) != RELAY_GO)
            return RELAY_END;
        if (r->pull.failing && !fallback_on_alternate(&r->fb)) {
            if (retry_exhausted(&r->pull, r->job->retry_count))
                return relay_fail(r, ENGINE_FAIL_PULL, r->pull_error);
            if (worker_wait_until_update(r->w, r->pull.next_ms))
                return relay_stop(r);
            if (worker_update_pending(r->w)) { /* a new source or retry policy, maybe */
                if (relay_take_update(r) != RELAY_GO)
                    return RELAY_END;
                continue;
            }
            retry_attempt(&r->pull);
            engine_metrics_reconnect(ENGINE_SIDE_SOURCE);
            tlog_info(r->job->task_id, "engine: reconnecting the source (attempt %d of %d)",
                      r->pull.attempts, r->job->retry_count);
        }
        if (worker_stop_requested(r->w))
            return relay_stop(r);
        char why[ENGINE_ERR_MAX];
        if (relay_open_source(r, why, sizeof(why)) == 0)
            return RELAY_GO;
        if (worker_stop_requested(r->w))
            return relay_stop(r);
        relay_pull_failed(r, why);
    }
}

/* ---------- the output side ---------- */
