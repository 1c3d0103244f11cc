/* store_pg_cluster.c — the cluster's tables on PostgreSQL: node heartbeats, task leases
 * (renewed in one statement, claimed with SKIP LOCKED, fenced by epoch), the signals and the
 * request counters the nodes share. */
#include "store/store_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define SIGNAL_CHANNEL "ferry_tasks"

/* One int column: a flag read back. */
static void read_flag(const PGresult *r, int i, void *dst)
{
    *(int *)dst = (int)col_int(r, i, 0);
}

int pg_node_beat(store *st, store_node *n, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, n->id);
    arg_str(&a, n->labels);
    arg_int(&a, n->running);
    arg_int(&a, n->bitrate_kbps);
    arg_int(&a, n->max_running);
    arg_str(&a, n->state);
    arg_int(&a, n->started_ms);
    int *flag = NULL, rows = 0;
    int rc =
        pg_select(st,
                  "INSERT INTO nodes(id, labels, running, bitrate_kbps, max_running, state, "
                  "started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, " PG_NOW_MS ") "
                  "ON CONFLICT (id) DO UPDATE SET labels = $2, running = $3, bitrate_kbps = $4, "
                  "max_running = $5, state = $6, started_ms = $7, heartbeat_ms = " PG_NOW_MS
                  " RETURNING draining",
                  &a, "node heartbeat", n->id, sizeof(int), read_flag, (void **)&flag, &rows, err);
    n->draining = rc == FERR_OK && rows == 1 && flag[0] != 0;
    free(flag);
    return rc;
}

int pg_node_drain(store *st, const char *node, bool on, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, node);
    arg_int(&a, on ? 1 : 0);
    int *flag = NULL, rows = 0;
    int rc = pg_select(st, "UPDATE nodes SET draining = $2 WHERE id = $1 RETURNING draining", &a,
                       "set the draining flag of node", node, sizeof(int), read_flag,
                       (void **)&flag, &rows, err);
    free(flag);
    if (rc == FERR_OK && rows == 0)
        return ferr_set(err, FERR_NOT_FOUND, "node", "No node has the id %s.", node);
    return rc;
}

static void read_node(const PGresult *r, int i, void *dst)
{
    store_node *n = dst;
    snprintf(n->id, sizeof(n->id), "%s", col_text(r, i, 0));
    snprintf(n->labels, sizeof(n->labels), "%s", col_text(r, i, 1));
    n->running = (int)col_int(r, i, 2);
    n->bitrate_kbps = col_int(r, i, 3);
    n->max_running = (int)col_int(r, i, 4);
    snprintf(n->state, sizeof(n->state), "%s", col_text(r, i, 5));
    n->started_ms = col_int(r, i, 6);
    n->heartbeat_ms = col_int(r, i, 7);
    n->age_ms = col_int(r, i, 8);
    n->leases = (int)col_int(r, i, 9);
    n->draining = col_int(r, i, 10) != 0;
}

int pg_node_list(store *st, int64_t live_ms, store_node **out, int *n, ferr *err)
{
    pg_args a = {0};
    arg_int(&a, live_ms);
    return pg_select(st,
                     "SELECT id, labels, running, bitrate_kbps, max_running,"
                     " CASE WHEN state = 'live' AND heartbeat_ms < " PG_NOW_MS " - $1 THEN 'gone'"
                     " ELSE state END, started_ms, heartbeat_ms, " PG_NOW_MS " - heartbeat_ms,"
                     " (SELECT COUNT(*) FROM task_lease l WHERE l.node_id = nodes.id"
                     " AND l.expires_ms > " PG_NOW_MS "), draining FROM nodes ORDER BY id",
                     &a, "list nodes", NULL, sizeof(**out), read_node, (void **)out, n, err);
}

/* A row of (task_id, epoch, updated_ms). */
static void read_lease(const PGresult *r, int i, void *dst)
{
    store_lease *l = dst;
    snprintf(l->task_id, sizeof(l->task_id), "%s", col_text(r, i, 0));
    l->epoch = col_int(r, i, 1);
    l->updated_ms = col_int(r, i, 2);
}

static int lease_query(store *st, const char *sql, const pg_args *a, const char *what,
                       store_lease **out, int *n, ferr *err)
{
    return pg_select(st, sql, a, what, NULL, sizeof(**out), read_lease, (void **)out, n, err);
}

/* Only a lease not yet expired is renewed: one that ran out may already be another's. */
int pg_lease_renew(store *st, const char *node, int64_t lease_ms, store_lease **out, int *n,
                   ferr *err)
{
    pg_args a = {0};
    arg_str(&a, node);
    arg_int(&a, lease_ms);
    return lease_query(st,
                       "UPDATE task_lease l SET expires_ms = " PG_NOW_MS " + $2 FROM tasks t"
                       " WHERE t.id = l.task_id AND l.node_id = $1 AND l.expires_ms > " PG_NOW_MS
                       " RETURNING l.task_id, l.epoch, t.updated_ms",
                       &a, "renew leases", out, n, err);
}

#define CLAIMABLE                                                                                  \
    " FROM tasks t LEFT JOIN task_lease l ON l.task_id = t.id"                                     \
    " WHERE (l.task_id IS NULL OR l.expires_ms < " PG_NOW_MS " - $1)"

/* A task's region, from its spec's text (a spec that does not parse is quarantined, and a
 * JSON cast of it would fail the whole statement). */
#define TASK_REGION "COALESCE(substring(t.spec from '\"region\":\\s*\"([^\"]*)\"'), '')"

static void read_claimable(const PGresult *r, int i, void *dst)
{
    store_claimable *c = dst;
    snprintf(c->region, sizeof(c->region), "%s", col_text(r, i, 0));
    c->count = (int)col_int(r, i, 1);
}

int pg_lease_claimable(store *st, int64_t skew_ms, store_claimable **out, int *n, ferr *err)
{
    pg_args a = {0};
    arg_int(&a, skew_ms);
    return pg_select(st, "SELECT " TASK_REGION ", COUNT(*)" CLAIMABLE " GROUP BY 1", &a,
                     "count claimable tasks", NULL, sizeof(**out), read_claimable, (void **)out, n,
                     err);
}

/* The candidates are locked (FOR UPDATE OF t SKIP LOCKED), so two nodes claiming at once
 * take different tasks; the upsert's WHERE checks the expiry again, so a lease another node
 * took in between is never taken over. A task with a region goes only to a node labelled
 * with it. */
int pg_lease_claim(store *st, const char *node, const char *labels, int64_t lease_ms,
                   int64_t skew_ms, int max, store_lease **out, int *n, ferr *err)
{
    pg_args a = {0};
    arg_int(&a, skew_ms);
    arg_str(&a, node);
    arg_int(&a, lease_ms);
    arg_int(&a, max);
    arg_str(&a, labels);
    return lease_query(
        st,
        "WITH cand AS (SELECT t.id, t.updated_ms" CLAIMABLE " AND " TASK_REGION " = ANY("
        " string_to_array(',' || $5, ',')) ORDER BY t.created_ms, t.id LIMIT $4 FOR UPDATE OF t "
        "SKIP LOCKED)"
        " INSERT INTO task_lease AS l (task_id, node_id, expires_ms, epoch)"
        " SELECT id, $2, " PG_NOW_MS " + $3, 1 FROM cand"
        " ON CONFLICT (task_id) DO UPDATE SET node_id = $2, expires_ms = " PG_NOW_MS " + $3,"
        " epoch = l.epoch + 1 WHERE l.expires_ms < " PG_NOW_MS " - $1"
        " RETURNING l.task_id, l.epoch,"
        " (SELECT updated_ms FROM tasks WHERE tasks.id = l.task_id)",
        &a, "claim tasks", out, n, err);
}

/* The row stays, expired long ago, with its epoch: the next claim takes epoch + 1. */
int pg_lease_hand_off(store *st, const char *task_id, const char *node, int64_t epoch, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, task_id);
    arg_str(&a, node);
    arg_int(&a, epoch);
    rc = pg_run(st,
                "UPDATE task_lease SET expires_ms = 0 WHERE task_id = $1 AND node_id = $2 AND "
                "epoch = $3",
                &a, "hand over the lease of task", task_id, err);
    pg_leave(st);
    return rc;
}

int pg_lease_release(store *st, const char *node, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, node);
    rc = pg_run(st, "DELETE FROM task_lease WHERE node_id = $1", &a, "release leases", node, err);
    if (rc == FERR_OK)
        rc = pg_run(st, "UPDATE nodes SET state = 'stopped', running = 0 WHERE id = $1", &a,
                    "node stopped", node, err);
    pg_leave(st);
    return rc;
}

int pg_signal(store *st, const char *payload, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, payload);
    rc = pg_run(st, "SELECT pg_notify('" SIGNAL_CHANNEL "', $1)", &a, "signal", NULL, err);
    pg_leave(st);
    return rc;
}

static void drain_notifies(store *st, void (*fn)(void *ctx, const char *payload), void *ctx)
{
    PGnotify *nt;
    PQconsumeInput(pgc(st)->conn);
    while ((nt = PQnotifies(pgc(st)->conn)) != NULL) {
        fn(ctx, nt->extra);
        PQfreemem(nt);
    }
}

int pg_signal_wait(store *st, int timeout_ms, void (*fn)(void *ctx, const char *payload), void *ctx,
                   ferr *err)
{
    int rc = pg_enter_session(st, err);
    if (rc != FERR_OK)
        return rc;
    if (!pgc(st)->listening) {
        rc = pg_run(st, "LISTEN " SIGNAL_CHANNEL, NULL, "listen", NULL, err);
        pgc(st)->listening = rc == FERR_OK;
    }
    if (rc == FERR_OK)
        drain_notifies(st, fn, ctx); /* some may have come with a statement's answer */
    if (rc == FERR_OK) {
        struct pollfd p = {.fd = PQsocket(pgc(st)->conn), .events = POLLIN};
        int got = poll(&p, 1, timeout_ms);
        if (got < 0 && errno != EINTR)
            rc = ferr_set(err, FERR_INTERNAL, "", "store: poll: %s", strerror(errno));
        if (got > 0 && !PQconsumeInput(pgc(st)->conn))
            rc = ferr_set(err, FERR_INTERNAL, "", "store: connection lost while listening");
        else
            drain_notifies(st, fn, ctx);
    }
    pg_leave(st);
    return rc;
}

/* The second by the database's clock, which every node shares. */
#define PG_NOW_S "floor(extract(epoch from clock_timestamp()))::bigint"

int pg_rate_count(store *st, const char *key, int64_t *n, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, key);
    PGresult *r = pg_query(st,
                           "INSERT INTO api_rate AS c (key, second, n) VALUES ($1, " PG_NOW_S
                           ", 1) ON CONFLICT (key, second) DO UPDATE SET n = c.n + 1 RETURNING n",
                           &a, "count a request of", key, err);
    if (r)
        *n = col_int(r, 0, 0);
    rc = r ? FERR_OK : FERR_INTERNAL;
    PQclear(r);
    pg_leave(st);
    return rc;
}

int pg_rate_prune(store *st, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    rc = pg_run(st, "DELETE FROM api_rate WHERE second < " PG_NOW_S " - 2", NULL,
                "prune request counters", NULL, err);
    pg_leave(st);
    return rc;
}
