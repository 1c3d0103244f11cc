/* store_pg_tasks.c — the tasks table on PostgreSQL: a task's row written with its history
 * line and events in one transaction, read back by id, listed by filter and page, or all. */
#include "store/store_pg.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* The columns a task is read from, in the order read_task expects. */
#define TASK_COLS                                                                                  \
    "id, account, dialect, state, reason, last_error, spec, created_ms, updated_ms, "              \
    "started_ms, exit_ms"

/* The list's filters ($1..$7, absent ones NULL, dialect -1). ILIKE: SQLite's LIKE ignores
 * the case of ASCII letters, and a filter means the same on either backend. */
#define LIST_WHERE                                                                                 \
    " WHERE account = $1"                                                                          \
    " AND ($2::text IS NULL OR id ILIKE $2 ESCAPE '\\')"                                           \
    " AND ($3::text IS NULL OR name ILIKE $3 ESCAPE '\\')"                                         \
    " AND ($4::text IS NULL OR dst_url ILIKE $4 ESCAPE '\\')"                                      \
    " AND ($5::text IS NULL OR id = $5)"                                                           \
    " AND ($6::integer < 0 OR dialect = $6)"                                                       \
    " AND ($7::text IS NULL OR id ILIKE $7 ESCAPE '\\' OR name ILIKE $7 ESCAPE '\\'"               \
    " OR dst_url ILIKE $7 ESCAPE '\\')"

/* --- writes --- */

/* $1 id, then the columns an update may change ($2..$10), then the identity ($11..$13). */
static void task_args(pg_args *a, const task *t, const char *spec_json, bool identity)
{
    arg_str(a, t->id);
    arg_str(a, t->spec.name);
    arg_str(a, t->spec.dst_url);
    arg_int(a, (int)t->state);
    arg_str(a, t->reason);
    arg_str(a, t->last_error);
    arg_str(a, spec_json);
    arg_int(a, t->updated_ms);
    arg_int(a, t->started_ms);
    arg_int(a, t->exit_ms);
    if (identity) {
        arg_str(a, t->account);
        arg_int(a, (int)t->dialect);
        arg_int(a, t->created_ms);
    }
}

static int insert_row(store *st, const task *t, const char *spec_json, ferr *err)
{
    pg_args a = {0};
    task_args(&a, t, spec_json, true);
    int rc = pg_run(st,
                    "INSERT INTO tasks(id, name, dst_url, state, reason, last_error, spec, "
                    "updated_ms, started_ms, exit_ms, account, dialect, created_ms) VALUES "
                    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    &a, "insert task", t->id, err);
    if (rc != FERR_OK && strcmp(pgc(st)->sqlstate, PG_UNIQUE_VIOLATION) == 0)
        return ferr_set(err, FERR_EXISTS, "id", "task %s already exists", t->id);
    return rc;
}

/* Account, dialect and created_ms are the task's identity: set once by the insert. A write
 * with a lease epoch ($11) is fenced: it applies only while that lease is the task's and
 * unexpired, so a node whose lease moved on can never overwrite the new owner's state, and
 * only to the row as the runner read it ($12), so a change made meanwhile through another
 * node (a stop) is never overwritten by a decision taken before it. */
static int update_row(store *st, const task *t, const char *spec_json, ferr *err)
{
    pg_args a = {0};
    task_args(&a, t, spec_json, false);
    arg_int(&a, t->lease_epoch);
    arg_int(&a, t->fence_updated_ms);
    int rc = pg_run(st,
                    "UPDATE tasks SET name = $2, dst_url = $3, state = $4, reason = $5, "
                    "last_error = $6, spec = $7, updated_ms = $8, started_ms = $9, "
                    "exit_ms = $10 WHERE id = $1 AND ($11::bigint = 0 OR (updated_ms = $12 AND "
                    "EXISTS (SELECT 1 FROM task_lease l WHERE l.task_id = $1 AND l.epoch = $11"
                    " AND l.expires_ms > " PG_NOW_MS ")))",
                    &a, "update task", t->id, err);
    if (rc == FERR_OK && pgc(st)->changes == 0 && t->lease_epoch)
        return ferr_set(err, FERR_STATE, "id",
                        "task %s: lease epoch %lld is stale, or the task changed meanwhile", t->id,
                        (long long)t->lease_epoch);
    if (rc == FERR_OK && pgc(st)->changes == 0)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", t->id);
    return rc;
}

typedef int (*row_writer)(store *st, const task *t, const char *spec_json, ferr *err);

/* The row, its history line and its events commit together or not at all. */
static int write_task(store *st, row_writer write, const task *t, const task_history_entry *h,
                      const store_event *evs, ferr *err)
{
    char *spec_json = task_spec_to_json(&t->spec);
    if (!spec_json)
        return ferr_set(err, FERR_INTERNAL, "", "store: task %s: cannot serialise its spec", t->id);
    int rc = pg_enter(st, err);
    if (rc == FERR_OK) {
        rc = pg_tx_begin(st, err);
        if (rc == FERR_OK) {
            rc = write(st, t, spec_json, err);
            if (rc == FERR_OK && h)
                rc = pg_history_insert(st, t->id, h, err);
            if (rc == FERR_OK)
                rc = pg_events_insert(st, evs, err);
            rc = pg_tx_end(st, rc, err);
        }
        pg_leave(st);
    }
    free(spec_json);
    return rc;
}

int pg_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err)
{
    return write_task(st, insert_row, t, h, NULL, err);
}

int pg_task_update(store *st, const task *t, const task_history_entry *h, const store_event *evs,
                   ferr *err)
{
    return write_task(st, update_row, t, h, evs, err);
}

/* The history goes with the row (ON DELETE CASCADE); the events stay in the outbox. */
int pg_task_delete(store *st, const char *id, const store_event *evs, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    rc = pg_tx_begin(st, err);
    if (rc == FERR_OK) {
        pg_args a = {0};
        arg_str(&a, id);
        rc = pg_run(st, "DELETE FROM tasks WHERE id = $1", &a, "delete task", id, err);
        if (rc == FERR_OK && pgc(st)->changes == 0)
            rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
        if (rc == FERR_OK)
            rc = pg_events_insert(st, evs, err);
        rc = pg_tx_end(st, rc, err);
    }
    pg_leave(st);
    return rc;
}

/* --- reads --- */

static int read_task(const PGresult *r, int i, task *out, ferr *err)
{
    store_task_row row = {
        .id = col_text(r, i, 0),
        .account = col_text(r, i, 1),
        .dialect = (int)col_int(r, i, 2),
        .state = (int)col_int(r, i, 3),
        .reason = col_text(r, i, 4),
        .last_error = col_text(r, i, 5),
        .spec = col_text(r, i, 6),
        .created_ms = col_int(r, i, 7),
        .updated_ms = col_int(r, i, 8),
        .started_ms = col_int(r, i, 9),
        .exit_ms = col_int(r, i, 10),
    };
    return store_task_from_row(&row, out, err);
}

/* Every row of a TASK_COLS result into a malloc'd array (NULL when empty). */
static int collect_tasks(const PGresult *r, task **out, int *n_out, ferr *err)
{
    int rows = PQntuples(r), n = 0, rc = FERR_OK;
    task *arr = rows ? calloc((size_t)rows, sizeof(*arr)) : NULL;
    if (rows && !arr)
        rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    while (rc == FERR_OK && n < rows) {
        rc = read_task(r, n, &arr[n], err);
        n += rc == FERR_OK;
    }
    if (rc != FERR_OK) {
        task_list_free(arr, n);
        arr = NULL;
        n = 0;
    }
    *out = arr;
    *n_out = n;
    return rc;
}

/* Runs a TASK_COLS query and collects its rows; the caller holds the lock. */
static int query_tasks(store *st, const char *sql, const pg_args *a, const char *what, task **out,
                       int *n_out, ferr *err)
{
    *out = NULL;
    *n_out = 0;
    PGresult *r = pg_query(st, sql, a, what, NULL, err);
    if (!r)
        return FERR_INTERNAL;
    int rc = collect_tasks(r, out, n_out, err);
    PQclear(r);
    return rc;
}

int pg_task_get(store *st, const char *id, task *out, ferr *err)
{
    memset(out, 0, sizeof(*out)); /* task_free(out) is safe whatever the outcome */
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, id);
    PGresult *r =
        pg_query(st, "SELECT " TASK_COLS " FROM tasks WHERE id = $1", &a, "get task", id, err);
    if (!r)
        rc = FERR_INTERNAL;
    else if (PQntuples(r) == 0)
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    else
        rc = read_task(r, 0, out, err);
    PQclear(r);
    pg_leave(st);
    return rc;
}

static void filter_args(pg_args *a, const char *account, const task_filter *f,
                        const store_patterns *p)
{
    arg_str(a, account);
    arg_opt(a, p->id);
    arg_opt(a, p->name);
    arg_opt(a, p->dst);
    arg_opt(a, f ? f->id_exact : NULL);
    arg_int(a, f ? f->dialect : -1);
    arg_opt(a, p->any);
}

static int count_matches(store *st, const char *account, const task_filter *f,
                         const store_patterns *p, int *total, ferr *err)
{
    pg_args a = {0};
    filter_args(&a, account, f, p);
    PGresult *r = pg_query(st, "SELECT COUNT(*) FROM tasks" LIST_WHERE, &a,
                           "count tasks of account", account, err);
    if (!r)
        return FERR_INTERNAL;
    *total = (int)col_int(r, 0, 0);
    PQclear(r);
    return FERR_OK;
}

/* limit < 0 means no limit (LIMIT NULL); a negative offset counts as 0. */
int pg_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                 task **out, int *n_out, int *total, ferr *err)
{
    store_patterns p;
    *out = NULL;
    *n_out = 0;
    if (total)
        *total = 0;
    int rc = store_make_patterns(f, &p, err);
    if (rc == FERR_OK)
        rc = pg_enter(st, err);
    if (rc != FERR_OK) {
        store_free_patterns(&p);
        return rc;
    }
    if (total)
        rc = count_matches(st, account, f, &p, total, err);
    if (rc == FERR_OK) {
        pg_args a = {0};
        filter_args(&a, account, f, &p);
        if (limit < 0)
            arg_opt(&a, NULL);
        else
            arg_int(&a, limit);
        arg_int(&a, offset < 0 ? 0 : offset);
        rc = query_tasks(st,
                         "SELECT " TASK_COLS " FROM tasks" LIST_WHERE
                         " ORDER BY updated_ms DESC, id LIMIT $8::bigint OFFSET $9",
                         &a, "list tasks", out, n_out, err);
    }
    pg_leave(st);
    store_free_patterns(&p);
    return rc;
}

int pg_task_all(store *st, task **out, int *n_out, ferr *err)
{
    *out = NULL;
    *n_out = 0;
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    rc = query_tasks(st, "SELECT " TASK_COLS " FROM tasks ORDER BY created_ms, id", NULL,
                     "list tasks", out, n_out, err);
    pg_leave(st);
    return rc;
}

int pg_task_count_states(store *st, int *counts, int n, ferr *err)
{
    for (int i = 0; i < n; i++)
        counts[i] = 0;
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    PGresult *r = pg_query(st, "SELECT state, COUNT(*) FROM tasks GROUP BY state", NULL,
                           "count states", NULL, err);
    for (int i = 0; r && i < PQntuples(r); i++) {
        int64_t state = col_int(r, i, 0);
        if (state >= 0 && state < n)
            counts[state] = (int)col_int(r, i, 1);
    }
    rc = r ? FERR_OK : FERR_INTERNAL;
    PQclear(r);
    pg_leave(st);
    return rc;
}

/* account NULL counts every account. Returns the count or FERR_INTERNAL. */
int pg_task_count(store *st, const char *account)
{
    ferr err = {0};
    if (pg_enter(st, &err) != FERR_OK) {
        log_error("%s", err.msg);
        return FERR_INTERNAL;
    }
    pg_args a = {0};
    if (account)
        arg_str(&a, account);
    PGresult *r = pg_query(st,
                           account ? "SELECT COUNT(*) FROM tasks WHERE account = $1"
                                   : "SELECT COUNT(*) FROM tasks",
                           &a, "count tasks", NULL, &err);
    int n = r ? (int)col_int(r, 0, 0) : FERR_INTERNAL;
    if (!r)
        log_error("%s", err.msg);
    PQclear(r);
    pg_leave(st);
    return n;
}
