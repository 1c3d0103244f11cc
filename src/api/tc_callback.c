/* tc_callback.c — the Tencent relay callback (event_type 314, api-compat.md §1.5): flat
 * snake_case JSON with msg and source_urls JSON-encoded inside strings. */
#include "api/tc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/notify.h"

/* TaskExit codes: 0 a normal end (EndTime, playlist done, user), negative a failure. */
static int exit_code(const char *reason)
{
    if (strcmp(reason, "PullStreamFailed") == 0)
        return -1;
    if (strcmp(reason, "PushStreamFailed") == 0)
        return -2;
    static const char *const normal[] = {"OverEndTime", "PlaylistFinished", "TriggerByUser",
                                         "Paused"};
    for (size_t i = 0; i < sizeof(normal) / sizeof(normal[0]); i++)
        if (strcmp(reason, normal[i]) == 0)
            return 0;
    return -3;
}

static json_t *exit_msg(const task *t, const notify_event *ev)
{
    const char *reason = ev->reason ? ev->reason : "";
    int code = exit_code(reason);
    const char *message = code < 0 && t->last_error && t->last_error[0] ? t->last_error
                          : ev->detail && ev->detail[0]                 ? ev->detail
                                                                        : reason;
    int64_t at = t->exit_ms > 0 ? t->exit_ms : ev->at_ms;
    return json_pack("{s:s, s:i, s:I}", "message", message, "code", code, "task_exit_time",
                     (json_int_t)at);
}

static json_t *msg_object(const task *t, const notify_event *ev)
{
    switch (ev->kind) {
    case NOTIFY_TASK_START:
        return json_pack("{s:I}", "task_start_time",
                         (json_int_t)(t->started_ms > 0 ? t->started_ms : ev->at_ms));
    case NOTIFY_TASK_EXIT:
        return exit_msg(t, ev);
    case NOTIFY_FILE_START:
    case NOTIFY_FILE_FINISH:
        return json_pack("{s:s, s:i, s:I}", "url", ev->url ? ev->url : "", "index", ev->index,
                         "duration", (json_int_t)(ev->duration_ms / 1000));
    case NOTIFY_ALARM:
        return json_pack("{s:s}", "type", ev->alarm ? ev->alarm : "");
    case NOTIFY_RESET_CONFIG:
        return json_object();
    default:
        return NULL; /* other state changes have no Tencent event */
    }
}

/* Encodes obj (stolen) as JSON text inside a JSON string; suffix is appended. */
static json_t *encoded(json_t *obj, const char *suffix)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    if (!text)
        return NULL;
    size_t n = strlen(text), m = strlen(suffix);
    char *all = realloc(text, n + m + 1);
    if (!all) {
        free(text);
        return NULL;
    }
    memcpy(all + n, suffix, m + 1);
    json_t *s = json_string(all);
    free(all);
    return s;
}

static json_t *source_urls(const task_spec *s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s->n_sources; i++)
        json_array_append_new(a, json_string(s->source_urls[i]));
    return a;
}

/* StreamName as the task was created with it; "" for a ToUrl task. */
static json_t *stream_id(const task_spec *s)
{
    json_t *x = json_loads(s->dialect_extra ? s->dialect_extra : "{}", 0, NULL);
    const char *v = json_string_value(json_object_get(x, "StreamName"));
    json_t *out = json_string(v ? v : "");
    json_decref(x);
    return out;
}

static json_int_t app_id(const config_account *acct)
{
    return acct && acct->tc_app_id[0] ? (json_int_t)strtoll(acct->tc_app_id, NULL, 10) : 0;
}

json_t *tc_callback_format(const task *t, const notify_event *ev, const config_account *acct)
{
    json_t *msg = encoded(msg_object(t, ev), "");
    if (!msg)
        return NULL;
    char when[24];
    snprintf(when, sizeof(when), "%lld", (long long)(ev->at_ms / 1000));
    bool file = ev->kind == NOTIFY_FILE_START || ev->kind == NOTIFY_FILE_FINISH;
    json_t *doc = json_pack(
        "{s:I, s:s, s:i, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:s}", "appid", app_id(acct),
        "callback_event", notify_kind_name(ev->kind), "event_type", 314, "interface",
        "general_callback", "product_name", "pullpush", "msg", msg, "source_urls",
        encoded(source_urls(&t->spec), "\n"), "stream_id", stream_id(&t->spec), "task_id", t->id,
        "to_url", t->spec.dst_url, "event_time", when, "event_id", ev->id);
    if (doc && file &&
        json_object_set_new(doc, "callback_url", json_string(t->spec.callback_url))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
