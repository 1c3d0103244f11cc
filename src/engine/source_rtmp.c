/* source_rtmp.c — an rtmp:// live source on an event loop: a non-blocking socket, ferry's RTMP
 * session playing, FLV tags made packets there; the worker's read() takes them from a queue. */
#include "engine/engine_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/event_loop.h"
#include "engine/flv_tracks.h"
#include "engine/rtmp.h"

#define IN_SIZE 65536   /* one recv() takes up to this much; many tags are parsed from it */
#define READS_AT_ONCE 4 /* then the loop serves the others */
/* The queue between the loop and the worker. Past either bound the loop stops reading the
 * socket (TCP back-pressure on the server) until the worker has taken half of it. */
#define QUEUE_MAX_PACKETS 1024
#define QUEUE_MAX_BYTES (4 * 1024 * 1024)
#define WAIT_STEP_US 50000 /* a waiting worker looks at its interrupt callback this often */
#define PROBE_DEFAULT_US 5000000

typedef enum { PULL_IDLE = 0, PULL_CONNECTING, PULL_TALKING, PULL_OVER } pull_state;

typedef struct pull_item {
    struct pull_item *next;
    AVPacket *pkt;
    int kind;
} pull_item;

typedef struct rtmp_pull {
    ev_handler h;
    char *url;
    char task_id[64];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int64_t connect_timeout_us, rw_timeout_us;
    AVIOInterruptCB interrupt;
    bool attached;
    int64_t opened_us; /* when the worker asked for the source */

    /* the loop's */
    pull_state state;
    int fd;
    rtmp_session s;
    bool s_init;
    uint8_t *in; /* bytes received, in[in_off..in_len) not parsed yet */
    size_t in_off, in_len;
    int64_t deadline_us; /* until READY */
    AVPacket *spare;     /* the next packet to fill */

    /* shared, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    flv_tracks ft;
    pull_item *head, *tail;
    int count;
    int64_t bytes;
    bool ready, paused, resume_asked, quit, done, waiting;
    bool over;
    int over_rc;
    char over_why[ENGINE_ERR_MAX];
} rtmp_pull;

static rtmp_pull *of(ev_handler *h)
{
    return (rtmp_pull *)((char *)h - offsetof(rtmp_pull, h));
}

/* ---------- the loop's side ---------- */

static void pull_teardown(rtmp_pull *p)
{
    if (p->fd >= 0) {
        ev_watch(&p->h, p->fd, 0);
        close(p->fd);
        p->fd = -1;
    }
    if (p->s_init)
        rtmp_session_free(&p->s);
    p->s_init = false;
    free(p->in);
    p->in = NULL;
    p->in_off = p->in_len = 0;
    av_packet_free(&p->spare);
    ev_ticks(&p->h, false);
    p->state = PULL_OVER;
}

/* The source is over: the worker gets what is queued, then rc with why. */
static void pull_end(rtmp_pull *p, int rc, const char *why)
{
    pull_teardown(p);
    pthread_mutex_lock(&p->lock);
    if (!p->over) {
        p->over = true;
        p->over_rc = rc;
        snprintf(p->over_why, sizeof(p->over_why), "%s", why);
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    tlog_debug(p->task_id, "engine: rtmp source over: %s", why);
}

static void pull_watch(rtmp_pull *p)
{
    if (p->fd < 0)
        return;
    bool out = p->state == PULL_CONNECTING || (p->s_init && rtmp_buf_size(&p->s.out));
    pthread_mutex_lock(&p->lock);
    bool paused = p->paused;
    pthread_mutex_unlock(&p->lock);
    ev_watch(&p->h, p->fd, (paused ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0));
}

/* Sends what the session holds (commands, acknowledgements), as far as the socket takes. */
static bool pull_flush(rtmp_pull *p)
{
    rtmp_buf *out = &p->s.out;
    while (rtmp_buf_size(out)) {
        ssize_t n =
            send(p->fd, rtmp_buf_bytes(out), rtmp_buf_size(out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            pull_end(p, AVERROR(errno), strerror(errno));
            return false;
        }
        rtmp_buf_consume(out, (size_t)n);
    }
    return true;
}

static int session_averror(int rc)
{
    return rc == RTMP_ERR_NOMEM    ? AVERROR(ENOMEM)
           : rc == RTMP_ERR_SERVER ? AVERROR(ECONNREFUSED)
                                   : AVERROR_INVALIDDATA;
}

static bool queue_full(const rtmp_pull *p)
{
    return p->count >= QUEUE_MAX_PACKETS || p->bytes >= QUEUE_MAX_BYTES;
}

/* A media message (under lock): a packet joins the queue. <0 with why on a bad tag. */
static int pull_media(rtmp_pull *p, const rtmp_msg *m, char *why, size_t len)
{
    if (!p->spare && !(p->spare = av_packet_alloc()))
        return AVERROR(ENOMEM);
    int kind = -1;
    int rc =
        flv_tracks_take(&p->ft, m->type, m->timestamp, m->data, m->len, p->spare, &kind, why, len);
    if (rc <= 0)
        return rc;
    pull_item *it = malloc(sizeof(*it));
    if (!it) {
        av_packet_unref(p->spare);
        return AVERROR(ENOMEM);
    }
    *it = (pull_item){.pkt = p->spare, .kind = kind};
    p->spare = NULL;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->count++;
    p->bytes += it->pkt->size;
    p->paused = queue_full(p);
    return 0;
}

/* One event of the session (under lock): 0 goes on, <0 ends the source with why. */
static int pull_event(rtmp_pull *p, int rc, const rtmp_event *ev, char *why, size_t len)
{
    switch (ev->type) {
    case RTMP_EV_READY:
        p->ready = true;
        return 0;
    case RTMP_EV_MEDIA:
        rc = pull_media(p, &ev->msg, why, len);
        return rc;
    case RTMP_EV_GONE:
        snprintf(why, len, "%s", ev->text);
        return AVERROR_EOF;
    default:
        snprintf(why, len, "%s", ev->text ? ev->text : "the session failed");
        return session_averror(rc);
    }
}

/* Feeds the bytes received to the session until they are used or the queue is full. */
static void pull_parse(rtmp_pull *p)
{
    char why[ENGINE_ERR_MAX] = "";
    int end = 0;
    pthread_mutex_lock(&p->lock);
    bool was_ready = p->ready;
    int had = p->count;
    while (!end && !p->paused) {
        size_t used = 0;
        rtmp_event ev;
        int rc = rtmp_session_feed(&p->s, p->in + p->in_off, p->in_len - p->in_off, &used, &ev);
        p->in_off += used;
        if (rc == 0)
            break;
        end = pull_event(p, rc, &ev, why, sizeof(why));
    }
    if (p->waiting && (p->count != had || p->ready != was_ready))
        pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (!was_ready && p->ready)
        ev_ticks(&p->h, false); /* past READY the worker's deadlines watch the source */
    if (end)
        pull_end(p, end, why);
}

static void pull_read(rtmp_pull *p)
{
    for (int i = 0; i < READS_AT_ONCE && p->state == PULL_TALKING; i++) {
        if (p->in_off < p->in_len)
            return; /* paused with bytes left: the worker's take resumes it */
        ssize_t n = recv(p->fd, p->in, IN_SIZE, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            pull_end(p, n == 0 ? AVERROR_EOF : AVERROR(errno),
                     n == 0 ? "the server closed the connection" : strerror(errno));
            return;
        }
        p->in_off = 0;
        p->in_len = (size_t)n;
        pull_parse(p);
        if (p->state != PULL_TALKING || !pull_flush(p) || (size_t)n < IN_SIZE)
            return; /* a short read drained the socket: epoll says when more comes */
    }
}

static void pull_connected(rtmp_pull *p)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err) {
        pull_end(p, AVERROR(err), strerror(err));
        return;
    }
    p->state = PULL_TALKING;
    pull_flush(p); /* C0+C1 */
}

static void pull_on_io(ev_handler *h, uint32_t events)
{
    rtmp_pull *p = of(h);
    engine_log_bind_task(p->task_id);
    if (p->state == PULL_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        pull_connected(p);
    if (p->state == PULL_TALKING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        pull_read(p);
    if (p->state == PULL_TALKING && (events & EPOLLOUT))
        pull_flush(p);
    pull_watch(p);
    engine_log_bind_task(NULL);
}

static void pull_connect(rtmp_pull *p)
{
    p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0 || (connect(p->fd, (const struct sockaddr *)&p->addr, p->addr_len) != 0 &&
                      errno != EINPROGRESS)) {
        pull_end(p, AVERROR(errno), strerror(errno));
        return;
    }
    p->s_init = true;
    p->in = malloc(IN_SIZE);
    if (rtmp_session_init(&p->s, RTMP_ROLE_PLAY, p->url) != 0 || !p->in) {
        char why[RTMP_ERR_LEN];
        snprintf(why, sizeof(why), "%s", p->in ? p->s.err : "out of memory");
        pull_end(p, AVERROR(EINVAL), why);
        return;
    }
    p->state = PULL_CONNECTING;
    p->deadline_us = time_mono_us() + p->connect_timeout_us;
    ev_ticks(&p->h, true);
    pull_watch(p);
}

/* The worker has taken half the queue back: the parse goes on, then the socket. */
static void pull_resume(rtmp_pull *p)
{
    pthread_mutex_lock(&p->lock);
    p->paused = queue_full(p);
    p->resume_asked = false;
    pthread_mutex_unlock(&p->lock);
    if (p->state != PULL_TALKING)
        return;
    pull_parse(p);
    if (p->state == PULL_TALKING && pull_flush(p))
        pull_watch(p);
}

static void pull_on_post(ev_handler *h)
{
    rtmp_pull *p = of(h);
    engine_log_bind_task(p->task_id);
    pthread_mutex_lock(&p->lock);
    bool quit = p->quit, resume = p->resume_asked;
    pthread_mutex_unlock(&p->lock);
    if (quit) {
        pull_teardown(p);
        engine_log_bind_task(NULL);
        pthread_mutex_lock(&p->lock);
        p->done = true; /* the worker may free p from here on */
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return;
    }
    if (p->state == PULL_IDLE)
        pull_connect(p);
    else if (resume)
        pull_resume(p);
    engine_log_bind_task(NULL);
}

static void pull_on_tick(ev_handler *h, int64_t now_us)
{
    rtmp_pull *p = of(h);
    if (p->state == PULL_OVER || now_us <= p->deadline_us)
        return;
    char why[128];
    snprintf(why, sizeof(why), "no answer from the server in %lld ms",
             (long long)p->connect_timeout_us / 1000);
    engine_log_bind_task(p->task_id);
    pull_end(p, AVERROR(ETIMEDOUT), why);
    engine_log_bind_task(NULL);
}

/* ---------- the worker's side ---------- */

static bool pull_interrupted(const rtmp_pull *p)
{
    return p->interrupt.callback && p->interrupt.callback(p->interrupt.opaque);
}

/* Under lock: sleeps until the loop signals, a step passes or until_us. */
static void pull_wait(rtmp_pull *p, int64_t until_us)
{
    int64_t now = time_mono_us(), to = now + WAIT_STEP_US;
    to = until_us < to ? until_us : to;
    struct timespec ts = {.tv_sec = to / 1000000, .tv_nsec = (to % 1000000) * 1000};
    p->waiting = true;
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    p->waiting = false;
}

static rtmp_pull *pull_new(const source_open_args *a)
{
    rtmp_pull *p = calloc(1, sizeof(*p));
    if (!p || !(p->url = strdup(a->url))) {
        free(p);
        return NULL;
    }
    snprintf(p->task_id, sizeof(p->task_id), "%s", engine_log_task() ? engine_log_task() : "");
    p->fd = -1;
    p->interrupt = a->interrupt;
    p->rw_timeout_us = a->rw_timeout_us;
    p->connect_timeout_us = a->connect_timeout_us > 0 ? a->connect_timeout_us : 10000000;
    flv_tracks_init(&p->ft);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

static void pull_free(rtmp_pull *p)
{
    while (p->head) {
        pull_item *it = p->head;
        p->head = it->next;
        av_packet_free(&it->pkt);
        free(it);
    }
    flv_tracks_free(&p->ft);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->url);
    free(p);
}

/* The loop lets go of p (it closes the socket), then p is freed. */
static void pull_release(rtmp_pull *p)
{
    if (p->attached) {
        pthread_mutex_lock(&p->lock);
        p->quit = true;
        pthread_mutex_unlock(&p->lock);
        ev_post(&p->h);
        pthread_mutex_lock(&p->lock);
        while (!p->done)
            pthread_cond_wait(&p->cond, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    pull_free(p);
}

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
        bool cut = pull_interrupted(p);
        pthread_mutex_lock(&p->lock);
        if (cut) {
            snprintf(err, errlen, "open: Immediate exit requested");
            rc = AVERROR_EXIT;
            break;
        }
        pull_wait(p, probe_end);
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
        pull_release(s->priv);
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
    rtmp_pull *p = pull_new(a);
    s->priv = p;
    if (!p)
        return source_rtmp_fail(s, AVERROR(ENOMEM), err, errlen, "open: out of memory");
    int64_t t0 = p->opened_us = time_mono_us();
    int rc = pull_address(p, a, err, errlen);
    if (rc < 0)
        return source_rtmp_fail(s, rc, err, errlen, NULL);
    ev_loop *l = ev_pool_pick();
    if (!l)
        return source_rtmp_fail(s, AVERROR(EAGAIN), err, errlen, "open: no event loop");
    p->h.on_io = pull_on_io;
    p->h.on_post = pull_on_post;
    p->h.on_tick = pull_on_tick;
    ev_handler_attach(&p->h, l);
    p->attached = true;
    ev_post(&p->h); /* connect */
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

/* Under lock: the oldest packet leaves the queue; the loop is asked to read again once half
 * of a full queue is gone. True when it must be posted. */
static bool pull_pop(rtmp_pull *p, engine_source *s, AVPacket *pkt, int *kind)
{
    pull_item *it = p->head;
    p->head = it->next;
    if (!p->head)
        p->tail = NULL;
    p->count--;
    p->bytes -= it->pkt->size;
    av_packet_move_ref(pkt, it->pkt);
    av_packet_free(&it->pkt);
    int k = it->kind;
    free(it);
    *kind = s->stream_of[k] >= 0 ? k : -1;
    pkt->stream_index = s->stream_of[k];
    bool resume = p->paused && !p->resume_asked && p->count <= QUEUE_MAX_PACKETS / 2 &&
                  p->bytes <= QUEUE_MAX_BYTES / 2;
    if (resume)
        p->resume_asked = true;
    return resume;
}

static int source_rtmp_read(engine_source *s, AVPacket *pkt, int *kind)
{
    rtmp_pull *p = s->priv;
    int64_t until = p->rw_timeout_us > 0 ? time_mono_us() + p->rw_timeout_us : INT64_MAX;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->head) {
            bool resume = pull_pop(p, s, pkt, kind);
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
        if (pull_interrupted(p))
            return AVERROR_EXIT;
        if (time_mono_us() >= until)
            return AVERROR(ETIMEDOUT);
        pthread_mutex_lock(&p->lock);
        if (!p->head && !p->over)
            pull_wait(p, until);
    }
}

const source_ops source_rtmp_ops = {
    .name = "rtmp",
    .open = source_rtmp_open,
    .read = source_rtmp_read,
    .close = source_rtmp_close,
};

const source_ops *source_live_ops_for(const char *url, const config *c)
{
    if (strncasecmp(url, "rtmp://", 7) != 0 || (c && strcmp(c->pull_engine, "ffmpeg") == 0))
        return &source_live_ops;
    ev_pool_configure(c ? c->engine_loops : 0); /* read once, at the first pick */
    return &source_rtmp_ops;
}
