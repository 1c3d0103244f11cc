/* relay_marks.c — the watermarks of a relay: their pictures fetched on a helper thread once
 * per change, the transcode stage (transcode.h) opened at a source keyframe and closed at one
 * when they are cleared (the video is copied again), in the same output session. */
#include "engine/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/pixdesc.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/engine_metrics.h"
#include "engine/mark_fetch.h"
#include "engine/transcode.h"

#define MARK_FETCH_TIMEOUT_US (10 * 1000000LL)

/* A list of marks with their pictures (NULL: that picture could not be fetched). */
typedef struct mark_set {
    int n;
    task_watermark spec[TASK_MAX_WATERMARKS]; /* picture_url copied */
    AVFrame *image[TASK_MAX_WATERMARKS];
} mark_set;

typedef struct relay_marks {
    transcode *tc;
    bool broken;       /* the stage failed to open: the video goes as it is */
    bool warned;       /* a packet the stage could not take was logged */
    mark_set cur;      /* what is drawn (none: the video is, or goes back to, a copy) */
    bool dirty;        /* the stage has not taken cur yet */
    mark_set next;     /* the job's latest list: fetching, or waiting for its moment */
    bool next_pending; /* next is not cur yet */
    mark_fetch *fetch; /* next's pictures, in flight */
    int after_epoch;   /* playlists: next waits for the timeline's next epoch (-1: at once) */
    AVCodecParameters *dec_par; /* the source parameters the decoder has */
    uint8_t *src_header;        /* the source's video sequence header, for the way back */
    int src_header_size;
    AVPacket *in, *out;
} relay_marks;

/* ---------- the marks and their pictures ---------- */

static bool mark_same(const task_watermark *a, const task_watermark *b)
{
    return strcmp(a->picture_url ? a->picture_url : "", b->picture_url ? b->picture_url : "") ==
               0 &&
           a->x == b->x && a->y == b->y && a->width == b->width && a->height == b->height &&
           a->location == b->location;
}

static bool set_is_job(const mark_set *s, const engine_job *j)
{
    if (s->n != j->n_watermarks)
        return false;
    for (int i = 0; i < s->n; i++)
        if (!mark_same(&s->spec[i], &j->watermarks[i]))
            return false;
    return true;
}

static void set_clear(mark_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->spec[i].picture_url);
        av_frame_free(&s->image[i]);
    }
    s->n = 0;
}

static void set_from_job(mark_set *s, const engine_job *j)
{
    set_clear(s);
    for (int i = 0; i < j->n_watermarks && i < TASK_MAX_WATERMARKS; i++) {
        s->spec[i] = j->watermarks[i];
        s->spec[i].picture_url =
            j->watermarks[i].picture_url ? strdup(j->watermarks[i].picture_url) : NULL;
        s->image[i] = NULL;
        s->n++;
    }
}

static void mark_failed(relay *r, const char *url, const char *err)
{
    char why[ENGINE_ERR_MAX + 64];
    snprintf(why, sizeof(why), "watermark %s: %s", REDACT_URL(url), err);
    tlog_warn(r->job->task_id, "engine: %s; drawn without it", why);
    relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_PULL, why, "PullFileFailed");
}

/* next's pictures arrived (or the fetch ended without them): failures raise alarms. */
static void marks_fetched(relay *r, relay_marks *m)
{
    char errs[TASK_MAX_WATERMARKS][ENGINE_ERR_MAX];
    mark_fetch_take(m->fetch, m->next.image, errs);
    m->fetch = NULL;
    for (int i = 0; i < m->next.n; i++)
        if (!m->next.image[i] && m->next.spec[i].picture_url)
            mark_failed(r, m->next.spec[i].picture_url, errs[i]);
    tlog_info(r->job->task_id, "engine: %d watermark picture(s) fetched", m->next.n);
}

/* Without a helper thread the pictures are fetched here, on the worker. */
static void marks_fetch_here(relay *r, relay_marks *m)
{
    io_guard g;
    io_guard_init(&g, r->w, 0);
    int64_t start_us = time_mono_us();
    for (int i = 0; i < m->next.n; i++) {
        const char *url = m->next.spec[i].picture_url;
        char err[ENGINE_ERR_MAX] = "out of memory";
        AVFrame *f = url ? av_frame_alloc() : NULL;
        io_guard_arm(&g, MARK_FETCH_TIMEOUT_US);
        source_open_args a = relay_open_args(r, url, &g);
        if (f && picture_fetch(&a, f, err, sizeof(err)) == 0)
            m->next.image[i] = f;
        else if (url)
            mark_failed(r, url, err);
        if (!m->next.image[i])
            av_frame_free(&f);
    }
    /* the time spent fetching is ours, not the source's: the stall watchdog does not count it */
    int64_t spent_us = time_mono_us() - start_us;
    r->last_read_us += spent_us;
    r->last_pass_us += spent_us;
}

static void marks_start_fetch(relay *r, relay_marks *m)
{
    char *urls[TASK_MAX_WATERMARKS];
    for (int i = 0; i < m->next.n; i++)
        urls[i] = m->next.spec[i].picture_url;
    io_guard unused;
    source_open_args base = relay_open_args(r, NULL, &unused);
    m->fetch =
        mark_fetch_start(urls, m->next.n, &base, r->w, MARK_FETCH_TIMEOUT_US, r->job->task_id);
    if (!m->fetch) {
        tlog_warn(r->job->task_id, "engine: no thread for the watermark pictures: fetched here");
        marks_fetch_here(r, m);
    }
}

void relay_marks_update(relay *r)
{
    const engine_job *j = r->job;
    if (!r->marks && j->n_watermarks == 0)
        return; /* a copy relay stays one */
    if (!r->marks && !(r->marks = av_mallocz(sizeof(*r->marks))))
        return;
    relay_marks *m = r->marks;
    if (set_is_job(m->next_pending ? &m->next : &m->cur, j))
        return;
    mark_fetch_drop(m->fetch);
    m->fetch = NULL;
    set_from_job(&m->next, j);
    m->next_pending = true;
    /* a playlist takes a change from its next file (Tencent's rule); the first list at once */
    bool mid_file = r->src_up && r->tl.tracks[MEDIA_VIDEO].seen;
    m->after_epoch = r->list && mid_file ? r->tl.discontinuities : -1;
    if (m->next.n > 0)
        marks_start_fetch(r, m);
    tlog_info(j->task_id, "engine: %d watermark(s) from %s", m->next.n,
              m->after_epoch >= 0 ? "the next file" : "the next frame");
}

/* next becomes cur when its pictures are in and its moment has come. */
static void marks_take_next(relay *r, relay_marks *m)
{
    if (!m->next_pending)
        return;
    if (m->fetch) {
        if (!mark_fetch_done(m->fetch))
            return;
        marks_fetched(r, m);
    }
    if (m->after_epoch >= 0 && r->tl.discontinuities <= m->after_epoch)
        return;
    set_clear(&m->cur);
    m->cur = m->next;
    m->next = (mark_set){0};
    m->next_pending = false;
    m->dirty = true;
}

static void marks_hand(relay_marks *m)
{
    transcode_mark tm[TASK_MAX_WATERMARKS];
    int n = 0;
    for (int i = 0; i < m->cur.n; i++) {
        if (!m->cur.image[i])
            continue;
        const task_watermark *w = &m->cur.spec[i];
        tm[n++] = (transcode_mark){m->cur.image[i], w->x, w->y, w->width, w->height, w->location};
    }
    transcode_set_marks(m->tc, tm, n);
    m->dirty = false;
}

/* ---------- the source's own header, for the way back to a copy ---------- */

static void marks_keep_header(relay_marks *m, const uint8_t *x, size_t size)
{
    if (!x || size == 0 || size > INT32_MAX / 2)
        return;
    uint8_t *copy = av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!copy)
        return;
    memcpy(copy, x, size);
    av_free(m->src_header);
    m->src_header = copy;
    m->src_header_size = (int)size;
}

/* The source's header follows a new source and new headers carried by its packets. */
static void marks_note_header(relay_marks *m, const AVPacket *pkt)
{
    size_t size = 0;
    const uint8_t *side = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size);
    marks_keep_header(m, side, size);
}

/* ---------- the stage ---------- */

static bool par_same(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return a->codec_id == b->codec_id && a->extradata_size == b->extradata_size &&
           (a->extradata_size == 0 || memcmp(a->extradata, b->extradata, a->extradata_size) == 0);
}

static int marks_check_format(const AVCodecParameters *par, char *err, size_t len)
{
    if (par->format < 0 || par->format == AV_PIX_FMT_YUV420P || par->format == AV_PIX_FMT_YUVJ420P)
        return 0;
    snprintf(err, len, "transcode: %s video is not supported yet",
             av_get_pix_fmt_name(par->format));
    return AVERROR_PATCHWELCOME;
}

static void marks_open(relay *r, relay_marks *m, const AVCodecParameters *par)
{
    char err[ENGINE_ERR_MAX] = "out of memory";
    const config *c = r->job->config;
    transcode_settings s = {
        .preset = c && c->watermark_preset[0] ? c->watermark_preset : NULL,
        .bitrate_kbps = c ? c->watermark_bitrate_kbps : 0,
    };
    if (!m->in)
        m->in = av_packet_alloc();
    if (!m->out)
        m->out = av_packet_alloc();
    if (!m->dec_par)
        m->dec_par = avcodec_parameters_alloc();
    int rc = m->in && m->out && m->dec_par ? avcodec_parameters_copy(m->dec_par, par) : -1;
    if (rc >= 0)
        rc = marks_check_format(par, err, sizeof(err));
    if (rc >= 0)
        rc = transcode_open(&m->tc, par, AV_TIME_BASE_Q, r->shape.frame_rate, &s, err, sizeof(err));
    if (rc < 0) {
        m->broken = true;
        tlog_warn(r->job->task_id, "engine: watermarks off, the video is copied: %s", err);
        return;
    }
    /* in a copy the shape follows the source's latest header (new ones mid-stream too) */
    const AVCodecParameters *shown = r->shape.par[MEDIA_VIDEO];
    marks_keep_header(m, shown->extradata, (size_t)shown->extradata_size);
    engine_metrics_transcoding(1);
    tlog_info(r->job->task_id, "engine: the video is re-encoded with its watermarks");
}

static void marks_close_stage(relay_marks *m)
{
    if (m->tc)
        engine_metrics_transcoding(-1);
    transcode_close(&m->tc);
}

/* A new source (failover, reconnect, another file) with other headers: the decoder starts
 * over with them; the encoder and the session go on. */
static void marks_follow_source(relay *r, relay_marks *m, const AVCodecParameters *par)
{
    if (par_same(m->dec_par, par))
        return;
    avcodec_parameters_copy(m->dec_par, par);
    marks_keep_header(m, par->extradata, (size_t)par->extradata_size);
    if (transcode_reset(m->tc, par) < 0)
        tlog_warn(r->job->task_id, "engine: watermarks: the decoder cannot take the new source");
}

/* The encoder's header goes out as the video's sequence header (again after a re-open). */
static void marks_take_header(relay *r, relay_marks *m)
{
    AVCodecParameters *par = r->shape.par[MEDIA_VIDEO];
    int size;
    const uint8_t *x = transcode_extradata(m->tc, &size);
    transcode_size(m->tc, &par->width, &par->height);
    if (par->extradata_size == size && memcmp(par->extradata, x, (size_t)size) == 0)
        return;
    uint8_t *copy = av_mallocz((size_t)size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!copy)
        return;
    memcpy(copy, x, (size_t)size);
    av_free(par->extradata);
    par->extradata = copy;
    par->extradata_size = size;
}

/* What the stage made: each packet to the outputs, under the encoder's header. Packets at or
 * past before_us (a copy takes over there) are dropped. */
static int marks_push_made(relay *r, relay_marks *m, int64_t before_us)
{
    int go = RELAY_GO;
    while (go == RELAY_GO && transcode_receive(m->tc, m->out) >= 0) {
        if (m->out->dts < before_us) {
            marks_take_header(r, m);
            output_ts o = {
                .dts_us = m->out->dts, .pts_us = m->out->pts, .dur_us = m->out->duration};
            go = relay_push(r, MEDIA_VIDEO, m->out, true, &o);
        }
        av_packet_unref(m->out);
    }
    return go;
}

static int marks_pass(relay *r, relay_marks *m, const AVPacket *pkt, const output_ts *ts)
{
    if (av_packet_ref(m->in, pkt) < 0)
        return RELAY_GO;
    m->in->dts = ts->dts_us;
    m->in->pts = ts->pts_us != TIMELINE_NO_TS ? ts->pts_us : ts->dts_us;
    m->in->duration = ts->dur_us;
    int rc = transcode_push(m->tc, m->in);
    av_packet_unref(m->in);
    if (rc < 0) {
        char msg[128];
        if (!m->warned) /* once: a source the stage cannot take fails on every packet */
            tlog_warn(r->job->task_id, "engine: watermarks: video dropped: %s",
                      engine_averror(rc, msg, sizeof(msg)));
        m->warned = true;
        transcode_reset(m->tc, NULL);
        return RELAY_GO;
    }
    return marks_push_made(r, m, INT64_MAX);
}

/* The marks are gone: at this source keyframe the stage ends and the video is copied again,
 * in the same session. What the stage still holds goes out first (up to the keyframe's DTS);
 * the source's own sequence header and size become the video's again, so the muxer sends
 * that header before the keyframe. */
static int marks_back_to_copy(relay *r, relay_marks *m, const output_ts *ts)
{
    int go = RELAY_GO;
    if (transcode_drain(m->tc) >= 0)
        go = marks_push_made(r, m, ts->dts_us);
    AVCodecParameters *par = r->shape.par[MEDIA_VIDEO];
    if (m->src_header) {
        av_free(par->extradata);
        par->extradata = m->src_header;
        par->extradata_size = m->src_header_size;
        m->src_header = NULL;
        m->src_header_size = 0;
    }
    if (m->dec_par->width > 0 && m->dec_par->height > 0) {
        par->width = m->dec_par->width;
        par->height = m->dec_par->height;
    }
    marks_close_stage(m);
    m->warned = false;
    tlog_info(r->job->task_id, "engine: no watermarks: the video is copied again");
    return go;
}

bool relay_marks_push(relay *r, const AVPacket *pkt, const output_ts *ts, int *rc)
{
    relay_marks *m = r->marks;
    if (!m)
        return false;
    marks_take_next(r, m);
    if (m->broken)
        return false;
    bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    const AVStream *st = source_stream(&r->src, MEDIA_VIDEO);
    if (m->tc && key && st)
        marks_follow_source(r, m, st->codecpar);
    if (m->tc)
        marks_note_header(m, pkt);
    if (!m->tc) {
        if (m->cur.n == 0 || !key || !st)
            return false; /* copied until a keyframe starts the stage */
        marks_open(r, m, st->codecpar);
        if (m->broken)
            return false;
    } else if (key && m->cur.n == 0) {
        *rc = marks_back_to_copy(r, m, ts);
        return *rc != RELAY_GO; /* the keyframe itself goes out as a copy */
    }
    if (m->dirty)
        marks_hand(m);
    *rc = marks_pass(r, m, pkt, ts);
    return true;
}

bool relay_marks_idle(const relay *r)
{
    const relay_marks *m = r->marks;
    return !m || (!m->tc && m->cur.n == 0 && !m->next_pending && !m->fetch);
}

void relay_marks_free(relay *r)
{
    relay_marks *m = r->marks;
    if (!m)
        return;
    mark_fetch_drop(m->fetch);
    set_clear(&m->cur);
    set_clear(&m->next);
    marks_close_stage(m);
    avcodec_parameters_free(&m->dec_par);
    av_free(m->src_header);
    av_packet_free(&m->in);
    av_packet_free(&m->out);
    av_freep(&r->marks);
}
