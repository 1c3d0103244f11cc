/* store_pg_audit.c — the audit trail on PostgreSQL: who created, changed or deleted which
 * task, through which API and from which address; kept per account (newest STORE_AUDIT_MAX). */
#include "store/store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_WHERE " FROM audit WHERE account = $1 AND ($2 = '' OR task_id = $2)"

static int audit_insert(store *st, const task_audit_line *l, ferr *err)
{
    pg_args a = {0};
    arg_int(&a, l->at_ms);
    arg_str(&a, l->account);
    arg_str(&a, l->dialect);
    arg_str(&a, l->address);
    arg_str(&a, l->request_id);
    arg_str(&a, l->action);
    arg_str(&a, l->task_id);
    arg_str(&a, l->fields);
    int rc = pg_run(st,
                    "INSERT INTO audit(at_ms, account, dialect, address, request_id, action, "
                    "task_id, fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &a, "add audit line", NULL, err);
    if (rc != FERR_OK)
        return rc;
    /* Keeps the account's newest rows: a tenant's changes cannot fill the shared disk. */
    a = (pg_args){0};
    arg_str(&a, l->account);
    arg_int(&a, STORE_AUDIT_MAX);
    return pg_run(st,
                  "DELETE FROM audit WHERE account = $1 AND seq <= (SELECT seq FROM audit "
                  "WHERE account = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
                  &a, "trim audit lines", NULL, err);
}

int pg_audit_add(store *st, const task_audit_line *l, ferr *err)
{
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    rc = pg_tx_begin(st, err);
    if (rc == FERR_OK)
        rc = pg_tx_end(st, audit_insert(st, l, err), err);
    pg_leave(st);
    return rc;
}

static void read_audit(const PGresult *r, int i, task_audit_line *l)
{
    memset(l, 0, sizeof(*l));
    l->seq = col_int(r, i, 0);
    l->at_ms = col_int(r, i, 1);
    snprintf(l->account, sizeof(l->account), "%s", col_text(r, i, 2));
    snprintf(l->dialect, sizeof(l->dialect), "%s", col_text(r, i, 3));
    snprintf(l->address, sizeof(l->address), "%s", col_text(r, i, 4));
    snprintf(l->request_id, sizeof(l->request_id), "%s", col_text(r, i, 5));
    snprintf(l->action, sizeof(l->action), "%s", col_text(r, i, 6));
    snprintf(l->task_id, sizeof(l->task_id), "%s", col_text(r, i, 7));
    snprintf(l->fields, sizeof(l->fields), "%s", col_text(r, i, 8));
}

static int count_rows(store *st, const char *account, const char *task_id, int *total, ferr *err)
{
    pg_args a = {0};
    arg_str(&a, account);
    arg_str(&a, task_id);
    PGresult *r = pg_query(st, "SELECT COUNT(*)" AUDIT_WHERE, &a, "count audit", NULL, err);
    if (!r)
        return FERR_INTERNAL;
    *total = (int)col_int(r, 0, 0);
    PQclear(r);
    return FERR_OK;
}

static int list_rows(store *st, const char *account, const char *task_id, int offset, int limit,
                     task_audit_line **out, int *n, ferr *err)
{
    task_audit_line *arr = calloc((size_t)(limit > 0 ? limit : 1), sizeof(*arr));
    if (!arr)
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    pg_args a = {0};
    arg_str(&a, account);
    arg_str(&a, task_id);
    arg_int(&a, limit);
    arg_int(&a, offset);
    PGresult *r = pg_query(st,
                           "SELECT seq, at_ms, account, dialect, address, request_id, action, "
                           "task_id, fields" AUDIT_WHERE " ORDER BY seq DESC LIMIT $3 OFFSET $4",
                           &a, "list audit", NULL, err);
    if (!r) {
        free(arr);
        return FERR_INTERNAL;
    }
    for (*n = 0; *n < limit && *n < PQntuples(r); (*n)++)
        read_audit(r, *n, &arr[*n]);
    PQclear(r);
    *out = arr;
    return FERR_OK;
}

int pg_audit_list(store *st, const char *account, const char *task_id, int offset, int limit,
                  task_audit_line **out, int *n, int *total, ferr *err)
{
    *out = NULL;
    *n = *total = 0;
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    const char *tid = task_id ? task_id : "";
    rc = count_rows(st, account, tid, total, err);
    if (rc == FERR_OK)
        rc = list_rows(st, account, tid, offset, limit, out, n, err);
    pg_leave(st);
    return rc;
}
