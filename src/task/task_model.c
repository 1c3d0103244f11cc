/* task_model.c — life cycle of the task model: init, deep copy and free of specs and
 * tasks, and the names of states and source kinds. A task's memory lives with the task. */
#include "task/task_model.h"

#include <stdlib.h>
#include <string.h>

int task_str_set(char **field, const char *value)
{
    char *copy = strdup(value ? value : "");
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

/* Every heap string of a spec, so init/copy/free walk one list. */
#define SPEC_STRINGS(s)                                                                            \
    &(s)->name, &(s)->source_protocol, &(s)->dst_url, &(s)->backup_dst_url,                        \
        &(s)->backup_source_url, &(s)->pad_url, &(s)->callback_url, &(s)->comment,                 \
        &(s)->created_by, &(s)->updated_by, &(s)->region, &(s)->vod_refresh_type,                  \
        &(s)->dialect_extra

void task_spec_init(task_spec *s)
{
    memset(s, 0, sizeof(*s));
    char **fields[] = {SPEC_STRINGS(s)};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        *fields[i] = strdup("");
    free(s->dialect_extra);
    s->dialect_extra = strdup("{}");
    s->loop_count = -1;
    s->retry_count = -1;      /* -1 = the configured default */
    s->retry_interval_s = -1; /* -1 = the configured default */
}

void task_spec_free(task_spec *s)
{
    char **fields[] = {SPEC_STRINGS(s)};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        free(*fields[i]);
    for (int i = 0; i < s->n_sources; i++)
        free(s->source_urls[i]);
    for (int i = 0; i < s->n_watermarks; i++)
        free(s->watermarks[i].picture_url);
    memset(s, 0, sizeof(*s));
}

int task_spec_copy(task_spec *dst, const task_spec *src)
{
    *dst = *src;
    char **to[] = {SPEC_STRINGS(dst)};
    int rc = 0;
    for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
        const char *v = *to[i];
        *to[i] = NULL;
        rc |= task_str_set(to[i], v);
    }
    for (int i = 0; i < dst->n_sources; i++) {
        dst->source_urls[i] = NULL;
        rc |= task_str_set(&dst->source_urls[i], src->source_urls[i]);
    }
    for (int i = 0; i < dst->n_watermarks; i++) {
        dst->watermarks[i].picture_url = NULL;
        rc |= task_str_set(&dst->watermarks[i].picture_url, src->watermarks[i].picture_url);
    }
    return rc ? -1 : 0;
}

void task_free(task *t)
{
    task_spec_free(&t->spec);
    free(t->reason);
    free(t->last_error);
    t->reason = t->last_error = NULL;
}

int task_copy(task *dst, const task *src)
{
    *dst = *src;
    dst->reason = dst->last_error = NULL;
    int rc = task_str_set(&dst->reason, src->reason);
    rc |= task_str_set(&dst->last_error, src->last_error);
    rc |= task_spec_copy(&dst->spec, &src->spec);
    return rc ? -1 : 0;
}

void task_list_free(task *list, int n)
{
    for (int i = 0; i < n; i++)
        task_free(&list[i]);
    free(list);
}

static const char *const state_names[] = {"idle",    "running",  "recovering",
                                          "offline", "finished", "paused"};
static const char *const kind_names[] = {"live", "files", "picture"};

const char *task_state_name(task_state s)
{
    return (unsigned)s < 6 ? state_names[s] : "unknown";
}

int task_state_parse(const char *name, task_state *out)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(name, state_names[i]) == 0) {
            *out = (task_state)i;
            return 0;
        }
    return -1;
}

const char *task_source_kind_name(task_source_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

int task_source_kind_parse(const char *name, task_source_kind *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (task_source_kind)i;
            return 0;
        }
    return -1;
}
