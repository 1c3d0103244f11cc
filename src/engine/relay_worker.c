/* relay_worker.c — one task's worker thread: pulls the source, maps packets through the
 * timeline, pushes them to the output sessions; owns reconnects, retries and the pre-roll. */
#include "engine/relay.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/gop_buffer.h"
#include "engine/output_queue.h"
#include "engine/read_ahead.h"
#include "engine/engine_metrics.h"
#include "engine/event_loop.h"
#include "engine/timeline.h"

#define FLV_TICK_US 1000           /* FLV timestamps are milliseconds */
#define QUEUE_ALARM_EVERY_MS 10000 /* at most one PushStreamUnstable per output this often */
#define KEYFRAME_WAIT_MIN_MS 30000 /* packets flow but none is usable (no keyframe) */
#define PARK_MIN_US 20000          /* closer to a read deadline the worker reads by itself */
#define RELAY_OVER_INGEST 2        /* relay_take_pkt: over the account's max_ingest_kbps */

/* ---------- events and endings ---------- */

void relay_emit(relay *r, engine_event_type type, engine_failure failure, const char *error,
                const char *alarm)
{
    engine_event ev = {.type = type, .failure = failure, .error = error, .alarm = alarm};
    worker_emit(r->w, &ev);
}

int relay_stop(relay *r)
{
    r->end = ENGINE_EV_STOPPED;
    r->end_failure = ENGINE_FAIL_NONE;
    return RELAY_END;
}

int relay_fail(relay *r, engine_failure failure, const char *error)
{
    r->end = ENGINE_EV_FAILED;
    r->end_failure = failure;
    snprintf(r->end_error, sizeof(r->end_error), "%s", error);
    return RELAY_END;
}

static void relay_announce_running(relay *r)
{
    if (r->announced_running || relay_pull_failing(r) || r->outs[0].retry.failing)
        return;
    r->announced_running = true;
    relay_emit(r, ENGINE_EV_RUNNING, ENGINE_FAIL_NONE, NULL, NULL);
}

void relay_sync_discontinuities(relay *r)
{
    if (r->tl.jumps != r->jumps_seen) {
        r->jumps_seen = r->tl.jumps;
        tlog_warn(r->job->task_id, "engine: source timestamps jumped; the output continues");
    }
    if (r->tl.discontinuities != r->discontinuities_seen) {
        r->discontinuities_seen = r->tl.discontinuities;
        progress_set_discontinuities(r->w, r->tl.discontinuities);
    }
}

/* An output failed (connect or write): its writer closed the session; schedule the next
 * attempt. The destination drives the task's state; the second one raises alarms only. */
static int relay_push_failed(relay *r, int i, const char *why)
{
    relay_output *o = &r->outs[i];
    o->up = false;
    if (worker_stop_requested(r->w))
        return relay_stop(r);
    snprintf(o->error, sizeof(o->error), "push %s: %s", REDACT_URL(o->url), why);
    int64_t now = time_mono_ms();
    bool first = !o->retry.failing;
    retry_failed(&o->retry, now, r->job->retry_interval_ms);
    bool retrying = !retry_exhausted(&o->retry, r->job->retry_count);
    if (i == 0) {
        progress_set_error(r->w, o->error);
        r->announced_running = false;
        if (retrying)
            relay_emit(r, ENGINE_EV_RECOVERING, ENGINE_FAIL_PUSH, o->error, NULL);
    } else if (first && retrying) {
        relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_PUSH, o->error, "PushStreamUnstable");
    }
    if (retrying)
        return RELAY_GO;
    if (i == 0)
        return relay_fail(r, ENGINE_FAIL_PUSH, o->error);
    o->gave_up = true;
    relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_PUSH, o->error, "PushStreamFailed");
    return RELAY_GO;
}

/* Asks the output's writer thread for a session: it connects while the relay goes on and
 * reports the outcome to relay_poll_outputs. */
static int relay_open_output(relay *r, int i)
{
    relay_output *o = &r->outs[i];
    if (!o->q) {
        output_queue_args a = {
            .w = r->w,
            .url = o->url,
            .index = i,
            .shape = &r->shape,
            .connect_timeout_us = (int64_t)r->job->connect_timeout_ms * 1000,
            .rw_timeout_us = (int64_t)r->job->stall_timeout_ms * 1000,
        };
        char msg[256];
        int rc = output_queue_start(&o->q, &a);
        if (rc < 0)
            return relay_push_failed(r, i, engine_averror(rc, msg, sizeof(msg)));
    }
    output_queue_connect(o->q, r->src_has_video);
    o->up = true;
    return RELAY_GO;
}

/* Opens the outputs whose (first or next) attempt is due. The time spent blocked here
 * is ours, not the source's: the stall watchdog does not count it. */
static int relay_service_outputs(relay *r)
{
    int64_t start_us = time_mono_us();
    for (int i = 0; i < r->n_outs; i++) {
        relay_output *o = &r->outs[i];
        if (o->up || o->gave_up || start_us / 1000 < o->retry.next_ms)
            continue;
        if (o->retry.failing) {
            retry_attempt(&o->retry);
            engine_metrics_reconnect(ENGINE_SIDE_DESTINATION);
            tlog_info(r->job->task_id, "engine: reconnecting output %d (attempt %d of %d)", i,
                      o->retry.attempts, r->job->retry_count);
        }
        int rc = relay_open_output(r, i);
        int64_t end_us = time_mono_us();
        r->last_read_us += end_us - start_us;
        r->last_pass_us += end_us - start_us;
        start_us = end_us;
        if (rc != RELAY_GO)
            return RELAY_END;
    }
    return RELAY_GO;
}

void relay_drop_output(relay *r, int i)
{
    relay_output *o = &r->outs[i];
    output_queue_stop(o->q, o->up); /* the trailer, when a session is up */
    o->q = NULL;
    o->up = false;
}

static void relay_output_recovered(relay *r, int i)
{
    relay_output *o = &r->outs[i];
    if (!o->retry.failing)
        return;
    tlog_info(r->job->task_id, "engine: output %d recovered after %d attempt(s)", i,
              o->retry.attempts);
    retry_recovered(&o->retry, time_mono_ms());
}

/* ---------- packets ---------- */

/* The demuxer hands new codec headers (a republish) as side data: keep them for the
 * outputs, which re-send them on their next packet of that kind. */
void relay_take_new_extradata(relay *r, int kind, const AVPacket *pkt)
{
    size_t size = 0;
    const uint8_t *side = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size);
    AVCodecParameters *par = r->shape.par[kind];
    if (!side || size == 0 || size > INT32_MAX / 2)
        return;
    uint8_t *copy = av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!copy)
        return;
    memcpy(copy, side, size);
    av_free(par->extradata);
    par->extradata = copy;
    par->extradata_size = (int)size;
}

bool source_timeline_pkt(const engine_source *src, int kind, const AVPacket *pkt, int64_t now_us,
                         timeline_pkt *tp)
{
    AVRational tb = source_stream(src, kind)->time_base;
    int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (dts == AV_NOPTS_VALUE)
        return false;
    *tp = (timeline_pkt){
        .track = kind,
        .is_video = kind == MEDIA_VIDEO,
        .is_key = (pkt->flags & AV_PKT_FLAG_KEY) != 0,
        .dts_us = engine_ts_to_us(dts, tb),
        .pts_us = pkt->pts != AV_NOPTS_VALUE ? engine_ts_to_us(pkt->pts, tb) : TIMELINE_NO_TS,
        .dur_us = pkt->duration > 0 ? engine_ts_to_us(pkt->duration, tb) : 0,
        .now_us = now_us,
    };
    return true;
}

/* What the writers did since the last look: packets written (the first one on the
 * destination means running), or a session that ended. */
static int relay_poll_outputs(relay *r)
{
    for (int i = 0; i < r->n_outs; i++) {
        relay_output *o = &r->outs[i];
        output_report rep;
        if (!o->q)
            continue;
        /* the count only matters to a failing output or a task not yet announced */
        bool count = o->retry.failing || (i == 0 && !r->announced_running);
        if (!count && output_queue_all_well(o->q)) {
            o->unpolled = true;
            continue;
        }
        output_queue_poll(o->q, &rep);
        if (o->unpolled) { /* packets written before now, maybe long ago: not news */
            o->unpolled = false;
            rep.written = 0;
        }
        if (rep.written > 0 && !rep.failed) {
            relay_output_recovered(r, i);
            if (i == 0)
                relay_announce_running(r);
        }
        if (rep.failed && o->up && relay_push_failed(r, i, rep.error) != RELAY_GO)
            return RELAY_END;
    }
    return RELAY_GO;
}

/* A queue dropped packets: its destination takes less than real time. */
static void relay_queue_dropped(relay *r, int i, int dropped)
{
    relay_output *o = &r->outs[i];
    int64_t now = time_mono_ms();
    o->dropped += dropped;
    engine_metrics_dropped(dropped);
    if (o->unstable_alarm_ms && now - o->unstable_alarm_ms < QUEUE_ALARM_EVERY_MS)
        return;
    char why[ENGINE_ERR_MAX];
    if (o->unstable_alarm_ms)
        snprintf(why, sizeof(why),
                 "push %s: too slow: %lld packet(s) dropped from its queue in %lld s",
                 REDACT_URL(o->url), (long long)o->dropped,
                 (long long)(now - o->unstable_alarm_ms) / 1000);
    else
        snprintf(why, sizeof(why), "push %s: too slow: %lld packet(s) dropped from its queue",
                 REDACT_URL(o->url), (long long)o->dropped);
    o->unstable_alarm_ms = now;
    o->dropped = 0;
    relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_PUSH, why, "PushStreamUnstable");
}

/* The last output a packet goes to: it may take the packet's reference. */
static int relay_last_up(const relay *r)
{
    for (int i = r->n_outs - 1; i >= 0; i--)
        if (r->outs[i].up)
            return i;
    return -1;
}

/* Hands a mapped packet to every output's queue: never waits for a destination. */
int relay_push(relay *r, int kind, AVPacket *pkt, bool take, const output_ts *ts)
{
    int last = take ? relay_last_up(r) : -1;
    for (int i = 0; i < r->n_outs; i++) {
        relay_output *o = &r->outs[i];
        if (!o->up)
            continue;
        int dropped = output_queue_push(o->q, kind, pkt, i == last, ts, r->shape.par[kind]);
        if (dropped > 0)
            relay_queue_dropped(r, i, dropped);
        else if (dropped < 0) {
            engine_metrics_dropped(1);
            tlog_warn(r->job->task_id, "engine: output %d: out of memory; a packet was dropped", i);
        }
    }
    return relay_poll_outputs(r);
}

static void relay_pull_recovered(relay *r)
{
    int attempts = src_failover_recovered(r->in);
    if (attempts >= 0)
        tlog_info(r->job->task_id, "engine: source recovered after %d attempt(s)", attempts);
}

/* Maps a packet through the timeline and writes it to the outputs; with take, pkt's
 * reference may move to an output's queue (pkt is then left blank). */
int relay_forward(relay *r, AVPacket *pkt, const timeline_pkt *tp, bool take)
{
    output_ts ts = {.dur_us = tp->dur_us};
    timeline_verdict v = timeline_map(&r->tl, tp, &ts.dts_us, &ts.pts_us);
    relay_sync_discontinuities(r);
    if (v == TIMELINE_DROP)
        return RELAY_GO;
    relay_pull_recovered(r);
    if (r->paced && relay_pace(r, ts.dts_us) != RELAY_GO)
        return RELAY_END;
    int rc;
    if (tp->track != MEDIA_VIDEO || !relay_marks_push(r, pkt, &ts, &rc))
        rc = relay_push(r, tp->track, pkt, take, &ts);
    if (r->list)
        relay_playlist_note_packet(r->list, tp->dts_us);
    /* a slow destination is not a stalled source */
    r->last_read_us = r->last_pass_us = ev_now_us();
    return rc;
}

/* Pre-roll: the packet joins the GOP buffer instead of the outputs. */
void relay_hold(relay *r, AVPacket *pkt, const timeline_pkt *tp)
{
    int rc = gop_buffer_push(&r->gop, pkt, tp);
    if (rc == GOP_KEPT) {
        relay_pull_recovered(r);
        r->last_pass_us = tp->now_us; /* usable: the no-keyframe watchdog rests */
    } else if (rc == GOP_OVERFLOW) {
        tlog_warn(r->job->task_id,
                  "engine: pre-roll: a GOP outgrew the buffer (%d packets, %d bytes): "
                  "dropped; holding again from the next keyframe",
                  r->gop.max_packets, (int)r->gop.max_bytes);
    } else if (rc < 0) {
        tlog_warn(r->job->task_id, "engine: pre-roll: out of memory; a packet was dropped");
    }
}

/* A packet the source gave: relayed, or held during pre-roll. */
static int relay_take_packet(relay *r, int kind, AVPacket *pkt, int64_t now_us)
{
    if (kind < 0 || !r->shape.par[kind])
        return RELAY_GO;
    relay_take_new_extradata(r, kind, pkt);
    timeline_pkt tp;
    if (!source_timeline_pkt(&r->src, kind, pkt, now_us, &tp))
        return RELAY_GO;
    if (!r->preroll)
        return relay_forward(r, pkt, &tp, true);
    relay_hold(r, pkt, &tp);
    return RELAY_GO;
}

/* The source is stalled when it gives nothing for stall_timeout, or nothing usable (no
 * keyframe after a discontinuity) for much longer: long GOPs must still get through. */
static int64_t relay_keyframe_wait_ms(const relay *r)
{
    int64_t three_stalls = 3 * (int64_t)r->job->stall_timeout_ms;
    return three_stalls > KEYFRAME_WAIT_MIN_MS ? three_stalls : KEYFRAME_WAIT_MIN_MS;
}

/* How long the source may be silent: shorter on a main live source that has a backup or a
 * pad to go to. */
static int relay_silence_ms(const relay *r)
{
    return src_failover_can_switch(r->in) ? r->job->failover_timeout_ms : r->job->stall_timeout_ms;
}

void relay_describe_read_error(const relay *r, int rc, bool unusable, char *why, size_t len)
{
    if (r->sg->expired && unusable) {
        snprintf(why, len, "read: no usable packet (keyframe) for %lld ms",
                 (long long)relay_keyframe_wait_ms(r));
    } else if (r->sg->expired) {
        snprintf(why, len, "read: stalled, no packet for %d ms", relay_silence_ms(r));
    } else {
        char msg[256];
        snprintf(why, len, "read: %s", engine_averror(rc, msg, sizeof(msg)));
        relay_add_av_detail(why, len);
    }
}

/* When the source's next read fails: at the stall deadline, or at the no-keyframe deadline
 * when that comes first (then *unusable is true). */
static int64_t relay_read_deadline(const relay *r, bool *unusable)
{
    int64_t silent_until = r->last_read_us + (int64_t)relay_silence_ms(r) * 1000;
    int64_t unusable_until = r->last_pass_us + relay_keyframe_wait_ms(r) * 1000;
    *unusable = unusable_until < silent_until;
    return *unusable ? unusable_until : silent_until;
}

/* Arms the source guard for one read, to relay_read_deadline; true when that is the
 * no-keyframe deadline. */
bool relay_arm_read(relay *r)
{
    bool unusable;
    int64_t left = relay_read_deadline(r, &unusable) - time_mono_us();
    io_guard_arm(r->sg, left > 0 ? left : 0);
    engine_av_error_clear();
    return unusable;
}

/* The source sent more than its account's max_ingest_kbps over a window: it fails as a
 * source that broke does (the next file, the backup, or a retry from the budget). */
static int relay_over_ingest(relay *r, int64_t kbps)
{
    char why[ENGINE_ERR_MAX];
    snprintf(why, sizeof(why), "the source sends %lld kb/s, over max_ingest_kbps %lld",
             (long long)kbps, (long long)r->ingest.max_kbps);
    ingest_meter_reset(&r->ingest);
    return relay_pull_failed(r, why); /* a playlist moves on to its next entry */
}

/* A packet the source gave at at_us: counted, metered, then relayed or held;
 * RELAY_OVER_INGEST (with *kbps) when it took the source over its account's bitrate. */
static int relay_take_pkt(relay *r, AVPacket *pkt, int kind, int64_t at_us, int64_t *kbps)
{
    r->last_read_us = at_us;
    engine_metrics_packet_in(pkt->size);
    if (ingest_meter_add(&r->ingest, pkt->size, at_us, kbps))
        return RELAY_OVER_INGEST;
    return relay_take_packet(r, kind, pkt, at_us);
}

/* What one read gave: a read error or a stall is a source failure; a packet goes on. */
static int relay_take_read(relay *r, int rc, int kind, int64_t at_us, bool unusable)
{
    if (rc < 0) {
        if (worker_stop_requested(r->w))
            return relay_stop(r);
        if (r->paced && rc == AVERROR_EOF)
            return relay_source_ended(r);
        char why[ENGINE_ERR_MAX];
        relay_describe_read_error(r, rc, unusable, why, sizeof(why));
        return relay_pull_failed(r, why);
    }
    return relay_take_source_pkt(r, kind, at_us);
}

int relay_take_source_pkt(relay *r, int kind, int64_t at_us)
{
    int64_t kbps;
    int rc = relay_take_pkt(r, r->pkt, kind, at_us, &kbps);
    av_packet_unref(r->pkt);
    return rc == RELAY_OVER_INGEST ? relay_over_ingest(r, kbps) : rc;
}

/* Until when the worker may wait for a packet: push time once there is something to push
 * (and the destination's next attempt is due), else for the packet itself. */
static int64_t relay_wake_at(const relay *r)
{
    if (!r->preroll || !gop_buffer_ready(&r->gop))
        return INT64_MAX;
    int64_t retry_us = r->outs[0].retry.next_ms * 1000;
    return retry_us > r->push_mono_us ? retry_us : r->push_mono_us;
}

/* A read on the helper thread: asked once, waited for until push time. */
static int relay_pump_ahead(relay *r)
{
    if (!read_ahead_pending(&r->ahead)) {
        r->ahead_unusable = relay_arm_read(r);
        read_ahead_ask(&r->ahead);
    }
    read_result res;
    if (!read_ahead_wait(&r->ahead, relay_wake_at(r), &res))
        return RELAY_GO; /* push time: the read goes on meanwhile */
    engine_av_error_set(res.av_error);
    int rc = relay_take_read(r, res.rc, res.kind, res.at_us, r->ahead_unusable);
    if (!r->preroll)
        read_ahead_stop(&r->ahead); /* pre-roll is over: the worker reads by itself again */
    return rc;
}

static void relay_start_read_ahead(relay *r)
{
    if (r->ahead.started || r->ahead_unavailable)
        return;
    if (read_ahead_start(&r->ahead, &r->src, r->pkt, r->job->task_id) < 0) {
        r->ahead_unavailable = true;
        tlog_warn(r->job->task_id, "engine: pre-roll: no reader thread; the push may come "
                                   "one packet late");
    }
}

/* ---------- packets relayed on the source's event loop ---------- */

/* Whether the relay is plain enough for the loop to carry its packets while the worker
 * sleeps: a live main source playing into outputs that are up, nothing held or paced, no
 * watermark stage. Anything else is the worker's. */
static bool relay_can_park(const relay *r)
{
    if (!r->src_up || !r->src.ops->park || r->preroll || r->ahead.started || r->paced || r->list ||
        !relay_marks_idle(r) || r->flush_held || r->push_wait || src_failover_on_alternate(r->in))
        return false;
    for (int i = 0; i < r->n_outs; i++)
        if (!r->outs[i].up && !r->outs[i].gave_up)
            return false;
    return true;
}

/* On the source's loop, with the worker parked: a packet as relay_take_read takes it. A stop,
 * an update, an ending or a relay that is no longer plain hands control back. */
static direct_verdict relay_take_direct(void *ctx, AVPacket *pkt, int kind, int64_t at_us)
{
    relay *r = ctx;
    if (worker_stop_requested(r->w) || worker_update_pending(r->w))
        return DIRECT_DECLINED;
    int rc = relay_take_pkt(r, pkt, kind, at_us, &r->direct_kbps);
    if (rc != RELAY_GO) {
        r->direct_rc = rc;
        return DIRECT_YIELD;
    }
    return relay_can_park(r) ? DIRECT_TAKEN : DIRECT_YIELD;
}

/* The worker sleeps while the loop relays (source_ops.park), until the read deadline; true
 * when it parked, with *rc what the packets relayed meanwhile came to. */
static bool relay_park(relay *r, int *rc)
{
    bool unusable;
    int64_t until = relay_read_deadline(r, &unusable);
    if (until - time_mono_us() < PARK_MIN_US)
        return false; /* the read fails or gives a packet by itself */
    r->direct_rc = RELAY_GO;
    source_direct d = {.take = relay_take_direct, .ctx = r};
    if (r->src.ops->park(&r->src, &d, r->w, until) == 0)
        return false;
    *rc = r->direct_rc == RELAY_OVER_INGEST ? relay_over_ingest(r, r->direct_kbps) : r->direct_rc;
    return true;
}

/* Reads one packet and relays (or holds) it, or lets the loop relay them for a while. */
static int relay_pump(relay *r)
{
    if (r->preroll)
        relay_start_read_ahead(r);
    if (r->ahead.started)
        return relay_pump_ahead(r);
    int rc;
    if (relay_can_park(r) && relay_park(r, &rc))
        return rc;
    return relay_read_source(r);
}

/* ---------- pre-roll ---------- */

/* push_at in the future: the source connects now, the destination at push_at. The wall time
 * is carried to the monotonic clock once, rounded up: never early. */
static void relay_plan_preroll(relay *r)
{
    int64_t lead_ms = r->job->push_at_ms - time_now_ms();
    if (r->job->push_at_ms <= 0 || lead_ms <= 0)
        return;
    r->preroll = true;
    r->push_mono_us = time_mono_us() + lead_ms * 1000;
    tlog_info(r->job->task_id,
              "engine: pre-roll: the source connects now, the destination in %lld ms",
              (long long)lead_ms);
}

static bool relay_preroll_due(const relay *r)
{
    return r->preroll && gop_buffer_ready(&r->gop) && time_mono_us() >= relay_wake_at(r);
}

/* What gop holds goes out as one burst, from its keyframe on, through the timeline. */
static int relay_push_held(relay *r)
{
    int rc = RELAY_GO;
    gop_entry *e;
    while (rc == RELAY_GO && (e = gop_buffer_front(&r->gop))) {
        if (worker_stop_requested(r->w)) {
            rc = relay_stop(r);
        } else {
            relay_take_new_extradata(r, e->tp.track, e->pkt); /* headers in packet order */
            rc = relay_forward(r, e->pkt, &e->tp, false);     /* the buffer counts its size */
        }
        gop_buffer_pop(&r->gop);
    }
    gop_buffer_free(&r->gop);
    r->flush_held = false;
    return rc;
}

/* Push time: the held GOP goes out; the relay is live from here on. */
static int relay_flush_gop(relay *r)
{
    tlog_info(r->job->task_id,
              "engine: pre-roll over %lld ms after push time: pushing %d held packet(s), "
              "%lld ms of media",
              (long long)(time_mono_us() - r->push_mono_us) / 1000, r->gop.count,
              (long long)gop_buffer_span_us(&r->gop) / 1000);
    r->preroll = false;
    src_failover_allow_files(r->in, true); /* a paced alternate may play from here */
    return relay_push_held(r);
}

/* Opens the outputs; once the destination is up, pushes what is held. A destination that
 * fails keeps the pre-roll going (the buffer follows the source) until a retry connects. */
static int relay_preroll_end(relay *r)
{
    if (relay_service_outputs(r) != RELAY_GO)
        return RELAY_END;
    return r->outs[0].up ? relay_flush_gop(r) : RELAY_GO;
}

/* ---------- the thread ---------- */

static int relay_init(relay *r, engine_worker *w)
{
    memset(r, 0, sizeof(*r));
    r->w = w;
    r->job = &w->job;
    r->src.ops = &source_live_ops;
    r->src.stream_of[MEDIA_VIDEO] = r->src.stream_of[MEDIA_AUDIO] = -1;
    for (int i = 0; i < ENGINE_OUTPUTS; i++)
        if (w->job.outputs[i])
            r->outs[r->n_outs++].url = w->job.outputs[i];
    timeline_init(&r->tl, FLV_TICK_US, true);
    gop_buffer_init(&r->gop, GOP_MAX_PACKETS, GOP_MAX_BYTES, GOP_AUDIO_WINDOW_US);
    ingest_meter_init(&r->ingest,
                      config_account_max_ingest_kbps(
                          w->job.config, config_find_account(w->job.config, w->job.account)));
    /* Paced sources have no "latest keyframe" to pre-roll to: their first packet is ready
     * and waits for push time instead. */
    r->paced = relay_job_paced(&w->job);
    if (r->paced) {
        int64_t lead_ms = w->job.push_at_ms - time_now_ms();
        r->push_wait = w->job.push_at_ms > 0 && lead_ms > 0;
        r->push_mono_us = time_mono_us() + lead_ms * 1000;
    } else {
        relay_plan_preroll(r);
    }
    bool files = w->job.kind == TASK_SOURCE_FILES;
    if ((files ? relay_playlist_init(r) : relay_sources_init(r)) < 0)
        return -1;
    src_failover_allow_files(r->in, !r->preroll);
    r->pkt = av_packet_alloc();
    relay_marks_update(r);
    return r->pkt ? 0 : -1;
}

static void relay_run(relay *r)
{
    for (;;) {
        if (worker_stop_requested(r->w)) {
            relay_stop(r);
            return;
        }
        if (worker_update_pending(r->w) && relay_take_update(r) != RELAY_GO)
            return;
        if (relay_poll_source(r) != RELAY_GO)
            return;
        if (!r->src_up && relay_connect_source(r) != RELAY_GO)
            return;
        if (r->flush_held && relay_push_held(r) != RELAY_GO)
            return;
        if (r->push_wait && relay_wait_push(r) != RELAY_GO)
            return;
        if (relay_preroll_due(r) && relay_preroll_end(r) != RELAY_GO)
            return;
        if (relay_poll_outputs(r) != RELAY_GO)
            return;
        if (!r->preroll && relay_service_outputs(r) != RELAY_GO)
            return;
        if (relay_pump(r) != RELAY_GO)
            return;
    }
}

/* Closes everything (outputs with their trailer) and emits the final event. */
static void relay_finish(relay *r)
{
    if (r->in)
        src_node_close(r->in); /* the leaf playing, the re-check, the standby */
    relay_close_source(r);
    for (int i = 0; i < r->n_outs; i++) {
        output_queue_stop(r->outs[i].q, r->outs[i].up); /* the trailer, when a session is up */
        r->outs[i].q = NULL;
        r->outs[i].up = false;
    }
    bool failed = r->end == ENGINE_EV_FAILED;
    relay_emit(r, r->end, r->end_failure, failed ? r->end_error : NULL, NULL);
}

static void relay_free(relay *r)
{
    src_node_free(r->in); /* its leaves, the playlist's feed */
    relay_sources_free(r);
    gop_buffer_free(&r->gop);
    av_packet_free(&r->pkt);
    relay_marks_free(r);
    for (int k = 0; k < MEDIA_KINDS; k++)
        avcodec_parameters_free(&r->shape.par[k]);
}

void *relay_worker_main(void *arg)
{
    engine_worker *w = arg;
    engine_log_bind_task(w->job.task_id);
    engine_metrics_worker(1);
    worker_join_predecessor(w);
    relay *r = av_mallocz(sizeof(*r));
    if (r && relay_init(r, w) == 0) {
        relay_run(r);
        relay_finish(r);
    } else {
        engine_event ev = {.type = ENGINE_EV_FAILED, .error = "engine: out of memory"};
        worker_emit(w, &ev);
    }
    if (r)
        relay_free(r);
    av_free(r);
    engine_log_bind_task(NULL);
    engine_metrics_worker(-1);
    worker_exited(w);
    return NULL;
}
