/* store_rows.c — what every backend shares between its rows and the task model: a task
 * filled from its row's values (with the quarantine of an unreadable spec) and the LIKE
 * patterns of the list's filters. */
#include "store/store_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A row whose spec cannot be read is quarantined, not an error: it reads as an offline task
 * with an empty spec (TASK_REASON_QUARANTINED), so that listing and resuming the others go
 * on, its owner sees it, and it can be deleted. The row itself stays as it is. */
static int read_spec(const char *json, task *out, bool *quarantined)
{
    *quarantined = task_spec_from_json(&out->spec, json) != 0;
    if (!*quarantined)
        return 0;
    task_spec_free(&out->spec);
    task_spec_init(&out->spec);
    return out->spec.name ? 0 : -1;
}

int store_task_from_row(const store_task_row *row, task *out, ferr *err)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", row->id);
    bool quarantined;
    if (read_spec(row->spec, out, &quarantined) != 0) {
        task_spec_free(&out->spec);
        memset(out, 0, sizeof(*out));
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    }
    snprintf(out->account, sizeof(out->account), "%s", row->account);
    out->dialect = (task_dialect)row->dialect;
    out->state = quarantined ? TASK_OFFLINE : (task_state)row->state;
    out->created_ms = row->created_ms;
    out->updated_ms = row->updated_ms;
    out->started_ms = row->started_ms;
    out->exit_ms = row->exit_ms;
    const char *reason = quarantined ? TASK_REASON_QUARANTINED : row->reason;
    const char *error = quarantined ? "the stored task is unreadable: it is quarantined and "
                                      "runs no more; delete it"
                                    : row->last_error;
    if (task_str_set(&out->reason, reason) != 0 || task_str_set(&out->last_error, error) != 0) {
        task_free(out);
        memset(out, 0, sizeof(*out));
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    }
    return FERR_OK;
}

/* A LIKE pattern matching value anywhere, with its own % _ and \ taken literally. */
static char *like_pattern(const char *value)
{
    if (!value || !*value)
        return NULL;
    char *p = malloc(strlen(value) * 2 + 3), *w = p;
    if (!p)
        return NULL;
    *w++ = '%';
    for (const char *c = value; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *w++ = '\\';
        *w++ = *c;
    }
    *w++ = '%';
    *w = '\0';
    return p;
}

int store_make_patterns(const task_filter *f, store_patterns *p, ferr *err)
{
    memset(p, 0, sizeof(*p));
    if (!f)
        return FERR_OK;
    p->id = like_pattern(f->id_like);
    p->name = like_pattern(f->name_like);
    p->dst = like_pattern(f->dst_like);
    p->any = like_pattern(f->any_like);
    if ((f->id_like && *f->id_like && !p->id) || (f->name_like && *f->name_like && !p->name) ||
        (f->dst_like && *f->dst_like && !p->dst) || (f->any_like && *f->any_like && !p->any))
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    return FERR_OK;
}

void store_free_patterns(store_patterns *p)
{
    free(p->id);
    free(p->name);
    free(p->dst);
    free(p->any);
}
