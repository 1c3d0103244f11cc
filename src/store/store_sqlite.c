/* store_sqlite.c — the embedded backend's connection: DATA_DIR/ferry.db in WAL mode with
 * synchronous=FULL, migrated, its statements prepared once, the transactions writes run in,
 * and the backend's descriptor. */
#include "store/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/log.h"
#include "common/timeutil.h"
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
    [Q_HIST_TRIM] = "DELETE FROM task_history WHERE task_id = ?1 AND seq < (SELECT seq FROM "
                    "task_history WHERE task_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    [Q_EV_ADD] = "INSERT INTO outbox(event_id, task_id, account, dialect, type, url, body, "
                 "created_ms, attempts, next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
    [Q_OB_HEADS] = "SELECT seq, event_id, task_id, account, dialect, type, url, body, attempts, "
                   "created_ms, next_ms FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox "
                   "WHERE dead = 0 GROUP BY account, task_id) AND (next_ms, seq) > (?2, ?3) "
                   "ORDER BY next_ms, seq LIMIT ?1",
    [Q_OB_DONE] = "DELETE FROM outbox WHERE seq = ?1",
    [Q_OB_RETRY] = "UPDATE outbox SET attempts = ?2, next_ms = ?3, dead = ?4, last_error = ?5 "
                   "WHERE seq = ?1",
    [Q_OB_COUNTS] = "SELECT COALESCE(SUM(dead = 0), 0), COALESCE(SUM(dead = 1), 0) FROM outbox",
    [Q_OB_PURGE] = "DELETE FROM outbox WHERE dead = 1 AND next_ms < ?1",
    [Q_OB_TASK] = "SELECT event_id, type, created_ms, next_ms, attempts, dead, last_error "
                  "FROM outbox WHERE dead IN (0, 1) AND task_id = ?1 AND account = ?2 "
                  "ORDER BY seq DESC LIMIT ?3",
    [Q_CP_SET] = "INSERT INTO task_checkpoint(task_id, file_index, loops_done, url, at_ms, "
                 "offset_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(task_id) DO UPDATE SET "
                 "file_index = ?2, loops_done = ?3, url = ?4, at_ms = ?5, offset_ms = ?6",
    [Q_CP_GET] = "SELECT file_index, loops_done, url, at_ms, offset_ms FROM task_checkpoint "
                 "WHERE task_id = ?1",
    [Q_CP_OFFSET] = "UPDATE task_checkpoint SET offset_ms = ?4 WHERE task_id = ?1 AND "
                    "file_index = ?2 AND loops_done = ?3",
    [Q_STATE_COUNTS] = "SELECT state, COUNT(*) FROM tasks GROUP BY state",
};

/* --- transactions (the caller holds the lock) --- */

/* BEGIN to COMMIT or ROLLBACK, for /metrics. */
static _Thread_local int64_t tx_t0_us;

int tx_begin(store *st, ferr *err)
{
    tx_t0_us = time_mono_us();
    return run(st, sq(st)->q[Q_BEGIN], "begin", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

static int tx_commit(store *st, ferr *err)
{
    return run(st, sq(st)->q[Q_COMMIT], "commit", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

static void tx_rollback(store *st)
{
    if (!sqlite3_get_autocommit(sq(st)->db))
        run(st, sq(st)->q[Q_ROLLBACK], "rollback", NULL, NULL);
}

/* Commits when rc is FERR_OK, rolls back otherwise; returns the outcome. */
int tx_end(store *st, int rc, ferr *err)
{
    if (rc == FERR_OK)
        rc = tx_commit(st, err);
    if (rc != FERR_OK)
        tx_rollback(st);
    store_observe_tx_us(time_mono_us() - tx_t0_us);
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
    if (sqlite3_exec(sq(st)->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return FERR_OK;
    return db_error(st, err, sql, NULL);
}

/* WAL lets readers run during a write; synchronous=FULL makes every acknowledged commit
 * survive power loss, not only a crash of the process. */
static int configure(store *st, ferr *err)
{
    sqlite3_stmt *s = NULL;
    int ok = sqlite3_prepare_v2(sq(st)->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) == SQLITE_OK &&
             sqlite3_step(s) == SQLITE_ROW && strcmp(col_str(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!ok)
        return ferr_set(err, FERR_INTERNAL, "", "store: cannot enable WAL journal mode: %s",
                        sqlite3_errmsg(sq(st)->db));
    sqlite3_busy_timeout(sq(st)->db, STORE_BUSY_TIMEOUT_MS);
    int rc = pragma(st, "PRAGMA synchronous=FULL", err);
    if (rc == FERR_OK)
        rc = pragma(st, "PRAGMA foreign_keys=ON", err);
    return rc;
}

static int prepare_all(store *st, ferr *err)
{
    for (int i = 0; i < Q_COUNT_OF; i++)
        if (sqlite3_prepare_v3(sq(st)->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &sq(st)->q[i],
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
    if (sqlite3_open_v2(path, &sq(st)->db, flags, NULL) != SQLITE_OK)
        rc = ferr_set(err, FERR_INTERNAL, "", "store: open %s: %s", path,
                      sq(st)->db ? sqlite3_errmsg(sq(st)->db) : "out of memory");
    free(path);
    return rc;
}

static int sqlite_open(const char *data_dir, int connections, store **out, ferr *err)
{
    (void)connections; /* one connection: SQLite has one writer */
    *out = NULL;
    if (!data_dir || !*data_dir)
        return ferr_set(err, FERR_INVALID, "data_dir", "store: the data directory is empty");
    int rc = make_dirs(data_dir, err);
    if (rc != FERR_OK)
        return rc;
    sqlite_store *sst = calloc(1, sizeof(*sst));
    if (!sst)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    store *st = &sst->base;
    st->be = &store_sqlite_backend;
    pthread_mutex_init(&sst->mu, NULL);
    rc = open_db(st, data_dir, err);
    if (rc == FERR_OK)
        rc = configure(st, err);
    if (rc == FERR_OK)
        rc = store_schema_migrate(sst->db, &st->version, err);
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

static void sqlite_close(store *st)
{
    sqlite_store *sst = sq(st);
    for (int i = 0; i < Q_COUNT_OF; i++)
        sqlite3_finalize(sst->q[i]);
    if (sst->db && sqlite3_close(sst->db) != SQLITE_OK)
        log_error("store: close: %s", sqlite3_errmsg(sst->db));
    pthread_mutex_destroy(&sst->mu);
    free(sst);
}

const store_backend store_sqlite_backend = {
    .name = "sqlite",
    .claims = NULL,
    .open = sqlite_open,
    .close = sqlite_close,
    .task_insert = sqlite_task_insert,
    .task_update = sqlite_task_update,
    .task_delete = sqlite_task_delete,
    .task_get = sqlite_task_get,
    .task_list = sqlite_task_list,
    .task_all = sqlite_task_all,
    .task_count = sqlite_task_count,
    .task_count_states = sqlite_task_count_states,
    .history_add = sqlite_history_add,
    .history_list = sqlite_history_list,
    .checkpoint_get = sqlite_checkpoint_get,
    .checkpoint_offset = sqlite_checkpoint_offset,
    .audit_add = sqlite_audit_add,
    .audit_list = sqlite_audit_list,
    .outbox_heads = sqlite_outbox_heads,
    .outbox_done = sqlite_outbox_done,
    .outbox_retry = sqlite_outbox_retry,
    .outbox_counts = sqlite_outbox_counts,
    .outbox_list_task = sqlite_outbox_list_task,
    .outbox_purge = sqlite_outbox_purge,
};
