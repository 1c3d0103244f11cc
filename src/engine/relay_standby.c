/* relay_standby.c — a live backup kept connected while the main source plays: a helper
 * thread reads it into its own GOP buffer, so a failover starts from its latest keyframe. */
#include "engine/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define STANDBY_RETRY_MS 1000   /* between connects of a backup that is down */
#define STANDBY_FRESH_US 500000 /* a takeover needs a packet this recent */

struct relay_standby {
    pthread_t thread;
    relay *r;  /* read-only here: the job's timeouts (an update stops the standby first) */
    char *url; /* its own copy */
    io_guard *guard;
    atomic_bool quit;
    atomic_llong last_us; /* monotonic time of its last packet; 0 = not primed */
    engine_source src;    /* the thread's until it is joined, then the taker's */
    bool src_up;
    gop_buffer gop;
    AVPacket *pkt;
};

static void standby_close(relay_standby *s)
{
    if (s->src_up)
        s->src.ops->close(&s->src);
    s->src_up = false;
    atomic_store(&s->last_us, 0);
}

/* Sleeps in short steps so a quit is seen soon. */
static void standby_pause(relay_standby *s, int64_t ms)
{
    int64_t until = time_mono_ms() + ms;
    while (!atomic_load(&s->quit) && time_mono_ms() < until)
        worker_wait_until(s->r->w, time_mono_ms() + 50);
}

static void standby_connect(relay_standby *s)
{
    char why[ENGINE_ERR_MAX];
    engine_av_error_clear();
    if (relay_open_url(s->r, s->url, &s->src, s->guard, why, sizeof(why)) < 0) {
        tlog_debug(s->r->job->task_id, "engine: standby %s: %s", REDACT_URL(s->url), why);
        standby_pause(s, STANDBY_RETRY_MS);
        return;
    }
    s->src_up = true;
    gop_buffer_reset(&s->gop, source_stream(&s->src, MEDIA_VIDEO) != NULL);
}

static void standby_read(relay_standby *s)
{
    io_guard_arm(s->guard, (int64_t)s->r->job->stall_timeout_ms * 1000);
    int kind = -1;
    int rc = s->src.ops->read(&s->src, s->pkt, &kind);
    if (rc < 0) {
        standby_close(s);
        if (!atomic_load(&s->quit))
            standby_pause(s, STANDBY_RETRY_MS);
        return;
    }
    int64_t now = time_mono_us();
    timeline_pkt tp;
    if (kind >= 0 && source_timeline_pkt(&s->src, kind, s->pkt, now, &tp) &&
        gop_buffer_push(&s->gop, s->pkt, &tp) == GOP_KEPT && gop_buffer_ready(&s->gop))
        atomic_store(&s->last_us, now);
    av_packet_unref(s->pkt);
}

static void *standby_main(void *arg)
{
    relay_standby *s = arg;
    engine_log_bind_task(s->r->job->task_id);
    while (!atomic_load(&s->quit) && !worker_stop_requested(s->r->w)) {
        if (!s->src_up)
            standby_connect(s);
        else
            standby_read(s);
    }
    engine_log_bind_task(NULL);
    return NULL;
}

relay_standby *relay_standby_start(relay *r, const char *url, io_guard *guard)
{
    relay_standby *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->r = r;
    s->guard = guard;
    s->url = strdup(url);
    s->pkt = av_packet_alloc();
    atomic_init(&s->quit, false);
    atomic_init(&s->last_us, 0);
    gop_buffer_init(&s->gop, GOP_MAX_PACKETS, GOP_MAX_BYTES, GOP_AUDIO_WINDOW_US);
    if (!s->url || !s->pkt || pthread_create(&s->thread, NULL, standby_main, s) != 0) {
        free(s->url);
        av_packet_free(&s->pkt);
        free(s);
        return NULL;
    }
    tlog_info(r->job->task_id, "engine: the backup %s is kept connected on standby",
              REDACT_URL(url));
    return s;
}

io_guard *relay_standby_guard(const relay_standby *s)
{
    return s->guard;
}

static void standby_free(relay_standby *s)
{
    standby_close(s);
    gop_buffer_free(&s->gop);
    av_packet_free(&s->pkt);
    free(s->url);
    free(s);
}

void relay_standby_stop(relay_standby *s)
{
    if (!s)
        return;
    atomic_store(&s->quit, true);
    io_guard_cut(s->guard); /* its context is closed anyway */
    pthread_join(s->thread, NULL);
    standby_free(s);
}

bool relay_standby_take(relay_standby *s, engine_source *src, gop_buffer *gop)
{
    int64_t last = atomic_load(&s->last_us);
    if (!last || time_mono_us() - last > STANDBY_FRESH_US) {
        relay_standby_stop(s);
        return false;
    }
    /* A live backup gives a packet every few tens of ms: the read in flight ends soon, and
     * uncut, so the context stays whole for the taker. */
    atomic_store(&s->quit, true);
    pthread_join(s->thread, NULL);
    bool ok = s->src_up && gop_buffer_ready(&s->gop);
    if (ok) {
        *src = s->src;
        *gop = s->gop;
        s->src_up = false;
        memset(&s->gop, 0, sizeof(s->gop));
    }
    standby_free(s);
    return ok;
}
