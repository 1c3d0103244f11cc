/* store.h — durable tasks, task history and the callback event outbox behind one interface
 * (SQLite in WAL mode, or PostgreSQL). Every call is thread-safe; every acknowledged write
 * is committed. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include "common/ferr.h"
#include "task/task_model.h"

typedef struct store store;

/* One callback event in the outbox: the payload is formatted when the event happens, so it
 * can be delivered after its task is gone. Lists are linked through next. */
typedef struct store_event {
    int64_t seq; /* outbox order, set by the store */
    char id[40]; /* unique event id (UUID) */
    char task_id[TASK_ID_MAX];
    char account[TASK_ACCOUNT_MAX];
    int dialect;                 /* task_dialect: decides signing at delivery */
    char type[32];               /* TaskStart, LivePullToPushExit, task_state, ... */
    char *url, *body;            /* heap */
    int attempts;                /* deliveries tried so far */
    int64_t created_ms, next_ms; /* next_ms: not before this time */
    struct store_event *next;
} store_event;

/* Frees a list of events (NULL is fine). */
void store_event_free(store_event *list);

/* Opens the store at where, applies pending schema migrations. where is either a
 * postgresql:// (or postgres://) URL, a database shared by several nodes, or a directory:
 * the embedded store DATA_DIR/ferry.db (created if needed). A PostgreSQL store reconnects
 * by itself: a call on a connection lost while idle reconnects first; one lost during the
 * call fails with FERR_INTERNAL, and the next reconnects. */
int store_open(const char *where, store **out, ferr *err);
/* store_open with a pool of `connections` for the calls of a PostgreSQL store (plus one
 * for LISTEN and the outbox's lock), so calls from several threads run in parallel; the
 * embedded store ignores it. store_open uses STORE_CONNECTIONS_DEFAULT. */
#define STORE_CONNECTIONS_DEFAULT 4
int store_open_pool(const char *where, int connections, store **out, ferr *err);
void store_close(store *st);
int store_schema_version(store *st); /* the migration level now in force */
/* True when where names a database server (a URL) rather than a data directory. */
bool store_is_url(const char *where);
const char *store_backend_name(store *st); /* "sqlite" or "postgresql" */

/* Inserts a new task and, when h is not NULL, its first history line, in one
 * transaction. A task id already present gives FERR_EXISTS. */
int store_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err);
/* Rewrites an existing task (spec and runtime state) and appends h when not NULL, in one
 * transaction. FERR_NOT_FOUND when the id is absent. */
int store_task_update(store *st, const task *t, const task_history_entry *h, ferr *err);
/* store_task_update plus the events of the list evs (may be NULL), all in one transaction. */
int store_task_update_ev(store *st, const task *t, const task_history_entry *h,
                         const store_event *evs, ferr *err);
/* Deletes a task and its history. FERR_NOT_FOUND when absent. */
int store_task_delete(store *st, const char *id, ferr *err);
/* store_task_delete plus the events of evs (may be NULL), in one transaction. */
int store_task_delete_ev(store *st, const char *id, const store_event *evs, ferr *err);
/* Reads one task by id (any account; the service checks ownership). */
int store_task_get(store *st, const char *id, task *out, ferr *err);
/* One page of an account's tasks, newest updated_ms first (then id). total counts every
 * match. The caller frees with task_list_free. */
int store_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                    task **out, int *n_out, int *total, ferr *err);
/* Every task of every account (start-up recovery). */
int store_task_all(store *st, task **out, int *n_out, ferr *err);
int store_task_count(store *st, const char *account);
/* Tasks of every account by state: counts[s] for s < n (the rest are ignored). */
int store_task_count_states(store *st, int *counts, int n, ferr *err);

/* A task keeps its newest this many history lines; older ones go as new ones come. */
#define STORE_HISTORY_MAX 1000

/* Appends a history line on its own (progress notes that change no state). */
int store_history_add(store *st, const char *id, const task_history_entry *h, ferr *err);
/* store_history_add plus the events of evs (may be NULL), in one transaction. */
int store_history_add_ev(store *st, const char *id, const task_history_entry *h,
                         const store_event *evs, ferr *err);
/* Where a playlist was: the entry that started last, with the loops played before it. */
typedef struct task_checkpoint {
    int file_index;
    int loops_done;
    char url[TASK_URL_MAX + 1]; /* the entry's URL then: a changed list voids the checkpoint */
    int64_t at_ms;
    int64_t offset_ms; /* how far into the entry it had played (0 at its FileStart) */
} task_checkpoint;

/* store_history_add_ev plus the task's playlist checkpoint (cp may be NULL), in one
 * transaction: a FileStart and the checkpoint it implies are never apart. */
int store_history_add_cp(store *st, const char *id, const task_history_entry *h,
                         const store_event *evs, const task_checkpoint *cp, ferr *err);
/* The task's checkpoint; FERR_NOT_FOUND when it has none. */
int store_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err);
/* Moves the checkpoint's offset to cp->offset_ms while it is still at cp's entry and loop
 * (a later FileStart wins); a task without a checkpoint (live source) is left alone. */
int store_checkpoint_offset(store *st, const char *id, const task_checkpoint *cp, ferr *err);

/* An account keeps its newest this many audit lines. */
#define STORE_AUDIT_MAX 10000

int store_audit_add(store *st, const task_audit_line *a, ferr *err);
/* One page of an account's audit trail, newest first, of one task when task_id is neither
 * NULL nor "". total counts every match. The caller frees *out with free(). */
int store_audit_list(store *st, const char *account, const char *task_id, int offset, int limit,
                     task_audit_line **out, int *n, int *total, ferr *err);

/* The task's history, oldest first (caller frees *out with free()). */
int store_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err);

/* --- the outbox: events wait here until their receiver answers 2xx --- */
/* The oldest live (not dead) event of each task, soonest next_ms first, at most limit of
 * them: only these may be in flight, which keeps each task's events in order. Only heads
 * after (after_ms, after_seq) in that order are listed (INT64_MIN, 0: from the start), so
 * the caller can page past heads it cannot start now. */
int store_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq, store_event **out,
                       ferr *err);
/* Removes a delivered event. */
int store_outbox_done(store *st, int64_t seq, ferr *err);
/* Records a failed try: attempts, the next try's time, the error; dead ends the retries
 * (the row stays, counted by store_outbox_counts, and next_ms is then the time it died). */
int store_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                       const char *error, ferr *err);
/* Events waiting for delivery and events whose retries ran out. */
int store_outbox_counts(store *st, int *pending, int *dead, ferr *err);
/* The outbox events of one task of account, newest first, at most limit of them (caller
 * frees *out with free()). Delivered events are not among them: delivery removes the row. */
int store_outbox_list_task(store *st, const char *account, const char *task_id, int limit,
                           task_callback_line **out, int *n, ferr *err);
/* Removes the dead events that died before before_ms; *removed tells how many. */
int store_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err);

/* --- the cluster: nodes sharing a PostgreSQL store (the embedded store is one node that
 * holds every task: these calls give FERR_UNAVAILABLE there). Times are the database's
 * clock, so nodes' clocks never compare with each other. --- */

/* A node as its heartbeat writes it and store_node_list reads it back. */
typedef struct store_node {
    char id[64];
    char labels[256]; /* a,b,c */
    int running;      /* relays running */
    int64_t bitrate_kbps;
    int max_running; /* its max_running_tasks, 0 = no limit */
    char state[16];  /* "live", "stopped" (left cleanly); the list shows "gone" past live_ms */
    int64_t started_ms, heartbeat_ms;
    int64_t age_ms; /* since the heartbeat (list only) */
    int leases;     /* tasks whose lease it holds now (list only) */
    bool draining;  /* hands its tasks to other nodes and takes none (store_node_drain) */
} store_node;

/* One lease held: the task, its epoch, and the task row's updated_ms (a change made through
 * another node shows there). */
typedef struct store_lease {
    char task_id[TASK_ID_MAX];
    int64_t epoch;
    int64_t updated_ms;
} store_lease;

/* True when the store can be shared by several nodes (PostgreSQL). */
bool store_is_shared(store *st);
/* Writes the node's row: load, labels, state, heartbeat = the database's now; reads back
 * its draining flag into n->draining. */
int store_node_beat(store *st, store_node *n, ferr *err);
/* Sets or clears the draining flag of a known node; FERR_NOT_FOUND for an unknown one. */
int store_node_drain(store *st, const char *node, bool on, ferr *err);
/* Every node, by id; one whose heartbeat is older than live_ms shows as "gone". The
 * caller frees *out with free(). */
int store_node_list(store *st, int64_t live_ms, store_node **out, int *n, ferr *err);
/* Moves the expiry of every unexpired lease node holds to now + lease_ms in one statement;
 * lists the leases it kept (the caller frees *out with free()). */
int store_lease_renew(store *st, const char *node, int64_t lease_ms, store_lease **out, int *n,
                      ferr *err);
/* Tasks with no lease, or one expired more than skew_ms ago, counted by the region their
 * spec names ("" = any node may run them). */
typedef struct store_claimable {
    char region[64];
    int count;
} store_claimable;

/* The caller frees *out with free(); *n groups. */
int store_lease_claimable(store *st, int64_t skew_ms, store_claimable **out, int *n, ferr *err);
/* Claims at most max such tasks, oldest first, for node until now + lease_ms (epoch + 1),
 * skipping rows another node is claiming (SKIP LOCKED). Tasks whose spec names a region
 * are claimed only when labels (a,b,c) hold it. Lists the claimed leases. */
int store_lease_claim(store *st, const char *node, const char *labels, int64_t lease_ms,
                      int64_t skew_ms, int max, store_lease **out, int *n, ferr *err);
/* Gives up node's lease on task while it is still at epoch (a hand-off): it stays with
 * its epoch and expired, so the next claim, at once, takes epoch + 1. */
int store_lease_hand_off(store *st, const char *task_id, const char *node, int64_t epoch,
                         ferr *err);
/* Gives up every lease of node (a clean stop: others may claim at once). */
int store_lease_release(store *st, const char *node, ferr *err);
/* Tells the nodes that listen on the store (NOTIFY ferry_tasks, payload). */
int store_signal(store *st, const char *payload, ferr *err);
/* Waits up to timeout_ms for signals (the first call starts listening); calls fn for each.
 * FERR_OK also on a timeout. Use a store handle of its own: it holds the connection. */
int store_signal_wait(store *st, int timeout_ms, void (*fn)(void *ctx, const char *payload),
                      void *ctx, ferr *err);
/* Counts one more request of key (an account and an action) in the database clock's
 * current second, for every node at once; *n: the requests of key in that second so far,
 * this one included. */
int store_rate_count(store *st, const char *key, int64_t *n, ferr *err);
/* Removes the counters of seconds past. */
int store_rate_prune(store *st, ferr *err);

#endif
