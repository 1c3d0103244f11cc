/* rtmp_pull.c — one RTMP play connection on an event loop: a non-blocking socket, ferry's
 * RTMP session, FLV tags made packets into a bounded queue the worker takes from. */
#include "engine/rtmp_pull.h"

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
#include "engine/packet_pool.h"

#define IN_SIZE 65536   /* one recv() takes up to this much; many tags are parsed from it */
#define READS_AT_ONCE 4 /* then the loop serves the others */
/* The queue between the loop and the worker. Past either bound the loop stops reading the
 * socket (TCP back-pressure on the server) until the worker has taken half of it. */
#define QUEUE_MAX_PACKETS 1024
#define QUEUE_MAX_BYTES (4 * 1024 * 1024)
#define WAIT_STEP_US 50000 /* a waiting worker looks at its interrupt callback this often */

static rtmp_pull *of(ev_handler *h)
{
    return (rtmp_pull *)((char *)h - offsetof(rtmp_pull, h));
}

/* ---------- the loop's side ---------- */

static void pull_teardown(rtmp_pull *p)
{
    if (p->fd >= 0) {
        ev_watch(&p->h, p->fd, 0);
        tls_stream_free(&p->io);
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

/* Under lock: a parked worker is woken and packets are queued again. */
static void pull_unpark(rtmp_pull *p)
{
    if (!p->direct.take)
        return;
    p->direct.take = NULL;
    worker_poke(p->w);
}

/* The source is over: the worker gets what is queued, then rc with why. */
static void pull_end(rtmp_pull *p, int rc, const char *why)
{
    pull_teardown(p);
    pthread_mutex_lock(&p->lock);
    pull_unpark(p);
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
    bool out = p->state == PULL_CONNECTING || p->io.want_write ||
               (p->state == PULL_TALKING && rtmp_buf_size(&p->s.out));
    /* paused is written on this loop only (under the lock, for the worker's reads): the loop
     * reads it without the lock */
    ev_watch(&p->h, p->fd, (p->paused ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0));
}

/* Sends what the session holds (commands, acknowledgements), as far as the socket takes. */
static bool pull_flush(rtmp_pull *p)
{
    rtmp_buf *out = &p->s.out;
    while (rtmp_buf_size(out)) {
        ssize_t n = tls_stream_send(&p->io, rtmp_buf_bytes(out), rtmp_buf_size(out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            int err = n < 0 ? errno : EPIPE;
            pull_end(p, AVERROR(err), tls_stream_why(&p->io, err));
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

/* Under lock, with the worker parked: the packet goes to its take() at once; true when it
 * was used, false when it must be queued. */
static bool pull_direct(rtmp_pull *p, int kind)
{
    int index = p->direct_src->stream_of[kind];
    p->spare->stream_index = index;
    direct_verdict v = p->direct.take(p->direct.ctx, p->spare, index >= 0 ? kind : -1, ev_now_us());
    if (v != DIRECT_TAKEN)
        pull_unpark(p);
    if (v == DIRECT_DECLINED)
        return false;
    packet_pool_unref(p->spare);
    return true;
}

/* A media message (under lock): a packet goes to the parked worker's take(), or joins the
 * queue. <0 with why on a bad tag. */
static int pull_media(rtmp_pull *p, const rtmp_msg *m, char *why, size_t len)
{
    if (!p->spare && !(p->spare = av_packet_alloc()))
        return AVERROR(ENOMEM);
    int kind = -1;
    flv_body body = {.data = m->data, .len = m->len, .ref = m->ref};
    int rc = flv_tracks_take_body(&p->ft, m->type, m->timestamp, &body, p->spare, &kind, why, len);
    if (rc <= 0)
        return rc;
    if (p->direct.take && pull_direct(p, kind))
        return 0;
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
    char why[ENGINE_ERR_MAX];
    why[0] = '\0'; /* filled only when the stream ends: no zeroing per read */
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
        ssize_t n = tls_stream_recv(&p->io, p->in, IN_SIZE);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            pull_end(p, n == 0 ? AVERROR_EOF : AVERROR(errno),
                     n == 0 ? "the server closed the connection" : tls_stream_why(&p->io, errno));
            return;
        }
        p->in_off = 0;
        p->in_len = (size_t)n;
        pull_parse(p);
        if (p->state != PULL_TALKING || !pull_flush(p) || (size_t)n < IN_SIZE)
            return; /* a short read drained the socket: epoll says when more comes */
    }
    if (p->state == PULL_TALKING && tls_stream_pending(&p->io))
        ev_post(&p->h); /* TLS holds bytes epoll cannot see: read them on the next turn */
}

/* rtmps://: the TLS handshake goes on; once over, the RTMP handshake (C0+C1) goes out. */
static void pull_shake(rtmp_pull *p)
{
    int rc = tls_stream_handshake(&p->io);
    pthread_mutex_lock(&p->lock);
    p->tls_waiting = rc == 0;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0) {
        pull_end(p, AVERROR(ECONNREFUSED), p->io.err);
        return;
    }
    if (rc == 0)
        return;
    p->state = PULL_TALKING;
    pull_flush(p);
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
    rtmp_url u;
    char why[RTMP_ERR_LEN];
    if (strncasecmp(p->url, "rtmps://", 8) == 0 &&
        rtmp_url_parse(p->url, &u, why, sizeof(why)) == 0) {
        if (tls_stream_start(&p->io, p->fd, u.host) != 0) {
            pull_end(p, AVERROR(ENOMEM), p->io.err);
            return;
        }
        p->state = PULL_TLS;
        pull_shake(p);
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
    else if (p->state == PULL_TLS)
        pull_shake(p);
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
    tls_stream_plain(&p->io, p->fd);
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
    if (p->state == PULL_TALKING && tls_stream_pending(&p->io))
        pull_read(p); /* bytes TLS decrypted before the pause: epoll will not tell */
}

static void pull_on_post(ev_handler *h)
{
    rtmp_pull *p = of(h);
    engine_log_bind_task(p->task_id);
    pthread_mutex_lock(&p->lock);
    bool quit = p->quit, resume = p->resume_asked, paused = p->paused;
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
    else if (p->state == PULL_TALKING && !paused && tls_stream_pending(&p->io)) {
        pull_read(p);
        pull_watch(p);
    }
    engine_log_bind_task(NULL);
}

static void pull_on_tick(ev_handler *h, int64_t now_us)
{
    rtmp_pull *p = of(h);
    if (p->state == PULL_OVER || now_us <= p->deadline_us)
        return;
    char why[128];
    snprintf(why, sizeof(why), "%sno answer from the server in %lld ms",
             p->state == PULL_TLS ? "TLS handshake: " : "",
             (long long)p->connect_timeout_us / 1000);
    engine_log_bind_task(p->task_id);
    pull_end(p, AVERROR(ETIMEDOUT), why);
    engine_log_bind_task(NULL);
}

/* ---------- the worker's side ---------- */

bool rtmp_pull_interrupted(const rtmp_pull *p)
{
    return p->interrupt.callback && p->interrupt.callback(p->interrupt.opaque);
}

void rtmp_pull_wait(rtmp_pull *p, int64_t until_us)
{
    int64_t now = time_mono_us(), to = now + WAIT_STEP_US;
    to = until_us < to ? until_us : to;
    struct timespec ts = {.tv_sec = to / 1000000, .tv_nsec = (to % 1000000) * 1000};
    p->waiting = true;
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    p->waiting = false;
}

rtmp_pull *rtmp_pull_new(const source_open_args *a)
{
    rtmp_pull *p = calloc(1, sizeof(*p));
    if (!p || !(p->url = strdup(a->url))) {
        free(p);
        return NULL;
    }
    snprintf(p->task_id, sizeof(p->task_id), "%s", engine_log_task() ? engine_log_task() : "");
    p->fd = -1;
    p->interrupt = a->interrupt;
    p->w = a->w;
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

void rtmp_pull_release(rtmp_pull *p)
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

bool rtmp_pull_pop(rtmp_pull *p, AVPacket *pkt, int *kind)
{
    pull_item *it = p->head;
    p->head = it->next;
    if (!p->head)
        p->tail = NULL;
    p->count--;
    p->bytes -= it->pkt->size;
    av_packet_move_ref(pkt, it->pkt);
    av_packet_free(&it->pkt);
    *kind = it->kind;
    free(it);
    bool resume = p->paused && !p->resume_asked && p->count <= QUEUE_MAX_PACKETS / 2 &&
                  p->bytes <= QUEUE_MAX_BYTES / 2;
    if (resume)
        p->resume_asked = true;
    return resume;
}

bool rtmp_pull_attach(rtmp_pull *p)
{
    ev_loop *l = p->w ? worker_loop(p->w) : ev_pool_pick();
    if (!l)
        return false;
    p->h.on_io = pull_on_io;
    p->h.on_post = pull_on_post;
    p->h.on_tick = pull_on_tick;
    ev_handler_attach(&p->h, l);
    p->attached = true;
    ev_post(&p->h); /* connect */
    return true;
}
