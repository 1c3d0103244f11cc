/* ali_model.c — Alibaba's task fields and ferry's task model, both ways: Create and Update
 * parameters onto a task_spec (with Update's rules per state), a task as TaskInfo. */
#include "api/ali.h"
#include "api/dialect_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"

#define STORED_MAX 2000     /* AuthKey, ReqAuth, NotifyItemSwitch */
#define REPEAT_MAX 1000000  /* RepeatNumber */
#define OFFSET_MAX 86400000 /* Offset, seconds */

static const char *const regions[] = {"cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1",
                                      "ap-southeast-5"};
static const char *const stored[] = {"AuthKey", "ReqAuth", "NotifyItemSwitch"};

/* Model field names (in ferr.field) and the Alibaba parameter each comes from. */
static const dialect_field_param field_params[] = {
    {"source_urls", "SourceUrls"},
    {"destination", "DstUrl"},
    {"start_time", "StartTime"},
    {"end_time", "EndTime"},
    {"loop_count", "RepeatNumber"},
    {"file_index", "FileIndex"},
    {"offset", "Offset"},
    {"retry_count", "RetryCount"},
    {"retry_interval", "RetryInterval"},
    {"callback_url", "CallbackUrl"},
    {"name", "TaskName"},
};

const char *ali_param_for_field(const char *field)
{
    return dialect_param_for_field(field_params, sizeof(field_params) / sizeof(field_params[0]),
                                   field);
}

/* One Create or Update being applied. */
typedef struct edit {
    const form_params *p;
    const config *cfg;
    task_spec *s;
    json_t *extra; /* the spec's dialect_extra, parsed */
    int status;    /* Update: the task's TaskStatus; Create: 0 */
    bool create;
} edit;

/* Update while running may change only some fields: a changed value of another is refused. */
static int may_change(const edit *e, const char *name, bool differs, ferr *err)
{
    if (!differs || e->status == 0 || e->status == 3)
        return 0;
    return ferr_set(err, FERR_STATE, name,
                    "%s cannot change while the task is running; stop it first (a running task "
                    "takes CallbackUrl, RepeatNumber and EndTime).",
                    name);
}

static int set_text(const edit *e, const char *name, size_t max, char **field, ferr *err)
{
    const char *v = form_get(e->p, name);
    if (!v)
        return 0;
    if (strlen(v) > max)
        return ferr_set(err, FERR_INVALID, name, "%s is limited to %zu characters.", name, max);
    return task_str_set(field, v) == 0 ? 0 : dialect_oom(err);
}

/* ---------- Region, SourceType, SourceProtocol ---------- */

static int set_region(edit *e, ferr *err)
{
    const char *v = form_get(e->p, "Region");
    bool known = false;
    for (size_t i = 0; v && i < sizeof(regions) / sizeof(regions[0]); i++)
        known = known || strcmp(v, regions[i]) == 0;
    if (!v)
        return 0;
    if (!known)
        return ferr_set(err, FERR_INVALID, "Region",
                        "Region must be cn-shanghai, cn-beijing, cn-shenzhen, ap-southeast-1 or "
                        "ap-southeast-5.");
    if (!ali_region_served(e->cfg, v))
        return ferr_set(err, FERR_INVALID, "Region",
                        "No ferry node runs tasks of Region %s (config ali_regions).", v);
    if (e->status != 0) /* Region changes only before the task starts */
        return 0;
    return task_str_set(&e->s->region, v) == 0 ? 0 : dialect_oom(err);
}

static int set_source_type(edit *e, ferr *err)
{
    const char *v = form_get(e->p, "SourceType");
    if (!v || !e->create) /* SourceType is not an Update parameter */
        return 0;
    if (strcmp(v, "live") == 0)
        e->s->source_kind = TASK_SOURCE_LIVE;
    else if (strcmp(v, "vod") == 0 || strcmp(v, "url") == 0)
        e->s->source_kind = TASK_SOURCE_FILES;
    else
        return ferr_set(err, FERR_INVALID, "SourceType", "SourceType must be live, vod or url.");
    return json_object_set_new(e->extra, "SourceType", json_string(v)) == 0 ? 0 : dialect_oom(err);
}

/* True when url's scheme is one a live SourceProtocol pulls with. */
static bool protocol_fits(const char *proto, const char *url)
{
    static const struct {
        const char *proto, *scheme, *secure;
    } fits[] = {{"rtmp", "rtmp://", "rtmps://"},     {"srt", "srt://", "srt://"},
                {"http-flv", "http://", "https://"}, {"flv", "http://", "https://"},
                {"hls", "http://", "https://"},      {"rtsp", "rtsp://", "rtsps://"}};
    for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++)
        if (strcasecmp(proto, fits[i].proto) == 0)
            return strncasecmp(url, fits[i].scheme, strlen(fits[i].scheme)) == 0 ||
                   strncasecmp(url, fits[i].secure, strlen(fits[i].secure)) == 0;
    return false;
}

static int set_protocol(edit *e, ferr *err)
{
    const char *v = form_get(e->p, "SourceProtocol");
    if (!v || !*v)
        return 0;
    static const char *const known[] = {"rtmp", "srt", "http-flv", "flv", "hls", "rtsp"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok = ok || strcasecmp(v, known[i]) == 0;
    if (!ok)
        return ferr_set(err, FERR_INVALID, "SourceProtocol",
                        "SourceProtocol must be rtmp, srt, http-flv or hls.");
    const task_spec *s = e->s;
    if (s->source_kind == TASK_SOURCE_LIVE && s->n_sources && !protocol_fits(v, s->source_urls[0]))
        return ferr_set(err, FERR_INVALID, "SourceProtocol",
                        "SourceProtocol %s does not match the scheme of the live SourceUrl.", v);
    return task_str_set(&e->s->source_protocol, v) == 0 ? 0 : dialect_oom(err);
}

/* ---------- SourceUrls ---------- */

static bool same_urls(const task_spec *s, const json_t *urls)
{
    if (json_array_size(urls) != (size_t)s->n_sources)
        return false;
    for (int i = 0; i < s->n_sources; i++)
        if (strcmp(s->source_urls[i], json_string_value(json_array_get(urls, (size_t)i))) != 0)
            return false;
    return true;
}

static int put_urls(task_spec *s, const json_t *urls, ferr *err)
{
    for (int i = 0; i < s->n_sources; i++)
        free(s->source_urls[i]);
    s->n_sources = 0;
    for (size_t i = 0; i < json_array_size(urls); i++) {
        s->source_urls[i] = NULL;
        if (task_str_set(&s->source_urls[i], json_string_value(json_array_get(urls, i))) != 0)
            return dialect_oom(err);
        s->n_sources++;
    }
    return 0;
}

/* vod: the ids are kept to be shown back; the model gets their URLs. */
static int set_sources(edit *e, ferr *err)
{
    json_t *given = NULL, *urls = NULL;
    int rc = ali_source_urls(e->p, &given, err);
    if (rc != 0 || !given)
        return rc;
    bool vod = strcmp(dialect_extra_str(e->extra, "SourceType"), "vod") == 0;
    if (e->s->source_kind == TASK_SOURCE_LIVE && json_array_size(given) != 1)
        rc = ferr_set(err, FERR_INVALID, "SourceUrls",
                      "A live task takes exactly one URL in SourceUrls.");
    if (rc == 0 && vod)
        rc = ali_resolve_media(e->cfg, given, &urls, err);
    else if (rc == 0)
        urls = json_incref(given);
    if (rc == 0)
        rc = may_change(e, "SourceUrls", !same_urls(e->s, urls), err);
    if (rc == 0)
        rc = put_urls(e->s, urls, err);
    if (rc == 0 && vod && json_object_set(e->extra, "MediaIds", given) != 0)
        rc = dialect_oom(err);
    if (rc == 0 && !vod)
        json_object_del(e->extra, "MediaIds");
    if (rc == 0 && !e->create && !form_get(e->p, "FileIndex") &&
        e->s->file_index >= e->s->n_sources)
        e->s->file_index = 0;
    json_decref(given);
    json_decref(urls);
    return rc;
}

/* ---------- DstUrl, window ---------- */

static int set_destination(edit *e, ferr *err)
{
    const char *v = form_get(e->p, "DstUrl");
    if (!v || !e->create) /* DstUrl is not an Update parameter */
        return 0;
    if (strncasecmp(v, "rtmp://", 7) != 0 || strlen(v) > TASK_URL_MAX)
        return ferr_set(err, FERR_DST_URL, "DstUrl",
                        "DstUrl must be an rtmp:// URL of at most %d characters.", TASK_URL_MAX);
    return task_str_set(&e->s->dst_url, v) == 0 ? 0 : dialect_oom(err);
}

static int set_time(edit *e, const char *name, int64_t *field, ferr *err)
{
    const char *v = form_get(e->p, name);
    int64_t ms;
    if (!v)
        return 0;
    if (time_parse_iso(v, &ms) != 0)
        return ferr_set(err, FERR_INVALID, name, "%s must be a UTC time like 2030-01-01T08:00:00Z.",
                        name);
    /* StartTime is ignored once the task has started; EndTime may move while it runs. */
    if (strcmp(name, "StartTime") == 0 && (e->status == 1 || e->status == 2))
        return 0;
    *field = ms;
    return 0;
}

static int set_window(edit *e, ferr *err)
{
    int rc = set_time(e, "StartTime", &e->s->start_ms, err);
    return rc ? rc : set_time(e, "EndTime", &e->s->end_ms, err);
}

/* ---------- playback, retries, the rest ---------- */

/* Reads an integer parameter into *field; guarded ones may not change while running. */
static int int_field(edit *e, const char *name, long long min, long long max, bool guarded,
                     int *field, ferr *err)
{
    long long n;
    int rc = ali_int_param(e->p, name, min, max, &n, err);
    if (rc == 1)
        return 0;
    if (rc == 0 && guarded)
        rc = may_change(e, name, n != *field, err);
    if (rc == 0)
        *field = (int)n;
    return rc;
}

static int set_playback(edit *e, ferr *err)
{
    int repeat = e->s->loop_count < 0 ? -1 : e->s->loop_count - 1;
    int rc = int_field(e, "RepeatNumber", -1, REPEAT_MAX, false, &repeat, err);
    /* RepeatNumber N: N repeats after the first play; -1: until EndTime */
    e->s->loop_count = repeat < 0 ? -1 : repeat + 1;
    if (rc == 0)
        rc = int_field(e, "FileIndex", 0, TASK_MAX_SOURCES - 1, true, &e->s->file_index, err);
    if (rc == 0)
        rc = int_field(e, "Offset", 0, OFFSET_MAX, true, &e->s->offset_s, err);
    return rc;
}

static int set_retries(edit *e, ferr *err)
{
    const config *c = e->cfg;
    int rc = int_field(e, "RetryCount", 0, c->retry_count_max, true, &e->s->retry_count, err);
    if (rc == 0)
        rc = int_field(e, "RetryInterval", c->retry_interval_min_s, c->retry_interval_max_s, true,
                       &e->s->retry_interval_s, err);
    return rc;
}

static int set_misc(edit *e, ferr *err)
{
    int rc = set_text(e, "CallbackUrl", TASK_URL_MAX, &e->s->callback_url, err);
    if (rc == 0 && e->create)
        rc = set_text(e, "TaskName", 255, &e->s->name, err);
    for (size_t i = 0; rc == 0 && i < sizeof(stored) / sizeof(stored[0]); i++) {
        const char *v = form_get(e->p, stored[i]);
        if (v && strlen(v) > STORED_MAX)
            rc = ferr_set(err, FERR_INVALID, stored[i], "%s is limited to %d characters.",
                          stored[i], STORED_MAX);
        else if (v && json_object_set_new(e->extra, stored[i], json_string(v)) != 0)
            rc = ferr_set(err, FERR_INVALID, stored[i], "%s must be UTF-8 text.", stored[i]);
    }
    return rc;
}

/* ---------- Create and Update ---------- */

typedef int (*edit_step)(edit *e, ferr *err);

/* Order matters: SourceType before SourceUrls, SourceUrls before FileIndex. */
static const edit_step steps[] = {set_region,   set_source_type, set_sources,
                                  set_protocol, set_destination, set_window,
                                  set_playback, set_retries,     set_misc};

static int run_steps(edit *e, ferr *err)
{
    if (!e->extra)
        return dialect_oom(err);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
        rc = steps[i](e, err);
    return dialect_extra_save(e->s, e->extra, rc, err);
}

int ali_spec_from_create(const form_params *p, const config *cfg, task_spec *s, int64_t now_ms,
                         ferr *err)
{
    static const char *const required[] = {"Region", "SourceType", "DstUrl", "StartTime",
                                           "EndTime"};
    task_spec_init(s);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!form_get(p, required[i]))
            return ferr_set(err, FERR_MISSING, required[i],
                            "The input parameter \"%s\" that is mandatory for processing this "
                            "request is not supplied.",
                            required[i]);
    if (!form_get(p, "SourceUrls") && !form_get(p, "SourceUrls.1"))
        return ferr_set(err, FERR_MISSING, "SourceUrls",
                        "The input parameter \"SourceUrls\" that is mandatory for processing "
                        "this request is not supplied.");
    s->loop_count = 1; /* RepeatNumber 0: one play */
    edit e = {.p = p, .cfg = cfg, .s = s, .extra = json_object(), .create = true};
    (void)now_ms;
    return run_steps(&e, err);
}

int ali_spec_apply_update(const form_params *p, const config *cfg, const task *t, task_spec *s,
                          int64_t now_ms, ferr *err)
{
    (void)now_ms;
    int status = ali_task_status(t);
    if (status == -1)
        return ferr_set(err, FERR_STATE, "", "The task has exited (%s); create a new task instead.",
                        t->reason ? t->reason : "");
    edit e = {.p = p, .cfg = cfg, .s = s, .extra = dialect_extra_load(s), .status = status};
    return run_steps(&e, err);
}
