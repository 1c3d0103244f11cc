/* relay_marks.c — the watermarks of a relay: their pictures fetched once per change, the
 * transcode stage (transcode.h) opened at a source keyframe, its packets and header pushed. */
#include "engine/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/pixdesc.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/transcode.h"

#define MARK_FETCH_TIMEOUT_US (10 * 1000000LL)

typedef struct relay_marks {
    transcode *tc;
    bool broken; /* the stage failed to open: the video goes as it is */
    bool warned; /* a packet the stage could not take was logged */
    int n;
    task_watermark spec[TASK_MAX_WATERMARKS]; /* what was fetched (picture_url copied) */
    AVFrame *image[TASK_MAX_WATERMARKS];      /* NULL: that picture could not be fetched */
    bool dirty;                               /* the stage has not taken the marks yet */
    AVCodecParameters *dec_par;               /* the source parameters the decoder has */
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

static bool marks_same(const relay_marks *m, const engine_job *j)
{
    if (m->n != j->n_watermarks)
        return false;
    for (int i = 0; i < m->n; i++)
        if (!mark_same(&m->spec[i], &j->watermarks[i]))
            return false;
    return true;
}

static void marks_clear(relay_marks *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->spec[i].picture_url);
        av_frame_free(&m->image[i]);
    }
    m->n = 0;
}

static AVFrame *mark_fetch(relay *r, const char *url)
{
    io_guard g;
    io_guard_init(&g, r->w, 0);
    io_guard_arm(&g, MARK_FETCH_TIMEOUT_US);
    source_open_args a = relay_open_args(r, url, &g);
    AVFrame *f = av_frame_alloc();
    char err[ENGINE_ERR_MAX] = "out of memory";
    if (f && picture_fetch(&a, f, err, sizeof(err)) == 0)
        return f;
    av_frame_free(&f);
    char why[ENGINE_ERR_MAX + 64];
    snprintf(why, sizeof(why), "watermark %s: %s", REDACT_URL(url), err);
    tlog_warn(r->job->task_id, "engine: %s; drawn without it", why);
    relay_emit(r, ENGINE_EV_ALARM, ENGINE_FAIL_PULL, why, "PullFileFailed");
    return NULL;
}

void relay_marks_update(relay *r)
{
    const engine_job *j = r->job;
    if (!r->marks && j->n_watermarks == 0)
        return; /* a copy relay stays one */
    if (!r->marks && !(r->marks = av_mallocz(sizeof(*r->marks))))
        return;
    relay_marks *m = r->marks;
    if (marks_same(m, j))
        return;
    marks_clear(m);
    int64_t start_us = time_mono_us();
    for (int i = 0; i < j->n_watermarks && i < TASK_MAX_WATERMARKS; i++) {
        m->spec[i] = j->watermarks[i];
        m->spec[i].picture_url = strdup(j->watermarks[i].picture_url);
        m->n++;
        m->image[i] = m->spec[i].picture_url ? mark_fetch(r, m->spec[i].picture_url) : NULL;
    }
    m->dirty = true;
    /* the time spent fetching is ours, not the source's: the stall watchdog does not count it */
    int64_t spent_us = time_mono_us() - start_us;
    r->last_read_us += spent_us;
    r->last_pass_us += spent_us;
    tlog_info(j->task_id, "engine: %d watermark(s) from the next frame", m->n);
}

static void marks_hand(relay_marks *m)
{
    transcode_mark tm[TASK_MAX_WATERMARKS];
    int n = 0;
    for (int i = 0; i < m->n; i++) {
        if (!m->image[i])
            continue;
        const task_watermark *w = &m->spec[i];
        tm[n++] = (transcode_mark){m->image[i], w->x, w->y, w->width, w->height, w->location};
    }
    transcode_set_marks(m->tc, tm, n);
    m->dirty = false;
}

/* ---------- the stage ---------- */

static bool par_same(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return a->codec_id == b->codec_id && a->extradata_size == b->extradata_size &&
           (a->extradata_size == 0 || memcmp(a->extradata, b->extradata, a->extradata_size) == 0);
}

static void marks_open(relay *r, relay_marks *m, const AVCodecParameters *par)
{
    char err[ENGINE_ERR_MAX];
    const config *c = r->job->config;
    transcode_settings s = {
        .preset = c && c->watermark_preset[0] ? c->watermark_preset : NULL,
        .bitrate_kbps = c ? c->watermark_bitrate_kbps : 0,
    };
    if (!m->in)
        m->in = av_packet_alloc();
    if (!m->out)
        m->out = av_packet_alloc();
    m->dec_par = avcodec_parameters_alloc();
    int rc = m->in && m->out && m->dec_par ? avcodec_parameters_copy(m->dec_par, par) : -1;
    if (rc >= 0 && par->format >= 0 && par->format != AV_PIX_FMT_YUV420P &&
        par->format != AV_PIX_FMT_YUVJ420P) {
        snprintf(err, sizeof(err), "transcode: %s video is not supported yet",
                 av_get_pix_fmt_name(par->format));
        rc = AVERROR_PATCHWELCOME;
    }
    if (rc >= 0)
        rc = transcode_open(&m->tc, par, AV_TIME_BASE_Q, r->shape.frame_rate, &s, err, sizeof(err));
    if (rc < 0) {
        m->broken = true;
        tlog_warn(r->job->task_id, "engine: watermarks off, the video is copied: %s",
                  rc == -1 ? "out of memory" : err);
        return;
    }
    tlog_info(r->job->task_id, "engine: the video is re-encoded with its watermarks");
}

/* A new source (failover, reconnect, another file) with other headers: the decoder starts
 * over with them; the encoder and the session go on. */
static void marks_follow_source(relay *r, relay_marks *m, const AVCodecParameters *par)
{
    if (par_same(m->dec_par, par))
        return;
    avcodec_parameters_copy(m->dec_par, par);
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
    int go = RELAY_GO;
    while (go == RELAY_GO && transcode_receive(m->tc, m->out) >= 0) {
        marks_take_header(r, m);
        output_ts o = {.dts_us = m->out->dts, .pts_us = m->out->pts, .dur_us = m->out->duration};
        go = relay_push(r, MEDIA_VIDEO, m->out, &o);
        av_packet_unref(m->out);
    }
    return go;
}

bool relay_marks_push(relay *r, const AVPacket *pkt, const output_ts *ts, int *rc)
{
    relay_marks *m = r->marks;
    if (!m || m->broken)
        return false;
    bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
    const AVStream *st = source_stream(&r->src, MEDIA_VIDEO);
    if (!m->tc) {
        if (m->n == 0 || !key || !st)
            return false; /* copied until a keyframe starts the stage */
        marks_open(r, m, st->codecpar);
        if (m->broken)
            return false;
    } else if (key && st) {
        marks_follow_source(r, m, st->codecpar);
    }
    if (m->dirty)
        marks_hand(m);
    *rc = marks_pass(r, m, pkt, ts);
    return true;
}

void relay_marks_free(relay *r)
{
    relay_marks *m = r->marks;
    if (!m)
        return;
    marks_clear(m);
    transcode_close(&m->tc);
    avcodec_parameters_free(&m->dec_par);
    av_packet_free(&m->in);
    av_packet_free(&m->out);
    av_freep(&r->marks);
}
