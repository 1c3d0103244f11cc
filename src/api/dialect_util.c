/* dialect_util.c — what the Tencent and Alibaba dialects share outside signatures
 * (dialect_util.h): request reading, field names, dialect_extra, a task's Modify/Update. */
#include "api/dialect_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool dialect_content_type_is(const api_request *req, const char *type)
{
    const char *ct = api_header(req, "Content-Type");
    if (!ct)
        return false;
    ct += strspn(ct, " \t");
    size_t n = strcspn(ct, "; \t");
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

int dialect_decode(form_params *out, const char *text, size_t len, ferr *err)
{
    char why[256];
    if (form_decode(out, text, len, why, sizeof(why)) != 0)
        return ferr_set(err, FERR_INVALID, "", "%s", why);
    return 0;
}

void dialect_ascii_only(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

const char *dialect_param_for_field(const dialect_field_param *table, size_t n, const char *field)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].field, field) == 0)
            return table[i].param;
    return NULL;
}

int dialect_oom(ferr *err)
{
    return ferr_set(err, FERR_INTERNAL, "", "The server ran out of memory.");
}

const char *dialect_extra_str(const json_t *extra, const char *name)
{
    const char *v = json_string_value(json_object_get(extra, name));
    return v ? v : "";
}

json_t *dialect_extra_load(const task_spec *s)
{
    json_t *x = json_loads(s->dialect_extra ? s->dialect_extra : "{}", 0, NULL);
    if (!json_is_object(x)) {
        json_decref(x);
        x = json_object();
    }
    return x;
}

int dialect_extra_save(task_spec *s, json_t *extra, int rc, ferr *err)
{
    char *text = rc == 0 ? json_dumps(extra, JSON_COMPACT) : NULL;
    if (rc == 0 && !text)
        rc = dialect_oom(err);
    if (text) {
        free(s->dialect_extra);
        s->dialect_extra = text;
    }
    json_decref(extra);
    return rc;
}

int dialect_modify_task(const task_caller *who, const task *t, dialect_apply_fn apply,
                        const void *arg, ferr *err)
{
    task_spec spec;
    int rc = task_spec_copy(&spec, &t->spec);
    if (rc != 0)
        return ferr_set(err, FERR_INTERNAL, "", "The server ran out of memory.");
    rc = apply(arg, &spec, err);
    if (rc == 0)
        rc = task_modify(who, t->id, &spec, NULL, err);
    task_spec_free(&spec);
    return rc;
}
