/* task_service.c — the calls the API dialects make: create, read, list, modify, delete,
 * stop, restart. Each persists synchronously, then hands run-time work to the runner. */
#include "task/task_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redact.h"
#include "common/timeutil.h"
#include "notify/notify.h"

task_service svc = {.lock = PTHREAD_MUTEX_INITIALIZER};

int task_load(const char *id, task *t)
{
    memset(t, 0, sizeof(*t));
    return store_task_get(svc.st, id, t, NULL);
}

/* The outbox rows of what just happened to t (NULL when nobody listens). */
static store_event *event_rows(const task *t, int kind, task_state from, const char *reason,
                               const char *detail)
{
    if (kind < 0)
        return NULL;
    notify_event ev = {.kind = (notify_kind)kind,
                       .at_ms = t->updated_ms,
                       .from = from,
                       .to = t->state,
                       .reason = reason ? reason : "",
                       .detail = detail ? detail : ""};
    return notify_event_rows(svc.cfg, t, &ev);
}

/* Appends list b to list a; returns the head. */
static store_event *rows_join(store_event *a, store_event *b)
{
    store_event **tail = &a;
    while (*tail)
        tail = &(*tail)->next;
    *tail = b;
    return a;
}

/* Writes t with its history line h and the events rows in one transaction; frees rows. */
static int write_with_events(task *t, const task_history_entry *h, store_event *rows, ferr *err)
{
    int rc = store_task_update_ev(svc.st, t, h, rows, err);
    if (rc == 0)
        t->fence_updated_ms = t->updated_ms; /* the next fenced write replaces this one */
    if (rc == 0 && rows)
        notify_kick();
    store_event_free(rows);
    return rc;
}

/* task_transition; reset adds a ResetTaskConfig event (a modify that changed the state). */
static int transition(task *t, task_state to, const char *reason, const char *detail, bool reset)
{
    task_state from = t->state;
    if (!task_transition_allowed(from, to))
        return FERR_STATE;
    int64_t now = time_now_ms();
    t->state = to;
    task_str_set(&t->reason, reason);
    if (to == TASK_RUNNING)
        t->started_ms = now;
    if (task_state_is_terminal(to))
        t->exit_ms = now;
    else
        t->exit_ms = 0;
    t->updated_ms = now;
    task_history_entry h = {.at_ms = now, .from = from, .to = to};
    snprintf(h.reason, sizeof(h.reason), "%s", reason ? reason : "");
    snprintf(h.detail, sizeof(h.detail), "%s", detail ? detail : "");
    ferr err;
    store_event *rows = event_rows(t, notify_transition_kind(from, to), from, h.reason, h.detail);
    if (reset)
        rows = rows_join(rows, event_rows(t, NOTIFY_RESET_CONFIG, to, "Modified", ""));
    int rc = write_with_events(t, &h, rows, &err);
    if (rc != 0)
        tlog_error(t->id, "cannot record %s -> %s: %s", task_state_name(from), task_state_name(to),
                   err.msg);
    else
        tlog_info(t->id, "state %s -> %s reason=%s%s%s", task_state_name(from), task_state_name(to),
                  h.reason, h.detail[0] ? " detail=" : "", h.detail);
    return rc;
}

int task_transition(task *t, task_state to, const char *reason, const char *detail)
{
    return transition(t, to, reason, detail, false);
}

int task_wait_reason(task *t, const char *reason, const char *detail)
{
    if (t->reason && strcmp(t->reason, reason) == 0)
        return 0;
    task_str_set(&t->reason, reason);
    t->updated_ms = time_now_ms();
    task_history_entry h = {.at_ms = t->updated_ms, .from = t->state, .to = t->state};
    snprintf(h.reason, sizeof(h.reason), "%s", reason);
    snprintf(h.detail, sizeof(h.detail), "%s", detail);
    ferr err;
    int rc = write_with_events(t, &h, NULL, &err);
    if (rc != 0)
        tlog_error(t->id, "cannot record %s: %s", reason, err.msg);
    else
        tlog_info(t->id, "%s: %s", reason, detail);
    return rc;
}

/* Hands the change to the runner, and tells the other nodes: the task's owner, wherever
 * it runs, does the same (task_cluster.c). */
static void hand_over(work_type type, const char *id)
{
    runner_post(type, id);
    cluster_tell(type, id);
}

/* ---------- the audit trail ---------- */

static const char *dialect_word(task_dialect d)
{
    return d == TASK_DIALECT_TENCENT ? "tencent" : d == TASK_DIALECT_ALIBABA ? "alibaba" : "native";
}

/* Records a change that was made (the caller holds svc.lock, so lines keep the order of the
 * changes). It is written after the change, in a transaction of its own: a crash between
 * the two loses this line, never the change. */
static void audit(const task_caller *who, const char *action, const char *id, const char *fields)
{
    task_audit_line a = {.at_ms = time_now_ms()};
    snprintf(a.account, sizeof(a.account), "%s", who->account);
    snprintf(a.dialect, sizeof(a.dialect), "%s", dialect_word(who->dialect));
    snprintf(a.address, sizeof(a.address), "%s", who->address ? who->address : "");
    snprintf(a.request_id, sizeof(a.request_id), "%s", who->request_id ? who->request_id : "");
    snprintf(a.action, sizeof(a.action), "%s", action);
    snprintf(a.task_id, sizeof(a.task_id), "%s", id);
    snprintf(a.fields, sizeof(a.fields), "%s", fields ? fields : "");
    ferr err;
    if (store_audit_add(svc.st, &a, &err) != 0)
        tlog_error(id, "audit line of %s by %s lost: %s", action, who->account, err.msg);
}

int task_audit(const char *account, const char *task_id, int offset, int limit,
               task_audit_line **out, int *n, int *total, ferr *err)
{
    return store_audit_list(svc.st, account, task_id, offset, limit, out, n, total, err);
}

/* Loads a task and checks that it belongs to the account. */
static int load_stored_owned(const char *account, const char *stored, task *t, ferr *err)
{
    memset(t, 0, sizeof(*t));
    int rc = store_task_get(svc.st, stored, t, err);
    if (rc == 0 && strcmp(t->account, account) != 0) {
        task_free(t);
        rc = FERR_NOT_FOUND;
    }
    return rc;
}

/* The account's task of id: stored under the id's alias (another account held the id when
 * it was created, ids.h) or under the id itself. Another account's task is not found. */
static int load_owned(const char *account, const char *id, task *t, ferr *err)
{
    if (!id_is_valid_task_id(id))
        return ferr_set(err, FERR_NOT_FOUND, "id", "no task with id '%.64s'", id);
    char alias[ID_TASK_STORED_MAX];
    id_task_alias(account, id, alias);
    int rc = load_stored_owned(account, alias, t, err);
    if (rc == FERR_NOT_FOUND)
        rc = load_stored_owned(account, id, t, err);
    if (rc == FERR_NOT_FOUND)
        return ferr_set(err, FERR_NOT_FOUND, "id", "no task with id '%s'", id);
    return rc;
}

static bool quarantined(const task *t)
{
    return t->reason && strcmp(t->reason, TASK_REASON_QUARANTINED) == 0;
}

/* load_owned for a change: a quarantined task takes none but its deletion. */
static int load_changeable(const char *account, const char *id, task *t, ferr *err)
{
    int rc = load_owned(account, id, t, err);
    if (rc == 0 && quarantined(t)) {
        task_free(t);
        return ferr_set(err, FERR_STATE, "id",
                        "task %s is quarantined: its stored form is unreadable; delete it", id);
    }
    return rc;
}

static void fill_defaults(task_spec *s)
{
    if (s->retry_count < 0)
        s->retry_count = svc.cfg->retry_count_default;
    if (s->retry_interval_s < 0)
        s->retry_interval_s = svc.cfg->retry_interval_default_s;
}

static int check_quota(const char *account, ferr *err)
{
    const config_account *a = config_find_account(svc.cfg, account);
    int quota = config_account_quota(svc.cfg, a);
    int count = store_task_count(svc.st, account);
    if (count < 0)
        return ferr_set(err, FERR_INTERNAL, "", "the store cannot count the account's tasks");
    if (count >= quota)
        return ferr_set(err, FERR_QUOTA, "", "the account's quota of %d tasks is used up", quota);
    return 0;
}

static int new_task(task *t, const char *account, task_dialect d, const task_spec *spec,
                    const char *want_id, ferr *err)
{
    memset(t, 0, sizeof(*t));
    if (want_id && *want_id) {
        if (!id_is_valid_task_id(want_id))
            return ferr_set(err, FERR_INVALID, "id",
                            "a task id is 1..55 letters, digits, '_' or '-'");
        snprintf(t->id, sizeof(t->id), "%s", want_id);
    } else {
        id_uuid(t->id);
    }
    snprintf(t->account, sizeof(t->account), "%s", account);
    t->dialect = d;
    if (task_spec_copy(&t->spec, spec) != 0)
        return ferr_set(err, FERR_INTERNAL, "", "out of memory");
    fill_defaults(&t->spec);
    t->state = t->spec.paused ? TASK_PAUSED : TASK_IDLE;
    t->created_ms = t->updated_ms = time_now_ms();
    task_str_set(&t->reason, t->spec.paused ? "Paused" : "Created");
    task_str_set(&t->last_error, "");
    return 0;
}

/* A task as its account sees it: its id without the alias part. */
static void show_public(task *t)
{
    char pub[ID_TASK_STORED_MAX];
    id_task_public(t->id, pub);
    snprintf(t->id, sizeof(t->id), "%s", pub);
}

static bool stored_by(const char *stored, const char *account)
{
    task t;
    ferr ignored;
    memset(&t, 0, sizeof(t));
    if (store_task_get(svc.st, stored, &t, &ignored) != 0)
        return false;
    bool ours = strcmp(t.account, account) == 0;
    task_free(&t);
    return ours;
}

static bool stored_at_all(const char *stored)
{
    task t;
    ferr ignored;
    memset(&t, 0, sizeof(t));
    if (store_task_get(svc.st, stored, &t, &ignored) != 0)
        return false;
    task_free(&t);
    return true;
}

/* Inserts a new task. A chosen id is taken only when the account holds it already; when
 * another account holds it, the task is stored under the id's alias, so the answer is the
 * same as for a free id and tells nothing of other accounts. */
static int insert_new(task *t, const char *account, const char *want, const task_history_entry *h,
                      ferr *err)
{
    if (!want || !*want)
        return store_task_insert(svc.st, t, h, err);
    char alias[ID_TASK_STORED_MAX];
    id_task_alias(account, want, alias);
    if (stored_at_all(alias))
        return ferr_set(err, FERR_EXISTS, "id", "task %s already exists", want);
    int rc = store_task_insert(svc.st, t, h, err);
    if (rc != FERR_EXISTS || stored_by(want, account))
        return rc;
    snprintf(t->id, sizeof(t->id), "%s", alias);
    return store_task_insert(svc.st, t, h, err);
}

int task_create(const task_caller *who, const task_spec *spec, const char *want_id, task *out,
                ferr *err)
{
    const char *account = who->account;
    task t;
    int rc = new_task(&t, account, who->dialect, spec, want_id, err);
    if (rc == 0)
        rc = task_validate(&t.spec, svc.cfg, time_now_ms(), true, err);
    if (rc == 0)
        rc = task_validate_addresses(&t.spec, svc.cfg, account, err);
    pthread_mutex_lock(&svc.lock);
    if (rc == 0)
        rc = check_quota(account, err);
    if (rc == 0) {
        task_history_entry h = {.at_ms = t.created_ms, .from = t.state, .to = t.state};
        snprintf(h.reason, sizeof(h.reason), "Created");
        char pub[ID_TASK_STORED_MAX];
        id_task_public(t.id, pub);
        rc = insert_new(&t, account, want_id, &h, err);
        if (rc == FERR_EXISTS)
            ferr_set(err, FERR_EXISTS, "id", "a task with id '%s' already exists", pub);
        char set[512];
        task_spec_changed_fields(NULL, &t.spec, set, sizeof(set));
        if (rc == 0)
            audit(who, "create", pub, set);
    }
    pthread_mutex_unlock(&svc.lock);
    if (rc == 0) {
        tlog_info(t.id, "created by account %s: %s -> %s", account,
                  REDACT_URL(t.spec.source_urls[0]), REDACT_URL(t.spec.dst_url));
        hand_over(WORK_SCHEDULE, t.id);
        if (out && (rc = task_copy(out, &t) ? FERR_INTERNAL : 0) == 0)
            show_public(out);
    }
    task_free(&t);
    return rc;
}

int task_get(const char *account, const char *id, task *out, ferr *err)
{
    int rc = load_owned(account, id, out, err);
    if (rc == 0)
        show_public(out);
    return rc;
}

/* A list by exact id: the account's task of that id may be stored under its alias. Nonzero
 * when there is none such. */
static int list_aliased(const char *account, const task_filter *filter, int offset, int limit,
                        task **out, int *n_out, int *total, ferr *err)
{
    if (!filter || !filter->id_exact)
        return -1;
    task_filter aliased = *filter;
    char alias[ID_TASK_STORED_MAX];
    id_task_alias(account, filter->id_exact, alias);
    aliased.id_exact = alias;
    int rc = store_task_list(svc.st, account, &aliased, offset, limit, out, n_out, total, err);
    if (rc == 0 && *total == 0) {
        free(*out);
        *out = NULL;
        rc = -1;
    }
    return rc;
}

int task_list(const char *account, const task_filter *filter, int offset, int limit, task **out,
              int *n_out, int *total, ferr *err)
{
    int rc = list_aliased(account, filter, offset, limit, out, n_out, total, err);
    if (rc != 0)
        rc = store_task_list(svc.st, account, filter, offset, limit, out, n_out, total, err);
    for (int i = 0; rc == 0 && i < *n_out; i++)
        show_public(&(*out)[i]);
    return rc;
}

int task_count(const char *account)
{
    return store_task_count(svc.st, account);
}

static bool str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

static bool marks_changed(const task_spec *a, const task_spec *b)
{
    if (a->n_watermarks != b->n_watermarks)
        return true;
    for (int i = 0; i < a->n_watermarks; i++) {
        const task_watermark *x = &a->watermarks[i], *y = &b->watermarks[i];
        if (str_differs(x->picture_url, y->picture_url) || x->x != y->x || x->y != y->y ||
            x->width != y->width || x->height != y->height || x->location != y->location)
            return true;
    }
    return false;
}

/* True when the running worker must take the new spec (engine_update: in place). */
static bool media_changed(const task_spec *a, const task_spec *b)
{
    bool files = a->source_kind == TASK_SOURCE_FILES; /* a live source never loops */
    bool playlist_moved =
        files && (a->loop_count != b->loop_count || a->file_index != b->file_index ||
                  a->offset_s != b->offset_s || a->vod_local_mode != b->vod_local_mode);
    if (a->n_sources != b->n_sources || playlist_moved || a->retry_count != b->retry_count ||
        a->retry_interval_s != b->retry_interval_s || str_differs(a->dst_url, b->dst_url) ||
        str_differs(a->backup_dst_url, b->backup_dst_url) ||
        str_differs(a->backup_source_url, b->backup_source_url) ||
        a->backup_source_kind != b->backup_source_kind || str_differs(a->pad_url, b->pad_url))
        return true;
    for (int i = 0; i < a->n_sources; i++)
        if (str_differs(a->source_urls[i], b->source_urls[i]))
            return true;
    return marks_changed(a, b);
}

/* The audit's word for a change: a pause or a resume when that is all it changed. */
static const char *modify_action(const char *changed, const task_spec *now)
{
    if (strcmp(changed, "paused") != 0)
        return "modify";
    return now->paused ? "pause" : "resume";
}

static int apply_modify(task *t, const task_spec *new_spec, work_type *then, char *changed,
                        size_t clen, ferr *err)
{
    task_spec next;
    if (task_spec_copy(&next, new_spec) != 0)
        return ferr_set(err, FERR_INTERNAL, "", "out of memory");
    fill_defaults(&next);
    bool window_moved = next.end_ms != t->spec.end_ms;
    int rc = task_validate(&next, svc.cfg, time_now_ms(), window_moved, err);
    if (rc == 0)
        rc = task_validate_addresses(&next, svc.cfg, t->account, err);
    if (rc != 0) {
        task_spec_free(&next);
        return rc;
    }
    bool kind_moved = next.source_kind != t->spec.source_kind;
    bool media = kind_moved || media_changed(&t->spec, &next);
    *then = kind_moved ? WORK_RESTART : media ? WORK_UPDATE : WORK_SCHEDULE;
    bool pausing = next.paused && !t->spec.paused, resuming = !next.paused && t->spec.paused;
    task_spec_changed_fields(&t->spec, &next, changed, clen);
    task_spec_free(&t->spec);
    t->spec = next;
    /* Pause and resume show in the reply at once; the runner then stops or starts. */
    if (pausing && !task_state_is_terminal(t->state))
        return transition(t, TASK_PAUSED, "Paused", "paused by the user", true);
    if (resuming && t->state == TASK_PAUSED)
        return transition(t, TASK_IDLE, "Resumed", "resumed by the user", true);
    t->updated_ms = time_now_ms();
    task_history_entry h = {.at_ms = t->updated_ms, .from = t->state, .to = t->state};
    snprintf(h.reason, sizeof(h.reason), "Modified");
    snprintf(h.detail, sizeof(h.detail), "%s",
             kind_moved ? "source kind changed: relay restarts"
             : media    ? "media changed: the running relay takes it in place"
                        : "");
    return write_with_events(t, &h, event_rows(t, NOTIFY_RESET_CONFIG, t->state, "Modified", ""),
                             err);
}

int task_modify(const task_caller *who, const char *id, const task_spec *new_spec, task *out,
                ferr *err)
{
    task t;
    work_type then = WORK_SCHEDULE;
    char changed[512] = "", stored[TASK_ID_MAX] = "";
    pthread_mutex_lock(&svc.lock);
    int rc = load_changeable(who->account, id, &t, err);
    if (rc == 0) {
        snprintf(stored, sizeof(stored), "%s", t.id);
        rc = apply_modify(&t, new_spec, &then, changed, sizeof(changed), err);
        if (rc == 0)
            audit(who, modify_action(changed, &t.spec), id, changed);
        if (rc == 0 && out && (rc = task_copy(out, &t) ? FERR_INTERNAL : 0) == 0)
            show_public(out);
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
    if (rc == 0)
        hand_over(then, stored);
    return rc;
}

/* A live task that is deleted ends: its TaskExit goes out with the delete. */
static store_event *delete_rows(task *t)
{
    if (t->state != TASK_RUNNING && t->state != TASK_RECOVERING)
        return NULL;
    task_state from = t->state;
    t->state = TASK_FINISHED;
    t->updated_ms = t->exit_ms = time_now_ms();
    task_str_set(&t->reason, "TriggerByUser");
    notify_event ev = {.kind = NOTIFY_TASK_EXIT,
                       .at_ms = t->exit_ms,
                       .from = from,
                       .to = TASK_FINISHED,
                       .reason = "TriggerByUser",
                       .detail = "deleted through the API",
                       .deleted = true};
    return notify_event_rows(svc.cfg, t, &ev);
}

int task_delete(const task_caller *who, const char *id, ferr *err)
{
    const char *account = who->account;
    task t;
    char stored[TASK_ID_MAX] = "";
    pthread_mutex_lock(&svc.lock);
    int rc = load_owned(account, id, &t, err);
    if (rc == 0) {
        snprintf(stored, sizeof(stored), "%s", t.id);
        store_event *rows = delete_rows(&t);
        rc = store_task_delete_ev(svc.st, stored, rows, err);
        if (rc == 0)
            audit(who, "delete", id, "");
        if (rc == 0 && rows)
            notify_kick();
        store_event_free(rows);
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
    if (rc == 0) {
        tlog_info(stored, "deleted by account %s", account);
        hand_over(WORK_HALT, stored);
    }
    return rc;
}

int task_stop(const task_caller *who, const char *id, ferr *err)
{
    task t;
    char stored[TASK_ID_MAX] = "";
    pthread_mutex_lock(&svc.lock);
    int rc = load_changeable(who->account, id, &t, err);
    if (rc == 0) {
        snprintf(stored, sizeof(stored), "%s", t.id);
        if (t.state == TASK_RUNNING || t.state == TASK_RECOVERING || t.state == TASK_IDLE)
            rc = task_transition(&t, TASK_OFFLINE, "TriggerByUser", "stopped through the API");
        if (rc != 0)
            ferr_set(err, rc, "", "the task could not be stopped: the store refused the write");
        else
            audit(who, "stop", id, "");
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
    if (rc == 0)
        hand_over(WORK_HALT, stored);
    return rc;
}

int task_retire(const task_caller *who, const char *id, const char *reason, ferr *err)
{
    task t;
    char stored[TASK_ID_MAX] = "";
    pthread_mutex_lock(&svc.lock);
    int rc = load_changeable(who->account, id, &t, err);
    if (rc == 0) {
        snprintf(stored, sizeof(stored), "%s", t.id);
        if (t.state != TASK_FINISHED)
            rc = task_transition(&t, TASK_FINISHED, reason, "ended through the API");
        if (rc != 0)
            ferr_set(err, rc, "", "the task could not be ended: the store refused the write");
        else
            audit(who, "end", id, "");
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
    if (rc == 0) /* the runner halts the worker and plans the purge */
        hand_over(WORK_HALT, stored);
    return rc;
}

int task_restart(const task_caller *who, const char *id, ferr *err)
{
    task t;
    char stored[TASK_ID_MAX] = "";
    pthread_mutex_lock(&svc.lock);
    int rc = load_changeable(who->account, id, &t, err);
    if (rc == 0) {
        snprintf(stored, sizeof(stored), "%s", t.id);
        if (t.state == TASK_FINISHED)
            rc = ferr_set(err, FERR_STATE, "", "the task has finished; move its end_time first");
        else if (t.state == TASK_PAUSED)
            rc = ferr_set(err, FERR_STATE, "", "the task is paused; resume it instead");
        else if (t.state == TASK_OFFLINE)
            rc = task_transition(&t, TASK_IDLE, "Restart", "restarted through the API");
        if (rc == 0)
            audit(who, "restart", id, "");
        task_free(&t);
    }
    pthread_mutex_unlock(&svc.lock);
    if (rc == 0)
        hand_over(WORK_RESTART, stored);
    return rc;
}

int task_get_progress(const char *account, const char *id, task_progress *out, ferr *err)
{
    task t;
    int rc = load_owned(account, id, &t, err);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    if (engine_progress(t.id, out) != 0) {
        out->active = false;
        snprintf(out->last_error, sizeof(out->last_error), "%s", t.last_error ? t.last_error : "");
    }
    task_free(&t);
    return 0;
}

int task_get_history(const char *account, const char *id, task_history_entry **out, int *n,
                     ferr *err)
{
    task t;
    int rc = load_owned(account, id, &t, err);
    if (rc != 0)
        return rc;
    rc = store_history_list(svc.st, t.id, out, n, err);
    task_free(&t);
    return rc;
}

/* /metrics: every account's tasks by state, each state always shown. */
static void collect_tasks(metrics_buf *b)
{
    int counts[TASK_PAUSED + 1];
    ferr err = {0};
    if (!svc.st || store_task_count_states(svc.st, counts, TASK_PAUSED + 1, &err) != 0)
        return;
    metrics_family(b, "ferry_tasks", "gauge", "Tasks of every account by state.");
    for (int s = TASK_IDLE; s <= TASK_PAUSED; s++) {
        metrics_label l = {"state", task_state_name((task_state)s)};
        metrics_sample(b, "ferry_tasks", &l, 1, counts[s]);
    }
}

int task_get_callbacks(const char *account, const char *id, task_callback_line **out, int *n,
                       ferr *err)
{
    task t;
    int rc = load_owned(account, id, &t, err);
    if (rc != 0)
        return rc;
    rc = store_outbox_list_task(svc.st, account, t.id, TASK_CALLBACKS_MAX, out, n, err);
    task_free(&t);
    return rc;
}

int task_service_start(const config *cfg, store *st)
{
    svc.cfg = cfg;
    svc.st = st;
    metrics_register(collect_tasks);
    bool shared = store_is_shared(st);
    if (runner_start(!shared) != 0)
        return -1;
    if (shared && cluster_start(cfg, st) != 0) {
        runner_stop();
        return -1;
    }
    return 0;
}

void task_service_stop(void)
{
    cluster_stop_renewing();
    runner_stop();
    cluster_release();
}
