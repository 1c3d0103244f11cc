/* task_runner.c — the runner thread: the one place that turns task state, deadlines and
 * engine events into worker starts and stops. Other threads only post work to it. */
#include "task/task_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redact.h"
#include "common/timeutil.h"
#include "notify/notify.h"

typedef struct work {
    work_type type;
    char id[TASK_ID_MAX];
    engine_event ev; /* WORK_EVENT; its strings point into the copies below */
    char *error, *url, *alarm;
    struct work *next;
} work;

/* Generation of the worker the runner started last for a task: events from older
 * workers are stale and ignored. */
/* How a worker starts: fresh, after a restart through the API (a ContinueBreakPoint
 * playlist resumes where the running worker is), or after ferryd restarted (a playlist goes
 * on from its stored checkpoint). */
typedef enum { START_FRESH, START_RESTART, START_RESUME } start_mode;

typedef struct gen_entry {
    char id[TASK_ID_MAX];
    char account[64]; /* the task's account: running relays are counted per account */
    int64_t gen;
    int64_t push_at;         /* the pre-roll push time the worker was started with, 0 = none */
    engine_event held_start; /* a FILE_START that came before RUNNING; url is heap */
    bool holding;
    struct gen_entry *next;
} gen_entry;

#define GEN_BUCKETS 1024
/* How long a hand-off waits for the relay it stops to be gone before it gives up the lease. */
#define HAND_OFF_WAIT_MS 3000

/* A task that could not start for want of a free relay slot (max_running_tasks of the node
 * or of its account); it is decided again, in this order, when a slot frees. */
typedef struct waiting {
    char id[TASK_ID_MAX];
    struct waiting *next;
} waiting;

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    work *head, *tail;
    bool stop, started;
    gen_entry *gens[GEN_BUCKETS];
    _Atomic int live; /* gen entries: workers started and not known to have ended */
    waiting *waiting; /* runner thread only */
} rq = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---------- generations (runner thread only) ---------- */

static unsigned hash_id(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % GEN_BUCKETS;
}

static gen_entry **gen_find(const char *id)
{
    gen_entry **e = &rq.gens[hash_id(id)];
    while (*e && strcmp((*e)->id, id) != 0)
        e = &(*e)->next;
    return e;
}

static int64_t gen_get(const char *id)
{
    gen_entry *e = *gen_find(id);
    return e ? e->gen : 0;
}

static int64_t gen_push_at(const char *id)
{
    gen_entry *e = *gen_find(id);
    return e ? e->push_at : 0;
}

static void gen_set(const char *id, const char *account, int64_t gen, int64_t push_at)
{
    gen_entry **e = gen_find(id);
    if (!*e) {
        *e = calloc(1, sizeof(**e));
        if (!*e)
            return;
        snprintf((*e)->id, sizeof((*e)->id), "%s", id);
        snprintf((*e)->account, sizeof((*e)->account), "%s", account);
        rq.live++;
    }
    (*e)->gen = gen;
    (*e)->push_at = push_at;
}

static void wake_waiting(void);

static void gen_clear(const char *id)
{
    gen_entry **e = gen_find(id);
    if (*e) {
        gen_entry *dead = *e;
        *e = dead->next;
        free((char *)dead->held_start.url);
        free(dead);
        rq.live--;
        wake_waiting();
    }
}

static int live_of_account(const char *account)
{
    int n = 0;
    for (int b = 0; b < GEN_BUCKETS; b++)
        for (const gen_entry *e = rq.gens[b]; e; e = e->next)
            n += strcmp(e->account, account) == 0;
    return n;
}

/* ---------- relay slots: max_running_tasks of the node and of each account ---------- */

/* True when t may start a worker now; false with why set when a limit is reached. A task
 * whose worker is live (a restart, a new pre-roll) keeps its slot. */
static bool slot_free(const task *t, char *why, size_t len)
{
    if (gen_get(t->id) > 0)
        return true;
    int node_max = svc.cfg->max_running_tasks;
    if (node_max > 0 && rq.live >= node_max) {
        snprintf(why, len,
                 "this node runs its max_running_tasks of %d relays; the task starts "
                 "when one ends",
                 node_max);
        return false;
    }
    int acc_max = config_account_max_running(svc.cfg, config_find_account(svc.cfg, t->account));
    if (acc_max > 0 && live_of_account(t->account) >= acc_max) {
        snprintf(why, len,
                 "account %s runs its max_running_tasks of %d relays; the task starts "
                 "when one of them ends",
                 t->account, acc_max);
        return false;
    }
    return true;
}

static void wait_for_slot(const char *id)
{
    waiting **w = &rq.waiting;
    for (; *w; w = &(*w)->next)
        if (strcmp((*w)->id, id) == 0)
            return;
    *w = calloc(1, sizeof(**w));
    if (*w)
        snprintf((*w)->id, sizeof((*w)->id), "%s", id);
}

/* A slot freed: every waiting task is decided again, oldest first (the ones that still do
 * not fit wait again, in the same order). */
static void wake_waiting(void)
{
    waiting *w = rq.waiting;
    rq.waiting = NULL;
    while (w) {
        waiting *next = w->next;
        runner_post(WORK_SCHEDULE, w->id);
        free(w);
        w = next;
    }
}

/* ---------- the queue ---------- */

static void push(work *w)
{
    pthread_mutex_lock(&rq.mu);
    if (rq.tail)
        rq.tail->next = w;
    else
        rq.head = w;
    rq.tail = w;
    pthread_cond_signal(&rq.cv);
    pthread_mutex_unlock(&rq.mu);
}

static void work_free(work *w)
{
    free(w->error);
    free(w->url);
    free(w->alarm);
    free(w);
}

void runner_post(work_type type, const char *task_id)
{
    work *w = calloc(1, sizeof(*w));
    if (!w) {
        log_error("out of memory posting work for task %s", task_id);
        return;
    }
    w->type = type;
    snprintf(w->id, sizeof(w->id), "%s", task_id);
    push(w);
}

void runner_post_event(const char *task_id, const engine_event *ev)
{
    work *w = calloc(1, sizeof(*w));
    if (!w)
        return;
    w->type = WORK_EVENT;
    snprintf(w->id, sizeof(w->id), "%s", task_id);
    w->ev = *ev;
    /* The error becomes last_error, a history line and a callback's message: whatever URL
     * it names (the engine's chains, FFmpeg's words) is shown redacted. */
    char shown[2048];
    w->error = strdup(text_redact(ev->error, shown, sizeof(shown)));
    w->url = strdup(ev->url ? ev->url : "");
    w->alarm = strdup(ev->alarm ? ev->alarm : "");
    w->ev.error = w->error;
    w->ev.url = w->url;
    w->ev.alarm = w->alarm;
    push(w);
}

static work *pop(void)
{
    pthread_mutex_lock(&rq.mu);
    while (!rq.head && !rq.stop)
        pthread_cond_wait(&rq.cv, &rq.mu);
    work *w = rq.head;
    if (w && !rq.stop) {
        rq.head = w->next;
        if (!rq.head)
            rq.tail = NULL;
    } else {
        w = NULL;
    }
    pthread_mutex_unlock(&rq.mu);
    return w;
}

/* True when this node runs t (always on a single node); t's state writes are then fenced
 * by its lease epoch and by the row as read now. */
static bool holds(task *t)
{
    t->fence_updated_ms = t->updated_ms;
    return cluster_holds(t->id, &t->lease_epoch);
}

/* ---------- worker control (runner thread, svc.lock not held) ---------- */

/* The engine's job for a task (its strings point into t). */
static void build_job(const task *t, int64_t push_at, engine_job *job)
{
    const task_spec *s = &t->spec;
    *job = (engine_job){
        .kind = s->source_kind,
        .n_sources = s->n_sources,
        .backup_source = s->backup_source_url[0] ? s->backup_source_url : NULL,
        .backup_is_file = s->backup_source_kind == TASK_SOURCE_FILES,
        .pad_url = s->pad_url && s->pad_url[0] ? s->pad_url : NULL,
        .backup_standby = svc.cfg->backup_standby != 0,
        .outputs = {s->dst_url, s->backup_dst_url[0] ? s->backup_dst_url : NULL},
        .loop_count = s->loop_count,
        .file_index = s->file_index,
        .offset_s = s->offset_s,
        .retry_count = s->retry_count,
        .retry_interval_ms = s->retry_interval_s * 1000,
        .stall_timeout_ms = svc.cfg->stall_timeout_s * 1000,
        .failover_timeout_ms = svc.cfg->failover_timeout_s * 1000,
        .recheck_ms = svc.cfg->main_recheck_interval_s * 1000,
        .connect_timeout_ms = svc.cfg->connect_timeout_s * 1000,
        .push_at_ms = push_at,
        .vod_local_mode = s->vod_local_mode,
        .continue_breakpoint =
            s->vod_refresh_type && strcmp(s->vod_refresh_type, "ContinueBreakPoint") == 0,
        .config = svc.cfg,
    };
    snprintf(job->task_id, sizeof(job->task_id), "%s", t->id);
    snprintf(job->account, sizeof(job->account), "%s", t->account);
    for (int i = 0; i < s->n_sources; i++)
        job->sources[i] = s->source_urls[i];
    job->n_watermarks = s->n_watermarks;
    memcpy(job->watermarks, s->watermarks, sizeof(job->watermarks)); /* strings point into t */
}

/* A live modification: the running worker takes the new job without a new session. */
static bool update_worker(const task *t)
{
    engine_job job;
    build_job(t, 0, &job);
    if (engine_update(&job) != 0)
        return false;
    tlog_info(t->id, "worker updated in place (generation %lld)", (long long)gen_get(t->id));
    return true;
}

/* A restart of a playlist whose VodRefreshType is ContinueBreakPoint resumes where the
 * running worker is: its file, its offset and the loops still to play. */
static void resume_at_breakpoint(const task *t, engine_job *job)
{
    task_progress p;
    if (job->kind != TASK_SOURCE_FILES || !job->continue_breakpoint ||
        engine_progress(t->id, &p) != 0 || !p.active)
        return;
    job->file_index = p.file_index;
    job->offset_s = (int)(p.offset_ms / 1000);
    if (job->loop_count > 0)
        job->loop_count = job->loop_count - p.loops_done > 1 ? job->loop_count - p.loops_done : 1;
    tlog_info(t->id, "restart resumes at file %d, %d s in, %d loop(s) to play", job->file_index,
              job->offset_s, job->loop_count);
}

static void note(const task *t, const char *reason, const char *detail)
{
    task_history_entry h = {.at_ms = time_now_ms(), .from = t->state, .to = t->state};
    snprintf(h.reason, sizeof(h.reason), "%s", reason);
    snprintf(h.detail, sizeof(h.detail), "%s", detail);
    store_history_add(svc.st, t->id, &h, NULL);
}

/* ferryd restarted, or the task moved to this node, while a playlist was live: it goes on
 * with the entry that was playing, at the offset saved last (to the second), and the loops
 * still to play, unless the list has changed since. */
static void resume_at_checkpoint(const task *t, engine_job *job)
{
    task_checkpoint cp;
    if (job->kind != TASK_SOURCE_FILES || store_checkpoint_get(svc.st, t->id, &cp, NULL) != 0)
        return;
    if (cp.file_index < 0 || cp.file_index >= job->n_sources ||
        strcmp(job->sources[cp.file_index], cp.url) != 0)
        return;
    job->file_index = cp.file_index;
    job->offset_s = (int)(cp.offset_ms / 1000);
    if (job->loop_count > 0)
        job->loop_count = job->loop_count - cp.loops_done > 1 ? job->loop_count - cp.loops_done : 1;
    char detail[96];
    snprintf(detail, sizeof(detail), "the playlist goes on at file %d, %d s in (%d loop(s) played)",
             cp.file_index, job->offset_s, cp.loops_done);
    note(t, "ResumedAt", detail);
    tlog_info(t->id, "%s", detail);
}

static void start_worker(const task *t, int64_t push_at, start_mode mode)
{
    engine_job job;
    build_job(t, push_at, &job);
    if (mode == START_RESTART)
        resume_at_breakpoint(t, &job);
    else if (mode == START_RESUME)
        resume_at_checkpoint(t, &job);
    int64_t gen = engine_start(&job);
    if (gen > 0) {
        gen_set(t->id, t->account, gen, push_at);
        if (push_at)
            tlog_info(t->id, "worker started (generation %lld), pre-roll: pushes in %lld ms",
                      (long long)gen, (long long)(push_at - time_now_ms()));
        else
            tlog_info(t->id, "worker started (generation %lld)", (long long)gen);
    } else {
        tlog_error(t->id, "worker could not start: %s", ferr_name((int)gen));
    }
}

static void halt_worker(const char *id)
{
    gen_clear(id);
    if (engine_stop(id) == 0)
        tlog_info(id, "worker asked to stop");
}

/* ---------- deciding what a task should be doing now ---------- */

typedef enum { ACT_NONE, ACT_START, ACT_HALT } action;

/* Finished tasks stay readable for history_retention seconds, then go. */
static void plan_purge(const task *t)
{
    sched_cancel(t->id, -1);
    sched_set(t->id, SCHED_PURGE, t->exit_ms + (int64_t)svc.cfg->history_retention_s * 1000);
}

static action decide_window(task *t, int64_t now, bool force, int64_t *push_at)
{
    const task_spec *s = &t->spec;
    if (now >= s->end_ms) {
        task_transition(t, TASK_FINISHED, "OverEndTime", "end_time reached");
        plan_purge(t);
        return ACT_HALT;
    }
    sched_set(t->id, SCHED_STOP, s->end_ms);
    if (s->paused) {
        task_transition(t, TASK_PAUSED, "Paused", "paused by the user");
        sched_cancel(t->id, SCHED_START);
        return ACT_HALT;
    }
    if (t->state == TASK_PAUSED)
        task_transition(t, TASK_IDLE, "Resumed", "resumed by the user");
    if (t->state == TASK_OFFLINE)
        return ACT_HALT;
    int64_t preroll_at = s->start_ms - (int64_t)svc.cfg->preroll_s * 1000;
    if (now < preroll_at) {
        task_transition(t, TASK_IDLE, "Scheduled", "waiting for start_time");
        sched_set(t->id, SCHED_START, preroll_at);
        return ACT_HALT;
    }
    sched_cancel(t->id, SCHED_START);
    *push_at = now < s->start_ms ? s->start_ms : 0;
    bool live = gen_get(t->id) > 0 && engine_running(t->id);
    /* A worker in pre-roll for another start_time must be replaced. */
    if (!force && live && (*push_at == 0 || gen_push_at(t->id) == *push_at))
        return ACT_NONE;
    return ACT_START;
}

static action decide(task *t, bool force, int64_t *push_at)
{
    int64_t now = time_now_ms();
    if (t->state == TASK_FINISHED) {
        if (t->spec.end_ms <= now || (t->reason && strcmp(t->reason, "OverEndTime") != 0)) {
            plan_purge(t);
            return ACT_HALT;
        }
        task_transition(t, TASK_IDLE, "WindowExtended", "end_time moved into the future");
    }
    return decide_window(t, now, force, push_at);
}

/* task_load, tried again once on a store error: after a lost connection the next call
 * reconnects (a failed read must not pass for a deleted task). */
static int load(const char *id, task *t)
{
    int rc = task_load(id, t);
    return rc != 0 && rc != FERR_NOT_FOUND ? task_load(id, t) : rc;
}

static void reconcile(const char *id, work_type why)
{
    bool force = why == WORK_RESTART, update = why == WORK_UPDATE;
    task t;
    pthread_mutex_lock(&svc.lock);
    int rc = load(id, &t);
    if (rc != 0 && rc != FERR_NOT_FOUND) { /* unknown, not gone: the relay stays as it is */
        pthread_mutex_unlock(&svc.lock);
        tlog_error(id, "cannot read the task from the store (%s): its relay stays as it is",
                   ferr_name(rc));
        return;
    }
    action act = ACT_HALT;
    int64_t push_at = 0;
    char full[256];
    bool waits = false;
    bool ours = rc == 0 && holds(&t);
    if (ours)
        act = decide(&t, force, &push_at);
    if (act == ACT_START && !slot_free(&t, full, sizeof(full))) {
        task_wait_reason(&t, TASK_REASON_NO_SLOT, full);
        wait_for_slot(id);
        act = ACT_NONE;
        waits = true;
    }
    pthread_mutex_unlock(&svc.lock);
    if (!ours) /* gone, or another node's: its deadlines are the owner's */
        sched_cancel(id, -1);
    if (act == ACT_NONE && update && !waits && !update_worker(&t))
        act = ACT_START;
    if (act == ACT_START)
        start_worker(&t, push_at,
                     force                ? START_RESTART
                     : why == WORK_RESUME ? START_RESUME
                                          : START_FRESH);
    else if (act == ACT_HALT && (gen_get(id) > 0 || engine_running(id)))
        halt_worker(id);
    if (rc == 0)
        task_free(&t);
}

/* ---------- engine events ---------- */

static const char *failure_reason(engine_failure f)
{
    return f == ENGINE_FAIL_PUSH ? "PushStreamFailed" : "PullStreamFailed";
}

/* A note that is also a callback event (file start/finish, alarm): one transaction, which
 * for a file start also saves the playlist's checkpoint (resume_at_checkpoint). */
static void note_event(task *t, notify_kind kind, const char *reason, const engine_event *e)
{
    task_history_entry h = {.at_ms = time_now_ms(), .from = t->state, .to = t->state};
    snprintf(h.reason, sizeof(h.reason), "%s", reason);
    if (kind == NOTIFY_ALARM)
        snprintf(h.detail, sizeof(h.detail), "%s", e->error ? e->error : "");
    else
        url_redact(e->url, h.detail, sizeof(h.detail)); /* the file, as history shows it */
    notify_event ev = {.kind = kind,
                       .at_ms = h.at_ms,
                       .from = t->state,
                       .to = t->state,
                       .reason = h.reason,
                       .detail = h.detail,
                       .url = e->url,
                       .index = e->index,
                       .duration_ms = e->duration_ms,
                       .alarm = e->alarm};
    store_event *rows = notify_event_rows(svc.cfg, t, &ev);
    task_checkpoint cp = {.file_index = e->index, .loops_done = e->loops_done, .at_ms = h.at_ms};
    snprintf(cp.url, sizeof(cp.url), "%s", e->url ? e->url : "");
    task_progress p; /* a worker that resumed an entry at an offset is that far in already */
    if (engine_progress(t->id, &p) == 0 && p.active && p.file_index == e->index &&
        p.loops_done == e->loops_done)
        cp.offset_ms = p.offset_ms;
    bool starts = kind == NOTIFY_FILE_START;
    if (store_history_add_cp(svc.st, t->id, &h, rows, starts ? &cp : NULL, NULL) == 0 && rows)
        notify_kick();
    store_event_free(rows);
}

/* A worker opens its first file before its packets reach the destination: that file's
 * start is told after TaskStart (api-compat §1.5 order), when RUNNING arrives. */
static void hold_file_start(const char *id, const engine_event *ev)
{
    gen_entry *e = *gen_find(id);
    if (!e)
        return;
    free((char *)e->held_start.url);
    e->held_start = *ev;
    e->held_start.url = strdup(ev->url ? ev->url : "");
    e->holding = e->held_start.url != NULL;
}

static void release_file_start(task *t)
{
    gen_entry *e = *gen_find(t->id);
    if (!e || !e->holding)
        return;
    note_event(t, NOTIFY_FILE_START, "FileStart", &e->held_start);
    free((char *)e->held_start.url);
    e->held_start.url = NULL;
    e->holding = false;
}

static void on_recovering(task *t, const engine_event *ev)
{
    task_str_set(&t->last_error, ev->error);
    if (t->state == TASK_IDLE && time_now_ms() < t->spec.start_ms) {
        /* pre-roll: nothing was promised yet; the task stays idle until start_time */
        note(t, "PrerollRetry", ev->error);
        return;
    }
    if (t->state == TASK_RUNNING || t->state == TASK_IDLE)
        task_transition(t, TASK_RECOVERING, failure_reason(ev->failure), ev->error);
    else if (t->state == TASK_RECOVERING)
        note(t, "RetryFailed", ev->error);
}

static bool apply_event(task *t, const engine_event *ev)
{
    bool worker_ended = false;
    switch (ev->type) {
    case ENGINE_EV_RUNNING:
        if (t->state == TASK_IDLE || t->state == TASK_RECOVERING)
            task_transition(t, TASK_RUNNING, "Running", "packets reach the destination");
        release_file_start(t);
        break;
    case ENGINE_EV_RECOVERING:
        on_recovering(t, ev);
        break;
    case ENGINE_EV_FAILED:
        task_str_set(&t->last_error, ev->error);
        task_transition(t, TASK_OFFLINE, failure_reason(ev->failure), ev->error);
        worker_ended = true;
        break;
    case ENGINE_EV_FINISHED:
        task_transition(t, TASK_FINISHED, "PlaylistFinished", "all loops played");
        plan_purge(t);
        worker_ended = true;
        break;
    case ENGINE_EV_FILE_START:
        if (t->state == TASK_RUNNING)
            note_event(t, NOTIFY_FILE_START, "FileStart", ev);
        else
            hold_file_start(t->id, ev);
        break;
    case ENGINE_EV_FILE_FINISH:
        release_file_start(t);
        note_event(t, NOTIFY_FILE_FINISH, "FileFinish", ev);
        break;
    case ENGINE_EV_ALARM:
        note_event(t, NOTIFY_ALARM, ev->alarm, ev);
        break;
    case ENGINE_EV_STOPPED:
        break;
    }
    return worker_ended;
}

static void handle_event(const char *id, const engine_event *ev)
{
    if (ev->type == ENGINE_EV_STOPPED || (int64_t)ev->generation != gen_get(id))
        return;
    task t;
    pthread_mutex_lock(&svc.lock);
    bool ended = false;
    if (load(id, &t) == 0) {
        if (holds(&t))
            ended = apply_event(&t, ev);
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
    if (ended)
        gen_clear(id);
}

static void adopt(const char *id);

void runner_save_offset(store *st, const char *id)
{
    task_progress p;
    if (engine_progress(id, &p) != 0 || !p.active || p.offset_ms <= 0)
        return;
    task_checkpoint cp = {
        .file_index = p.file_index, .loops_done = p.loops_done, .offset_ms = p.offset_ms};
    ferr err;
    if (store_checkpoint_offset(st, id, &cp, &err) != 0)
        tlog_warn(id, "cannot save the playlist's offset: %s", err.msg);
}

/* The node drains: the relay stops (its push session unpublishes, so the destination's
 * stream name is free at once), the playlist's offset is saved, then the lease goes to
 * whichever node claims it next. */
static void hand_off(const char *id)
{
    runner_save_offset(svc.st, id);
    halt_worker(id);
    for (int i = 0; i < HAND_OFF_WAIT_MS / 10 && engine_running(id); i++)
        usleep(10000);
    cluster_handed_off(id);
}

static void purge(const char *id)
{
    task t;
    pthread_mutex_lock(&svc.lock);
    if (task_load(id, &t) == 0) {
        int64_t due = t.exit_ms + (int64_t)svc.cfg->history_retention_s * 1000;
        if (t.state == TASK_FINISHED && due <= time_now_ms() && cluster_holds(id, NULL) &&
            store_task_delete(svc.st, id, NULL) == 0)
            tlog_info(id, "removed: finished more than %d s ago", svc.cfg->history_retention_s);
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
}

/* ---------- the thread ---------- */

static void handle(work *w)
{
    switch (w->type) {
    case WORK_SCHEDULE:
    case WORK_START:
    case WORK_END:
    case WORK_RESTART:
    case WORK_UPDATE:
    case WORK_RESUME:
        reconcile(w->id, w->type);
        break;
    case WORK_HALT:
        halt_worker(w->id);
        reconcile(w->id, WORK_SCHEDULE);
        break;
    case WORK_EVENT:
        handle_event(w->id, &w->ev);
        break;
    case WORK_PURGE:
        purge(w->id);
        break;
    case WORK_ADOPT:
        adopt(w->id);
        break;
    case WORK_HAND_OFF:
        hand_off(w->id);
        break;
    case WORK_DRAIN:
        break;
    }
}

static void *runner_main(void *arg)
{
    (void)arg;
    work *w;
    while ((w = pop())) {
        handle(w);
        work_free(w);
    }
    return NULL;
}

static void on_engine_event(void *ctx, const char *task_id, const engine_event *ev)
{
    (void)ctx;
    runner_post_event(task_id, ev);
}

static void on_deadline(void *ctx, const char *task_id, sched_kind kind)
{
    (void)ctx;
    static const work_type by_kind[SCHED_KINDS] = {[SCHED_START] = WORK_START,
                                                   [SCHED_STOP] = WORK_END,
                                                   [SCHED_RETRY] = WORK_SCHEDULE,
                                                   [SCHED_PURGE] = WORK_PURGE};
    runner_post(by_kind[kind], task_id);
}

/* A task this node takes up (ferryd started, or its lease was claimed): one that was live
 * is recovering until its new worker pushes again, and a playlist goes on from its
 * checkpoint. t carries the lease epoch. */
static void take_up(task *t, const char *why)
{
    if (t->reason && strcmp(t->reason, TASK_REASON_QUARANTINED) == 0) {
        tlog_error(t->id,
                   "the stored task of account %s is unreadable: quarantined, not resumed "
                   "(delete it)",
                   t->account);
        return;
    }
    if (t->state == TASK_RUNNING) {
        pthread_mutex_lock(&svc.lock);
        task_transition(t, TASK_RECOVERING, "Resumed", why);
        pthread_mutex_unlock(&svc.lock);
    } else if (t->state == TASK_RECOVERING) {
        note(t, "Resumed", why);
    }
    bool was_live = t->state == TASK_RECOVERING; /* running became recovering */
    if (t->state != TASK_OFFLINE)
        runner_post(was_live ? WORK_RESUME : WORK_SCHEDULE, t->id);
}

static void adopt(const char *id)
{
    task t;
    int rc = load(id, &t);
    if (rc != 0) {
        if (rc != FERR_NOT_FOUND) {
            tlog_warn(id,
                      "cluster: cannot read the task it took over (%s): tried again in a "
                      "second",
                      ferr_name(rc));
            cluster_adopt_later(id);
        }
        return;
    }
    if (holds(&t)) {
        char why[128];
        snprintf(why, sizeof(why), "node %s took the task over", cluster_node());
        take_up(&t, why);
    }
    task_free(&t);
}

static void resume_all(void)
{
    task *all = NULL;
    int n = 0;
    if (store_task_all(svc.st, &all, &n, NULL) != 0)
        return;
    for (int i = 0; i < n; i++)
        take_up(&all[i], "ferryd restarted while the task was live");
    log_info("resuming %d stored task(s)", n);
    task_list_free(all, n);
}

int runner_live(void)
{
    return atomic_load(&rq.live);
}

int runner_start(bool resume)
{
    if (engine_init(on_engine_event, NULL) != 0)
        return -1;
    if (sched_start(on_deadline, NULL) != 0)
        return -1;
    rq.stop = false;
    if (pthread_create(&rq.thread, NULL, runner_main, NULL) != 0)
        return -1;
    rq.started = true;
    if (resume)
        resume_all();
    return 0;
}

void runner_stop(void)
{
    sched_stop();
    pthread_mutex_lock(&rq.mu);
    rq.stop = true;
    pthread_cond_broadcast(&rq.cv);
    pthread_mutex_unlock(&rq.mu);
    if (rq.started)
        pthread_join(rq.thread, NULL);
    rq.started = false;
    engine_shutdown();
    for (work *w = rq.head, *next; w; w = next) {
        next = w->next;
        work_free(w);
    }
    rq.head = rq.tail = NULL;
    for (int i = 0; i < GEN_BUCKETS; i++)
        while (rq.gens[i]) {
            gen_entry *e = rq.gens[i];
            rq.gens[i] = e->next;
            free((char *)e->held_start.url);
            free(e);
        }
    rq.live = 0;
    while (rq.waiting) {
        waiting *w = rq.waiting;
        rq.waiting = w->next;
        free(w);
    }
}
