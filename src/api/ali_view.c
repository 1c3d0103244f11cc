/* ali_view.c — a task as Alibaba shows it: TaskStatus 0 / 1 / 2 / 3 / -1 with its reasons,
 * the playback position, and TaskInfo, with the JSON types of the SDK model (wire.md §9). */
#include "api/ali.h"

#include <string.h>
#include <strings.h>

#include "common/timeutil.h"

/* The reasons Alibaba documents for a stopped task; ferry's others read as UnknownError. */
static const char *const invalid_reasons[] = {"PullStreamFailed", "PushStreamFailed",
                                              "TriggerByUser", "RetryTimesOffline", "UnknownError"};

int ali_task_status(const task *t)
{
    switch (t->state) {
    case TASK_IDLE:
        return 0;
    case TASK_RUNNING:
        return 1;
    case TASK_RECOVERING:
        return 2;
    case TASK_OFFLINE:
    case TASK_PAUSED: /* paused through another API: stopped by the user */
        return 3;
    case TASK_FINISHED:
        return -1;
    }
    return 3;
}

static const char *reason_of(const task *t)
{
    return t->reason ? t->reason : "";
}

static const char *invalid_reason(const task *t)
{
    if (t->state == TASK_PAUSED)
        return "TriggerByUser";
    if (t->state != TASK_OFFLINE)
        return "";
    for (size_t i = 0; i < sizeof(invalid_reasons) / sizeof(invalid_reasons[0]); i++)
        if (strcmp(reason_of(t), invalid_reasons[i]) == 0)
            return invalid_reasons[i];
    return "UnknownError";
}

static const char *extra_str(const json_t *extra, const char *name)
{
    const char *v = json_string_value(json_object_get(extra, name));
    return v ? v : "";
}

/* live / vod / url as given; tasks of the other APIs by their source kind. */
static const char *source_type(const task_spec *s, const json_t *x)
{
    const char *v = extra_str(x, "SourceType");
    if (*v)
        return v;
    return s->source_kind == TASK_SOURCE_LIVE ? "live" : "url";
}

/* SourceProtocol as given, else what a live URL says. */
static const char *source_protocol(const task_spec *s)
{
    if (s->source_protocol && s->source_protocol[0])
        return s->source_protocol;
    const char *u = s->n_sources ? s->source_urls[0] : "";
    if (s->source_kind != TASK_SOURCE_LIVE)
        return "";
    if (strncasecmp(u, "rtmp", 4) == 0)
        return "rtmp";
    if (strncasecmp(u, "srt:", 4) == 0)
        return "srt";
    if (strncasecmp(u, "rtsp:", 5) == 0)
        return "rtsp";
    return strstr(u, ".m3u8") ? "hls" : "http-flv";
}

static json_t *source_urls(const task_spec *s, const json_t *x)
{
    json_t *ids = json_object_get(x, "MediaIds");
    if (json_is_array(ids))
        return json_deep_copy(ids);
    json_t *a = json_array();
    for (int i = 0; a && i < s->n_sources; i++)
        json_array_append_new(a, json_string(s->source_urls[i]));
    return a;
}

static json_t *iso(int64_t ms)
{
    char buf[32];
    return json_string(ms > 0 ? time_format_iso(ms, buf, sizeof(buf)) : "");
}

static json_t *task_info(const task *t, const json_t *x)
{
    const task_spec *s = &t->spec;
    int repeat = s->loop_count < 0 ? -1 : s->loop_count - 1;
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:s, "
                     "s:s, s:s, s:s}",
                     "TaskId", t->id, "TaskName", s->name, "SourceType", source_type(s, x),
                     "SourceProtocol", source_protocol(s), "SourceUrls", source_urls(s, x),
                     "DstUrl", s->dst_url, "StartTime", iso(s->start_ms), "EndTime", iso(s->end_ms),
                     "FileIndex", s->file_index, "Offset", s->offset_s, "RepeatNumber", repeat,
                     "RetryCount", s->retry_count, "RetryInterval", s->retry_interval_s,
                     "CallbackURL", s->callback_url, "AuthKey", extra_str(x, "AuthKey"), "ReqAuth",
                     extra_str(x, "ReqAuth"), "NotifyItemSwitch", extra_str(x, "NotifyItemSwitch"));
}

json_t *ali_task_state(const task *t, const task_progress *p)
{
    json_t *x = json_loads(t->spec.dialect_extra ? t->spec.dialect_extra : "{}", 0, NULL);
    int status = ali_task_status(t);
    bool on = p && p->active;
    json_t *info = task_info(t, json_is_object(x) ? x : NULL);
    json_decref(x);
    if (!info)
        return NULL;
    return json_pack("{s:s, s:i, s:s, s:s, s:I, s:i, s:I, s:o}", "TaskId", t->id, "TaskStatus",
                     status, "TaskInvalidReason", invalid_reason(t), "TaskExitReason",
                     status == -1 ? reason_of(t) : "", "TaskExitTime",
                     (json_int_t)(status == -1 ? t->exit_ms / 1000 : 0), "CurrentFileIndex",
                     on ? p->file_index : t->spec.file_index, "CurrentOffset",
                     (json_int_t)(on ? p->offset_ms / 1000 : t->spec.offset_s), "TaskInfo", info);
}
