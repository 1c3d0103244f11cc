/* store_sqlite.c — the embedded store: one SQLite connection (WAL, synchronous=FULL) behind
 * one mutex, prepared statements, each write committed with its history line and events. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/log.h"
#include "store/store_internal.h"

#define STORE_DB_NAME "ferry.db"
#define STORE_BUSY_TIMEOUT_MS 5000

/* The columns a task is read from, in the order read_task expects. name and dst_url are
 * copies of spec fields kept for filtering; the spec JSON is what a read trusts. */
#define TASK_COLS                                                                                  \
    "id, account, dialect, state, reason, last_error, spec, created_ms, updated_ms, "              \
    "started_ms, exit_ms"

/* Filters of the list and of its count: absent filters are bound as NULL (dialect -1). */
#define LIST_WHERE                                                                                 \
    " WHERE account = ?1"                                                                          \
    " AND (?2 IS NULL OR id LIKE ?2 ESCAPE '\\')"                                                  \
    " AND (?3 IS NULL OR name LIKE ?3 ESCAPE '\\')"                                                \
    " AND (?4 IS NULL OR dst_url LIKE ?4 ESCAPE '\\')"                                             \
    " AND (?5 IS NULL OR id = ?5)"                                                                 \
    " AND (?6 < 0 OR dialect = ?6)"                                                                \
    " AND (?9 IS NULL OR id LIKE ?9 ESCAPE '\\' OR name LIKE ?9 ESCAPE '\\'"                       \
    " OR dst_url LIKE ?9 ESCAPE '\\')"

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_INSERT,
    Q_UPDATE,
    Q_DELETE,
    Q_GET,
    Q_LIST,
    Q_LIST_COUNT,
    Q_ALL,
    Q_COUNT,
    Q_COUNT_ALL,
    Q_HIST_ADD,
    Q_HIST_LIST,
    Q_EV_ADD,
    Q_OB_HEADS,
    Q_OB_DONE,
    Q_OB_RETRY,
    Q_OB_COUNTS,
    Q_OB_PURGE,
    Q_CP_SET,
    Q_CP_GET,
    Q_COUNT_OF,
};

/* Insert and update share the parameter numbers ?1..?13 (bind_task). */
static const char *const queries[Q_COUNT_OF] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_INSERT] = "INSERT INTO tasks(id, account, dialect, name, dst_url, state, reason, "
                 "last_error, spec, created_ms, updated_ms, started_ms, exit_ms) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [Q_UPDATE] = "UPDATE tasks SET name = ?4, dst_url = ?5, state = ?6, reason = ?7, "
                 "last_error = ?8, spec = ?9, updated_ms = ?11, started_ms = ?12, "
                 "exit_ms = ?13 WHERE id = ?1",
    [Q_DELETE] = "DELETE FROM tasks WHERE id = ?1",
    [Q_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
    [Q_LIST] = "SELECT " TASK_COLS " FROM tasks" LIST_WHERE
               " ORDER BY updated_ms DESC, id LIMIT ?7 OFFSET ?8",
    [Q_LIST_COUNT] = "SELECT COUNT(*) FROM tasks" LIST_WHERE,
    [Q_ALL] = "SELECT " TASK_COLS " FROM tasks ORDER BY created_ms, id",
    [Q_COUNT] = "SELECT COUNT(*) FROM tasks WHERE account = ?1",
    [Q_COUNT_ALL] = "SELECT COUNT(*) FROM tasks",
    [Q_HIST_ADD] = "INSERT INTO task_history(task_id, at_ms, from_state, to_state, reason, "
                   "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_HIST_LIST] = "SELECT at_ms, from_state, to_state, reason, detail FROM task_history "
                    "WHERE task_id = ?1 ORDER BY seq",
    [Q_EV_ADD] = "INSERT INTO outbox(event_id, task_id, account, dialect, type, url, body, "
                 "created_ms, attempts, next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
    [Q_OB_HEADS] = "SELECT seq, event_id, task_id, account, dialect, type, url, body, attempts, "
                   "created_ms, next_ms FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox "
                   "WHERE dead = 0 GROUP BY task_id) AND (next_ms, seq) > (?2, ?3) "
                   "ORDER BY next_ms, seq LIMIT ?1",
    [Q_OB_DONE] = "DELETE FROM outbox WHERE seq = ?1",
    [Q_OB_RETRY] = "UPDATE outbox SET attempts = ?2, next_ms = ?3, dead = ?4, last_error = ?5 "
                   "WHERE seq = ?1",
    [Q_OB_COUNTS] = "SELECT COALESCE(SUM(dead = 0), 0), COALESCE(SUM(dead = 1), 0) FROM outbox",
    [Q_OB_PURGE] = "DELETE FROM outbox WHERE dead = 1 AND next_ms < ?1",
    [Q_CP_SET] = "INSERT INTO task_checkpoint(task_id, file_index, loops_done, url, at_ms) "
                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(task_id) DO UPDATE SET "
                 "file_index = ?2, loops_done = ?3, url = ?4, at_ms = ?5",
    [Q_CP_GET] = "SELECT file_index, loops_done, url, at_ms FROM task_checkpoint "
                 "WHERE task_id = ?1",
};

struct store {
    pthread_mutex_t mu; /* serialises every use of db and of the statements */
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT_OF];
    int version;
};

/* --- small helpers --- */

static void lock(store *st)
{
    pthread_mutex_lock(&st->mu);
}

static void unlock(store *st)
{
    pthread_mutex_unlock(&st->mu);
}

static void finish(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* err = "store: <what> <id>: <sqlite message>"; returns FERR_INTERNAL. */
static int db_error(store *st, ferr *err, const char *what, const char *id)
{
    return ferr_set(err, FERR_INTERNAL, "", "store: %s%s%s: %s", what, id ? " " : "", id ? id : "",
                    sqlite3_errmsg(st->db));
}

/* Steps a statement that returns no row, then resets it. Returns the extended SQLite
 * code (SQLITE_OK on success); err is filled on failure. */
static int run(store *st, sqlite3_stmt *s, const char *what, const char *id, ferr *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    } else {
        rc = sqlite3_extended_errcode(st->db);
        db_error(st, err, what, id);
    }
    finish(s);
    return rc;
}

static void bind_str(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static const char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? (const char *)v : "";
}

/* --- transactions (the caller holds the lock) --- */

static int tx_begin(store *st, ferr *err)
{
    return run(st, st->q[Q_BEGIN], "begin", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

static int tx_commit(store *st, ferr *err)
{
    return run(st, st->q[Q_COMMIT], "commit", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

static void tx_rollback(store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        run(st, st->q[Q_ROLLBACK], "rollback", NULL, NULL);
}

/* Commits when rc is FERR_OK, rolls back otherwise; returns the outcome. */
static int tx_end(store *st, int rc, ferr *err)
{
    if (rc == FERR_OK)
        rc = tx_commit(st, err);
    if (rc != FERR_OK)
        tx_rollback(st);
    return rc;
}

/* --- opening --- */

/* mkdir -p: creates every missing component of path. */
static int make_dirs(const char *path, ferr *err)
{
    char *p = strdup(path);
    if (!p)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    int rc = FERR_OK;
    for (char *c = p + 1; rc == FERR_OK; c++) {
        int end = *c == '\0';
        if (*c != '/' && !end)
            continue;
        *c = '\0';
        if (mkdir(p, 0750) != 0 && errno != EEXIST)
            rc = ferr_set(err, FERR_INTERNAL, "", "store: create %s: %s", p, strerror(errno));
        if (end)
            break;
        *c = '/';
    }
    free(p);
    struct stat sb;
    if (rc == FERR_OK && (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = ferr_set(err, FERR_INTERNAL, "", "store: %s is not a directory", path);
    return rc;
}

static int pragma(store *st, const char *sql, ferr *err)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return FERR_OK;
    return db_error(st, err, sql, NULL);
}

/* WAL lets readers run during a write; synchronous=FULL makes every acknowledged commit
 * survive power loss, not only a crash of the process. */
static int configure(store *st, ferr *err)
{
    sqlite3_stmt *s = NULL;
    int ok = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) == SQLITE_OK &&
             sqlite3_step(s) == SQLITE_ROW && strcmp(col_str(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!ok)
        return ferr_set(err, FERR_INTERNAL, "", "store: cannot enable WAL journal mode: %s",
                        sqlite3_errmsg(st->db));
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    int rc = pragma(st, "PRAGMA synchronous=FULL", err);
    if (rc == FERR_OK)
        rc = pragma(st, "PRAGMA foreign_keys=ON", err);
    return rc;
}

static int prepare_all(store *st, ferr *err)
{
    for (int i = 0; i < Q_COUNT_OF; i++)
        if (sqlite3_prepare_v3(st->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &st->q[i],
                               NULL) != SQLITE_OK)
            return db_error(st, err, "prepare", queries[i]);
    return FERR_OK;
}

static int open_db(store *st, const char *data_dir, ferr *err)
{
    size_t len = strlen(data_dir) + sizeof("/" STORE_DB_NAME);
    char *path = malloc(len);
    if (!path)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    snprintf(path, len, "%s/%s", data_dir, STORE_DB_NAME);
    /* Push and callback URLs carry secrets: a new database (and so its -wal and -shm
     * files, which SQLite creates with the database's mode) is readable by ferryd only. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = FERR_OK;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK)
        rc = ferr_set(err, FERR_INTERNAL, "", "store: open %s: %s", path,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
    free(path);
    return rc;
}

int store_open(const char *data_dir, store **out, ferr *err)
{
    *out = NULL;
    if (!data_dir || !*data_dir)
        return ferr_set(err, FERR_INVALID, "data_dir", "store: the data directory is empty");
    int rc = make_dirs(data_dir, err);
    if (rc != FERR_OK)
        return rc;
    store *st = calloc(1, sizeof(*st));
    if (!st)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    pthread_mutex_init(&st->mu, NULL);
    rc = open_db(st, data_dir, err);
    if (rc == FERR_OK)
        rc = configure(st, err);
    if (rc == FERR_OK)
        rc = store_schema_migrate(st->db, &st->version, err);
    if (rc == FERR_OK)
        rc = prepare_all(st, err);
    if (rc != FERR_OK) {
        store_close(st);
        return rc;
    }
    log_info("store: opened %s/%s (schema %d)", data_dir, STORE_DB_NAME, st->version);
    *out = st;
    return FERR_OK;
}

void store_close(store *st)
{
    if (!st)
        return;
    for (int i = 0; i < Q_COUNT_OF; i++)
        sqlite3_finalize(st->q[i]);
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        log_error("store: close: %s", sqlite3_errmsg(st->db));
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int store_schema_version(store *st)
{
    return st->version;
}

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

static int history_insert(store *st, const char *id, const task_history_entry *h, ferr *err)
{
    sqlite3_stmt *s = st->q[Q_HIST_ADD];
    bind_str(s, 1, id);
    sqlite3_bind_int64(s, 2, h->at_ms);
    sqlite3_bind_int(s, 3, (int)h->from);
    sqlite3_bind_int(s, 4, (int)h->to);
    bind_str(s, 5, h->reason);
    bind_str(s, 6, h->detail);
    int rc = run(st, s, "add history of task", id, err);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    return rc == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

static int insert_row(store *st, const task *t, const char *spec_json, ferr *err)
{
    bind_task(st->q[Q_INSERT], t, spec_json);
    int rc = run(st, st->q[Q_INSERT], "insert task", t->id, err);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return ferr_set(err, FERR_EXISTS, "id", "task %s already exists", t->id);
    return rc == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

/* Account, dialect and created_ms are the task's identity: set once by the insert. */
static int update_row(store *st, const task *t, const char *spec_json, ferr *err)
{
    bind_task(st->q[Q_UPDATE], t, spec_json);
    if (run(st, st->q[Q_UPDATE], "update task", t->id, err) != SQLITE_OK)
        return FERR_INTERNAL;
    if (sqlite3_changes(st->db) == 0)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", t->id);
    return FERR_OK;
}

static int event_insert(store *st, const store_event *ev, ferr *err)
{
    sqlite3_stmt *s = st->q[Q_EV_ADD];
    bind_str(s, 1, ev->id);
    bind_str(s, 2, ev->task_id);
    bind_str(s, 3, ev->account);
    sqlite3_bind_int(s, 4, ev->dialect);
    bind_str(s, 5, ev->type);
    bind_str(s, 6, ev->url);
    bind_str(s, 7, ev->body);
    sqlite3_bind_int64(s, 8, ev->created_ms);
    sqlite3_bind_int64(s, 9, ev->next_ms);
    return run(st, s, "add event of task", ev->task_id, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

static int events_insert(store *st, const store_event *evs, ferr *err)
{
    int rc = FERR_OK;
    for (const store_event *ev = evs; ev && rc == FERR_OK; ev = ev->next)
        rc = event_insert(st, ev, err);
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

int store_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err)
{
    return write_task(st, insert_row, t, h, NULL, err);
}

int store_task_update(store *st, const task *t, const task_history_entry *h, ferr *err)
{
    return write_task(st, update_row, t, h, NULL, err);
}

int store_task_update_ev(store *st, const task *t, const task_history_entry *h,
                         const store_event *evs, ferr *err)
{
    return write_task(st, update_row, t, h, evs, err);
}

static int delete_row(store *st, const char *id, ferr *err)
{
    sqlite3_stmt *s = st->q[Q_DELETE];
    bind_str(s, 1, id);
    int rc = run(st, s, "delete task", id, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    if (rc == FERR_OK && sqlite3_changes(st->db) == 0)
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    return rc;
}

/* The history goes with the row (ON DELETE CASCADE); the events stay in the outbox. */
int store_task_delete_ev(store *st, const char *id, const store_event *evs, ferr *err)
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

int store_task_delete(store *st, const char *id, ferr *err)
{
    return store_task_delete_ev(st, id, NULL, err);
}

static int checkpoint_set(store *st, const char *id, const task_checkpoint *cp, ferr *err)
{
    sqlite3_stmt *s = st->q[Q_CP_SET];
    bind_str(s, 1, id);
    sqlite3_bind_int(s, 2, cp->file_index);
    sqlite3_bind_int(s, 3, cp->loops_done);
    bind_str(s, 4, cp->url);
    sqlite3_bind_int64(s, 5, cp->at_ms);
    int rc = run(st, s, "save the checkpoint of task", id, err);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    return rc == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

int store_history_add_cp(store *st, const char *id, const task_history_entry *h,
                         const store_event *evs, const task_checkpoint *cp, ferr *err)
{
    lock(st);
    int rc = tx_begin(st, err);
    if (rc == FERR_OK) {
        rc = history_insert(st, id, h, err);
        if (rc == FERR_OK)
            rc = events_insert(st, evs, err);
        if (rc == FERR_OK && cp)
            rc = checkpoint_set(st, id, cp, err);
        rc = tx_end(st, rc, err);
    }
    unlock(st);
    return rc;
}

int store_history_add_ev(store *st, const char *id, const task_history_entry *h,
                         const store_event *evs, ferr *err)
{
    return store_history_add_cp(st, id, h, evs, NULL, err);
}

int store_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err)
{
    memset(out, 0, sizeof(*out));
    lock(st);
    sqlite3_stmt *s = st->q[Q_CP_GET];
    bind_str(s, 1, id);
    int step = sqlite3_step(s), rc = FERR_OK;
    if (step == SQLITE_ROW) {
        out->file_index = sqlite3_column_int(s, 0);
        out->loops_done = sqlite3_column_int(s, 1);
        snprintf(out->url, sizeof(out->url), "%s", col_str(s, 2));
        out->at_ms = sqlite3_column_int64(s, 3);
    } else if (step == SQLITE_DONE) {
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s has no checkpoint", id);
    } else {
        rc = db_error(st, err, "get the checkpoint of task", id);
    }
    finish(s);
    unlock(st);
    return rc;
}

int store_history_add(store *st, const char *id, const task_history_entry *h, ferr *err)
{
    return store_history_add_ev(st, id, h, NULL, err);
}

/* --- reads --- */

/* Fills out from the current row of a TASK_COLS query. On failure out is left zeroed. */
static int read_task(sqlite3_stmt *s, task *out, ferr *err)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", col_str(s, 0));
    if (task_spec_from_json(&out->spec, col_str(s, 6)) != 0) {
        task_spec_free(&out->spec);
        memset(out, 0, sizeof(*out));
        return ferr_set(err, FERR_INTERNAL, "", "store: task %s: its stored spec is unreadable",
                        col_str(s, 0));
    }
    snprintf(out->account, sizeof(out->account), "%s", col_str(s, 1));
    out->dialect = (task_dialect)sqlite3_column_int(s, 2);
    out->state = (task_state)sqlite3_column_int(s, 3);
    out->created_ms = sqlite3_column_int64(s, 7);
    out->updated_ms = sqlite3_column_int64(s, 8);
    out->started_ms = sqlite3_column_int64(s, 9);
    out->exit_ms = sqlite3_column_int64(s, 10);
    if (task_str_set(&out->reason, col_str(s, 4)) != 0 ||
        task_str_set(&out->last_error, col_str(s, 5)) != 0) {
        task_free(out);
        memset(out, 0, sizeof(*out));
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    }
    return FERR_OK;
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

int store_task_get(store *st, const char *id, task *out, ferr *err)
{
    memset(out, 0, sizeof(*out)); /* task_free(out) is safe whatever the outcome */
    lock(st);
    sqlite3_stmt *s = st->q[Q_GET];
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

/* A LIKE pattern matching value anywhere, with its own % _ and \ taken literally. */
static char *like_pattern(const char *value)
{
    if (!value || !*value)
        return NULL;
    char *p = malloc(strlen(value) * 2 + 3), *w = p;
    if (!p)
        return NULL;
    *w++ = '%';
    for (const char *c = value; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *w++ = '\\';
        *w++ = *c;
    }
    *w++ = '%';
    *w = '\0';
    return p;
}

typedef struct list_patterns {
    char *id, *name, *dst, *any;
} list_patterns;

static int make_patterns(const task_filter *f, list_patterns *p, ferr *err)
{
    memset(p, 0, sizeof(*p));
    if (!f)
        return FERR_OK;
    p->id = like_pattern(f->id_like);
    p->name = like_pattern(f->name_like);
    p->dst = like_pattern(f->dst_like);
    p->any = like_pattern(f->any_like);
    if ((f->id_like && *f->id_like && !p->id) || (f->name_like && *f->name_like && !p->name) ||
        (f->dst_like && *f->dst_like && !p->dst) || (f->any_like && *f->any_like && !p->any))
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    return FERR_OK;
}

static void free_patterns(list_patterns *p)
{
    free(p->id);
    free(p->name);
    free(p->dst);
    free(p->any);
}

static void bind_filter(sqlite3_stmt *s, const char *account, const task_filter *f,
                        const list_patterns *p)
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
                         const list_patterns *p, int *total, ferr *err)
{
    sqlite3_stmt *s = st->q[Q_LIST_COUNT];
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
int store_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                    task **out, int *n_out, int *total, ferr *err)
{
    list_patterns p;
    *out = NULL;
    *n_out = 0;
    if (total)
        *total = 0;
    int rc = make_patterns(f, &p, err);
    lock(st);
    if (rc == FERR_OK && total)
        rc = count_matches(st, account, f, &p, total, err);
    if (rc == FERR_OK) {
        sqlite3_stmt *s = st->q[Q_LIST];
        bind_filter(s, account, f, &p);
        sqlite3_bind_int(s, 7, limit < 0 ? -1 : limit);
        sqlite3_bind_int(s, 8, offset < 0 ? 0 : offset);
        rc = collect_tasks(st, s, out, n_out, err);
    }
    unlock(st);
    free_patterns(&p);
    return rc;
}

int store_task_all(store *st, task **out, int *n_out, ferr *err)
{
    lock(st);
    int rc = collect_tasks(st, st->q[Q_ALL], out, n_out, err);
    unlock(st);
    return rc;
}

/* account NULL counts every account. Returns the count or FERR_INTERNAL. */
int store_task_count(store *st, const char *account)
{
    lock(st);
    sqlite3_stmt *s = st->q[account ? Q_COUNT : Q_COUNT_ALL];
    if (account)
        bind_str(s, 1, account);
    int n = FERR_INTERNAL;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    else
        log_error("store: count tasks: %s", sqlite3_errmsg(st->db));
    finish(s);
    unlock(st);
    return n;
}

static void read_history(sqlite3_stmt *s, task_history_entry *h)
{
    memset(h, 0, sizeof(*h));
    h->at_ms = sqlite3_column_int64(s, 0);
    h->from = (task_state)sqlite3_column_int(s, 1);
    h->to = (task_state)sqlite3_column_int(s, 2);
    snprintf(h->reason, sizeof(h->reason), "%s", col_str(s, 3));
    snprintf(h->detail, sizeof(h->detail), "%s", col_str(s, 4));
}

static int collect_history(store *st, sqlite3_stmt *s, task_history_entry **out, int *n_out,
                           ferr *err)
{
    task_history_entry *arr = NULL;
    int n = 0, cap = 0, step = SQLITE_DONE, rc = FERR_OK;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            task_history_entry *grown = realloc(arr, (size_t)ncap * sizeof(*arr));
            if (!grown) {
                rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
                break;
            }
            arr = grown;
            cap = ncap;
        }
        read_history(s, &arr[n++]);
    }
    if (rc == FERR_OK && step != SQLITE_DONE)
        rc = db_error(st, err, "list history", NULL);
    finish(s);
    if (rc != FERR_OK) {
        free(arr);
        arr = NULL;
        n = 0;
    }
    *out = arr;
    *n_out = n;
    return rc;
}

/* An unknown id gives an empty history, not an error: the service checks the task. */
int store_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = st->q[Q_HIST_LIST];
    bind_str(s, 1, id);
    int rc = collect_history(st, s, out, n, err);
    unlock(st);
    return rc;
}

/* --- the outbox --- */

void store_event_free(store_event *list)
{
    while (list) {
        store_event *next = list->next;
        free(list->url);
        free(list->body);
        free(list);
        list = next;
    }
}

static store_event *read_event(sqlite3_stmt *s)
{
    store_event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->seq = sqlite3_column_int64(s, 0);
    snprintf(ev->id, sizeof(ev->id), "%s", col_str(s, 1));
    snprintf(ev->task_id, sizeof(ev->task_id), "%s", col_str(s, 2));
    snprintf(ev->account, sizeof(ev->account), "%s", col_str(s, 3));
    ev->dialect = sqlite3_column_int(s, 4);
    snprintf(ev->type, sizeof(ev->type), "%s", col_str(s, 5));
    ev->url = strdup(col_str(s, 6));
    ev->body = strdup(col_str(s, 7));
    ev->attempts = sqlite3_column_int(s, 8);
    ev->created_ms = sqlite3_column_int64(s, 9);
    ev->next_ms = sqlite3_column_int64(s, 10);
    if (!ev->url || !ev->body) {
        store_event_free(ev);
        return NULL;
    }
    return ev;
}

int store_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq, store_event **out,
                       ferr *err)
{
    *out = NULL;
    store_event **tail = out;
    int rc = FERR_OK, step;
    lock(st);
    sqlite3_stmt *s = st->q[Q_OB_HEADS];
    sqlite3_bind_int(s, 1, limit);
    sqlite3_bind_int64(s, 2, after_ms);
    sqlite3_bind_int64(s, 3, after_seq);
    while (rc == FERR_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        *tail = read_event(s);
        if (!*tail)
            rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
        else
            tail = &(*tail)->next;
    }
    if (rc == FERR_OK && step != SQLITE_DONE)
        rc = db_error(st, err, "read the outbox", NULL);
    finish(s);
    unlock(st);
    if (rc != FERR_OK) {
        store_event_free(*out);
        *out = NULL;
    }
    return rc;
}

int store_outbox_done(store *st, int64_t seq, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = st->q[Q_OB_DONE];
    sqlite3_bind_int64(s, 1, seq);
    int rc = run(st, s, "remove delivered event", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    unlock(st);
    return rc;
}

int store_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                       const char *error, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = st->q[Q_OB_RETRY];
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int(s, 2, attempts);
    sqlite3_bind_int64(s, 3, next_ms);
    sqlite3_bind_int(s, 4, dead ? 1 : 0);
    bind_str(s, 5, error);
    int rc =
        run(st, s, "record a failed delivery", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    unlock(st);
    return rc;
}

int store_outbox_counts(store *st, int *pending, int *dead, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = st->q[Q_OB_COUNTS];
    int rc = FERR_OK;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *pending = sqlite3_column_int(s, 0);
        *dead = sqlite3_column_int(s, 1);
    } else {
        rc = db_error(st, err, "count the outbox", NULL);
    }
    finish(s);
    unlock(st);
    return rc;
}

int store_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = st->q[Q_OB_PURGE];
    sqlite3_bind_int64(s, 1, before_ms);
    int rc =
        run(st, s, "remove expired dead events", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    *removed = rc == FERR_OK ? sqlite3_changes(st->db) : 0;
    unlock(st);
    return rc;
}
