/* source_live.c — a live source: rtmp, rtmps, srt, http-flv, hls or rtsp, each a small
 * descriptor (format hint, timeouts in that protocol's own option names); bounded probe. */
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

/* One live protocol. Every one also gets the generic rw_timeout and the worker's interrupt
 * deadlines (connect, stall); these options add the protocol's own socket timeouts so a
 * blocking call inside FFmpeg ends on its own too. Option names differ per protocol, and
 * some are traps: rtmp's "timeout" and rtsp's "listen_timeout" turn on listening. */
typedef struct live_protocol {
    const char *name;
    const char *format; /* input format to skip probing for, NULL = probe */
    void (*options)(AVDictionary **opts, const source_open_args *a);
    /* FFmpeg's protocol_whitelist: the only protocols this open and every open nested in it
     * (HLS segments, RTSP's RTP channels, redirects) may use. A tenant's URL never reaches
     * file, concat, subfile, pipe, data, crypto or tee. */
    const char *protocols;
    const char *formats; /* format_whitelist for a probe, NULL = any */
} live_protocol;

/* rtmp, rtmps: tcp_nodelay reaches TCP through the RTMP layer; no other timeout exists. */
static void live_rtmp_options(AVDictionary **opts, const source_open_args *a)
{
    (void)a;
    av_dict_set(opts, "tcp_nodelay", "1", 0);
}

/* http, https, hls: "timeout" goes down to TCP, bounding the connect and each socket I/O.
 * hls: every playlist reload opens its own connection through the io_open hook (no request
 * on a kept one, which the hook would not see), so each is checked and bounded. */
static void live_http_options(AVDictionary **opts, const source_open_args *a)
{
    if (a->rw_timeout_us > 0)
        av_dict_set_int(opts, "timeout", a->rw_timeout_us, 0);
    av_dict_set(opts, "tcp_nodelay", "1", 0);
    av_dict_set(opts, "http_persistent", "0", 0);
}

/* srt (caller): connect_timeout in ms, timeout in us; latency and streamid stay in the URL,
 * where libsrt reads them. */
static void live_srt_options(AVDictionary **opts, const source_open_args *a)
{
    if (a->connect_timeout_us > 0)
        av_dict_set_int(opts, "connect_timeout", a->connect_timeout_us / 1000, 0);
    if (a->rw_timeout_us > 0)
        av_dict_set_int(opts, "timeout", a->rw_timeout_us, 0);
}

/* rtsp: "timeout" (us) bounds socket I/O on the control and the media channels. */
static void live_rtsp_options(AVDictionary **opts, const source_open_args *a)
{
    if (a->rw_timeout_us > 0)
        av_dict_set_int(opts, "timeout", a->rw_timeout_us, 0);
}

#define NET_HTTP "http,https,tcp,tls"
#define NET_RTMP "rtmp,rtmps,tcp,tls"
/* Media containers a downloaded or remote file may be; never a playlist or a list of files
 * (hls, concat, ffconcat, image2), which would open further URLs. */
#define FILE_FORMATS "mov,mp4,m4a,3gp,3g2,mj2,flv,mpegts,matroska,webm,avi,aac,mp3"

static const live_protocol live_rtmp = {"rtmp", "flv", live_rtmp_options, NET_RTMP, NULL};
static const live_protocol live_http_flv = {"http-flv", "flv", live_http_options, NET_HTTP, NULL};
static const live_protocol live_hls = {"hls", "hls", live_http_options, NET_HTTP, NULL};
/* A remote file or stream probed by its bytes: a media container or an HLS playlist whose
 * segments (containers too) come over the same protocols. */
static const live_protocol live_http = {"http", NULL, live_http_options, NET_HTTP,
                                        FILE_FORMATS ",hls"};
static const live_protocol live_srt = {"srt", "mpegts", live_srt_options, "srt", NULL};
static const live_protocol live_rtsp = {"rtsp", NULL, live_rtsp_options,
                                        "rtsp,rtsps,rtp,srtp,udp,tcp,tls", "rtsp"};
/* A VodLocalMode copy in the download cache: only that file, read as a media container. */
static const live_protocol live_cached = {"cached", NULL, live_rtmp_options, "file", FILE_FORMATS};
/* Any other scheme (never accepted by validation): nothing may open. */
static const live_protocol live_refused = {"refused", NULL, live_rtmp_options, "none", "none"};

static bool url_has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

/* The path's extension, before any query: "flv" for ".../live.flv?token=1". */
static bool url_path_ends_with(const char *url, const char *ext)
{
    size_t end = strcspn(url, "?#"), n = strlen(ext);
    return end > n && url[end - n - 1] == '.' && strncmp(url + end - n, ext, n) == 0;
}

static const live_protocol *live_protocol_of(const char *url, bool cached)
{
    if (cached)
        return &live_cached;
    if (url_has_scheme(url, "rtmp") || url_has_scheme(url, "rtmps"))
        return &live_rtmp;
    if (url_has_scheme(url, "srt"))
        return &live_srt;
    if (url_has_scheme(url, "rtsp") || url_has_scheme(url, "rtsps"))
        return &live_rtsp;
    if (!url_has_scheme(url, "http") && !url_has_scheme(url, "https"))
        return &live_refused;
    if (url_path_ends_with(url, "flv"))
        return &live_http_flv;
    if (url_path_ends_with(url, "m3u8") || url_path_ends_with(url, "m3u"))
        return &live_hls;
    return &live_http;
}

static void source_live_close(engine_source *s)
{
    avformat_close_input(&s->ic);
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
}

static int source_live_fail(engine_source *s, const char *step, int rc, char *err, size_t errlen)
{
    char why[256];
    const char *detail = engine_av_error_last();
    const char *policy = strstr(detail, "refused by the address policy");
    if (!policy)
        policy = strstr(detail, "refused by the size policy");
    if (policy)
        snprintf(err, errlen, "%s: %s", step, policy);
    else if (strstr(detail, "not on whitelist"))
        snprintf(err, errlen, "%s: refused by the URL policy: %s", step, detail);
    else
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

/* RTSP connects on its own, past the io_open hook: its host is checked first, and pinned is
 * the URL to open, with the checked address in place of a name (rtsp://, not rtsps://). */
static int live_rtsp_check(const source_open_args *a, char *pinned, size_t plen)
{
    char why[256];
    AVDictionary *unused = NULL;
    int rc = net_guard_check(a->policy, a->url, pinned, plen, &unused, why, sizeof(why));
    av_dict_free(&unused);
    if (rc == 0)
        return 0;
    av_log(NULL, AV_LOG_ERROR, "%s\n", why);
    return AVERROR(EACCES);
}

/* Connects and reads the stream headers: the format named by the protocol skips a probe
 * that would wait for 2 KB of live data. */
static int source_live_connect(engine_source *s, const source_open_args *a, const live_protocol *p)
{
    AVDictionary *opts = NULL;
    if (a->rw_timeout_us > 0)
        av_dict_set_int(&opts, "rw_timeout", a->rw_timeout_us, 0);
    p->options(&opts, a);
    av_dict_set(&opts, "protocol_whitelist", p->protocols, 0);
    if (p->formats)
        av_dict_set(&opts, "format_whitelist", p->formats, 0);
    const AVInputFormat *fmt = p->format ? av_find_input_format(p->format) : NULL;
    net_guard_install(s->ic, a->policy);
    char url[TASK_URL_MAX + 64];
    snprintf(url, sizeof(url), "%s", a->url);
    int rc = p == &live_rtsp ? live_rtsp_check(a, url, sizeof(url)) : 0; /* no AVIOContext */
    if (rc == 0)
        rc = avformat_open_input(&s->ic, url, fmt, &opts);
    net_guard_done(&a->interrupt);
    av_dict_free(&opts);
    return rc;
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
    const live_protocol *p = live_protocol_of(a->url, a->cached);
    int64_t t0 = time_mono_us();
    int rc = source_live_connect(s, a, p);
    if (rc < 0)
        return source_live_fail(s, "open", rc, err, errlen);
    int64_t t1 = time_mono_us();
    rc = avformat_find_stream_info(s->ic, NULL);
    if (rc < 0)
        return source_live_fail(s, "probe", rc, err, errlen);
    tlog_debug(engine_log_task(), "engine: %s source opened in %lld ms, probed in %lld ms", p->name,
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
    const io_guard *g = rc < 0 ? io_guard_of(&s->ic->interrupt_callback) : NULL;
    if (g && g->over)
        return AVERROR(EFBIG); /* a reloaded HLS playlist outgrew playlist_max_kb */
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
