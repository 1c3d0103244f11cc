/* store_tasks.c — the tasks table: a task's row written with its history line and events in
 * one transaction, read back by id, listed by filter and page, or all of them at start-up. */
#include "store/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* --- writes --- */

static void bind_task(sqlite3_stmt *s, const task *t, const char *spec_json)
{
    bind_str(s, 1, t->id);
    bind_str(s, 2, t->account);
    sqlite3_bind_int(s, 3, (int)t->dialect);
    bind_str(s, 4, t->spec.name);
    bind_str(s, 5, t->spec.dst_url);
    sqlite3_bind_int(s, 6, (int)t->state);
    bind_str(s, 7, t->reason);
    bind_str(s, 8, t->last_error);
    bind_str(s, 9, spec_json);
    sqlite3_bind_int64(s, 10, t->created_ms);
    sqlite3_bind_int64(s, 11, t->updated_ms);
    sqlite3_bind_int64(s, 12, t->started_ms);
    sqlite3_bind_int64(s, 13, t->exit_ms);
}

static int insert_row(store *st, const task *t, const char *spec_json, ferr *err)
{
    bind_task(sq(st)->q[Q_INSERT], t, spec_json);
    int rc = run(st, sq(st)->q[Q_INSERT], "insert task", t->id, err);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return ferr_set(err, FERR_EXISTS, "id", "task %s already exists", t->id);
    return rc == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

/* Account, dialect and created_ms are the task's identity: set once by the insert. */
static int update_row(store *st, const task *t, const char *spec_json, ferr *err)
{
    bind_task(sq(st)->q[Q_UPDATE], t, spec_json);
    if (run(st, sq(st)->q[Q_UPDATE], "update task", t->id, err) != SQLITE_OK)
        return FERR_INTERNAL;
    if (sqlite3_changes(sq(st)->db) == 0)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", t->id);
    return FERR_OK;
}

typedef int (*row_writer)(store *st, const task *t, const char *spec_json, ferr *err);

/* The row, its history line and its events commit together or not at all. */
static int write_task(store *st, row_writer write, const task *t, const task_history_entry *h,
                      const store_event *evs, ferr *err)
{
    char *spec_json = task_spec_to_json(&t->spec);
    if (!spec_json)
        return ferr_set(err, FERR_INTERNAL, "", "store: task %s: cannot serialise its spec", t->id);
    lock(st);
    int rc = tx_begin(st, err);
    if (rc == FERR_OK) {
        rc = write(st, t, spec_json, err);
        if (rc == FERR_OK && h)
            rc = history_insert(st, t->id, h, err);
        if (rc == FERR_OK)
            rc = events_insert(st, evs, err);
        rc = tx_end(st, rc, err);
    }
    unlock(st);
    free(spec_json);
    return rc;
}

int sqlite_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err)
{
    return write_task(st, insert_row, t, h, NULL, err);
}

int sqlite_task_update(store *st, const task *t, const task_history_entry *h,
                       const store_event *evs, ferr *err)
{
    return write_task(st, update_row, t, h, evs, err);
}

static int delete_row(store *st, const char *id, ferr *err)
{
    sqlite3_stmt *s = sq(st)->q[Q_DELETE];
    bind_str(s, 1, id);
    int rc = run(st, s, "delete task", id, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    if (rc == FERR_OK && sqlite3_changes(sq(st)->db) == 0)
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    return rc;
}

/* The history goes with the row (ON DELETE CASCADE); the events stay in the outbox. */
int sqlite_task_delete(store *st, const char *id, const store_event *evs, ferr *err)
{
    lock(st);
    int rc = tx_begin(st, err);
    if (rc == FERR_OK) {
        rc = delete_row(st, id, err);
        if (rc == FERR_OK)
            rc = events_insert(st, evs, err);
        rc = tx_end(st, rc, err);
    }
    unlock(st);
    return rc;
}

/* --- reads --- */

/* Fills out from the current row of a TASK_COLS query. On failure out is left zeroed. */
static int read_task(sqlite3_stmt *s, task *out, ferr *err)
{
    store_task_row row = {
        .id = col_str(s, 0),
        .account = col_str(s, 1),
        .dialect = sqlite3_column_int(s, 2),
        .state = sqlite3_column_int(s, 3),
        .reason = col_str(s, 4),
        .last_error = col_str(s, 5),
        .spec = col_str(s, 6),
        .created_ms = sqlite3_column_int64(s, 7),
        .updated_ms = sqlite3_column_int64(s, 8),
        .started_ms = sqlite3_column_int64(s, 9),
        .exit_ms = sqlite3_column_int64(s, 10),
    };
    return store_task_from_row(&row, out, err);
}

static void free_tasks(task *arr, int n)
{
    for (int i = 0; i < n; i++)
        task_free(&arr[i]);
    free(arr);
}

/* Reads every row of a bound TASK_COLS query into a malloc'd array (NULL when empty). */
static int collect_tasks(store *st, sqlite3_stmt *s, task **out, int *n_out, ferr *err)
{
    task *arr = NULL;
    int n = 0, cap = 0, step = SQLITE_DONE, rc = FERR_OK;
    while (rc == FERR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            task *grown = realloc(arr, (size_t)ncap * sizeof(*arr));
            if (!grown) {
                rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
                break;
            }
            arr = grown;
            cap = ncap;
        }
        rc = read_task(s, &arr[n], err);
        n += rc == FERR_OK;
    }
    if (rc == FERR_OK && step != SQLITE_DONE)
        rc = db_error(st, err, "list tasks", NULL);
    finish(s);
    if (rc != FERR_OK) {
        free_tasks(arr, n);
        arr = NULL;
        n = 0;
    }
    *out = arr;
    *n_out = n;
    return rc;
}

int sqlite_task_get(store *st, const char *id, task *out, ferr *err)
{
    memset(out, 0, sizeof(*out)); /* task_free(out) is safe whatever the outcome */
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_GET];
    bind_str(s, 1, id);
    int step = sqlite3_step(s), rc;
    if (step == SQLITE_ROW)
        rc = read_task(s, out, err);
    else if (step == SQLITE_DONE)
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    else
        rc = db_error(st, err, "get task", id);
    finish(s);
    unlock(st);
    return rc;
}

static void bind_filter(sqlite3_stmt *s, const char *account, const task_filter *f,
                        const store_patterns *p)
{
    bind_str(s, 1, account);
    bind_opt(s, 2, p->id);
    bind_opt(s, 3, p->name);
    bind_opt(s, 4, p->dst);
    bind_opt(s, 5, f ? f->id_exact : NULL);
    sqlite3_bind_int(s, 6, f ? f->dialect : -1);
    bind_opt(s, 9, p->any);
}

static int count_matches(store *st, const char *account, const task_filter *f,
                         const store_patterns *p, int *total, ferr *err)
{
    sqlite3_stmt *s = sq(st)->q[Q_LIST_COUNT];
    bind_filter(s, account, f, p);
    int rc = FERR_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *total = sqlite3_column_int(s, 0);
    else
        rc = db_error(st, err, "count tasks of account", account);
    finish(s);
    return rc;
}

/* limit < 0 means no limit; a negative offset counts as 0. */
int sqlite_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                     task **out, int *n_out, int *total, ferr *err)
{
    store_patterns p;
    *out = NULL;
    *n_out = 0;
    if (total)
        *total = 0;
    int rc = store_make_patterns(f, &p, err);
    lock(st);
    if (rc == FERR_OK && total)
        rc = count_matches(st, account, f, &p, total, err);
    if (rc == FERR_OK) {
        sqlite3_stmt *s = sq(st)->q[Q_LIST];
        bind_filter(s, account, f, &p);
        sqlite3_bind_int(s, 7, limit < 0 ? -1 : limit);
        sqlite3_bind_int(s, 8, offset < 0 ? 0 : offset);
        rc = collect_tasks(st, s, out, n_out, err);
    }
    unlock(st);
    store_free_patterns(&p);
    return rc;
}

int sqlite_task_all(store *st, task **out, int *n_out, ferr *err)
{
    lock(st);
    int rc = collect_tasks(st, sq(st)->q[Q_ALL], out, n_out, err);
    unlock(st);
    return rc;
}

/* account NULL counts every account. Returns the count or FERR_INTERNAL. */
int sqlite_task_count_states(store *st, int *counts, int n, ferr *err)
{
    for (int i = 0; i < n; i++)
        counts[i] = 0;
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_STATE_COUNTS];
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int state = sqlite3_column_int(s, 0);
        if (state >= 0 && state < n)
            counts[state] = sqlite3_column_int(s, 1);
    }
    if (rc != SQLITE_DONE)
        rc =
            ferr_set(err, FERR_INTERNAL, "", "store: count states: %s", sqlite3_errmsg(sq(st)->db));
    else
        rc = FERR_OK;
    finish(s);
    unlock(st);
    return rc;
}

int sqlite_task_count(store *st, const char *account)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[account ? Q_COUNT : Q_COUNT_ALL];
    if (account)
        bind_str(s, 1, account);
    int n = FERR_INTERNAL;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    else
        log_error("store: count tasks: %s", sqlite3_errmsg(sq(st)->db));
    finish(s);
    unlock(st);
    return n;
}
