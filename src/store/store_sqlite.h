/* store_sqlite.h — what the SQLite store's files share: the connection and its statements,
 * the step and bind helpers, the transactions and the writes one transaction combines. */
#ifndef FERRY_STORE_SQLITE_H
#define FERRY_STORE_SQLITE_H

#include <pthread.h>

#include <sqlite3.h>

#include "store/store_backend.h"

/* The prepared statements, one per query (the SQL is in store_sqlite.c). */
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
    Q_HIST_TRIM,
    Q_EV_ADD,
    Q_OB_HEADS,
    Q_OB_DONE,
    Q_OB_RETRY,
    Q_OB_COUNTS,
    Q_OB_PURGE,
    Q_OB_TASK,
    Q_CP_SET,
    Q_CP_GET,
    Q_CP_OFFSET,
    Q_STATE_COUNTS,
    Q_COUNT_OF,
};

typedef struct sqlite_store {
    store base;         /* the backend and the schema level */
    pthread_mutex_t mu; /* serialises every use of db and of the statements */
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT_OF];
} sqlite_store;

/* The SQLite handle behind a store of this backend. */
static inline sqlite_store *sq(store *st)
{
    return (sqlite_store *)st;
}

/* --- small helpers --- */

static inline void lock(store *st)
{
    pthread_mutex_lock(&sq(st)->mu);
}

static inline void unlock(store *st)
{
    pthread_mutex_unlock(&sq(st)->mu);
}

static inline void finish(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* err = "store: <what> <id>: <sqlite message>"; returns FERR_INTERNAL. */
static inline int db_error(store *st, ferr *err, const char *what, const char *id)
{
    return ferr_set(err, FERR_INTERNAL, "", "store: %s%s%s: %s", what, id ? " " : "", id ? id : "",
                    sqlite3_errmsg(sq(st)->db));
}

/* Steps a statement that returns no row, then resets it. Returns the extended SQLite
 * code (SQLITE_OK on success); err is filled on failure. */
static inline int run(store *st, sqlite3_stmt *s, const char *what, const char *id, ferr *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    } else {
        rc = sqlite3_extended_errcode(sq(st)->db);
        db_error(st, err, what, id);
    }
    finish(s);
    return rc;
}

static inline void bind_str(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static inline void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static inline const char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? (const char *)v : "";
}

/* --- transactions (store_sqlite.c; the caller holds the lock) --- */

int tx_begin(store *st, ferr *err);
/* Commits when rc is FERR_OK, rolls back otherwise; returns the outcome. */
int tx_end(store *st, int rc, ferr *err);

/* --- the backend's operations (store_backend.h), one file per table --- */

int sqlite_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err);
int sqlite_task_update(store *st, const task *t, const task_history_entry *h,
                       const store_event *evs, ferr *err);
int sqlite_task_delete(store *st, const char *id, const store_event *evs, ferr *err);
int sqlite_task_get(store *st, const char *id, task *out, ferr *err);
int sqlite_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                     task **out, int *n_out, int *total, ferr *err);
int sqlite_task_all(store *st, task **out, int *n_out, ferr *err);
int sqlite_task_count(store *st, const char *account);
int sqlite_task_count_states(store *st, int *counts, int n, ferr *err);
int sqlite_history_add(store *st, const char *id, const task_history_entry *h,
                       const store_event *evs, const task_checkpoint *cp, ferr *err);
int sqlite_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err);
int sqlite_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err);
int sqlite_checkpoint_offset(store *st, const char *id, const task_checkpoint *cp, ferr *err);
int sqlite_audit_add(store *st, const task_audit_line *a, ferr *err);
int sqlite_audit_list(store *st, const char *account, const char *task_id, int offset, int limit,
                      task_audit_line **out, int *n, int *total, ferr *err);
int sqlite_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq,
                        store_event **out, ferr *err);
int sqlite_outbox_done(store *st, int64_t seq, ferr *err);
int sqlite_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                        const char *error, ferr *err);
int sqlite_outbox_counts(store *st, int *pending, int *dead, ferr *err);
int sqlite_outbox_list_task(store *st, const char *account, const char *task_id, int limit,
                            task_callback_line **out, int *n, ferr *err);
int sqlite_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err);

/* --- the writes a transaction combines (the caller holds the lock, in a transaction) --- */

/* A line of the task's history (store_history.c). */
int history_insert(store *st, const char *id, const task_history_entry *h, ferr *err);
/* The events of the list evs, which may be NULL (store_outbox.c). */
int events_insert(store *st, const store_event *evs, ferr *err);
/* The task's playlist checkpoint (store_checkpoint.c). */
int checkpoint_set(store *st, const char *id, const task_checkpoint *cp, ferr *err);

#endif
