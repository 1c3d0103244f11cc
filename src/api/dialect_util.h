/* dialect_util.h — what the Tencent and Alibaba dialects share outside signatures: reading a
 * request, field→parameter names, dialect_extra of a spec, and a task's Modify/Update. */
#ifndef FERRY_API_DIALECT_UTIL_H
#define FERRY_API_DIALECT_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api/api_internal.h"
#include "api/form.h"
#include "common/ferr.h"
#include "task/task.h"

/* ---------- the request ---------- */

/* True when the Content-Type's media type (before any ';') is type, ignoring case. */
bool dialect_content_type_is(const api_request *req, const char *type);
/* form_decode into out; a FERR_INVALID with the reason on failure. */
int dialect_decode(form_params *out, const char *text, size_t len, ferr *err);
/* Replaces control and non-ASCII bytes with '?' (messages quote client input and may be cut
 * anywhere by a fixed buffer). */
void dialect_ascii_only(char *s);

/* ---------- the model ---------- */

/* A model field name (in ferr.field) and the cloud parameter it comes from. */
typedef struct dialect_field_param {
    const char *field, *param;
} dialect_field_param;

/* The param of field in a table of n rows, or NULL. */
const char *dialect_param_for_field(const dialect_field_param *table, size_t n, const char *field);
/* Sets err to FERR_INTERNAL "out of memory"; returns its code. */
int dialect_oom(ferr *err);
/* The string member name of a dialect_extra object, or "". */
const char *dialect_extra_str(const json_t *extra, const char *name);
/* The spec's dialect_extra parsed (an empty object when none or not an object; NULL on OOM). */
json_t *dialect_extra_load(const task_spec *s);
/* Ends an edit that returned rc: when 0, stores extra as the spec's dialect_extra (compact
 * JSON). Releases extra. Returns rc, or an out-of-memory error. */
int dialect_extra_save(task_spec *s, json_t *extra, int rc, ferr *err);

/* ---------- actions ---------- */

/* Edits a copy of a task's spec (apply(arg, copy, err)). */
typedef int (*dialect_apply_fn)(const void *arg, task_spec *s, ferr *err);
/* Copies t's spec, applies the edit and stores the result as the task's new spec. */
int dialect_modify_task(const task_caller *who, const task *t, dialect_apply_fn apply,
                        const void *arg, ferr *err);

#endif
