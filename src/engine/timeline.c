/* timeline.c — output timestamp arithmetic: epochs, the shared A/V offset, rebase on
 * discontinuities, keyframe wait and per-track monotonic DTS. No I/O, no libav. */
#include "engine/timeline.h"

#include <string.h>

void timeline_init(timeline *tl, int64_t tick_us, bool has_video)
{
    memset(tl, 0, sizeof(*tl));
    tl->tick_us = tick_us > 0 ? tick_us : 1;
    tl->has_video = has_video;
}

void timeline_set_has_video(timeline *tl, bool has_video)
{
    tl->has_video = has_video;
}

void timeline_discontinuity(timeline *tl)
{
    tl->epoch_open = false;
    for (int i = 0; i < TIMELINE_MAX_TRACKS; i++)
        tl->tracks[i].in_epoch = false;
    tl->discontinuities++;
}

int64_t timeline_next_dts(const timeline *tl)
{
    int64_t next = 0;
    bool any = false;
    for (int i = 0; i < TIMELINE_MAX_TRACKS; i++) {
        const timeline_track *t = &tl->tracks[i];
        if (!t->seen)
            continue;
        int64_t end = t->last_out_dts + (t->last_dur > 0 ? t->last_dur : tl->tick_us);
        if (!any || end > next)
            next = end;
        any = true;
    }
    return next;
}

int64_t timeline_next_pts(const timeline *tl)
{
    int64_t next = 0;
    for (int i = 0; i < TIMELINE_MAX_TRACKS; i++)
        if (tl->tracks[i].seen && tl->tracks[i].out_end > next)
            next = tl->tracks[i].out_end;
    return next;
}

/* An in-track step that no live source makes on its own: backwards beyond jitter, or
 * forward by more than the time that really passed. */
static bool timeline_track_jumped(const timeline_track *t, const timeline_pkt *p)
{
    int64_t step = p->dts_us - t->last_in_dts;
    int64_t wall = p->now_us - t->last_wall;
    if (wall < 0)
        wall = 0;
    return step < -TIMELINE_BACKWARD_SLACK_US || step > wall + TIMELINE_JUMP_SLACK_US;
}

/* Every other track of the epoch passed a packet within the jump slack: the source goes on,
 * only this track's clock moved (RTSP moves each track onto the RTCP clock on its own). */
static bool timeline_others_flowing(const timeline *tl, const timeline_pkt *p)
{
    bool any = false;
    for (int i = 0; i < TIMELINE_MAX_TRACKS; i++) {
        const timeline_track *o = &tl->tracks[i];
        if (i == p->track || !o->in_epoch)
            continue;
        if (p->now_us - o->last_wall > TIMELINE_JUMP_SLACK_US)
            return false;
        any = true;
    }
    return any;
}

/* Only this track jumped: it moves onto its new clock alone and goes on in real time from
 * its last packet, or, when another track jumped by about as much before it (both moved
 * onto one new clock), with that track's skew, which keeps their new A/V relation. */
static void timeline_reanchor_track(timeline *tl, timeline_track *t, const timeline_pkt *p)
{
    int64_t jump = p->dts_us - t->last_in_dts;
    int64_t wall = p->now_us - t->last_wall;
    int64_t step = wall > t->last_dur ? wall : t->last_dur;
    int64_t want = t->last_out_dts + step;
    t->skew_us = want - (p->dts_us + tl->offset_us);
    for (int i = 0; i < TIMELINE_MAX_TRACKS; i++) {
        const timeline_track *o = &tl->tracks[i];
        int64_t d = o->jump_us - jump;
        if (o == t || !o->in_epoch || !o->jump_us || d < -TIMELINE_JUMP_SLACK_US ||
            d > TIMELINE_JUMP_SLACK_US)
            continue;
        int64_t shared = p->dts_us + tl->offset_us + o->skew_us;
        if (shared >= t->last_out_dts && shared - want < TIMELINE_JUMP_SLACK_US)
            t->skew_us = o->skew_us;
        break;
    }
    t->jump_us = jump ? jump : 1;
}

/* A track's first packet in an epoch must sit near the epoch's start on the same clock;
 * a track that lives on another clock is dropped rather than allowed to desync. */
static bool timeline_track_off_epoch(const timeline *tl, const timeline_pkt *p)
{
    int64_t step = p->dts_us - tl->epoch_in_us;
    int64_t wall = p->now_us - tl->epoch_wall;
    if (wall < 0)
        wall = 0;
    return step < -TIMELINE_JUMP_SLACK_US || step > wall + TIMELINE_JUMP_SLACK_US;
}

/* Opens an epoch on packet p: one offset for every track, continuing the output. */
static void timeline_rebase(timeline *tl, const timeline_pkt *p)
{
    int64_t pts = p->pts_us == TIMELINE_NO_TS || p->pts_us < p->dts_us ? p->dts_us : p->pts_us;
    int64_t offset = timeline_next_pts(tl) - pts;
    /* ...but the keyframe's DTS must still follow its own track's last DTS: its decoder
     * delay has to fit after what that track already sent. (Other tracks' packets start
     * near the keyframe's presentation time, so they land after their own ends.) */
    const timeline_track *t = &tl->tracks[p->track];
    int64_t min_dts = t->seen ? t->last_out_dts + tl->tick_us : 0; /* output starts at 0 */
    if (p->dts_us + offset < min_dts)
        offset = min_dts - p->dts_us;
    tl->offset_us = offset;
    tl->epoch_out_us = p->dts_us + offset;
    tl->epoch_in_us = p->dts_us;
    tl->epoch_wall = p->now_us;
    tl->epoch_open = true;
    for (int i = 0; i < TIMELINE_MAX_TRACKS; i++)
        tl->tracks[i].skew_us = tl->tracks[i].jump_us = 0;
}

static int64_t timeline_guess_dur(const timeline *tl, const timeline_track *t,
                                  const timeline_pkt *p)
{
    if (p->dur_us > 0)
        return p->dur_us;
    int64_t step = p->dts_us - t->last_in_dts;
    if (t->in_epoch && step > 0 && step <= TIMELINE_MAX_GUESSED_DUR_US)
        return step;
    return t->last_dur > 0 ? t->last_dur : tl->tick_us;
}

/* Keeps the track's output DTS strictly increasing; pts moves with dts. */
static void timeline_keep_monotonic(const timeline *tl, const timeline_track *t, int64_t *dts,
                                    int64_t *pts)
{
    if (!t->seen)
        return;
    int64_t min_dts = t->last_out_dts + tl->tick_us;
    if (*dts < min_dts) {
        *pts += min_dts - *dts;
        *dts = min_dts;
    }
}

static void timeline_record(timeline *tl, timeline_track *t, const timeline_pkt *p, int64_t out_dts,
                            int64_t out_pts)
{
    t->last_dur = timeline_guess_dur(tl, t, p);
    if (!t->seen || out_pts + t->last_dur > t->out_end)
        t->out_end = out_pts + t->last_dur;
    t->last_in_dts = p->dts_us;
    t->last_out_dts = out_dts;
    t->last_wall = p->now_us;
    t->seen = true;
    t->in_epoch = true;
}

timeline_verdict timeline_map(timeline *tl, const timeline_pkt *p, int64_t *out_dts_us,
                              int64_t *out_pts_us)
{
    if (p->track < 0 || p->track >= TIMELINE_MAX_TRACKS || p->dts_us == TIMELINE_NO_TS)
        return TIMELINE_DROP;
    timeline_track *t = &tl->tracks[p->track];
    if (tl->epoch_open && t->in_epoch && timeline_track_jumped(t, p)) {
        tl->jumps++;
        if (timeline_others_flowing(tl, p))
            timeline_reanchor_track(tl, t, p);
        else
            timeline_discontinuity(tl);
    }
    if (!tl->epoch_open) {
        if (tl->has_video && !(p->is_video && p->is_key))
            return TIMELINE_DROP;
        timeline_rebase(tl, p);
    } else if (!t->in_epoch && timeline_track_off_epoch(tl, p)) {
        return TIMELINE_DROP;
    }
    int64_t pts = p->pts_us == TIMELINE_NO_TS ? p->dts_us : p->pts_us;
    int64_t dts = p->dts_us + tl->offset_us + t->skew_us;
    pts += tl->offset_us + t->skew_us;
    if (!t->in_epoch && dts < tl->epoch_out_us)
        return TIMELINE_DROP; /* stamped before the epoch's keyframe */
    timeline_keep_monotonic(tl, t, &dts, &pts);
    if (pts < dts)
        pts = dts;
    timeline_record(tl, t, p, dts, pts);
    *out_dts_us = dts;
    *out_pts_us = pts;
    return TIMELINE_PASS;
}
