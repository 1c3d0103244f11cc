/* store_history.c — task history: the line a transition or a note appends (with its events and
 * a playlist's checkpoint, in one transaction), and a task's history read back, oldest first. */
#include "store/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int history_insert(store *st, const char *id, const task_history_entry *h, ferr *err)
{
    sqlite3_stmt *s = sq(st)->q[Q_HIST_ADD];
    bind_str(s, 1, id);
    sqlite3_bind_int64(s, 2, h->at_ms);
    sqlite3_bind_int(s, 3, (int)h->from);
    sqlite3_bind_int(s, 4, (int)h->to);
    bind_str(s, 5, h->reason);
    bind_str(s, 6, h->detail);
    int rc = run(st, s, "add history of task", id, err);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    if (rc != SQLITE_OK)
        return FERR_INTERNAL;
    /* a task keeps its newest STORE_HISTORY_MAX lines: no task can fill the shared disk */
    s = sq(st)->q[Q_HIST_TRIM];
    bind_str(s, 1, id);
    sqlite3_bind_int(s, 2, STORE_HISTORY_MAX - 1);
    return run(st, s, "trim history of task", id, err) == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

int sqlite_history_add(store *st, const char *id, const task_history_entry *h,
                       const store_event *evs, const task_checkpoint *cp, ferr *err)
{
    lock(st);
    int rc = tx_begin(st, err);
    if (rc == FERR_OK) {
        rc = history_insert(st, id, h, err);
        if (rc == FERR_OK)
            rc = events_insert(st, evs, err);
        if (rc == FERR_OK && cp)
            rc = checkpoint_set(st, id, cp, err);
        rc = tx_end(st, rc, err);
    }
    unlock(st);
    return rc;
}

static void read_history(sqlite3_stmt *s, task_history_entry *h)
{
    memset(h, 0, sizeof(*h));
    h->at_ms = sqlite3_column_int64(s, 0);
    h->from = (task_state)sqlite3_column_int(s, 1);
    h->to = (task_state)sqlite3_column_int(s, 2);
    snprintf(h->reason, sizeof(h->reason), "%s", col_str(s, 3));
    snprintf(h->detail, sizeof(h->detail), "%s", col_str(s, 4));
}

static int collect_history(store *st, sqlite3_stmt *s, task_history_entry **out, int *n_out,
                           ferr *err)
{
    task_history_entry *arr = NULL;
    int n = 0, cap = 0, step = SQLITE_DONE, rc = FERR_OK;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            task_history_entry *grown = realloc(arr, (size_t)ncap * sizeof(*arr));
            if (!grown) {
                rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
                break;
            }
            arr = grown;
            cap = ncap;
        }
        read_history(s, &arr[n++]);
    }
    if (rc == FERR_OK && step != SQLITE_DONE)
        rc = db_error(st, err, "list history", NULL);
    finish(s);
    if (rc != FERR_OK) {
        free(arr);
        arr = NULL;
        n = 0;
    }
    *out = arr;
    *n_out = n;
    return rc;
}

/* An unknown id gives an empty history, not an error: the service checks the task. */
int sqlite_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_HIST_LIST];
    bind_str(s, 1, id);
    int rc = collect_history(st, s, out, n, err);
    unlock(st);
    return rc;
}
