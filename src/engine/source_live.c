/* source_live.c — a live source: any URL libavformat opens (rtmp, rtmps, srt, http-flv, hls),
 * opened with a bounded, interruptible probe; picks one video and one audio stream. */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

/* The probe ends as soon as every stream is known with its codec headers (the usual case:
 * at the first keyframe). Its limits matter when a stream comes late: a server that starts
 * a new player's video at the next keyframe (nginx-rtmp) with a long GOP. Stopping early
 * then would lose the video track for the whole output session. */
#define PROBE_BYTES (8 * 1024 * 1024)

static void source_live_close(engine_source *s)
{
    avformat_close_input(&s->ic);
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
}

static int source_live_fail(engine_source *s, const char *step, int rc, char *err, size_t errlen)
{
    char why[256];
    snprintf(err, errlen, "%s: %s", step, engine_averror(rc, why, sizeof(why)));
    source_live_close(s);
    return rc;
}

/* One stream per media type; the rest are discarded at the demuxer. */
static int source_live_pick_streams(engine_source *s)
{
    AVFormatContext *ic = s->ic;
    int v = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int a = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, v >= 0 ? v : -1, NULL, 0);
    if (v >= 0 && (ic->streams[v]->disposition & AV_DISPOSITION_ATTACHED_PIC))
        v = -1;
    s->stream_of[MEDIA_VIDEO] = v >= 0 ? v : -1;
    s->stream_of[MEDIA_AUDIO] = a >= 0 ? a : -1;
    for (unsigned i = 0; i < ic->nb_streams; i++)
        if ((int)i != s->stream_of[MEDIA_VIDEO] && (int)i != s->stream_of[MEDIA_AUDIO])
            ic->streams[i]->discard = AVDISCARD_ALL;
    return v >= 0 || a >= 0 ? 0 : AVERROR_STREAM_NOT_FOUND;
}

/* RTMP always carries FLV: naming it skips a probe that waits for 2 KB of live data. */
static const AVInputFormat *source_live_format_hint(const char *url)
{
    return strncmp(url, "rtmp", 4) == 0 ? av_find_input_format("flv") : NULL;
}

static int source_live_open(engine_source *s, const source_open_args *a, char *err, size_t errlen)
{
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
    s->ic = avformat_alloc_context();
    if (!s->ic)
        return source_live_fail(s, "open", AVERROR(ENOMEM), err, errlen);
    s->ic->interrupt_callback = a->interrupt;
    s->ic->probesize = PROBE_BYTES;
    s->ic->max_analyze_duration = a->probe_us;
    s->ic->fps_probe_size = 0; /* stream copy needs no frame rate guess */
    AVDictionary *opts = NULL;
    if (a->rw_timeout_us > 0)
        av_dict_set_int(&opts, "rw_timeout", a->rw_timeout_us, 0);
    av_dict_set(&opts, "tcp_nodelay", "1", 0); /* handed down to TCP by rtmp and http */
    int64_t t0 = time_mono_us();
    int rc = avformat_open_input(&s->ic, a->url, source_live_format_hint(a->url), &opts);
    av_dict_free(&opts);
    if (rc < 0)
        return source_live_fail(s, "open", rc, err, errlen);
    int64_t t1 = time_mono_us();
    rc = avformat_find_stream_info(s->ic, NULL);
    if (rc < 0)
        return source_live_fail(s, "probe", rc, err, errlen);
    tlog_debug(engine_log_task(), "engine: source opened in %lld ms, probed in %lld ms",
               (long long)(t1 - t0) / 1000, (long long)(time_mono_us() - t1) / 1000);
    rc = source_live_pick_streams(s);
    if (rc < 0) {
        snprintf(err, errlen, "probe: no audio or video stream");
        source_live_close(s);
        return rc;
    }
    return 0;
}

static int source_live_read(engine_source *s, AVPacket *pkt, int *kind)
{
    int rc = av_read_frame(s->ic, pkt);
    if (rc < 0)
        return rc;
    if (pkt->stream_index == s->stream_of[MEDIA_VIDEO])
        *kind = MEDIA_VIDEO;
    else if (pkt->stream_index == s->stream_of[MEDIA_AUDIO])
        *kind = MEDIA_AUDIO;
    else
        *kind = -1;
    return 0;
}

const source_ops source_live_ops = {
    .name = "live",
    .open = source_live_open,
    .read = source_live_read,
    .close = source_live_close,
};
