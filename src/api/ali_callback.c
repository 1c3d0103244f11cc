/* ali_callback.c — the Alibaba pull-to-push callbacks (api-compat.md §2.4): the state
 * callback LivePullToPushRunning (TaskStatus 1/2/3) and the exit callback LivePullToPushExit. */
#include "api/ali.h"

#include <stdio.h>
#include <string.h>

#include "notify/notify.h"

static bool is_failure(const char *reason)
{
    return reason &&
           (strcmp(reason, "PullStreamFailed") == 0 || strcmp(reason, "PushStreamFailed") == 0);
}

/* Moves field name from state into doc (when present and, for strings, not empty). */
static int take(json_t *doc, json_t *state, const char *name)
{
    json_t *v = json_object_get(state, name);
    if (!v || (json_is_string(v) && !json_string_length(v)))
        return 0;
    return json_object_set(doc, name, v);
}

static int add_reasons(json_t *doc, json_t *state, int status, const notify_event *ev)
{
    if (status == -1)
        return take(doc, state, "TaskExitReason") || take(doc, state, "TaskExitTime");
    if (status == 3)
        return take(doc, state, "TaskInvalidReason");
    if (status == 2 && is_failure(ev->reason))
        return json_object_set_new(doc, "TaskInvalidReason", json_string(ev->reason));
    return 0;
}

json_t *ali_callback_format(const task *t, const notify_event *ev, const config_account *acct)
{
    (void)acct;
    int status = ali_task_status(t);
    if (ev->kind != NOTIFY_TASK_START && ev->kind != NOTIFY_TASK_EXIT &&
        ev->kind != NOTIFY_TASK_STATE)
        return NULL; /* Alibaba documents no file, alarm or modify callbacks */
    if (status == 0)
        return NULL;
    json_t *state = ali_task_state(t, NULL);
    if (!state)
        return NULL;
    char when[24];
    snprintf(when, sizeof(when), "%lld", (long long)(ev->at_ms / 1000));
    json_t *doc = json_pack("{s:s, s:s, s:s, s:O, s:i}", "Event",
                            status == -1 ? "LivePullToPushExit" : "LivePullToPushRunning",
                            "EventTime", when, "TaskId", t->id, "TaskInfo",
                            json_object_get(state, "TaskInfo"), "TaskStatus", status);
    if (doc && (add_reasons(doc, state, status, ev) != 0 ||
                json_object_set_new(doc, "EventId", json_string(ev->id)) != 0)) {
        json_decref(doc);
        doc = NULL;
    }
    json_decref(state);
    return doc;
}
