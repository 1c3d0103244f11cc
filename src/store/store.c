/* store.c — the store's front: picks the backend a location names (a postgresql:// URL or
 * else the embedded SQLite data directory) and hands every call of store.h to it. */
#include "store/store_backend.h"

#include <stdlib.h>

#include "common/metrics.h"

/* The backends that claim a location by its form, tried in order; SQLite takes the rest. */
static const store_backend *const backends[] = {&store_pg_backend};

static const store_backend *backend_for(const char *where)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (where && backends[i]->claims(where))
            return backends[i];
    return &store_sqlite_backend;
}

/* BEGIN to COMMIT or ROLLBACK of every backend's write transactions, for /metrics. */
static metrics_histogram tx_seconds = {.bounds = metrics_latency_bounds,
                                       .n_bounds = METRICS_LATENCY_N};

static void collect_store(metrics_buf *b)
{
    const char *name = "ferry_store_transaction_duration_seconds";
    metrics_family(b, name, "histogram",
                   "Store write transactions, from BEGIN to COMMIT (synchronous) or ROLLBACK.");
    metrics_histogram_write(b, name, NULL, 0, &tx_seconds);
}

void store_observe_tx_us(int64_t us)
{
    metrics_histogram_observe_us(&tx_seconds, us);
}

bool store_is_url(const char *where)
{
    return backend_for(where) != &store_sqlite_backend;
}

int store_open(const char *where, store **out, ferr *err)
{
    return store_open_pool(where, STORE_CONNECTIONS_DEFAULT, out, err);
}

int store_open_pool(const char *where, int connections, store **out, ferr *err)
{
    *out = NULL;
    const store_backend *be = backend_for(where);
    int rc = be->open(where, connections, out, err);
    if (rc == FERR_OK)
        metrics_register(collect_store);
    return rc;
}

void store_close(store *st)
{
    if (st)
        st->be->close(st);
}

int store_schema_version(store *st)
{
    return st->version;
}

const char *store_backend_name(store *st)
{
    return st->be->name;
}

/* --- tasks --- */

int store_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err)
{
    return st->be->task_insert(st, t, h, err);
}

int store_task_update(store *st, const task *t, const task_history_entry *h, ferr *err)
{
    return st->be->task_update(st, t, h, NULL, err);
}

int store_task_update_ev(store *st, const task *t, const task_history_entry *h,
                         const store_event *evs, ferr *err)
{
    return st->be->task_update(st, t, h, evs, err);
}

int store_task_delete(store *st, const char *id, ferr *err)
{
    return st->be->task_delete(st, id, NULL, err);
}

int store_task_delete_ev(store *st, const char *id, const store_event *evs, ferr *err)
{
    return st->be->task_delete(st, id, evs, err);
}

int store_task_get(store *st, const char *id, task *out, ferr *err)
{
    return st->be->task_get(st, id, out, err);
}

int store_task_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                    task **out, int *n_out, int *total, ferr *err)
{
    return st->be->task_list(st, account, f, offset, limit, out, n_out, total, err);
}

int store_task_all(store *st, task **out, int *n_out, ferr *err)
{
    return st->be->task_all(st, out, n_out, err);
}

int store_task_count(store *st, const char *account)
{
    return st->be->task_count(st, account);
}

int store_task_count_states(store *st, int *counts, int n, ferr *err)
{
    return st->be->task_count_states(st, counts, n, err);
}

/* --- history, checkpoints, audit --- */

int store_history_add(store *st, const char *id, const task_history_entry *h, ferr *err)
{
    return st->be->history_add(st, id, h, NULL, NULL, err);
}

int store_history_add_ev(store *st, const char *id, const task_history_entry *h,
                         const store_event *evs, ferr *err)
{
    return st->be->history_add(st, id, h, evs, NULL, err);
}

int store_history_add_cp(store *st, const char *id, const task_history_entry *h,
                         const store_event *evs, const task_checkpoint *cp, ferr *err)
{
    return st->be->history_add(st, id, h, evs, cp, err);
}

int store_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err)
{
    return st->be->history_list(st, id, out, n, err);
}

int store_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err)
{
    return st->be->checkpoint_get(st, id, out, err);
}

int store_checkpoint_offset(store *st, const char *id, const task_checkpoint *cp, ferr *err)
{
    return st->be->checkpoint_offset(st, id, cp, err);
}

int store_audit_add(store *st, const task_audit_line *a, ferr *err)
{
    return st->be->audit_add(st, a, err);
}

int store_audit_list(store *st, const char *account, const char *task_id, int offset, int limit,
                     task_audit_line **out, int *n, int *total, ferr *err)
{
    return st->be->audit_list(st, account, task_id, offset, limit, out, n, total, err);
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

int store_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq, store_event **out,
                       ferr *err)
{
    return st->be->outbox_heads(st, limit, after_ms, after_seq, out, err);
}

int store_outbox_done(store *st, int64_t seq, ferr *err)
{
    return st->be->outbox_done(st, seq, err);
}

int store_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                       const char *error, ferr *err)
{
    return st->be->outbox_retry(st, seq, attempts, next_ms, dead, error, err);
}

int store_outbox_counts(store *st, int *pending, int *dead, ferr *err)
{
    return st->be->outbox_counts(st, pending, dead, err);
}

int store_outbox_list_task(store *st, const char *account, const char *task_id, int limit,
                           task_callback_line **out, int *n, ferr *err)
{
    return st->be->outbox_list_task(st, account, task_id, limit, out, n, err);
}

int store_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err)
{
    return st->be->outbox_purge(st, before_ms, removed, err);
}

/* --- the cluster --- */

static int single_node(ferr *err)
{
    return ferr_set(err, FERR_UNAVAILABLE, "", "store: the embedded store has a single node");
}

bool store_is_shared(store *st)
{
    return st->be->lease_renew != NULL;
}

int store_node_beat(store *st, store_node *n, ferr *err)
{
    return st->be->node_beat ? st->be->node_beat(st, n, err) : single_node(err);
}

int store_node_drain(store *st, const char *node, bool on, ferr *err)
{
    return st->be->node_drain ? st->be->node_drain(st, node, on, err) : single_node(err);
}

int store_node_list(store *st, int64_t live_ms, store_node **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    return st->be->node_list ? st->be->node_list(st, live_ms, out, n, err) : single_node(err);
}

int store_lease_renew(store *st, const char *node, int64_t lease_ms, store_lease **out, int *n,
                      ferr *err)
{
    *out = NULL;
    *n = 0;
    return st->be->lease_renew ? st->be->lease_renew(st, node, lease_ms, out, n, err)
                               : single_node(err);
}

int store_lease_claimable(store *st, int64_t skew_ms, store_claimable **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    return st->be->lease_claimable ? st->be->lease_claimable(st, skew_ms, out, n, err)
                                   : single_node(err);
}

int store_lease_claim(store *st, const char *node, const char *labels, int64_t lease_ms,
                      int64_t skew_ms, int max, store_lease **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    if (!st->be->lease_claim)
        return single_node(err);
    return st->be->lease_claim(st, node, labels, lease_ms, skew_ms, max, out, n, err);
}

int store_lease_hand_off(store *st, const char *task_id, const char *node, int64_t epoch, ferr *err)
{
    return st->be->lease_hand_off ? st->be->lease_hand_off(st, task_id, node, epoch, err)
                                  : single_node(err);
}

int store_lease_release(store *st, const char *node, ferr *err)
{
    return st->be->lease_release ? st->be->lease_release(st, node, err) : single_node(err);
}

int store_signal(store *st, const char *payload, ferr *err)
{
    return st->be->signal ? st->be->signal(st, payload, err) : single_node(err);
}

int store_signal_wait(store *st, int timeout_ms, void (*fn)(void *ctx, const char *payload),
                      void *ctx, ferr *err)
{
    return st->be->signal_wait ? st->be->signal_wait(st, timeout_ms, fn, ctx, err)
                               : single_node(err);
}

int store_rate_count(store *st, const char *key, int64_t *n, ferr *err)
{
    *n = 0;
    return st->be->rate_count ? st->be->rate_count(st, key, n, err) : single_node(err);
}

int store_rate_prune(store *st, ferr *err)
{
    return st->be->rate_prune ? st->be->rate_prune(st, err) : single_node(err);
}
