/* worker.c — a worker record, made from a job and freed with it: its stop request, its slot
 * for a live update, and the interruptible waits of its thread. */
#include "engine/engine_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/timeutil.h"

/* The addresses the job's account may reach, each direction. */
static void worker_policies(engine_worker *w)
{
    static const char *const keys[2] = {"source_allow", "destination_allow"};
    for (int d = ADDR_SOURCE; d <= ADDR_DESTINATION; d++) {
        w->policy[d].key = keys[d];
        if (w->job.config)
            config_allow_list(w->job.config, w->job.account, d, w->policy[d].allow,
                              sizeof(w->policy[d].allow));
    }
}

static void worker_init_sync(engine_worker *w)
{
    pthread_mutex_init(&w->wake_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->progress_lock, NULL);
    atomic_init(&w->finished, false);
    atomic_init(&w->stop_at_us, 0);
    atomic_init(&w->update_pending, false);
    atomic_init(&w->poked, false);
    atomic_init(&w->loop, NULL);
}

engine_worker *worker_new(const engine_job *job)
{
    engine_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    worker_init_sync(w);
    if (engine_job_copy(&w->job, job) != 0) {
        worker_free(w);
        return NULL;
    }
    worker_policies(w);
    w->progress.active = true;
    snprintf(w->progress.source_url, sizeof(w->progress.source_url), "%s", w->job.sources[0]);
    snprintf(w->progress.source_role, sizeof(w->progress.source_role), "main");
    return w;
}

void worker_free(engine_worker *w)
{
    if (!w)
        return;
    engine_job_free(w->update);
    engine_job_clear(&w->job);
    pthread_mutex_destroy(&w->wake_lock);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->progress_lock);
    free(w);
}

void worker_request_stop(engine_worker *w)
{
    long long none = 0;
    long long now = time_mono_us();
    atomic_compare_exchange_strong(&w->stop_at_us, &none, now > 0 ? now : 1);
    pthread_mutex_lock(&w->wake_lock);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->wake_lock);
}

bool worker_stop_requested(const engine_worker *w)
{
    return atomic_load(&w->stop_at_us) != 0;
}

void worker_post_update(engine_worker *w, engine_job *job)
{
    pthread_mutex_lock(&w->wake_lock);
    engine_job_free(w->update); /* a newer update replaces one not yet taken */
    w->update = job;
    atomic_store(&w->update_pending, true);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->wake_lock);
}

bool worker_update_pending(const engine_worker *w)
{
    return atomic_load(&w->update_pending);
}

engine_job *worker_take_update(engine_worker *w)
{
    if (!atomic_load(&w->update_pending))
        return NULL;
    pthread_mutex_lock(&w->wake_lock);
    engine_job *j = w->update;
    w->update = NULL;
    atomic_store(&w->update_pending, false);
    pthread_mutex_unlock(&w->wake_lock);
    return j;
}

static bool worker_woken(const engine_worker *w, bool by_update)
{
    return worker_stop_requested(w) || (by_update && atomic_load(&w->update_pending));
}

static bool worker_wait(engine_worker *w, int64_t deadline_ms, bool by_update)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_mutex_lock(&w->wake_lock);
    while (!worker_woken(w, by_update) && time_mono_ms() < deadline_ms) {
        if (pthread_cond_timedwait(&w->wake, &w->wake_lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&w->wake_lock);
    return worker_stop_requested(w);
}

bool worker_wait_until(engine_worker *w, int64_t deadline_ms)
{
    return worker_wait(w, deadline_ms, false);
}

bool worker_wait_until_update(engine_worker *w, int64_t deadline_ms)
{
    return worker_wait(w, deadline_ms, true);
}

void worker_join_predecessor(engine_worker *w)
{
    if (!w->predecessor)
        return;
    pthread_join(w->predecessor->thread, NULL);
    worker_free(w->predecessor);
    w->predecessor = NULL;
}

void worker_park(engine_worker *w, int64_t deadline_us)
{
    struct timespec ts = {.tv_sec = deadline_us / 1000000,
                          .tv_nsec = (deadline_us % 1000000) * 1000};
    pthread_mutex_lock(&w->wake_lock);
    while (!worker_woken(w, true) && !atomic_load(&w->poked) && time_mono_us() < deadline_us) {
        if (pthread_cond_timedwait(&w->wake, &w->wake_lock, &ts) == ETIMEDOUT)
            break;
    }
    atomic_store(&w->poked, false);
    pthread_mutex_unlock(&w->wake_lock);
}

void worker_poke(engine_worker *w)
{
    pthread_mutex_lock(&w->wake_lock);
    atomic_store(&w->poked, true);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->wake_lock);
}

ev_loop *worker_loop(engine_worker *w)
{
    ev_loop *l = atomic_load(&w->loop);
    if (l)
        return l;
    ev_loop *picked = ev_pool_pick(), *none = NULL;
    if (!picked || atomic_compare_exchange_strong(&w->loop, &none, picked))
        return picked;
    return none; /* another thread picked first: its choice stands */
}
