/* store_pg_history.c — task history and playlist checkpoints on PostgreSQL: the line a
 * transition or a note appends (with its events and checkpoint, in one transaction), a
 * task's history read back oldest first, and its checkpoint. */
#include "store/store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pg_history_insert(store *st, const char *id, const task_history_entry *h, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, id);
    arg_int(&a, h->at_ms);
    arg_int(&a, (int)h->from);
    arg_int(&a, (int)h->to);
    arg_str(&a, h->reason);
    arg_str(&a, h->detail);
    int rc = pg_run(st,
                    "INSERT INTO task_history(task_id, at_ms, from_state, to_state, reason, "
                    "detail) VALUES ($1, $2, $3, $4, $5, $6)",
                    &a, "add history of task", id, err);
    if (rc != FERR_OK && strcmp(pgc(st)->sqlstate, PG_FOREIGN_KEY_VIOLATION) == 0)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    if (rc != FERR_OK)
        return rc;
    /* a task keeps its newest STORE_HISTORY_MAX lines: no task can fill the shared disk */
    a = (pg_args){0};
    arg_str(&a, id);
    arg_int(&a, STORE_HISTORY_MAX - 1);
    return pg_run(st,
                  "DELETE FROM task_history WHERE task_id = $1 AND seq < (SELECT seq FROM "
                  "task_history WHERE task_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
                  &a, "trim history of task", id, err);
}

int pg_checkpoint_set(store *st, const char *id, const task_checkpoint *cp, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, id);
    arg_int(&a, cp->file_index);
    arg_int(&a, cp->loops_done);
    arg_str(&a, cp->url);
    arg_int(&a, cp->at_ms);
    arg_int(&a, cp->offset_ms);
    int rc = pg_run(st,
                    "INSERT INTO task_checkpoint(task_id, file_index, loops_done, url, at_ms, "
                    "offset_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (task_id) DO UPDATE "
                    "SET file_index = $2, loops_done = $3, url = $4, at_ms = $5, offset_ms = $6",
                    &a, "save the checkpoint of task", id, err);
    if (rc != FERR_OK && strcmp(pgc(st)->sqlstate, PG_FOREIGN_KEY_VIOLATION) == 0)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    return rc;
}

int pg_history_add(store *st, const char *id, const task_history_entry *h, const store_event *evs,
                   const task_checkpoint *cp, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    rc = pg_tx_begin(st, err);
    if (rc == FERR_OK) {
        rc = pg_history_insert(st, id, h, err);
        if (rc == FERR_OK)
            rc = pg_events_insert(st, evs, err);
        if (rc == FERR_OK && cp)
            rc = pg_checkpoint_set(st, id, cp, err);
        rc = pg_tx_end(st, rc, err);
    }
    pg_leave(st);
    return rc;
}

static void read_history(const PGresult *r, int i, void *dst)
{
    task_history_entry *h = dst;
    memset(h, 0, sizeof(*h));
    h->at_ms = col_int(r, i, 0);
    h->from = (task_state)col_int(r, i, 1);
    h->to = (task_state)col_int(r, i, 2);
    snprintf(h->reason, sizeof(h->reason), "%s", col_text(r, i, 3));
    snprintf(h->detail, sizeof(h->detail), "%s", col_text(r, i, 4));
}

/* An unknown id gives an empty history, not an error: the service checks the task. */
int pg_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, id);
    return pg_select(st,
                     "SELECT at_ms, from_state, to_state, reason, detail FROM task_history "
                     "WHERE task_id = $1 ORDER BY seq",
                     &a, "list history", id, sizeof(**out), read_history, (void **)out, n, err);
}

int pg_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err)
{
    memset(out, 0, sizeof(*out));
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, id);
    PGresult *r = pg_query(st,
                           "SELECT file_index, loops_done, url, at_ms, offset_ms FROM "
                           "task_checkpoint WHERE task_id = $1",
                           &a, "get the checkpoint of task", id, err);
    if (!r) {
        rc = FERR_INTERNAL;
    } else if (PQntuples(r) == 0) {
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s has no checkpoint", id);
    } else {
        out->file_index = (int)col_int(r, 0, 0);
        out->loops_done = (int)col_int(r, 0, 1);
        snprintf(out->url, sizeof(out->url), "%s", col_text(r, 0, 2));
        out->at_ms = col_int(r, 0, 3);
        out->offset_ms = col_int(r, 0, 4);
    }
    PQclear(r);
    pg_leave(st);
    return rc;
}

int pg_checkpoint_offset(store *st, const char *id, const task_checkpoint *cp, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    pg_args a = {0};
    arg_str(&a, id);
    arg_int(&a, cp->file_index);
    arg_int(&a, cp->loops_done);
    arg_int(&a, cp->offset_ms);
    rc = pg_run(st,
                "UPDATE task_checkpoint SET offset_ms = $4 WHERE task_id = $1 AND file_index = $2 "
                "AND loops_done = $3",
                &a, "save the checkpoint offset of task", id, err);
    pg_leave(st);
    return rc;
}
