/* engine.c — the engine's front, the calls of engine.h: the registry of workers by task id
 * (one live worker per task), and init, start, stop, update, running, progress, shutdown. */
#include "engine/engine_internal.h"

#include <string.h>
#include <time.h>

#include <libavutil/log.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/engine_metrics.h"

#define SHUTDOWN_JOIN_MS 3000

static struct {
    pthread_mutex_t lock;
    engine_worker *head; /* at most one entry per task id */
    uint64_t last_generation;
    bool ready;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Under reg.lock: unlinks the entry for task_id, or NULL. */
static engine_worker *registry_take(const char *task_id)
{
    for (engine_worker **p = &reg.head; *p; p = &(*p)->next) {
        if (strcmp((*p)->job.task_id, task_id) == 0) {
            engine_worker *w = *p;
            *p = w->next;
            w->next = NULL;
            return w;
        }
    }
    return NULL;
}

static engine_worker *registry_find(const char *task_id)
{
    for (engine_worker *w = reg.head; w; w = w->next)
        if (strcmp(w->job.task_id, task_id) == 0)
            return w;
    return NULL;
}

/* Under reg.lock: unlinks the workers whose threads are returning, onto *dead. */
static void registry_take_exited(engine_worker **dead)
{
    for (engine_worker **p = &reg.head; *p;) {
        engine_worker *w = *p;
        if (w->exited) {
            *p = w->next;
            w->next = *dead;
            *dead = w;
        } else {
            p = &w->next;
        }
    }
}

/* Under reg.lock: a worker that still relays and was not asked to stop. */
static bool worker_live(engine_worker *w)
{
    return w && !w->exited && !atomic_load(&w->finished) && !worker_stop_requested(w);
}

static void join_and_free(engine_worker *list)
{
    while (list) {
        engine_worker *next = list->next;
        pthread_join(list->thread, NULL);
        worker_free(list);
        list = next;
    }
}

/* ---------- the worker thread's last word ---------- */

void worker_exited(engine_worker *w)
{
    pthread_mutex_lock(&reg.lock);
    w->exited = true;
    pthread_mutex_unlock(&reg.lock);
}

/* ---------- the cluster's fence ---------- */

static _Atomic int64_t fence_us; /* 0 = none */

void engine_set_fence(int64_t mono_us)
{
    atomic_store(&fence_us, mono_us);
}

bool engine_fenced(void)
{
    int64_t f = atomic_load(&fence_us);
    return f != 0 && time_mono_us() >= f;
}

/* ---------- the interface ---------- */

int engine_init(engine_event_fn on_event, void *ctx)
{
    engine_events_set_handler(on_event, ctx);
    pthread_mutex_lock(&reg.lock);
    reg.ready = true;
    pthread_mutex_unlock(&reg.lock);
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(engine_av_log);
    avformat_network_init();
    engine_metrics_register();
    return 0;
}

static struct timespec realtime_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

void engine_shutdown(void)
{
    pthread_mutex_lock(&reg.lock);
    bool was_ready = reg.ready;
    reg.ready = false;
    engine_worker *list = reg.head;
    reg.head = NULL;
    for (engine_worker *w = list; w; w = w->next)
        worker_request_stop(w);
    pthread_mutex_unlock(&reg.lock);

    struct timespec deadline = realtime_in(SHUTDOWN_JOIN_MS);
    int stuck = 0;
    while (list) {
        engine_worker *next = list->next;
        if (pthread_timedjoin_np(list->thread, NULL, &deadline) == 0) {
            worker_free(list);
        } else {
            tlog_error(list->job.task_id, "engine: worker did not exit in time; left behind");
            pthread_detach(list->thread);
            stuck++;
        }
        list = next;
    }
    if (was_ready && !stuck)
        avformat_network_deinit();
}

/* Under reg.lock: starts w's thread in place of the task's worker (which w joins before it
 * connects) and reaps the exited workers onto *dead. The generation, or FERR_INTERNAL with
 * the registry as it was. */
static int64_t registry_launch(engine_worker *w, engine_worker **dead)
{
    registry_take_exited(dead);
    engine_worker *old = registry_take(w->job.task_id);
    if (old)
        worker_request_stop(old);
    w->predecessor = old;
    w->generation = ++reg.last_generation;
    if (pthread_create(&w->thread, NULL, relay_worker_main, w) != 0) {
        w->predecessor = NULL;
        if (old) {
            old->next = reg.head;
            reg.head = old;
        }
        return FERR_INTERNAL;
    }
    w->next = reg.head;
    reg.head = w;
    return (int64_t)w->generation;
}

int64_t engine_start(const engine_job *job)
{
    int rc = engine_job_check(job);
    if (rc != 0)
        return rc;
    engine_worker *w = worker_new(job);
    if (!w)
        return FERR_INTERNAL;
    engine_worker *dead = NULL;
    pthread_mutex_lock(&reg.lock);
    int64_t rc_or_gen = reg.ready ? registry_launch(w, &dead) : FERR_UNAVAILABLE;
    pthread_mutex_unlock(&reg.lock);
    if (rc_or_gen < 0)
        worker_free(w);
    join_and_free(dead);
    return rc_or_gen;
}

int engine_stop(const char *task_id)
{
    pthread_mutex_lock(&reg.lock);
    engine_worker *w = registry_find(task_id);
    bool found = w && !w->exited;
    if (found)
        worker_request_stop(w);
    pthread_mutex_unlock(&reg.lock);
    return found ? 0 : FERR_NOT_FOUND;
}

int engine_update(const engine_job *job)
{
    int rc = engine_job_check(job);
    if (rc != 0)
        return rc;
    engine_job *j = engine_job_dup(job);
    if (!j)
        return FERR_INTERNAL;
    pthread_mutex_lock(&reg.lock);
    engine_worker *w = registry_find(job->task_id);
    bool live = worker_live(w);
    if (live) {
        worker_post_update(w, j);
        j = NULL;
    }
    pthread_mutex_unlock(&reg.lock);
    engine_job_free(j);
    return live ? 0 : FERR_NOT_FOUND;
}

bool engine_running(const char *task_id)
{
    pthread_mutex_lock(&reg.lock);
    engine_worker *w = registry_find(task_id);
    bool running = worker_live(w);
    pthread_mutex_unlock(&reg.lock);
    return running;
}

int engine_progress(const char *task_id, task_progress *out)
{
    pthread_mutex_lock(&reg.lock);
    engine_worker *w = registry_find(task_id);
    if (!w || w->exited || atomic_load(&w->finished)) {
        pthread_mutex_unlock(&reg.lock);
        out->active = false;
        return FERR_NOT_FOUND;
    }
    progress_read(w, out);
    pthread_mutex_unlock(&reg.lock);
    out->report_ms = time_now_ms();
    return 0;
}
