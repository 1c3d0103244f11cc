/* engine.c — the engine's front: the worker registry keyed by task id, each worker's job and
 * record, start/stop/update/shutdown, event dispatch and the waits of a worker thread. */
#include "engine/engine_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/log.h>

#include "common/log.h"
#include "common/redact.h"
#include "common/timeutil.h"
#include "engine/engine_metrics.h"

#define SHUTDOWN_JOIN_MS 3000
#define DEFAULT_STALL_MS 10000
#define DEFAULT_CONNECT_MS 10000

static struct {
    pthread_mutex_t lock;
    engine_worker *head; /* at most one entry per task id */
    engine_event_fn on_event;
    void *ctx;
    uint64_t last_generation;
    bool ready;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------- worker records ---------- */

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

static void job_free_strings(engine_job *j)
{
    for (int i = 0; i < TASK_MAX_SOURCES; i++)
        free((void *)j->sources[i]);
    free((void *)j->backup_source);
    free((void *)j->pad_url);
    free((void *)j->outputs[0]);
    free((void *)j->outputs[1]);
    for (int i = 0; i < TASK_MAX_WATERMARKS; i++)
        free(j->watermarks[i].picture_url);
}

static int job_copy(engine_job *dst, const engine_job *src)
{
    *dst = *src;
    dst->task_id[TASK_ID_MAX - 1] = '\0';
    memset(dst->sources, 0, sizeof(dst->sources));
    dst->n_sources = src->n_sources < TASK_MAX_SOURCES ? src->n_sources : TASK_MAX_SOURCES;
    bool oom = false;
    for (int i = 0; i < dst->n_sources; i++) {
        dst->sources[i] = dup_or_null(src->sources[i]);
        oom |= src->sources[i] && src->sources[i][0] && !dst->sources[i];
    }
    dst->backup_source = dup_or_null(src->backup_source);
    dst->pad_url = dup_or_null(src->pad_url);
    oom |= (src->backup_source && src->backup_source[0] && !dst->backup_source) ||
           (src->pad_url && src->pad_url[0] && !dst->pad_url);
    dst->outputs[0] = dup_or_null(src->outputs[0]);
    dst->outputs[1] = dup_or_null(src->outputs[1]);
    oom |= !dst->outputs[0] || (src->outputs[1] && src->outputs[1][0] && !dst->outputs[1]);
    dst->n_watermarks = src->n_watermarks <= TASK_MAX_WATERMARKS ? src->n_watermarks : 0;
    for (int i = 0; i < TASK_MAX_WATERMARKS; i++) {
        bool used = i < dst->n_watermarks && src->watermarks[i].picture_url;
        dst->watermarks[i].picture_url = used ? strdup(src->watermarks[i].picture_url) : NULL;
        oom |= used && !dst->watermarks[i].picture_url;
    }
    return oom ? FERR_INTERNAL : 0;
}

static void job_apply_defaults(engine_job *j)
{
    if (j->retry_count < 0)
        j->retry_count = 0;
    if (j->retry_interval_ms < 0)
        j->retry_interval_ms = 0;
    if (j->stall_timeout_ms <= 0)
        j->stall_timeout_ms = DEFAULT_STALL_MS;
    if (j->failover_timeout_ms <= 0 || j->failover_timeout_ms > j->stall_timeout_ms)
        j->failover_timeout_ms = j->stall_timeout_ms;
    if (j->recheck_ms <= 0)
        j->recheck_ms = j->retry_interval_ms;
    if (j->connect_timeout_ms <= 0)
        j->connect_timeout_ms = DEFAULT_CONNECT_MS;
}

static int job_check(const engine_job *job)
{
    if (!job || !job->task_id[0])
        return FERR_INVALID;
    if (job->kind != TASK_SOURCE_LIVE && job->kind != TASK_SOURCE_FILES &&
        job->kind != TASK_SOURCE_PICTURE) {
        tlog_error(job->task_id, "engine: source kind %s is not supported yet",
                   task_source_kind_name(job->kind));
        return FERR_INVALID;
    }
    if (job->n_sources < 1 || job->n_sources > TASK_MAX_SOURCES)
        return FERR_SOURCE_URL;
    for (int i = 0; i < job->n_sources; i++)
        if (!job->sources[i] || !job->sources[i][0])
            return FERR_SOURCE_URL;
    if (!job->outputs[0] || !job->outputs[0][0])
        return FERR_DST_URL;
    return 0;
}

void engine_job_clear(engine_job *j)
{
    job_free_strings(j);
    memset(j->sources, 0, sizeof(j->sources));
    j->backup_source = j->pad_url = j->outputs[0] = j->outputs[1] = NULL;
    for (int i = 0; i < TASK_MAX_WATERMARKS; i++)
        j->watermarks[i].picture_url = NULL;
}

void engine_job_free(engine_job *j)
{
    if (!j)
        return;
    job_free_strings(j);
    free(j);
}

/* A heap copy of job with the defaults applied, or NULL. */
static engine_job *job_dup(const engine_job *job)
{
    engine_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    if (job_copy(j, job) != 0) {
        engine_job_free(j);
        return NULL;
    }
    job_apply_defaults(j);
    return j;
}

static void worker_free(engine_worker *w)
{
    if (!w)
        return;
    engine_job_free(w->update);
    job_free_strings(&w->job);
    pthread_mutex_destroy(&w->wake_lock);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->progress_lock);
    free(w);
}

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
    if (w->job.config)
        w->policy[ADDR_SOURCE].playlist_max = config_account_playlist_max_bytes(
            w->job.config, config_find_account(w->job.config, w->job.account));
}

static engine_worker *worker_new(const engine_job *job)
{
    engine_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
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
    if (job_copy(&w->job, job) != 0) {
        worker_free(w);
        return NULL;
    }
    job_apply_defaults(&w->job);
    worker_policies(w);
    w->progress.active = true;
    snprintf(w->progress.source_url, sizeof(w->progress.source_url), "%s", w->job.sources[0]);
    snprintf(w->progress.source_role, sizeof(w->progress.source_role), "main");
    return w;
}

static void worker_request_stop(engine_worker *w)
{
    long long none = 0;
    long long now = time_mono_us();
    atomic_compare_exchange_strong(&w->stop_at_us, &none, now > 0 ? now : 1);
    pthread_mutex_lock(&w->wake_lock);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->wake_lock);
}

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

static void join_and_free(engine_worker *list)
{
    while (list) {
        engine_worker *next = list->next;
        pthread_join(list->thread, NULL);
        worker_free(list);
        list = next;
    }
}

/* ---------- services for the worker thread ---------- */

bool worker_stop_requested(const engine_worker *w)
{
    return atomic_load(&w->stop_at_us) != 0;
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

static const char *event_name(engine_event_type t)
{
    static const char *const names[] = {
        [ENGINE_EV_RUNNING] = "running",         [ENGINE_EV_RECOVERING] = "recovering",
        [ENGINE_EV_FAILED] = "failed",           [ENGINE_EV_FINISHED] = "finished",
        [ENGINE_EV_STOPPED] = "stopped",         [ENGINE_EV_FILE_START] = "file_start",
        [ENGINE_EV_FILE_FINISH] = "file_finish", [ENGINE_EV_ALARM] = "alarm",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void worker_log_event(const engine_worker *w, const engine_event *ev)
{
    const char *id = w->job.task_id;
    const char *err = ev->error ? ev->error : "";
    unsigned long long gen = (unsigned long long)w->generation;
    switch (ev->type) {
    case ENGINE_EV_RECOVERING:
    case ENGINE_EV_ALARM:
        tlog_warn(id, "engine: %s (gen %llu) %s%s%s", event_name(ev->type), gen,
                  ev->alarm ? ev->alarm : "", ev->alarm ? ": " : "", err);
        break;
    case ENGINE_EV_FAILED:
        tlog_error(id, "engine: failed (gen %llu): %s", gen, err);
        break;
    default:
        tlog_info(id, "engine: %s (gen %llu)", event_name(ev->type), gen);
    }
}

void worker_emit(engine_worker *w, engine_event *ev)
{
    ev->generation = w->generation;
    if (ev->type == ENGINE_EV_FAILED || ev->type == ENGINE_EV_FINISHED ||
        ev->type == ENGINE_EV_STOPPED)
        atomic_store(&w->finished, true);
    worker_log_event(w, ev);
    if (reg.on_event)
        reg.on_event(reg.ctx, w->job.task_id, ev);
}

void worker_join_predecessor(engine_worker *w)
{
    if (!w->predecessor)
        return;
    pthread_join(w->predecessor->thread, NULL);
    worker_free(w->predecessor);
    w->predecessor = NULL;
}

void worker_exited(engine_worker *w)
{
    pthread_mutex_lock(&reg.lock);
    w->exited = true;
    pthread_mutex_unlock(&reg.lock);
}

/* ---------- the interface ---------- */

int engine_init(engine_event_fn on_event, void *ctx)
{
    pthread_mutex_lock(&reg.lock);
    reg.on_event = on_event;
    reg.ctx = ctx;
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

int64_t engine_start(const engine_job *job)
{
    int rc = job_check(job);
    if (rc != 0)
        return rc;
    engine_worker *w = worker_new(job);
    if (!w)
        return FERR_INTERNAL;
    engine_worker *dead = NULL;
    pthread_mutex_lock(&reg.lock);
    if (!reg.ready) {
        pthread_mutex_unlock(&reg.lock);
        worker_free(w);
        return FERR_UNAVAILABLE;
    }
    registry_take_exited(&dead);
    engine_worker *old = registry_take(job->task_id);
    if (old)
        worker_request_stop(old); /* the new worker joins it before it connects */
    w->predecessor = old;
    w->generation = ++reg.last_generation;
    if (pthread_create(&w->thread, NULL, relay_worker_main, w) != 0) {
        if (old) {
            old->next = reg.head;
            reg.head = old;
        }
        pthread_mutex_unlock(&reg.lock);
        worker_free(w);
        join_and_free(dead);
        return FERR_INTERNAL;
    }
    w->next = reg.head;
    reg.head = w;
    int64_t generation = (int64_t)w->generation;
    pthread_mutex_unlock(&reg.lock);
    join_and_free(dead);
    return generation;
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
    int rc = job_check(job);
    if (rc != 0)
        return rc;
    engine_job *j = job_dup(job);
    if (!j)
        return FERR_INTERNAL;
    pthread_mutex_lock(&reg.lock);
    engine_worker *w = registry_find(job->task_id);
    bool live = w && !w->exited && !atomic_load(&w->finished) && !worker_stop_requested(w);
    if (live) {
        pthread_mutex_lock(&w->wake_lock);
        engine_job_free(w->update); /* a newer update replaces one not yet taken */
        w->update = j;
        j = NULL;
        atomic_store(&w->update_pending, true);
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->wake_lock);
    }
    pthread_mutex_unlock(&reg.lock);
    engine_job_free(j);
    return live ? 0 : FERR_NOT_FOUND;
}

bool engine_running(const char *task_id)
{
    pthread_mutex_lock(&reg.lock);
    engine_worker *w = registry_find(task_id);
    bool running = w && !w->exited && !atomic_load(&w->finished) && !worker_stop_requested(w);
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
    int64_t mono = time_mono_ms();
    pthread_mutex_lock(&w->progress_lock);
    *out = w->progress;
    rate_read(&w->rate, mono, &out->bitrate_kbps, &out->fps);
    pthread_mutex_unlock(&w->progress_lock);
    pthread_mutex_unlock(&reg.lock);
    out->report_ms = time_now_ms();
    return 0;
}
