/* relay_source.c — the relay's source side: what the task's composite source gives (events,
 * packets, waits for retries), opening a source into the relay's slot, and file pacing. */
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

int relay_adopt_source(relay *r, char *why, size_t len)
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

void relay_log_source(relay *r, const char *url)
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

/* ---------- opening a source (the leaves too, relay_leaf.c) ---------- */

const char *relay_source_url(const relay *r)
{
    return r->list ? relay_playlist_url(r->list) : relay_live_url(r);
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

/* ---------- pacing ---------- */

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

/* ---------- the live source: its composite's results ---------- */

bool relay_pull_failing(const relay *r)
{
    return src_failover_failing(r->in);
}

/* An event the composite source brings: the task hears it as it is. */
static void relay_source_event(relay *r, const src_event *ev)
{
    if (ev->type == ENGINE_EV_FAILED)
        return; /* the task's end: relay_fail */
    if (ev->type == ENGINE_EV_RECOVERING)
        r->announced_running = false;
    if (ev->alarm && strcmp(ev->alarm, "BackupSourceActive") == 0)
        engine_metrics_failover();
    relay_emit(r, ev->type, ev->failure, ev->error, ev->alarm);
}

/* A source failed in that call: the task's last error; the log says where it goes on. */
static void relay_source_failed(relay *r, src_status st)
{
    const char *error = src_failover_error(r->in);
    progress_set_error(r->w, error);
    if (st == SRC_DISCONTINUITY && src_failover_on_alternate(r->in))
        tlog_warn(r->job->task_id, "engine: %s; the %s source %s plays", error,
                  fallback_slot_name(src_failover_slot(r->in)), REDACT_URL(relay_live_url(r)));
}

int relay_source_result(relay *r, src_status st, src_read *rd)
{
    if (st != SRC_PACKET && worker_stop_requested(r->w))
        return relay_stop(r);
    if (rd->failed)
        relay_source_failed(r, st);
    if (rd->ev.set)
        relay_source_event(r, &rd->ev);
    switch (st) {
    case SRC_PACKET:
        return relay_take_source_pkt(r, rd->kind, time_mono_us());
    case SRC_RETRY:
        if (rd->attempt) {
            engine_metrics_reconnect(ENGINE_SIDE_SOURCE);
            tlog_info(r->job->task_id, "engine: reconnecting the source (attempt %d of %d)",
                      rd->attempt, r->job->retry_count);
        }
        return RELAY_GO;
    case SRC_FAILED:
        return relay_fail(r, ENGINE_FAIL_PULL, rd->ev.error);
    case SRC_END:
        r->end = ENGINE_EV_FINISHED;
        return RELAY_END;
    default: /* SRC_DISCONTINUITY: the leaf that closed started the new epoch */
        relay_sync_discontinuities(r);
        return RELAY_GO;
    }
}

int relay_source_ended(relay *r)
{
    src_read rd = {.pkt = r->pkt};
    return relay_source_result(r, src_failover_ended(r->in, &rd), &rd);
}

int relay_pull_failed(relay *r, const char *why)
{
    src_read rd = {.pkt = r->pkt};
    return relay_source_result(r, src_failover_fail(r->in, why, &rd), &rd);
}

int relay_read_source(relay *r)
{
    src_read rd = {.pkt = r->pkt};
    return relay_source_result(r, src_node_read(r->in, &rd), &rd);
}

int relay_poll_source(relay *r)
{
    src_read rd = {.pkt = r->pkt};
    src_status st;
    if (src_failover_poll(r->in, &rd, &st) && relay_source_result(r, st, &rd) != RELAY_GO)
        return RELAY_END;
    return worker_stop_requested(r->w) ? relay_stop(r) : RELAY_GO;
}

/* A retry or the next pass is due at until_ms: the wait ends early for a stop or a live
 * modification (a new source or retry policy, maybe). */
static int relay_wait_source(relay *r, int64_t until_ms)
{
    if (until_ms <= time_mono_ms())
        return RELAY_GO;
    if (worker_wait_until_update(r->w, until_ms))
        return relay_stop(r);
    return worker_update_pending(r->w) ? relay_take_update(r) : RELAY_GO;
}

/* Reads the composite source until one of its leaves plays: it opens, switches and
 * retries (at most retry_count attempts per failure episode, retry.h); the waits are ours
 * and cut short by engine_stop. */
int relay_connect_source(relay *r)
{
    while (!r->src_up) {
        if (worker_stop_requested(r->w))
            return relay_stop(r);
        src_read rd = {.pkt = r->pkt};
        src_status st = src_node_read(r->in, &rd);
        if (relay_source_result(r, st, &rd) != RELAY_GO)
            return RELAY_END;
        if (st == SRC_RETRY && relay_wait_source(r, rd.until_ms) != RELAY_GO)
            return RELAY_END;
    }
    return RELAY_GO;
}

/* ---------- the output side ---------- */
