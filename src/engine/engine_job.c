/* engine_job.c — a job as the engine holds it: the check at start and update, the deep copy
 * of its strings with the defaults filled in, and freeing it. */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define DEFAULT_STALL_MS 10000
#define DEFAULT_CONNECT_MS 10000

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

static void job_free_strings(engine_job *j)
{
    for (int i = 0; i < TASK_MAX_SOURCES; i++)
        free((void *)j->sources[i]);
    free((void *)j->backup_source);
    free((void *)j->pad_url);
    free((void *)j->outputs[0]);
    free((void *)j->outputs[1]);
    for (int i = 0; i < TASK_MAX_WATERMARKS; i++)
        free(j->watermarks[i].picture_url);
}

/* The sources and alternates; true when a copy ran out of memory. */
static bool copy_sources(engine_job *dst, const engine_job *src)
{
    memset(dst->sources, 0, sizeof(dst->sources));
    dst->n_sources = src->n_sources < TASK_MAX_SOURCES ? src->n_sources : TASK_MAX_SOURCES;
    bool oom = false;
    for (int i = 0; i < dst->n_sources; i++) {
        dst->sources[i] = dup_or_null(src->sources[i]);
        oom |= src->sources[i] && src->sources[i][0] && !dst->sources[i];
    }
    dst->backup_source = dup_or_null(src->backup_source);
    dst->pad_url = dup_or_null(src->pad_url);
    return oom || (src->backup_source && src->backup_source[0] && !dst->backup_source) ||
           (src->pad_url && src->pad_url[0] && !dst->pad_url);
}

/* The outputs and watermark pictures; true when a copy ran out of memory. */
static bool copy_outputs(engine_job *dst, const engine_job *src)
{
    dst->outputs[0] = dup_or_null(src->outputs[0]);
    dst->outputs[1] = dup_or_null(src->outputs[1]);
    bool oom = !dst->outputs[0] || (src->outputs[1] && src->outputs[1][0] && !dst->outputs[1]);
    dst->n_watermarks = src->n_watermarks <= TASK_MAX_WATERMARKS ? src->n_watermarks : 0;
    for (int i = 0; i < TASK_MAX_WATERMARKS; i++) {
        bool used = i < dst->n_watermarks && src->watermarks[i].picture_url;
        dst->watermarks[i].picture_url = used ? strdup(src->watermarks[i].picture_url) : NULL;
        oom |= used && !dst->watermarks[i].picture_url;
    }
    return oom;
}

static void job_apply_defaults(engine_job *j)
{
    if (j->retry_count < 0)
        j->retry_count = 0;
    if (j->retry_interval_ms < 0)
        j->retry_interval_ms = 0;
    if (j->stall_timeout_ms <= 0)
        j->stall_timeout_ms = DEFAULT_STALL_MS;
    if (j->failover_timeout_ms <= 0 || j->failover_timeout_ms > j->stall_timeout_ms)
        j->failover_timeout_ms = j->stall_timeout_ms;
    if (j->recheck_ms <= 0)
        j->recheck_ms = j->retry_interval_ms;
    if (j->connect_timeout_ms <= 0)
        j->connect_timeout_ms = DEFAULT_CONNECT_MS;
}

int engine_job_copy(engine_job *dst, const engine_job *src)
{
    *dst = *src;
    dst->task_id[TASK_ID_MAX - 1] = '\0';
    bool oom = copy_sources(dst, src);
    oom |= copy_outputs(dst, src);
    if (oom)
        return FERR_INTERNAL;
    job_apply_defaults(dst);
    return 0;
}

engine_job *engine_job_dup(const engine_job *job)
{
    engine_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    if (engine_job_copy(j, job) != 0) {
        engine_job_free(j);
        return NULL;
    }
    return j;
}

int engine_job_check(const engine_job *job)
{
    if (!job || !job->task_id[0])
        return FERR_INVALID;
    if (job->kind != TASK_SOURCE_LIVE && job->kind != TASK_SOURCE_FILES &&
        job->kind != TASK_SOURCE_PICTURE) {
        tlog_error(job->task_id, "engine: source kind %s is not supported yet",
                   task_source_kind_name(job->kind));
        return FERR_INVALID;
    }
    if (job->n_sources < 1 || job->n_sources > TASK_MAX_SOURCES)
        return FERR_SOURCE_URL;
    for (int i = 0; i < job->n_sources; i++)
        if (!job->sources[i] || !job->sources[i][0])
            return FERR_SOURCE_URL;
    if (!job->outputs[0] || !job->outputs[0][0])
        return FERR_DST_URL;
    return 0;
}

void engine_job_clear(engine_job *j)
{
    job_free_strings(j);
    memset(j->sources, 0, sizeof(j->sources));
    j->backup_source = j->pad_url = j->outputs[0] = j->outputs[1] = NULL;
    for (int i = 0; i < TASK_MAX_WATERMARKS; i++)
        j->watermarks[i].picture_url = NULL;
}

void engine_job_free(engine_job *j)
{
    if (!j)
        return;
    job_free_strings(j);
    free(j);
}
