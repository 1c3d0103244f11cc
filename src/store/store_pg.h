/* store_pg.h — what the PostgreSQL backend's files share: the pool of connections, text
 * parameters, the query helpers, the transactions, and each file's operations. */
#ifndef FERRY_STORE_PG_H
#define FERRY_STORE_PG_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store_backend.h"

/* One connection of the pool, used by one thread at a time (between pg_enter and pg_leave). */
typedef struct pg_conn {
    PGconn *conn;     /* NULL or broken after a failure: the next use reconnects */
    bool busy;        /* held by a thread (under pg_store.mu) */
    bool opened;      /* conn was set when last given back (under pg_store.mu) */
    char sqlstate[6]; /* of the last failed statement, "" when it succeeded */
    long changes;     /* rows the last statement changed */
    int64_t tx_t0_us;
    bool listening;     /* LISTEN ferry_tasks issued on conn (store_pg_cluster.c) */
    bool outbox_sender; /* conn holds the outbox's advisory lock (store_pg_outbox.c) */
} pg_conn;

/* Slot 0 is the session connection: what lives in a session (LISTEN, the outbox's advisory
 * lock) stays on it. Slots 1..size take every other call, each on a free one, so requests
 * run in parallel; with a size of 1 the session connection takes them all. */
typedef struct pg_store {
    store base;           /* the backend and the schema level */
    pthread_mutex_t mu;   /* guards the busy and opened flags */
    pthread_cond_t freed; /* a slot was given back */
    pg_conn *slots;       /* size + 1, connected on first use */
    int size;             /* connections for the calls, besides the session one */
    char *url;            /* as configured (it may hold a password: never logged) */
    char where[160];      /* user@host:port/db, for messages and logs */
} pg_store;

static inline pg_store *pg(store *st)
{
    return (pg_store *)st;
}

/* The connection the calling thread holds (between pg_enter and pg_leave). */
pg_conn *pgc(store *st);

/* The database's clock in Unix ms: leases compare only with it, never with a node's. */
#define PG_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

/* SQLSTATEs the backend maps to ferry's errors. */
#define PG_UNIQUE_VIOLATION "23505"
#define PG_FOREIGN_KEY_VIOLATION "23503"

/* --- statement parameters, all sent as text ($1, $2, ... in the order added) --- */

#define PG_ARGS_MAX 16

typedef struct pg_args {
    int n;
    const char *v[PG_ARGS_MAX];
    char num[PG_ARGS_MAX][24];
} pg_args;

static inline void arg_str(pg_args *a, const char *v)
{
    a->v[a->n++] = v ? v : "";
}

/* NULL for an absent or empty string. */
static inline void arg_opt(pg_args *a, const char *v)
{
    a->v[a->n++] = v && *v ? v : NULL;
}

void arg_int(pg_args *a, int64_t v);

/* --- statements (store_pg.c; the caller holds a connection) --- */

/* Runs sql with a's parameters (a may be NULL). On success returns the result (the caller
 * PQclear()s it) and sets changes; on failure returns NULL, sets sqlstate and fills
 * err = "store: <what> <id>: <server's message>". */
PGresult *pg_query(store *st, const char *sql, const pg_args *a, const char *what, const char *id,
                   ferr *err);
/* pg_query for a statement whose rows are not needed: FERR_OK or FERR_INTERNAL. */
int pg_run(store *st, const char *sql, const pg_args *a, const char *what, const char *id,
           ferr *err);

static inline const char *col_text(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col);
}

int64_t col_int(const PGresult *r, int row, int col);

/* Takes a free connection of the pool (waiting for one) and readies it; on failure gives
 * it back and returns the error. Nothing in between may enter again. */
int pg_enter(store *st, ferr *err);
/* The same for the session connection (slot 0): LISTEN and session advisory locks. */
int pg_enter_session(store *st, ferr *err);
/* Gives the connection back. */
void pg_leave(store *st);

/* Reads one result row into dst (an element of the array pg_select fills). */
typedef void (*pg_row_fn)(const PGresult *r, int row, void *dst);
/* Locks, runs sql and reads every row with read into a calloc'd array of elements of size
 * bytes (*out stays NULL when there is none; the caller frees it), then unlocks. */
int pg_select(store *st, const char *sql, const pg_args *a, const char *what, const char *id,
              size_t size, pg_row_fn read, void **out, int *n, ferr *err);

/* --- transactions (the caller holds a connection; one transaction stays on it) --- */

int pg_tx_begin(store *st, ferr *err);
/* Commits when rc is FERR_OK, rolls back otherwise; returns the outcome. */
int pg_tx_end(store *st, int rc, ferr *err);

/* --- the schema (store_pg_schema.c) --- */

/* Brings the database up to store_schema_latest(), one transaction per step under an
 * advisory lock (nodes that start together apply each step once), each recorded in
 * schema_version. A database newer than this build is refused. */
int pg_schema_migrate(store *st, int *version, ferr *err);

/* --- the writes a transaction combines (the caller holds the lock, in a transaction) --- */

int pg_history_insert(store *st, const char *id, const task_history_entry *h, ferr *err);
int pg_events_insert(store *st, const store_event *evs, ferr *err);
int pg_checkpoint_set(store *st, const char *id, const task_checkpoint *cp, ferr *err);

/* --- the backend's operations (store_backend.h), one file per table --- */

int pg_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err);
int pg_task_update(store *st, const task *t, const task_history_entry *h, const store_event *evs,
                   ferr *err);
int pg_task_delete(store *st, const char *id, const store_event *evs, ferr *err);
int pg_task_get(store *st, const char *id, task *out, ferr *err);
int pg_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                 task **out, int *n_out, int *total, ferr *err);
int pg_task_all(store *st, task **out, int *n_out, ferr *err);
int pg_task_count(store *st, const char *account);
int pg_task_count_states(store *st, int *counts, int n, ferr *err);
int pg_history_add(store *st, const char *id, const task_history_entry *h, const store_event *evs,
                   const task_checkpoint *cp, ferr *err);
int pg_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err);
int pg_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err);
int pg_checkpoint_offset(store *st, const char *id, const task_checkpoint *cp, ferr *err);
int pg_audit_add(store *st, const task_audit_line *a, ferr *err);
int pg_audit_list(store *st, const char *account, const char *task_id, int offset, int limit,
                  task_audit_line **out, int *n, int *total, ferr *err);
int pg_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq, store_event **out,
                    ferr *err);
int pg_outbox_done(store *st, int64_t seq, ferr *err);
int pg_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                    const char *error, ferr *err);
int pg_outbox_counts(store *st, int *pending, int *dead, ferr *err);
int pg_outbox_list_task(store *st, const char *account, const char *task_id, int limit,
                        task_callback_line **out, int *n, ferr *err);
int pg_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err);

/* the cluster (store_pg_cluster.c) */
int pg_node_beat(store *st, store_node *n, ferr *err);
int pg_node_drain(store *st, const char *node, bool on, ferr *err);
int pg_lease_hand_off(store *st, const char *task_id, const char *node, int64_t epoch, ferr *err);
int pg_node_list(store *st, int64_t live_ms, store_node **out, int *n, ferr *err);
int pg_lease_renew(store *st, const char *node, int64_t lease_ms, store_lease **out, int *n,
                   ferr *err);
int pg_lease_claimable(store *st, int64_t skew_ms, store_claimable **out, int *n, ferr *err);
int pg_lease_claim(store *st, const char *node, const char *labels, int64_t lease_ms,
                   int64_t skew_ms, int max, store_lease **out, int *n, ferr *err);
int pg_lease_release(store *st, const char *node, ferr *err);
int pg_signal(store *st, const char *payload, ferr *err);
int pg_signal_wait(store *st, int timeout_ms, void (*fn)(void *ctx, const char *payload), void *ctx,
                   ferr *err);
int pg_rate_count(store *st, const char *key, int64_t *n, ferr *err);
int pg_rate_prune(store *st, ferr *err);

#endif
