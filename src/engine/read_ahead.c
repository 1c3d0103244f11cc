/* read_ahead.c — the pre-roll reader thread: performs one source read per request and hands
 * the result back under a lock; all relay logic stays on the worker thread. */
#include "engine/read_ahead.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/timeutil.h"

static void read_ahead_once(read_ahead *ra)
{
    read_result res = {.kind = -1};
    engine_av_error_clear();
    res.rc = ra->src->ops->read(ra->src, ra->pkt, &res.kind);
    res.at_us = time_mono_us();
    snprintf(res.av_error, sizeof(res.av_error), "%s", engine_av_error_last());
    pthread_mutex_lock(&ra->lock);
    ra->res = res;
    ra->asked = false;
    ra->done = true;
    pthread_cond_broadcast(&ra->cond);
    pthread_mutex_unlock(&ra->lock);
}

static void *read_ahead_main(void *arg)
{
    read_ahead *ra = arg;
    engine_log_bind_task(ra->task_id);
    for (;;) {
        pthread_mutex_lock(&ra->lock);
        while (!ra->asked && !ra->quit)
            pthread_cond_wait(&ra->cond, &ra->lock);
        bool quit = ra->quit;
        pthread_mutex_unlock(&ra->lock);
        if (quit)
            break;
        read_ahead_once(ra);
    }
    engine_log_bind_task(NULL);
    return NULL;
}

int read_ahead_start(read_ahead *ra, engine_source *src, AVPacket *pkt, const char *task_id)
{
    memset(ra, 0, sizeof(*ra));
    ra->src = src;
    ra->pkt = pkt;
    ra->task_id = task_id;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ra->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&ra->lock, NULL);
    int rc = pthread_create(&ra->thread, NULL, read_ahead_main, ra);
    if (rc != 0) {
        pthread_cond_destroy(&ra->cond);
        pthread_mutex_destroy(&ra->lock);
        return AVERROR(rc);
    }
    ra->started = true;
    return 0;
}

void read_ahead_ask(read_ahead *ra)
{
    pthread_mutex_lock(&ra->lock);
    ra->asked = true;
    ra->done = false;
    pthread_cond_broadcast(&ra->cond);
    pthread_mutex_unlock(&ra->lock);
}

bool read_ahead_pending(read_ahead *ra)
{
    if (!ra->started)
        return false;
    pthread_mutex_lock(&ra->lock);
    bool pending = ra->asked || ra->done;
    pthread_mutex_unlock(&ra->lock);
    return pending;
}

static struct timespec mono_timespec(int64_t us)
{
    return (struct timespec){.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
}

bool read_ahead_wait(read_ahead *ra, int64_t deadline_us, read_result *out)
{
    struct timespec ts = mono_timespec(deadline_us == INT64_MAX ? 0 : deadline_us);
    pthread_mutex_lock(&ra->lock);
    while (!ra->done) {
        if (deadline_us == INT64_MAX)
            pthread_cond_wait(&ra->cond, &ra->lock);
        else if (time_mono_us() >= deadline_us)
            break;
        else
            pthread_cond_timedwait(&ra->cond, &ra->lock, &ts);
    }
    bool done = ra->done;
    if (done) {
        *out = ra->res;
        ra->done = false;
    }
    pthread_mutex_unlock(&ra->lock);
    return done;
}

void read_ahead_stop(read_ahead *ra)
{
    if (!ra->started)
        return;
    pthread_mutex_lock(&ra->lock);
    ra->quit = true;
    pthread_cond_broadcast(&ra->cond);
    pthread_mutex_unlock(&ra->lock);
    pthread_join(ra->thread, NULL);
    if (ra->done)
        av_packet_unref(ra->pkt);
    pthread_cond_destroy(&ra->cond);
    pthread_mutex_destroy(&ra->lock);
    ra->started = ra->asked = ra->done = false;
}
