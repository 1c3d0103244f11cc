/* source_rtmp.c — an rtmp:// or rtmps:// live source (source_ops) on an event loop: address
 * checked on the worker, a bounded probe for the tracks, read() takes rtmp_pull.c's packets. */
#include "engine/rtmp_pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define PROBE_DEFAULT_US 5000000

/* The server's host, checked against the account's policy and resolved once, here on the
 * worker: the loop connects to exactly that address. */
static int pull_address(rtmp_pull *p, const source_open_args *a, char *err, size_t errlen)
{
    rtmp_url u;
    char why[RTMP_ERR_LEN], ip[sizeof(u.host)];
    if (rtmp_url_parse(a->url, &u, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "open: %s", why);
        return AVERROR(EINVAL);
    }
    if (net_checked_address(a->policy, u.host, ip, sizeof(ip), why, sizeof(why)) < 0) {
        snprintf(err, errlen, "open: %s", why);
        return AVERROR(EACCES);
    }
    if (!net_sockaddr(ip, u.port, &p->addr, &p->addr_len)) {
        snprintf(err, errlen, "open: cannot use the address %s", ip);
        return AVERROR(EINVAL);
    }
    return 0;
}

/* Under lock: whether the probe may end (0), must go on (1), or failed (<0, err). */
static int probe_verdict(rtmp_pull *p, int64_t probe_end_us, char *err, size_t errlen)
{
    if (p->over) {
        snprintf(err, errlen, "%s: %s", p->ready ? "probe" : "open", p->over_why);
        return p->over_rc;
    }
    if (!p->ready)
        return 1;
    if (flv_tracks_complete(&p->ft) || p->paused)
        return 0;
    if (time_mono_us() < probe_end_us)
        return 1;
    /* the probe time is over: what is known plays (a video without a keyframe yet, too,
     * when audio plays with it: the relay's keyframe watchdog judges it) */
    bool video = flv_track_known(&p->ft, MEDIA_VIDEO), audio = flv_track_known(&p->ft, MEDIA_AUDIO);
    if (audio || (video && p->ft.t[MEDIA_VIDEO].keyed))
        return 0;
    if (video)
        snprintf(err, errlen, "probe: video without a keyframe for %lld ms",
                 (long long)(time_mono_us() - p->opened_us) / 1000);
    else
        snprintf(err, errlen, "probe: no audio or video stream in %lld ms",
                 (long long)(time_mono_us() - p->opened_us) / 1000);
    return AVERROR_STREAM_NOT_FOUND;
}

/* Waits until the stream's tracks are known, the probe time is over, the source fails or
 * the worker's interrupt callback says so. */
static int pull_probe(rtmp_pull *p, const source_open_args *a, char *err, size_t errlen)
{
    int64_t probe_end = time_mono_us() + (a->probe_us > 0 ? a->probe_us : PROBE_DEFAULT_US);
    pthread_mutex_lock(&p->lock);
    int rc;
    while ((rc = probe_verdict(p, probe_end, err, errlen)) == 1) {
        pthread_mutex_unlock(&p->lock);
        bool cut = rtmp_pull_interrupted(p);
        pthread_mutex_lock(&p->lock);
        if (cut) {
            snprintf(err, errlen, "open%s: Immediate exit requested",
                     p->tls_waiting ? " (TLS handshake)" : "");
            rc = AVERROR_EXIT;
            break;
        }
        rtmp_pull_wait(p, probe_end);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* The AVFormatContext the relay reads streams from (never demuxed): one stream per track. */
static int pull_streams(engine_source *s, rtmp_pull *p, const source_open_args *a)
{
    s->ic = avformat_alloc_context();
    if (!s->ic)
        return AVERROR(ENOMEM);
    s->ic->interrupt_callback = a->interrupt;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    for (int k = 0; k < MEDIA_KINDS && rc == 0; k++) {
        if (!flv_track_known(&p->ft, k))
            continue;
        AVStream *st = avformat_new_stream(s->ic, NULL);
        rc = st ? flv_tracks_fill(&p->ft, k, st) : AVERROR(ENOMEM);
        if (st)
            s->stream_of[k] = st->index;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void source_rtmp_close(engine_source *s)
{
    if (s->priv)
        rtmp_pull_release(s->priv);
    s->priv = NULL;
    avformat_free_context(s->ic);
    s->ic = NULL;
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
}

static int source_rtmp_fail(engine_source *s, int rc, char *err, size_t errlen, const char *why)
{
    if (why)
        snprintf(err, errlen, "%s", why);
    source_rtmp_close(s);
    return rc;
}

static int source_rtmp_open(engine_source *s, const source_open_args *a, char *err, size_t errlen)
{
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
    s->ic = NULL;
    rtmp_pull *p = rtmp_pull_new(a);
    s->priv = p;
    if (!p)
        return source_rtmp_fail(s, AVERROR(ENOMEM), err, errlen, "open: out of memory");
    int64_t t0 = p->opened_us = time_mono_us();
    int rc = pull_address(p, a, err, errlen);
    if (rc < 0)
        return source_rtmp_fail(s, rc, err, errlen, NULL);
    if (!rtmp_pull_attach(p))
        return source_rtmp_fail(s, AVERROR(EAGAIN), err, errlen, "open: no event loop");
    rc = pull_probe(p, a, err, errlen);
    if (rc < 0)
        return source_rtmp_fail(s, rc, err, errlen, NULL);
    rc = pull_streams(s, p, a);
    if (rc < 0)
        return source_rtmp_fail(s, rc, err, errlen, "probe: out of memory");
    tlog_debug(engine_log_task(), "engine: rtmp source opened and probed in %lld ms",
               (long long)(time_mono_us() - t0) / 1000);
    return 0;
}

static int source_rtmp_read(engine_source *s, AVPacket *pkt, int *kind)
{
    rtmp_pull *p = s->priv;
    int64_t until = p->rw_timeout_us > 0 ? time_mono_us() + p->rw_timeout_us : INT64_MAX;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->head) {
            int k;
            bool resume = rtmp_pull_pop(p, pkt, &k);
            *kind = s->stream_of[k] >= 0 ? k : -1;
            pkt->stream_index = s->stream_of[k];
            pthread_mutex_unlock(&p->lock);
            if (resume)
                ev_post(&p->h);
            return 0;
        }
        if (p->over) {
            char why[ENGINE_ERR_MAX];
            int rc = p->over_rc;
            snprintf(why, sizeof(why), "%s", p->over_why);
            pthread_mutex_unlock(&p->lock);
            engine_av_error_set(why);
            return rc;
        }
        pthread_mutex_unlock(&p->lock);
        if (rtmp_pull_interrupted(p))
            return AVERROR_EXIT;
        if (time_mono_us() >= until)
            return AVERROR(ETIMEDOUT);
        pthread_mutex_lock(&p->lock);
        if (!p->head && !p->over)
            rtmp_pull_wait(p, until);
    }
}

/* With nothing queued, packets go to d->take on the loop while the worker sleeps. */
static int source_rtmp_park(engine_source *s, const source_direct *d, engine_worker *w,
                            int64_t until_us)
{
    rtmp_pull *p = s->priv;
    pthread_mutex_lock(&p->lock);
    bool park = !p->head && !p->over && p->w == w;
    if (park) {
        p->direct = *d;
        p->direct_src = s;
    }
    pthread_mutex_unlock(&p->lock);
    if (!park)
        return 0;
    worker_park(w, until_us);
    pthread_mutex_lock(&p->lock); /* waits for a take() in progress */
    p->direct.take = NULL;
    pthread_mutex_unlock(&p->lock);
    return 1;
}

const source_ops source_rtmp_ops = {
    .name = "rtmp",
    .open = source_rtmp_open,
    .read = source_rtmp_read,
    .close = source_rtmp_close,
    .park = source_rtmp_park,
};

const source_ops *source_live_ops_for(const char *url, const config *c)
{
    bool rtmp = strncmp(url, "rtmp://", 7) == 0 || strncmp(url, "rtmps://", 8) == 0;
    if (!rtmp || (c && strcmp(c->pull_engine, "ffmpeg") == 0))
        return &source_live_ops;
    ev_pool_configure(c ? c->engine_loops : 0); /* read once, at the first pick */
    return &source_rtmp_ops;
}
