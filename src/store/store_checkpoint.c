/* store_checkpoint.c — playlist checkpoints: the entry that started last, saved in the
 * transaction of its FileStart history line and read back when ferryd resumes the task. */
#include "store/store_sqlite.h"

#include <stdio.h>
#include <string.h>

int checkpoint_set(store *st, const char *id, const task_checkpoint *cp, ferr *err)
{
    sqlite3_stmt *s = sq(st)->q[Q_CP_SET];
    bind_str(s, 1, id);
    sqlite3_bind_int(s, 2, cp->file_index);
    sqlite3_bind_int(s, 3, cp->loops_done);
    bind_str(s, 4, cp->url);
    sqlite3_bind_int64(s, 5, cp->at_ms);
    sqlite3_bind_int64(s, 6, cp->offset_ms);
    int rc = run(st, s, "save the checkpoint of task", id, err);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ferr_set(err, FERR_NOT_FOUND, "id", "task %s not found", id);
    return rc == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}

int sqlite_checkpoint_get(store *st, const char *id, task_checkpoint *out, ferr *err)
{
    memset(out, 0, sizeof(*out));
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_CP_GET];
    bind_str(s, 1, id);
    int step = sqlite3_step(s), rc = FERR_OK;
    if (step == SQLITE_ROW) {
        out->file_index = sqlite3_column_int(s, 0);
        out->loops_done = sqlite3_column_int(s, 1);
        snprintf(out->url, sizeof(out->url), "%s", col_str(s, 2));
        out->at_ms = sqlite3_column_int64(s, 3);
        out->offset_ms = sqlite3_column_int64(s, 4);
    } else if (step == SQLITE_DONE) {
        rc = ferr_set(err, FERR_NOT_FOUND, "id", "task %s has no checkpoint", id);
    } else {
        rc = db_error(st, err, "get the checkpoint of task", id);
    }
    finish(s);
    unlock(st);
    return rc;
}

int sqlite_checkpoint_offset(store *st, const char *id, const task_checkpoint *cp, ferr *err)
{
    lock(st);
    sqlite3_stmt *s = sq(st)->q[Q_CP_OFFSET];
    bind_str(s, 1, id);
    sqlite3_bind_int(s, 2, cp->file_index);
    sqlite3_bind_int(s, 3, cp->loops_done);
    sqlite3_bind_int64(s, 4, cp->offset_ms);
    int rc = run(st, s, "save the checkpoint offset of task", id, err);
    unlock(st);
    return rc == SQLITE_OK ? FERR_OK : FERR_INTERNAL;
}
