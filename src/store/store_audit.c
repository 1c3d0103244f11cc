/* store_audit.c — the audit trail: who created, changed or deleted which task, through which
 * API and from which address; kept per account (newest STORE_AUDIT_MAX rows), task or not. */
#include "store/store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const add_sql =
    "INSERT INTO audit(at_ms, account, dialect, address, request_id, action, task_id, fields)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
/* Keeps the account's newest rows: a tenant's changes cannot fill the shared disk. */
static const char *const trim_sql =
    "DELETE FROM audit WHERE account = ?1 AND seq <= (SELECT seq FROM audit WHERE account = ?1"
    " ORDER BY seq DESC LIMIT 1 OFFSET ?2)";
static const char *const list_sql =
    "SELECT seq, at_ms, account, dialect, address, request_id, action, task_id, fields"
    " FROM audit WHERE account = ?1 AND (?2 = '' OR task_id = ?2)"
    " ORDER BY seq DESC LIMIT ?3 OFFSET ?4";
static const char *const count_sql =
    "SELECT COUNT(*) FROM audit WHERE account = ?1 AND (?2 = '' OR task_id = ?2)";

/* Prepares sql on the store's connection; the caller holds the lock. */
static sqlite3_stmt *prepare(store *st, const char *sql, ferr *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(sq(st)->db, sql, -1, &s, NULL) != SQLITE_OK) {
        db_error(st, err, "prepare audit statement", NULL);
        return NULL;
    }
    return s;
}

static int exec_done(store *st, sqlite3_stmt *s, const char *what, ferr *err)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? FERR_OK : db_error(st, err, what, NULL);
    sqlite3_finalize(s);
    return rc;
}

static int audit_insert(store *st, const task_audit_line *a, ferr *err)
{
    sqlite3_stmt *s = prepare(st, add_sql, err);
    if (!s)
        return FERR_INTERNAL;
    sqlite3_bind_int64(s, 1, a->at_ms);
    bind_str(s, 2, a->account);
    bind_str(s, 3, a->dialect);
    bind_str(s, 4, a->address);
    bind_str(s, 5, a->request_id);
    bind_str(s, 6, a->action);
    bind_str(s, 7, a->task_id);
    bind_str(s, 8, a->fields);
    int rc = exec_done(st, s, "add audit line", err);
    if (rc != FERR_OK || !(s = prepare(st, trim_sql, err)))
        return rc != FERR_OK ? rc : FERR_INTERNAL;
    bind_str(s, 1, a->account);
    sqlite3_bind_int(s, 2, STORE_AUDIT_MAX); /* the newest MAX stay */
    return exec_done(st, s, "trim audit lines", err);
}

int sqlite_audit_add(store *st, const task_audit_line *a, ferr *err)
{
    lock(st);
    int rc = tx_begin(st, err);
    if (rc == FERR_OK)
        rc = tx_end(st, audit_insert(st, a, err), err);
    unlock(st);
    return rc;
}

static void read_audit(sqlite3_stmt *s, task_audit_line *a)
{
    memset(a, 0, sizeof(*a));
    a->seq = sqlite3_column_int64(s, 0);
    a->at_ms = sqlite3_column_int64(s, 1);
    snprintf(a->account, sizeof(a->account), "%s", col_str(s, 2));
    snprintf(a->dialect, sizeof(a->dialect), "%s", col_str(s, 3));
    snprintf(a->address, sizeof(a->address), "%s", col_str(s, 4));
    snprintf(a->request_id, sizeof(a->request_id), "%s", col_str(s, 5));
    snprintf(a->action, sizeof(a->action), "%s", col_str(s, 6));
    snprintf(a->task_id, sizeof(a->task_id), "%s", col_str(s, 7));
    snprintf(a->fields, sizeof(a->fields), "%s", col_str(s, 8));
}

static int count_rows(store *st, const char *account, const char *task_id, int *total, ferr *err)
{
    sqlite3_stmt *s = prepare(st, count_sql, err);
    if (!s)
        return FERR_INTERNAL;
    bind_str(s, 1, account);
    bind_str(s, 2, task_id);
    int rc = sqlite3_step(s) == SQLITE_ROW ? FERR_OK : db_error(st, err, "count audit", NULL);
    if (rc == FERR_OK)
        *total = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc;
}

static int collect(store *st, sqlite3_stmt *s, int limit, task_audit_line **out, int *n, ferr *err)
{
    task_audit_line *arr = calloc((size_t)(limit > 0 ? limit : 1), sizeof(*arr));
    if (!arr)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    int step;
    *n = 0;
    while (*n < limit && (step = sqlite3_step(s)) == SQLITE_ROW)
        read_audit(s, &arr[(*n)++]);
    if (*n < limit && step != SQLITE_DONE) {
        free(arr);
        return db_error(st, err, "list audit", NULL);
    }
    *out = arr;
    return FERR_OK;
}

int sqlite_audit_list(store *st, const char *account, const char *task_id, int offset, int limit,
                      task_audit_line **out, int *n, int *total, ferr *err)
{
    *out = NULL;
    *n = *total = 0;
    lock(st);
    int rc = count_rows(st, account, task_id ? task_id : "", total, err);
    sqlite3_stmt *s = rc == FERR_OK ? prepare(st, list_sql, err) : NULL;
    if (s) {
        bind_str(s, 1, account);
        bind_str(s, 2, task_id ? task_id : "");
        sqlite3_bind_int(s, 3, limit);
        sqlite3_bind_int(s, 4, offset);
        rc = collect(st, s, limit, out, n, err);
        sqlite3_finalize(s);
    } else if (rc == FERR_OK) {
        rc = FERR_INTERNAL;
    }
    unlock(st);
    return rc;
}
