/* store_pg_outbox.c — the callback outbox on PostgreSQL: events inserted in the transaction
 * of the change that caused them, the oldest of each task listed, retried, removed once
 * delivered, purged when dead, and one task's events listed for its account. */
#include "store/store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int event_insert(store *st, const store_event *ev, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, ev->id);
    arg_str(&a, ev->task_id);
    arg_str(&a, ev->account);
    arg_int(&a, ev->dialect);
    arg_str(&a, ev->type);
    arg_str(&a, ev->url);
    arg_str(&a, ev->body);
    arg_int(&a, ev->created_ms);
    arg_int(&a, ev->next_ms);
    return pg_run(st,
                  "INSERT INTO outbox(event_id, task_id, account, dialect, type, url, body, "
                  "created_ms, attempts, next_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)",
                  &a, "add event of task", ev->task_id, err);
}

int pg_events_insert(store *st, const store_event *evs, ferr *err)
{
    int rc = FERR_OK;
    for (const store_event *ev = evs; ev && rc == FERR_OK; ev = ev->next)
        rc = event_insert(st, ev, err);
    return rc;
}

static store_event *read_event(const PGresult *r, int i)
{
    store_event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->seq = col_int(r, i, 0);
    snprintf(ev->id, sizeof(ev->id), "%s", col_text(r, i, 1));
    snprintf(ev->task_id, sizeof(ev->task_id), "%s", col_text(r, i, 2));
    snprintf(ev->account, sizeof(ev->account), "%s", col_text(r, i, 3));
    ev->dialect = (int)col_int(r, i, 4);
    snprintf(ev->type, sizeof(ev->type), "%s", col_text(r, i, 5));
    ev->url = strdup(col_text(r, i, 6));
    ev->body = strdup(col_text(r, i, 7));
    ev->attempts = (int)col_int(r, i, 8);
    ev->created_ms = col_int(r, i, 9);
    ev->next_ms = col_int(r, i, 10);
    if (!ev->url || !ev->body) {
        store_event_free(ev);
        return NULL;
    }
    return ev;
}

/* Several nodes share the outbox: one of them, the holder of a session advisory lock,
 * sends every event, so each goes once and a task's events in order. The lock goes with the
 * holder's connection (a crash, a lost network), and the next node to look takes it. */
static bool outbox_sender(store *st)
{
    pg_conn *p = pgc(st);
    if (p->outbox_sender)
        return true;
    PGresult *r = pg_query(st, "SELECT pg_try_advisory_lock(6716986718291)", NULL,
                           "claim the outbox", NULL, NULL);
    p->outbox_sender = r && strcmp(col_text(r, 0, 0), "t") == 0;
    PQclear(r);
    return p->outbox_sender;
}

int pg_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq, store_event **out,
                    ferr *err)
{
    *out = NULL;
    int rc = pg_enter_session(st, err);
    if (rc != FERR_OK)
        return rc;
    if (!outbox_sender(st)) { /* another node sends the events */
        pg_leave(st);
        return FERR_OK;
    }
    pg_args a = {0};
    arg_int(&a, limit);
    arg_int(&a, after_ms);
    arg_int(&a, after_seq);
    PGresult *r = pg_query(
        st,
        "SELECT seq, event_id, task_id, account, dialect, type, url, body, attempts, "
        "created_ms, next_ms FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox "
        "WHERE dead = 0 GROUP BY account, task_id) AND (next_ms, seq) > ($2::bigint, $3::bigint) "
        "ORDER BY next_ms, seq LIMIT $1",
        &a, "read the outbox", NULL, err);
    rc = r ? FERR_OK : FERR_INTERNAL;
    store_event **tail = out;
    for (int i = 0; rc == FERR_OK && i < PQntuples(r); i++) {
        *tail = read_event(r, i);
        if (!*tail)
            rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
        else
            tail = &(*tail)->next;
    }
    PQclear(r);
    pg_leave(st);
    if (rc != FERR_OK) {
        store_event_free(*out);
        *out = NULL;
    }
    return rc;
}

int pg_outbox_done(store *st, int64_t seq, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_int(&a, seq);
    rc = pg_run(st, "DELETE FROM outbox WHERE seq = $1", &a, "remove delivered event", NULL, err);
    pg_leave(st);
    return rc;
}

int pg_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                    const char *error, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_int(&a, seq);
    arg_int(&a, attempts);
    arg_int(&a, next_ms);
    arg_int(&a, dead ? 1 : 0);
    arg_str(&a, error);
    rc = pg_run(st,
                "UPDATE outbox SET attempts = $2, next_ms = $3, dead = $4, last_error = $5 "
                "WHERE seq = $1",
                &a, "record a failed delivery", NULL, err);
    pg_leave(st);
    return rc;
}

int pg_outbox_counts(store *st, int *pending, int *dead, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    PGresult *r = pg_query(st,
                           "SELECT COUNT(*) FILTER (WHERE dead = 0), "
                           "COUNT(*) FILTER (WHERE dead = 1) FROM outbox",
                           NULL, "count the outbox", NULL, err);
    if (r) {
        *pending = (int)col_int(r, 0, 0);
        *dead = (int)col_int(r, 0, 1);
    }
    rc = r ? FERR_OK : FERR_INTERNAL;
    PQclear(r);
    pg_leave(st);
    return rc;
}

int pg_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err)
{
    *removed = 0;
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_int(&a, before_ms);
    rc = pg_run(st, "DELETE FROM outbox WHERE dead = 1 AND next_ms < $1", &a,
                "remove expired dead events", NULL, err);
    if (rc == FERR_OK)
        *removed = (int)pgc(st)->changes;
    pg_leave(st);
    return rc;
}

static void read_callback_line(const PGresult *r, int i, task_callback_line *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", col_text(r, i, 0));
    snprintf(c->type, sizeof(c->type), "%s", col_text(r, i, 1));
    c->created_ms = col_int(r, i, 2);
    c->next_ms = col_int(r, i, 3);
    c->attempts = (int)col_int(r, i, 4);
    c->dead = col_int(r, i, 5) != 0;
    snprintf(c->last_error, sizeof(c->last_error), "%s", col_text(r, i, 6));
}

int pg_outbox_list_task(store *st, const char *account, const char *task_id, int limit,
                        task_callback_line **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    if (limit <= 0)
        return FERR_OK;
    task_callback_line *arr = calloc((size_t)limit, sizeof(*arr));
    if (!arr)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    int rc = pg_enter(st, err);
    if (rc != FERR_OK) {
        free(arr);
        return rc;
    }
    pg_args a = {0};
    arg_str(&a, task_id);
    arg_str(&a, account);
    arg_int(&a, limit);
    PGresult *r = pg_query(st,
                           "SELECT event_id, type, created_ms, next_ms, attempts, dead, "
                           "last_error FROM outbox WHERE dead IN (0, 1) AND task_id = $1 AND "
                           "account = $2 ORDER BY seq DESC LIMIT $3",
                           &a, "list the outbox of task", task_id, err);
    int count = 0;
    for (; r && count < limit && count < PQntuples(r); count++)
        read_callback_line(r, count, &arr[count]);
    rc = r ? FERR_OK : FERR_INTERNAL;
    PQclear(r);
    pg_leave(st);
    if (rc != FERR_OK) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = count;
    return FERR_OK;
}
