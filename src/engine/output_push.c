/* output_push.c — an rtmp:// or rtmps:// output on an event loop, with no thread of its own:
 * a non-blocking socket (TLS: tls_stream.h), ferry's RTMP session publishing, tags fed to it. */
#include "engine/output_queue_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/addr_policy.h"
#include "common/log.h"
#include "common/timeutil.h"

#define OUT_HIGH (256 * 1024) /* bytes waiting for the socket past which nothing is muxed */
#define READ_SIZE 65536
#define READS_AT_ONCE 4 /* then the loop serves the others */
#define CLOSE_US 500000 /* the trailer and the unpublish on the way out */
#define FLV_FILE_HEADER 13

static output_queue *of(ev_handler *h)
{
    return (output_queue *)((char *)h - offsetof(output_queue, h));
}

/* ---------- the address, on the worker ---------- */

/* The destination's host, checked against the account's policy and resolved once: the
 * loop connects to exactly that address. */
bool push_prepare(output_queue *q, char *why, size_t len)
{
    rtmp_url u;
    char err[RTMP_ERR_LEN], reason[256], ip[sizeof(u.host)];
    if (rtmp_url_parse(q->url, &u, err, sizeof(err)) != 0) {
        snprintf(why, len, "connect: %s", err);
        return false;
    }
    if (net_checked_address(&q->w->policy[ADDR_DESTINATION], u.host, ip, sizeof(ip), reason,
                            sizeof(reason)) < 0) {
        snprintf(why, len, "connect: %s", reason);
        return false;
    }
    pthread_mutex_lock(&q->lock);
    q->push.addr_set = net_sockaddr(ip, u.port, &q->push.addr, &q->push.addr_len);
    pthread_mutex_unlock(&q->lock);
    if (!q->push.addr_set)
        snprintf(why, len, "connect: cannot use the address %s", ip);
    return q->push.addr_set;
}

/* ---------- the loop's side ---------- */

static void push_teardown(output_queue *q)
{
    push_conn *p = &q->push;
    if (p->fd >= 0) {
        ev_watch(&q->h, p->fd, 0);
        tls_stream_free(&p->io);
        close(p->fd);
        p->fd = -1;
    }
    output_rtmp_close(&q->out, false);
    if (p->s_init)
        rtmp_session_free(&p->s);
    p->s_init = false;
    rtmp_buf_free(&p->flv);
    p->state = PUSH_IDLE;
    p->stalled_us = 0;
    p->failed_in_sink = false;
    ev_ticks(&q->h, false);
}

static void push_finish(output_queue *q);

static void push_fail(output_queue *q, const char *why)
{
    if (q->push.state == PUSH_CLOSING) { /* on the way out anyway */
        push_finish(q);
        return;
    }
    push_teardown(q);
    writer_failed(q, why);
}

/* The loop lets go of q: the worker may free it as soon as the lock is released. */
static void push_finish(output_queue *q)
{
    push_teardown(q);
    pthread_mutex_lock(&q->lock);
    q->done = true;
    pthread_cond_signal(&q->closed);
    pthread_mutex_unlock(&q->lock);
}

/* AVIOContext write_packet of the muxer: FLV bytes, cut into tags, each one RTMP message. */
static int push_sink(void *ctx, uint8_t *buf, int len)
{
    output_queue *q = ctx;
    push_conn *p = &q->push;
    size_t skip = p->flv_skip < (size_t)len ? p->flv_skip : (size_t)len;
    p->flv_skip -= skip;
    if (rtmp_buf_append(&p->flv, buf + skip, (size_t)len - skip) != 0)
        return AVERROR(ENOMEM);
    const uint8_t *bytes = rtmp_buf_bytes(&p->flv);
    size_t off = 0, have = rtmp_buf_size(&p->flv);
    while (have - off >= 11) {
        const uint8_t *t = bytes + off;
        size_t size = (size_t)t[1] << 16 | (size_t)t[2] << 8 | t[3];
        if (have - off < 11 + size + 4)
            break;
        uint32_t ts = (uint32_t)t[4] << 16 | (uint32_t)t[5] << 8 | t[6] | (uint32_t)t[7] << 24;
        if (!p->failed_in_sink && rtmp_session_send(&p->s, t[0] & 0x1f, ts, t + 11, size) != 0) {
            p->failed_in_sink = true;
            snprintf(p->sink_error, sizeof(p->sink_error), "%s", p->s.err);
        }
        off += 11 + size + 4;
    }
    rtmp_buf_consume(&p->flv, off);
    return len;
}

/* output_tag_fn: one tag body made without the muxer (its header bytes, then the packet's
 * payload as it was queued), as an RTMP message. */
static int push_tag(void *ctx, int kind, uint32_t ts, const uint8_t *head, size_t hlen,
                    const uint8_t *body, size_t len)
{
    output_queue *q = ctx;
    push_conn *p = &q->push;
    uint8_t type = kind == MEDIA_VIDEO ? RTMP_MSG_VIDEO : RTMP_MSG_AUDIO;
    if (!p->failed_in_sink &&
        rtmp_session_send_parts(&p->s, type, ts, head, hlen, body, len) != 0) {
        p->failed_in_sink = true;
        snprintf(p->sink_error, sizeof(p->sink_error), "%s", p->s.err);
    }
    return 0;
}

static void push_go_live(output_queue *q)
{
    char why[ENGINE_ERR_MAX];
    q->push.flv_skip = FLV_FILE_HEADER;
    if (output_rtmp_open_sink(&q->out, &q->shape, push_sink, push_tag, q, why, sizeof(why)) < 0) {
        push_fail(q, why);
        return;
    }
    pthread_mutex_lock(&q->lock);
    bool video = q->expect_video;
    q->session_up = true;
    queue_skip_to_newest_entry_point(q);
    pthread_mutex_unlock(&q->lock);
    q->out.need_key = q->out.need_key && video;
    q->push.state = PUSH_LIVE;
    tlog_info(q->task_id, "engine: output %d connected: %s", q->index, q->url);
}

/* Muxes e into the session; true when the destination gets it (the caller counts it). */
static bool push_mux(output_queue *q, queue_entry *e, bool video)
{
    char why[ENGINE_ERR_MAX];
    if (!video)
        q->out.need_key = false;
    writer_apply_headers(q, e);
    int rc = output_rtmp_write(&q->out, e->kind, e->pkt, &e->ts, q->shape.par[e->kind], why,
                               sizeof(why));
    if (rc >= 0 && q->push.failed_in_sink) {
        snprintf(why, sizeof(why), "write: %s", q->push.sink_error);
        rc = -1;
    }
    if (rc < 0) {
        push_fail(q, why);
        return false;
    }
    if (rc > 0)
        writer_note_sent(q, e);
    return rc > 0;
}

/* Sends what the session holds, as far as the socket takes it. */
static void push_flush(output_queue *q)
{
    push_conn *p = &q->push;
    if (p->state == PUSH_CONNECTING || p->state == PUSH_IDLE || p->state == PUSH_TLS)
        return;
    if (engine_fenced()) { /* the lease may be another node's: not one byte more */
        push_fail(q, "this node's lease ran out: it must not push");
        return;
    }
    rtmp_buf *out = &p->s.out;
    while (rtmp_buf_size(out)) {
        ssize_t n = tls_stream_send(&p->io, rtmp_buf_bytes(out), rtmp_buf_size(out));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            char why[ENGINE_ERR_MAX];
            snprintf(why, sizeof(why), "write: %s", tls_stream_why(&p->io, errno));
            push_fail(q, why);
            return;
        }
        if (n <= 0)
            break;
        rtmp_buf_consume(out, (size_t)n);
        p->stalled_us = 0;
    }
    size_t left = rtmp_buf_size(out);
    if (left && !p->stalled_us)
        p->stalled_us = time_mono_us();
    ev_watch(&q->h, p->fd, EPOLLIN | (left || p->io.want_write ? EPOLLOUT : 0));
    if (p->state == PUSH_CLOSING && !left)
        push_finish(q);
}

/* Muxes queued packets while the socket keeps up, then sends; e (with video, the queue's
 * expect_video) is one its caller already took off the queue, or NULL. One lock round per
 * packet: the one that takes the next entry also gives the last one back and counts it. */
static void push_pump(output_queue *q, queue_entry *e, bool video)
{
    for (;;) {
        bool sent = e && q->push.state == PUSH_LIVE && push_mux(q, e, video);
        bool more = q->push.state == PUSH_LIVE && rtmp_buf_size(&q->push.s.out) < OUT_HIGH;
        pthread_mutex_lock(&q->lock);
        q->report.written += sent;
        entry_recycle(q, e);
        e = more ? queue_pop(q) : NULL;
        video = q->expect_video;
        pthread_mutex_unlock(&q->lock);
        if (!e)
            break;
    }
    push_flush(q);
}

static void push_connect(output_queue *q, const struct sockaddr_storage *addr, socklen_t len)
{
    push_conn *p = &q->push;
    char why[ENGINE_ERR_MAX];
    int one = 1;
    p->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd >= 0)
        setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (p->fd < 0 ||
        (connect(p->fd, (const struct sockaddr *)addr, len) != 0 && errno != EINPROGRESS)) {
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        push_fail(q, why);
        return;
    }
    tls_stream_plain(&p->io, p->fd);
    if (rtmp_session_init(&p->s, RTMP_ROLE_PUBLISH, q->url) != 0) {
        snprintf(why, sizeof(why), "connect: %s", p->s.err);
        rtmp_session_free(&p->s);
        push_fail(q, why);
        return;
    }
    p->s_init = true;
    p->state = PUSH_CONNECTING;
    p->deadline_us = time_mono_us() + q->connect_timeout_us;
    ev_watch(&q->h, p->fd, EPOLLIN | EPOLLOUT);
    ev_ticks(&q->h, true);
}

static void push_begin_close(output_queue *q, bool trailer)
{
    push_conn *p = &q->push;
    if (p->state != PUSH_LIVE || !trailer) {
        push_finish(q);
        return;
    }
    output_rtmp_close(&q->out, true); /* the trailer's tags go into the session */
    rtmp_session_close(&p->s);
    p->state = PUSH_CLOSING;
    p->deadline_us = time_mono_us() + CLOSE_US;
    push_flush(q);
}

static void push_on_event(output_queue *q, const rtmp_event *ev)
{
    char why[ENGINE_ERR_MAX];
    if (ev->type == RTMP_EV_READY && q->push.state == PUSH_HANDSHAKE) {
        push_go_live(q);
    } else if (ev->type == RTMP_EV_ERROR) {
        snprintf(why, sizeof(why), "%s: %s", q->push.state == PUSH_LIVE ? "write" : "publish",
                 ev->text ? ev->text : "the session failed");
        push_fail(q, why);
    }
}

static bool push_talking(const output_queue *q)
{
    push_state st = q->push.state;
    return st == PUSH_HANDSHAKE || st == PUSH_LIVE || st == PUSH_CLOSING;
}

static void push_read(output_queue *q)
{
    uint8_t buf[READ_SIZE];
    for (int i = 0; i < READS_AT_ONCE && push_talking(q); i++) {
        ssize_t n = tls_stream_recv(&q->push.io, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            char why[ENGINE_ERR_MAX];
            snprintf(why, sizeof(why), "%s: %s", q->push.state == PUSH_LIVE ? "write" : "connect",
                     n == 0 ? "the destination closed the connection"
                            : tls_stream_why(&q->push.io, errno));
            push_fail(q, why);
            return;
        }
        for (size_t off = 0; q->push.state != PUSH_IDLE;) {
            size_t used = 0;
            rtmp_event ev;
            int rc = rtmp_session_feed(&q->push.s, buf + off, (size_t)n - off, &used, &ev);
            off += used;
            if (rc == 0)
                break;
            push_on_event(q, &ev);
        }
    }
    if (push_talking(q) && tls_stream_pending(&q->push.io))
        ev_post(&q->h); /* TLS holds bytes epoll cannot see: read them on the next turn */
}

/* rtmps://: the TLS handshake goes on; once over, the RTMP handshake (C0+C1) goes out. */
static void push_shake(output_queue *q)
{
    push_conn *p = &q->push;
    int rc = tls_stream_handshake(&p->io);
    if (rc < 0) {
        char why[ENGINE_ERR_MAX];
        snprintf(why, sizeof(why), "connect: %s", p->io.err);
        push_fail(q, why);
        return;
    }
    if (rc == 0) {
        ev_watch(&q->h, p->fd, EPOLLIN | (p->io.want_write ? EPOLLOUT : 0));
        return;
    }
    p->state = PUSH_HANDSHAKE;
}

/* The socket connected, or failed to. */
static bool push_connected(output_queue *q)
{
    int err = 0;
    socklen_t len = sizeof(err);
    char why[ENGINE_ERR_MAX];
    if (getsockopt(q->push.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err) {
        snprintf(why, sizeof(why), "connect: %s", strerror(err));
        push_fail(q, why);
        return false;
    }
    rtmp_url u;
    if (strncasecmp(q->url, "rtmps://", 8) != 0 ||
        rtmp_url_parse(q->url, &u, why, sizeof(why)) != 0) {
        q->push.state = PUSH_HANDSHAKE;
        return true;
    }
    if (tls_stream_start(&q->push.io, q->push.fd, u.host) != 0) {
        snprintf(why, sizeof(why), "connect: %s", q->push.io.err);
        push_fail(q, why);
        return false;
    }
    q->push.state = PUSH_TLS;
    push_shake(q);
    return q->push.state != PUSH_IDLE;
}

static void push_on_io(ev_handler *h, uint32_t events)
{
    output_queue *q = of(h);
    engine_log_bind_task(q->task_id);
    if (q->push.state == PUSH_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        push_connected(q);
    else if (q->push.state == PUSH_TLS)
        push_shake(q);
    if (push_talking(q) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        push_read(q);
    if (q->push.state != PUSH_IDLE)
        push_pump(q, NULL, false);
    engine_log_bind_task(NULL);
}

/* True when the session can take a packet at once: push_on_post then takes the first one
 * off the queue in the lock round it has anyway. */
static bool push_ready(output_queue *q)
{
    return q->push.state == PUSH_LIVE && !tls_stream_pending(&q->push.io) &&
           rtmp_buf_size(&q->push.s.out) < OUT_HIGH;
}

static void push_on_post(ev_handler *h)
{
    output_queue *q = of(h);
    engine_log_bind_task(q->task_id);
    pthread_mutex_lock(&q->lock);
    bool quit = q->quit, trailer = q->trailer;
    bool connect = q->connect_asked && q->push.addr_set && q->push.state == PUSH_IDLE;
    struct sockaddr_storage addr = q->push.addr;
    socklen_t len = q->push.addr_len;
    if (connect)
        q->connect_asked = false;
    queue_entry *first = !quit && !connect && push_ready(q) ? queue_pop(q) : NULL;
    bool video = q->expect_video;
    pthread_mutex_unlock(&q->lock);
    if (quit) {
        if (q->push.state != PUSH_CLOSING)
            push_begin_close(q, trailer);
    } else if (first) {
        push_pump(q, first, video);
    } else {
        if (connect)
            push_connect(q, &addr, len);
        if (push_talking(q) && tls_stream_pending(&q->push.io))
            push_read(q);
        if (q->push.state == PUSH_LIVE)
            push_pump(q, NULL, video);
    }
    engine_log_bind_task(NULL);
}

static void push_on_tick(ev_handler *h, int64_t now_us)
{
    output_queue *q = of(h);
    push_conn *p = &q->push;
    char why[ENGINE_ERR_MAX];
    engine_log_bind_task(q->task_id);
    if ((p->state == PUSH_CONNECTING || p->state == PUSH_TLS || p->state == PUSH_HANDSHAKE) &&
        now_us > p->deadline_us) {
        snprintf(why, sizeof(why), "connect: %stimed out after %lld ms",
                 p->state == PUSH_TLS ? "TLS handshake " : "",
                 (long long)q->connect_timeout_us / 1000);
        push_fail(q, why);
    } else if (p->state == PUSH_LIVE && p->stalled_us && q->rw_timeout_us > 0 &&
               now_us - p->stalled_us > q->rw_timeout_us) {
        snprintf(why, sizeof(why), "write: timed out after %lld ms",
                 (long long)q->rw_timeout_us / 1000);
        push_fail(q, why);
    } else if (p->state == PUSH_CLOSING && now_us > p->deadline_us) {
        push_finish(q);
    }
    engine_log_bind_task(NULL);
}

bool push_attach(output_queue *q)
{
    const config *c = q->w->job.config;
    bool rtmp = strncasecmp(q->url, "rtmp://", 7) == 0 || strncasecmp(q->url, "rtmps://", 8) == 0;
    if (!rtmp || (c && strcmp(c->push_engine, "ffmpeg") == 0))
        return false;                           /* the FFmpeg choice keeps the writer thread */
    ev_pool_configure(c ? c->engine_loops : 0); /* read once, at the first pick */
    ev_loop *l = worker_loop(q->w);
    if (!l)
        return false;
    q->push.fd = -1;
    q->h.on_io = push_on_io;
    q->h.on_post = push_on_post;
    q->h.on_tick = push_on_tick;
    ev_handler_attach(&q->h, l);
    pthread_cond_init(&q->closed, NULL);
    q->looped = true;
    return true;
}
