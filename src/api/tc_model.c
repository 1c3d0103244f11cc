/* tc_model.c — Tencent's task fields and ferry's task model, both ways: Create and Modify
 * parameters onto a task_spec, and a task as PullStreamTaskInfo / TaskStatusInfo. */
#include "api/tc.h"
#include "api/dialect_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define TC_STORED_MAX 2000 /* longest stored-only string (ExtraCmd, template names, ...) */
#define TC_OPERATOR_MAX 256

static const struct {
    task_source_kind kind;
    const char *name;
} source_types[] = {
    {TASK_SOURCE_LIVE, "PullLivePushLive"},
    {TASK_SOURCE_FILES, "PullVodPushLive"},
    {TASK_SOURCE_PICTURE, "PullPicPushLive"},
};

/* CallbackEvents values: the six events, and the alarm types that select TaskAlarm. */
static const struct {
    const char *name;
    unsigned bit;
} events[] = {
    {"TaskStart", TASK_EV_TASK_START},
    {"TaskExit", TASK_EV_TASK_EXIT},
    {"VodSourceFileStart", TASK_EV_FILE_START},
    {"VodSourceFileFinish", TASK_EV_FILE_FINISH},
    {"ResetTaskConfig", TASK_EV_RESET_CONFIG},
    {"TaskAlarm", TASK_EV_ALARM},
    {"PullFileUnstable", TASK_EV_ALARM},
    {"PushStreamUnstable", TASK_EV_ALARM},
    {"PullFileFailed", TASK_EV_ALARM},
    {"PushStreamFailed", TASK_EV_ALARM},
    {"FileEndEarly", TASK_EV_ALARM},
};

/* Model field names (in ferr.field) and the Tencent parameter each comes from. */
static const dialect_field_param field_params[] = {
    {"source_urls", "SourceUrls"},
    {"backup_source_url", "BackupSourceUrl"},
    {"pad_url", "BackupVodUrl"},
    {"destination", "ToUrl or DomainName/AppName/StreamName"},
    {"backup_destination", "BackupToUrl"},
    {"start_time", "StartTime"},
    {"end_time", "EndTime"},
    {"loop_count", "VodLoopTimes"},
    {"file_index", "FileIndex"},
    {"offset", "OffsetTime"},
    {"vod_refresh_type", "VodRefreshType"},
    {"vod_local_mode", "VodLocalMode"},
    {"callback_url", "CallbackUrl"},
    {"comment", "Comment"},
    {"watermarks", "WatermarkList"},
    {"id", "SpecifyTaskId"},
};

const char *tc_param_for_field(const char *field)
{
    return dialect_param_for_field(field_params, sizeof(field_params) / sizeof(field_params[0]),
                                   field);
}

/* One Create or Modify being applied. extra is the spec's dialect_extra, parsed. */
typedef struct edit {
    const json_t *p;
    task_spec *s;
    json_t *extra;
    int64_t now_ms;
    bool modify;
} edit;

static int set_str(char **field, const char *value, ferr *err)
{
    return task_str_set(field, value) == 0 ? 0 : dialect_oom(err);
}

/* Copies a present string parameter into a model field. */
static int copy_param(const edit *e, const char *name, char **field, ferr *err)
{
    const char *v = tc_str(e->p, name);
    return v ? set_str(field, v, err) : 0;
}

/* Keeps a present string parameter in dialect_extra (stored, shown back, not acted on). */
static int keep_param(const edit *e, const char *name, ferr *err)
{
    const char *v = tc_str(e->p, name);
    if (!v)
        return 0;
    if (strlen(v) > TC_STORED_MAX)
        return ferr_set(err, FERR_INVALID, name, "%s is limited to %d bytes.", name, TC_STORED_MAX);
    return json_object_set_new(e->extra, name, json_string(v)) == 0 ? 0 : dialect_oom(err);
}

/* ---------- source ---------- */

static int set_source_type(edit *e, ferr *err)
{
    const char *v = tc_str(e->p, "SourceType");
    if (!v)
        return 0;
    for (size_t i = 0; i < sizeof(source_types) / sizeof(source_types[0]); i++)
        if (strcmp(v, source_types[i].name) == 0) {
            e->s->source_kind = source_types[i].kind;
            return 0;
        }
    return ferr_set(err, FERR_INVALID, "SourceType",
                    "SourceType must be PullLivePushLive, PullVodPushLive or PullPicPushLive.");
}

static int set_sources(edit *e, ferr *err)
{
    json_t *urls = json_object_get(e->p, "SourceUrls");
    if (!urls)
        return 0;
    size_t n = json_array_size(urls);
    if (n == 0 || n > TASK_MAX_SOURCES)
        return ferr_set(err, FERR_SOURCE_URL, "SourceUrls", "SourceUrls holds 1 to %d URLs.",
                        TASK_MAX_SOURCES);
    task_spec *s = e->s;
    for (int i = 0; i < s->n_sources; i++)
        free(s->source_urls[i]);
    s->n_sources = 0;
    for (size_t i = 0; i < n; i++) {
        s->source_urls[i] = NULL;
        if (task_str_set(&s->source_urls[i], json_string_value(json_array_get(urls, i))) != 0)
            return dialect_oom(err);
        s->n_sources++;
    }
    if (e->modify && !json_object_get(e->p, "FileIndex") && s->file_index >= s->n_sources)
        s->file_index = 0;
    return 0;
}

/* ---------- destination ---------- */

/* True when s is non-empty and every byte is printable, not a space and not in bad. */
static bool clean_part(const char *s, const char *bad)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || strchr(bad, *s))
            return false;
    return true;
}

/* rtmp://DomainName/AppName/StreamName[?PushArgs] */
static int build_push_url(const char *domain, const char *app, const char *stream, const char *args,
                          char **out, ferr *err)
{
    if (!clean_part(domain, "/?#@\\") || !clean_part(app, "?#\\") || !clean_part(stream, "/?#\\") ||
        app[0] == '/')
        return ferr_set(err, FERR_DST_URL, "DomainName",
                        "Give ToUrl, or DomainName, AppName and StreamName without spaces, "
                        "'?' or '#' (StreamName also without '/').");
    args += strspn(args, "?&");
    if (*args && !clean_part(args, "#"))
        return ferr_set(err, FERR_DST_URL, "PushArgs", "PushArgs must not hold spaces or '#'.");
    char *url = NULL;
    if (asprintf(&url, "rtmp://%s/%s/%s%s%s", domain, app, stream, *args ? "?" : "", args) < 0)
        return dialect_oom(err);
    free(*out);
    *out = url;
    return 0;
}

static int set_destination(edit *e, ferr *err)
{
    static const char *const parts[] = {"DomainName", "AppName", "StreamName", "PushArgs"};
    const char *to = tc_str(e->p, "ToUrl");
    if (e->modify) { /* Modify may only move the destination through ToUrl */
        if (!to || !*to)
            return 0;
        for (size_t i = 0; i < 3; i++)
            json_object_set_new(e->extra, parts[i], json_string(""));
        return set_str(&e->s->dst_url, to, err);
    }
    for (size_t i = 0; i < 4; i++) {
        int rc = keep_param(e, parts[i], err);
        if (rc)
            return rc;
    }
    if (to && *to)
        return set_str(&e->s->dst_url, to, err);
    return build_push_url(dialect_extra_str(e->extra, "DomainName"),
                          dialect_extra_str(e->extra, "AppName"),
                          dialect_extra_str(e->extra, "StreamName"),
                          dialect_extra_str(e->extra, "PushArgs"), &e->s->dst_url, err);
}

/* ---------- window ---------- */

static int set_time(edit *e, const char *name, int64_t *field, ferr *err)
{
    const char *v = tc_str(e->p, name);
    int64_t ms;
    if (!v)
        return 0;
    if (time_parse_iso(v, &ms) != 0)
        return ferr_set(err, FERR_TASK_TIME, name,
                        "%s must be a UTC time like 2030-01-01T08:00:00Z.", name);
    /* Modify: a new StartTime or EndTime must lie in the future (re-sending the current
     * value is not a change). */
    if (e->modify && ms != *field && ms <= e->now_ms)
        return ferr_set(err, FERR_TASK_TIME, name, "A new %s must be in the future.", name);
    *field = ms;
    return 0;
}

static int set_window(edit *e, ferr *err)
{
    int rc = set_time(e, "StartTime", &e->s->start_ms, err);
    return rc ? rc : set_time(e, "EndTime", &e->s->end_ms, err);
}

/* ---------- playback ---------- */

/* VodLoopTimes -1 plays until EndTime, 0 plays once, N > 0 plays the list N times. */
static int set_loop(edit *e, ferr *err)
{
    long long n;
    if (!tc_int(e->p, "VodLoopTimes", &n))
        return 0;
    if (n < -1)
        return ferr_set(err, FERR_INVALID, "VodLoopTimes",
                        "VodLoopTimes must be -1 (until EndTime), 0 (once) or a number of plays.");
    e->s->loop_count = n == 0 ? 1 : (int)n;
    return json_object_set_new(e->extra, "VodLoopTimes", json_integer(n)) == 0 ? 0
                                                                               : dialect_oom(err);
}

static int set_position(edit *e, ferr *err)
{
    long long n;
    if (tc_int(e->p, "FileIndex", &n)) {
        if (n < 0 || n > e->s->n_sources)
            return ferr_set(err, FERR_INVALID, "FileIndex",
                            "FileIndex must be from 1 to the number of SourceUrls (%d).",
                            e->s->n_sources);
        e->s->file_index = n > 0 ? (int)n - 1 : 0;
    }
    if (tc_int(e->p, "OffsetTime", &n)) {
        if (n < 0)
            return ferr_set(err, FERR_INVALID, "OffsetTime", "OffsetTime must be >= 0 seconds.");
        e->s->offset_s = (int)n;
    }
    if (tc_int(e->p, "VodLocalMode", &n)) {
        if (n != 0 && n != 1)
            return ferr_set(err, FERR_INVALID, "VodLocalMode", "VodLocalMode must be 0 or 1.");
        e->s->vod_local_mode = (int)n;
    }
    return copy_param(e, "VodRefreshType", &e->s->vod_refresh_type, err);
}

/* ---------- callbacks ---------- */

static int event_bit(const char *name, unsigned *bit)
{
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (strcmp(name, events[i].name) == 0) {
            *bit = events[i].bit;
            return 0;
        }
    return -1;
}

static int set_callbacks(edit *e, ferr *err)
{
    json_t *list = json_object_get(e->p, "CallbackEvents");
    if (list) {
        unsigned bits = 0, bit;
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            if (event_bit(json_string_value(v), &bit) != 0)
                return ferr_set(err, FERR_INVALID, "CallbackEvents",
                                "CallbackEvents.%zu is not an event or alarm name.", i);
            bits |= bit;
        }
        e->s->callback_events = bits; /* none listed = all */
        if (json_object_set_new(e->extra, "CallbackEvents", json_deep_copy(list)) != 0)
            return dialect_oom(err);
    }
    return copy_param(e, "CallbackUrl", &e->s->callback_url, err);
}

/* ---------- backup source and pad file ---------- */

static int set_backup_source(edit *e, ferr *err)
{
    const char *type = tc_str(e->p, "BackupSourceType");
    int rc = copy_param(e, "BackupSourceUrl", &e->s->backup_source_url, err);
    if (rc || !type)
        return rc;
    if (strcmp(type, "PullLivePushLive") == 0)
        e->s->backup_source_kind = TASK_SOURCE_LIVE;
    else if (strcmp(type, "PullVodPushLive") == 0)
        e->s->backup_source_kind = TASK_SOURCE_FILES;
    else if (*type)
        return ferr_set(err, FERR_INVALID, "BackupSourceType",
                        "BackupSourceType must be PullLivePushLive or PullVodPushLive.");
    else if (e->modify) /* an empty type removes the backup source */
        rc = set_str(&e->s->backup_source_url, "", err);
    return rc ? rc : keep_param(e, "BackupSourceType", err);
}

static int set_pad(edit *e, ferr *err)
{
    const char *v = tc_str(e->p, "BackupVodUrl");
    if (v && *v && !task_url_is_source(v, TASK_SOURCE_FILES))
        return ferr_set(err, FERR_SOURCE_URL, "BackupVodUrl",
                        "BackupVodUrl must be an http:// or https:// file URL.");
    return copy_param(e, "BackupVodUrl", &e->s->pad_url, err);
}

/* ---------- watermarks ---------- */

static int read_mark(const json_t *o, size_t i, task_watermark *w, ferr *err)
{
    static const char *const ints[] = {"XPosition", "YPosition", "Width", "Height", "Location"};
    int *dst[] = {&w->x, &w->y, &w->width, &w->height, &w->location};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        long long n;
        size_t j = 0;
        if (strcmp(k, "PictureUrl") == 0) {
            if (!json_is_string(v))
                return ferr_set(err, FERR_WATERMARK, "WatermarkList",
                                "WatermarkList.%zu.PictureUrl must be a string.", i);
            continue;
        }
        while (j < 5 && strcmp(k, ints[j]) != 0)
            j++;
        if (j == 5)
            return ferr_set(err, TC_ERR_UNKNOWN_PARAM, "WatermarkList",
                            "The parameter `WatermarkList.%zu.%.64s` is not recognized.", i, k);
        if (!tc_json_int(v, &n) || n < -1000000 || n > 1000000)
            return ferr_set(err, FERR_WATERMARK, "WatermarkList",
                            "WatermarkList.%zu.%s must be an integer.", i, k);
        *dst[j] = (int)n;
    }
    const char *url = json_string_value(json_object_get(o, "PictureUrl"));
    if (!url)
        return ferr_set(err, FERR_WATERMARK, "WatermarkList",
                        "WatermarkList.%zu.PictureUrl is required.", i);
    return task_str_set(&w->picture_url, url) == 0 ? 0 : dialect_oom(err);
}

static bool same_place(const task_watermark *a, const task_watermark *b)
{
    return a->location == b->location && a->x == b->x && a->y == b->y;
}

static int set_watermarks(edit *e, ferr *err)
{
    json_t *list = json_object_get(e->p, "WatermarkList");
    if (!list)
        return 0;
    task_spec *s = e->s;
    size_t n = json_array_size(list);
    if (n > TASK_MAX_WATERMARKS)
        return ferr_set(err, FERR_WATERMARK, "WatermarkList",
                        "WatermarkList holds at most %d watermarks.", TASK_MAX_WATERMARKS);
    for (int i = 0; i < s->n_watermarks; i++)
        free(s->watermarks[i].picture_url);
    memset(s->watermarks, 0, sizeof(s->watermarks));
    s->n_watermarks = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = read_mark(json_array_get(list, i), i, &s->watermarks[i], err);
        s->n_watermarks = (int)i + 1; /* owns what read_mark copied */
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (same_place(&s->watermarks[j], &s->watermarks[i]))
                return ferr_set(err, FERR_WATERMARK, "WatermarkList",
                                "WatermarkList.%zu is at the same position as .%zu.", i, j);
    }
    return 0;
}

/* ---------- everything else ---------- */

static int set_operator(edit *e, ferr *err)
{
    const char *v = tc_str(e->p, "Operator");
    if (!v)
        return 0;
    if (strlen(v) > TC_OPERATOR_MAX)
        return ferr_set(err, FERR_INVALID, "Operator", "Operator is limited to %d bytes.",
                        TC_OPERATOR_MAX);
    return set_str(e->modify ? &e->s->updated_by : &e->s->created_by, v, err);
}

static int set_status(edit *e, ferr *err)
{
    const char *v = tc_str(e->p, "Status");
    if (!v)
        return 0;
    if (strcmp(v, "enable") != 0 && strcmp(v, "pause") != 0)
        return ferr_set(err, FERR_INVALID, "Status", "Status must be enable or pause.");
    e->s->paused = strcmp(v, "pause") == 0;
    return 0;
}

static int set_misc(edit *e, ferr *err)
{
    int rc = copy_param(e, "Comment", &e->s->comment, err);
    if (rc == 0)
        rc = copy_param(e, "BackupToUrl", &e->s->backup_dst_url, err);
    if (rc == 0)
        rc = keep_param(e, "ExtraCmd", err);
    if (rc == 0)
        rc = keep_param(e, "RecordTemplateId", err);
    if (rc == 0)
        rc = keep_param(e, "TranscodeTemplateName", err);
    return rc;
}

/* ---------- Create and Modify ---------- */

typedef int (*edit_step)(edit *e, ferr *err);

/* Order matters: sources before FileIndex. */
static const edit_step steps[] = {
    set_source_type, set_sources,   set_destination,   set_window, set_loop,
    set_position,    set_callbacks, set_backup_source, set_pad,    set_watermarks,
    set_operator,    set_status,    set_misc,
};

static int run_steps(edit *e, ferr *err)
{
    if (!e->extra)
        return dialect_oom(err);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
        rc = steps[i](e, err);
    return dialect_extra_save(e->s, e->extra, rc, err);
}

int tc_spec_from_create(const json_t *p, const char *region, task_spec *s, int64_t now_ms,
                        ferr *err)
{
    task_spec_init(s);
    if (task_str_set(&s->region, region) != 0)
        return dialect_oom(err);
    edit e = {.p = p, .s = s, .extra = json_object(), .now_ms = now_ms, .modify = false};
    return run_steps(&e, err);
}

int tc_spec_apply_modify(const json_t *p, task_spec *s, int64_t now_ms, ferr *err)
{
    edit e = {.p = p, .s = s, .extra = dialect_extra_load(s), .now_ms = now_ms, .modify = true};
    return run_steps(&e, err);
}

/* ---------- a task as Tencent shows it ---------- */

static json_t *iso_or_empty(int64_t ms)
{
    char buf[32];
    return json_string(ms > 0 ? time_format_iso(ms, buf, sizeof(buf)) : "");
}

static const char *source_type_name(task_source_kind k)
{
    for (size_t i = 0; i < sizeof(source_types) / sizeof(source_types[0]); i++)
        if (source_types[i].kind == k)
            return source_types[i].name;
    return "";
}

static json_t *strings_json(char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *marks_json(const task_spec *s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s->n_watermarks; i++) {
        const task_watermark *w = &s->watermarks[i];
        json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "PictureUrl",
                                           w->picture_url, "XPosition", w->x, "YPosition", w->y,
                                           "Width", w->width, "Height", w->height, "Location",
                                           w->location));
    }
    return a;
}

/* RecentPullInfo: what the worker pulls now; the documented idle values when none runs. */
static json_t *recent_pull(const task_progress *p)
{
    bool on = p->active;
    return json_pack("{s:s, s:I, s:o, s:I}", "FileUrl", on ? p->source_url : "", "OffsetTime",
                     (json_int_t)(on ? p->offset_ms / 1000 : 0), "ReportTime",
                     iso_or_empty(on ? p->report_ms : 0), "LoopedTimes",
                     (json_int_t)(on ? p->loops_done : -1));
}

json_t *tc_status_info(const task_progress *p)
{
    bool on = p->active;
    return json_pack("{s:s, s:I, s:I, s:o, s:s, s:I, s:s}", "FileUrl", on ? p->source_url : "",
                     "LoopedTimes", (json_int_t)(on ? p->loops_done : -1), "OffsetTime",
                     (json_int_t)(on ? p->offset_ms / 1000 : 0), "ReportTime",
                     iso_or_empty(on ? p->report_ms : 0), "RunStatus", on ? "active" : "inactive",
                     "FileDuration", (json_int_t)(on ? p->file_duration_ms / 1000 : 0),
                     "NextFileUrl", on ? p->next_url : "");
}

static json_t *loop_times(const task_spec *s, const json_t *extra)
{
    json_t *v = json_object_get(extra, "VodLoopTimes");
    return json_is_integer(v) ? json_incref(v) : json_integer(s->loop_count);
}

static json_t *callback_events(const json_t *extra)
{
    json_t *v = json_object_get(extra, "CallbackEvents");
    return json_is_array(v) ? json_deep_copy(v) : json_array();
}

static const char *backup_type(const task_spec *s, const json_t *extra)
{
    if (!s->backup_source_url[0])
        return "";
    const char *v = dialect_extra_str(extra, "BackupSourceType");
    return *v ? v : source_type_name(s->backup_source_kind);
}

/* Tencent documents ErrorInfo as not returned yet; ferry shows the error chain of a task
 * that is failing now, and "" otherwise. */
static const char *error_info(const task *t)
{
    bool failing = t->state == TASK_RECOVERING || t->state == TASK_OFFLINE;
    return failing && t->last_error ? t->last_error : "";
}

/* The first half of PullStreamTaskInfo, in the SDK model's order. */
static json_t *info_head(const task *t, const json_t *x)
{
    const task_spec *s = &t->spec;
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:s, s:o, s:o}",
                     "TaskId", t->id, "SourceType", source_type_name(s->source_kind), "SourceUrls",
                     strings_json(s->source_urls, s->n_sources), "DomainName",
                     dialect_extra_str(x, "DomainName"), "AppName", dialect_extra_str(x, "AppName"),
                     "StreamName", dialect_extra_str(x, "StreamName"), "PushArgs",
                     dialect_extra_str(x, "PushArgs"), "StartTime", iso_or_empty(s->start_ms),
                     "EndTime", iso_or_empty(s->end_ms), "Region", s->region, "VodLoopTimes",
                     loop_times(s, x), "VodRefreshType", s->vod_refresh_type, "CreateTime",
                     iso_or_empty(t->created_ms), "UpdateTime", iso_or_empty(t->updated_ms));
}

static json_t *info_tail(const task *t, const json_t *x, const task_progress *p)
{
    const task_spec *s = &t->spec;
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:i, s:s, "
                     "s:s, s:s}",
                     "CreateBy", s->created_by, "UpdateBy", s->updated_by, "CallbackUrl",
                     s->callback_url, "CallbackEvents", callback_events(x), "CallbackInfo", "",
                     "ErrorInfo", error_info(t), "Status", s->paused ? "pause" : "enable",
                     "RecentPullInfo", p ? recent_pull(p) : json_null(), "Comment", s->comment,
                     "BackupSourceType", backup_type(s, x), "BackupSourceUrl", s->backup_source_url,
                     "WatermarkList", marks_json(s), "VodLocalMode", s->vod_local_mode,
                     "RecordTemplateId", dialect_extra_str(x, "RecordTemplateId"), "BackupToUrl",
                     s->backup_dst_url, "TranscodeTemplateName",
                     dialect_extra_str(x, "TranscodeTemplateName"));
}

json_t *tc_task_info(const task *t, const task_progress *p)
{
    json_t *x = dialect_extra_load(&t->spec);
    json_t *head = x ? info_head(t, x) : NULL;
    json_t *tail = x ? info_tail(t, x, p) : NULL;
    json_decref(x);
    if (!head || !tail || json_object_update(head, tail) != 0) {
        json_decref(head);
        head = NULL;
    }
    json_decref(tail);
    return head;
}
