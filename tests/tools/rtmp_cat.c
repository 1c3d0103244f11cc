/* rtmp_cat.c — a test tool that drives ferry's sans-IO RTMP session over a non-blocking socket
 * with poll(): `play URL [seconds] > out.flv` records FLV, `publish URL [file] < in.flv` pushes
 * an FLV file paced by its timestamps. Events go to stderr as "rtmp_cat: <event>" lines. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/rtmp.h"

typedef struct cat {
    rtmp_session s;
    int fd;
    FILE *flv;       /* play: where tags go; publish: where they come from */
    double deadline; /* play: when to stop */
    bool connected, ready, done;
    int rc;
    /* publish */
    uint8_t *tag;
    size_t tag_len, tag_cap;
    uint8_t tag_type;
    uint32_t tag_ts, first_ts, last_ts;
    bool have_tag, have_first, eof;
    double start;
    unsigned long counts[32];
} cat;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(const char *host, int port)
{
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static void finish(cat *c, int rc, const char *what, const char *text)
{
    fprintf(stderr, "rtmp_cat: %s%s%s\n", what, text ? ": " : "", text ? text : "");
    c->done = true;
    c->rc = rc;
}

/* ---------- play: FLV out ---------- */

static void put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static void flv_write_tag(FILE *f, const rtmp_msg *m)
{
    uint8_t h[11] = {m->type};
    put24(h + 1, (uint32_t)m->len);
    put24(h + 4, m->timestamp & 0xffffff);
    h[7] = (uint8_t)(m->timestamp >> 24);
    uint8_t prev[4] = {0};
    uint32_t total = (uint32_t)m->len + 11;
    for (int i = 0; i < 4; i++)
        prev[i] = (uint8_t)(total >> (24 - 8 * i));
    fwrite(h, 1, 11, f);
    fwrite(m->data, 1, m->len, f);
    fwrite(prev, 1, 4, f);
}

/* ---------- publish: FLV in ---------- */

static bool read_full(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

static bool flv_next_tag(cat *c)
{
    uint8_t h[11], prev[4];
    if (!read_full(c->flv, h, 11))
        return false;
    size_t len = (size_t)h[1] << 16 | h[2] << 8 | h[3];
    if (len > c->tag_cap) {
        c->tag = realloc(c->tag, len);
        c->tag_cap = len;
    }
    if (!c->tag || !read_full(c->flv, c->tag, len) || !read_full(c->flv, prev, 4))
        return false;
    c->tag_type = h[0] & 0x1f;
    c->tag_len = len;
    c->tag_ts = (uint32_t)h[4] << 16 | h[5] << 8 | h[6] | (uint32_t)h[7] << 24;
    return true;
}

static bool flv_skip_header(FILE *f)
{
    uint8_t h[9], prev[4];
    if (!read_full(f, h, 9) || memcmp(h, "FLV", 3) != 0)
        return false;
    uint32_t off = (uint32_t)h[5] << 24 | h[6] << 16 | h[7] << 8 | h[8];
    for (uint32_t i = 9; i < off; i++)
        if (fgetc(f) == EOF)
            return false;
    return read_full(f, prev, 4);
}

/* Sends every tag that is due; returns the seconds until the next one (or -1 at the end). */
static double publish_due(cat *c)
{
    for (;;) {
        if (!c->have_tag && !c->eof) {
            c->have_tag = flv_next_tag(c);
            c->eof = !c->have_tag;
        }
        if (c->eof)
            return -1;
        bool av = c->tag_type == RTMP_MSG_AUDIO || c->tag_type == RTMP_MSG_VIDEO;
        int32_t step = (int32_t)(c->tag_ts - c->last_ts);
        if (av && (!c->have_first || step > 1000 || step < -1000)) {
            /* the pace follows audio and video (not metadata) and restarts after a jump,
             * such as sequence headers at 0 before media that starts later */
            c->first_ts = c->tag_ts;
            c->start = now_s();
            c->have_first = true;
        }
        if (av)
            c->last_ts = c->tag_ts;
        double due = !av ? 0 : c->start + (int32_t)(c->tag_ts - c->first_ts) / 1000.0 - now_s();
        if (due > 0)
            return due;
        if (rtmp_session_send(&c->s, c->tag_type, c->tag_ts, c->tag, c->tag_len) != 0) {
            finish(c, 1, "error", "cannot send a tag");
            return -1;
        }
        c->counts[c->tag_type & 31]++;
        c->have_tag = false;
    }
}

/* ---------- the loop ---------- */

static void on_event(cat *c, const rtmp_event *ev)
{
    switch (ev->type) {
    case RTMP_EV_READY:
        fprintf(stderr, "rtmp_cat: ready (%s)\n", ev->text);
        c->ready = true;
        c->start = now_s();
        break;
    case RTMP_EV_MEDIA:
        c->counts[ev->msg.type & 31]++;
        flv_write_tag(c->flv, &ev->msg);
        break;
    case RTMP_EV_GONE:
        finish(c, 0, ev->text, NULL); /* "source gone: <why>" */
        break;
    case RTMP_EV_ERROR:
        finish(c, 1, "error", ev->text);
        break;
    }
}

static void on_readable(cat *c)
{
    uint8_t buf[65536];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (!c->connected && n < 0 && errno == ECONNREFUSED) {
        finish(c, 1, "error", "cannot connect: connection refused");
        return;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        finish(c, c->ready && c->s.role == RTMP_ROLE_PLAY ? 0 : 1, "connection closed",
               n < 0 ? strerror(errno) : "by the server");
        return;
    }
    for (size_t off = 0; n > 0 && !c->done;) { /* until 0, even with no bytes left */
        size_t used;
        rtmp_event ev;
        int rc = rtmp_session_feed(&c->s, buf + off, (size_t)n - off, &used, &ev);
        off += used;
        if (rc == 0)
            break;
        on_event(c, &ev);
    }
}

static void on_writable(cat *c)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (!c->connected && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr) {
        char what[300];
        snprintf(what, sizeof(what), "cannot connect to %s:%d: %s", c->s.url.host, c->s.url.port,
                 strerror(soerr));
        finish(c, 1, "error", what);
        return;
    }
    c->connected = true;
    ssize_t n = write(c->fd, rtmp_buf_bytes(&c->s.out), rtmp_buf_size(&c->s.out));
    if (n > 0)
        rtmp_buf_consume(&c->s.out, (size_t)n);
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
        finish(c, 1, "error", strerror(errno));
}

static int poll_timeout_ms(cat *c)
{
    double wait = 0.2;
    if (c->s.role == RTMP_ROLE_PLAY && c->deadline - now_s() < wait)
        wait = c->deadline - now_s();
    if (c->s.role == RTMP_ROLE_PUBLISH && c->ready) {
        double due = publish_due(c);
        if (due < 0 && !c->done) { /* the file is over: say goodbye, then flush */
            rtmp_session_close(&c->s);
            c->deadline = now_s() + 2;
            c->done = rtmp_buf_size(&c->s.out) == 0;
        }
        if (due >= 0 && due < wait)
            wait = due;
    }
    return wait > 0 ? (int)(wait * 1000) + 1 : 0;
}

static void run(cat *c)
{
    while (!c->done) {
        int t = poll_timeout_ms(c);
        if (c->done)
            break;
        if (!c->ready && now_s() >= c->deadline) {
            finish(c, 1, "error", "no answer from the server in time");
            break;
        }
        if (c->s.role == RTMP_ROLE_PLAY && now_s() >= c->deadline) {
            finish(c, 0, "time is up", NULL);
            break;
        }
        struct pollfd p = {.fd = c->fd,
                           .events = POLLIN | (rtmp_buf_size(&c->s.out) ? POLLOUT : 0)};
        if (poll(&p, 1, t) < 0 && errno != EINTR)
            finish(c, 1, "error", strerror(errno));
        if (p.revents & POLLOUT)
            on_writable(c);
        if (!c->done && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            on_readable(c);
        if (c->eof && rtmp_buf_size(&c->s.out) == 0)
            finish(c, 0, "published the whole file", NULL);
        else if (c->eof && now_s() > c->deadline)
            finish(c, 1, "error", "could not flush the end of the stream");
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "play") != 0 && strcmp(argv[1], "publish") != 0)) {
        fprintf(stderr, "usage: rtmp_cat play URL [seconds] > out.flv\n"
                        "       rtmp_cat publish URL [file.flv] (default: stdin)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static cat c;
    bool play = strcmp(argv[1], "play") == 0;
    if (rtmp_session_init(&c.s, play ? RTMP_ROLE_PLAY : RTMP_ROLE_PUBLISH, argv[2]) != 0) {
        fprintf(stderr, "rtmp_cat: error: %s\n", c.s.err);
        return 1;
    }
    c.flv = play ? stdout : (argc > 3 && strcmp(argv[3], "-") ? fopen(argv[3], "rb") : stdin);
    if (!c.flv || (!play && !flv_skip_header(c.flv))) {
        fprintf(stderr, "rtmp_cat: error: no FLV input\n");
        return 1;
    }
    if (play)
        fwrite("FLV\x01\x05\0\0\0\x09\0\0\0\0", 1, 13, c.flv);
    c.deadline = now_s() + (play && argc > 3 ? atof(argv[3]) : 10);
    c.fd = dial(c.s.url.host, c.s.url.port);
    if (c.fd < 0) {
        fprintf(stderr, "rtmp_cat: error: cannot connect to %s:%d\n", c.s.url.host, c.s.url.port);
        return 1;
    }
    run(&c);
    fprintf(stderr, "rtmp_cat: %lu audio, %lu video, %lu data messages\n", c.counts[8], c.counts[9],
            c.counts[18]);
    fflush(c.flv);
    close(c.fd);
    rtmp_session_free(&c.s);
    free(c.tag);
    return c.rc;
}
