/* store_backend.h — the descriptor every store backend fills (SQLite, PostgreSQL): its
 * operations behind store.h, chosen at open by the store's location. Only src/store/. */
#ifndef FERRY_STORE_BACKEND_H
#define FERRY_STORE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

typedef struct store_backend store_backend;

/* What every backend's handle starts with: store.c dispatches through be. */
struct store {
    const store_backend *be;
    int version; /* the migration level in force, set by the backend's open */
};

/* One backend: its name for logs, whether a location is its own, and an operation for
 * every call of store.h (the *_ev and *_add variants reach the widest form). Every
 * operation is thread-safe and leaves nothing half-written on failure. */
struct store_backend {
    const char *name;
    bool (*claims)(const char *where); /* a URL of its scheme; NULL: the default backend */
    int (*open)(const char *where, int connections, store **out, ferr *err);
    void (*close)(store *st);

    int (*task_insert)(store *st, const task *t, const task_history_entry *h, ferr *err);
    int (*task_update)(store *st, const task *t, const task_history_entry *h,
                       const store_event *evs, ferr *err);
    int (*task_delete)(store *st, const char *id, const store_event *evs, ferr *err);
    int (*task_get)(store *st, const char *id, task *out, ferr *err);
    int (*task_list)(store *st, const char *account, const task_filter *f, int offset, int limit,
                     task **out, int *n_out, int *total, ferr *err);
    int (*task_all)(store *st, task **out, int *n_out, ferr *err);
    int (*task_count)(store *st, const char *account);
    int (*task_count_states)(store *st, int *counts, int n, ferr *err);

    int (*history_add)(store *st, const char *id, const task_history_entry *h,
                       const store_event *evs, const task_checkpoint *cp, ferr *err);
    int (*history_list)(store *st, const char *id, task_history_entry **out, int *n, ferr *err);
    int (*checkpoint_get)(store *st, const char *id, task_checkpoint *out, ferr *err);
    int (*checkpoint_offset)(store *st, const char *id, const task_checkpoint *cp, ferr *err);
    int (*audit_add)(store *st, const task_audit_line *a, ferr *err);
    int (*audit_list)(store *st, const char *account, const char *task_id, int offset, int limit,
                      task_audit_line **out, int *n, int *total, ferr *err);

    int (*outbox_heads)(store *st, int limit, int64_t after_ms, int64_t after_seq,
                        store_event **out, ferr *err);
    int (*outbox_done)(store *st, int64_t seq, ferr *err);
    int (*outbox_retry)(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                        const char *error, ferr *err);
    int (*outbox_counts)(store *st, int *pending, int *dead, ferr *err);
    int (*outbox_list_task)(store *st, const char *account, const char *task_id, int limit,
                            task_callback_line **out, int *n, ferr *err);
    int (*outbox_purge)(store *st, int64_t before_ms, int *removed, ferr *err);

    /* the cluster: NULL in a backend that cannot be shared */
    int (*node_beat)(store *st, store_node *n, ferr *err);
    int (*node_drain)(store *st, const char *node, bool on, ferr *err);
    int (*node_list)(store *st, int64_t live_ms, store_node **out, int *n, ferr *err);
    int (*lease_renew)(store *st, const char *node, int64_t lease_ms, store_lease **out, int *n,
                       ferr *err);
    int (*lease_claimable)(store *st, int64_t skew_ms, store_claimable **out, int *n, ferr *err);
    int (*lease_claim)(store *st, const char *node, const char *labels, int64_t lease_ms,
                       int64_t skew_ms, int max, store_lease **out, int *n, ferr *err);
    int (*lease_hand_off)(store *st, const char *task_id, const char *node, int64_t epoch,
                          ferr *err);
    int (*lease_release)(store *st, const char *node, ferr *err);
    int (*signal)(store *st, const char *payload, ferr *err);
    int (*signal_wait)(store *st, int timeout_ms, void (*fn)(void *ctx, const char *payload),
                       void *ctx, ferr *err);
    int (*rate_count)(store *st, const char *key, int64_t *n, ferr *err);
    int (*rate_prune)(store *st, ferr *err);
};

extern const store_backend store_sqlite_backend; /* store_sqlite.c: DATA_DIR/ferry.db */
extern const store_backend store_pg_backend;     /* store_pg.c: postgresql:// URLs */

/* --- what the backends share (store_rows.c) --- */

/* A tasks row as its columns' values (strings are the row's, never NULL). */
typedef struct store_task_row {
    const char *id, *account, *reason, *last_error, *spec;
    int dialect, state;
    int64_t created_ms, updated_ms, started_ms, exit_ms;
} store_task_row;

/* Fills out from row; a spec that does not parse quarantines the task (TASK_OFFLINE,
 * TASK_REASON_QUARANTINED). On failure out is left zeroed. */
int store_task_from_row(const store_task_row *row, task *out, ferr *err);

/* The list's LIKE patterns (value anywhere, % _ and \ literal, escaped by \): NULL for a
 * filter that is absent or empty. */
typedef struct store_patterns {
    char *id, *name, *dst, *any;
} store_patterns;

int store_make_patterns(const task_filter *f, store_patterns *p, ferr *err);
void store_free_patterns(store_patterns *p);

/* A write transaction's BEGIN..COMMIT (or ROLLBACK) time, for /metrics (store.c). */
void store_observe_tx_us(int64_t us);

#endif
