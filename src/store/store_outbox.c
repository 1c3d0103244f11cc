/* store_outbox.c — the callback outbox: events inserted in the transaction of the change that
 * caused them, listed oldest first per task, retried, removed once delivered, purged when dead,
 * and one task's events listed for its account. */
#include "store/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int event_insert(store *st, const store_event *ev, ferr *err)
{
    sqlite3_stmt *s = sq(st)->q[Q_EV_ADD];
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

int events_insert(store *st, const store_event *evs, ferr *err)
{
    int rc = FERR_OK;
    for (const store_event *ev = evs; ev && rc == FERR_OK; ev = ev->next)
        rc = event_insert(st, ev, err);
    return rc;
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

int sqlite_outbox_heads(store *st, int limit, int64_t after_ms, int64_t after_seq,
                        store_event **out, ferr *err)
{
    *out = NULL;
    store_event **tail = out;
    int rc = FERR_OK, step;
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_OB_HEADS];
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

int sqlite_outbox_done(store *st, int64_t seq, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_OB_DONE];
    sqlite3_bind_int64(s, 1, seq);
    int rc = run(st, s, "remove delivered event", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    unlock(st);
    return rc;
}

int sqlite_outbox_retry(store *st, int64_t seq, int attempts, int64_t next_ms, bool dead,
                        const char *error, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_OB_RETRY];
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

int sqlite_outbox_counts(store *st, int *pending, int *dead, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_OB_COUNTS];
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

int sqlite_outbox_purge(store *st, int64_t before_ms, int *removed, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_OB_PURGE];
    sqlite3_bind_int64(s, 1, before_ms);
    int rc =
        run(st, s, "remove expired dead events", NULL, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
    *removed = rc == FERR_OK ? sqlite3_changes(sq(st)->db) : 0;
    unlock(st);
    return rc;
}

static void read_callback_line(sqlite3_stmt *s, task_callback_line *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", col_str(s, 0));
    snprintf(c->type, sizeof(c->type), "%s", col_str(s, 1));
    c->created_ms = sqlite3_column_int64(s, 2);
    c->next_ms = sqlite3_column_int64(s, 3);
    c->attempts = sqlite3_column_int(s, 4);
    c->dead = sqlite3_column_int(s, 5) != 0;
    snprintf(c->last_error, sizeof(c->last_error), "%s", col_str(s, 6));
}

int sqlite_outbox_list_task(store *st, const char *account, const char *task_id, int limit,
                            task_callback_line **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    if (limit <= 0)
        return FERR_OK;
    task_callback_line *arr = calloc((size_t)limit, sizeof(*arr));
    if (!arr)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    int rc = FERR_OK, step = SQLITE_DONE, count = 0;
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_OB_TASK];
    bind_str(s, 1, task_id);
    bind_str(s, 2, account);
    sqlite3_bind_int(s, 3, limit);
    while (count < limit && (step = sqlite3_step(s)) == SQLITE_ROW)
        read_callback_line(s, &arr[count++]);
    if (count < limit && step != SQLITE_DONE)
        rc = db_error(st, err, "list the outbox of task", task_id);
    finish(s);
    unlock(st);
    if (rc != FERR_OK) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = count;
    return FERR_OK;
}
