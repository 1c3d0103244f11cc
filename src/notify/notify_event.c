/* notify_event.c — what a task event is and how it becomes an outbox row: the formatter
 * registry of the dialects, the CallbackEvents filter, and the native payload. */
#include "notify/notify.h"

#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"

static notify_format_fn formats[3];

static const char *const kind_names[NOTIFY_KINDS] = {
    [NOTIFY_TASK_START] = "TaskStart",
    [NOTIFY_TASK_EXIT] = "TaskExit",
    [NOTIFY_TASK_STATE] = "TaskState",
    [NOTIFY_FILE_START] = "VodSourceFileStart",
    [NOTIFY_FILE_FINISH] = "VodSourceFileFinish",
    [NOTIFY_RESET_CONFIG] = "ResetTaskConfig",
    [NOTIFY_ALARM] = "TaskAlarm",
};

/* Native type names: snake_case like the rest of the native API. */
static const char *const native_names[NOTIFY_KINDS] = {
    [NOTIFY_TASK_START] = "task_start",
    [NOTIFY_TASK_EXIT] = "task_exit",
    [NOTIFY_TASK_STATE] = "task_state",
    [NOTIFY_FILE_START] = "file_start",
    [NOTIFY_FILE_FINISH] = "file_finish",
    [NOTIFY_RESET_CONFIG] = "config_reset",
    [NOTIFY_ALARM] = "alarm",
};

void notify_register_format(task_dialect d, notify_format_fn f)
{
    if ((unsigned)d < sizeof(formats) / sizeof(formats[0]))
        formats[d] = f;
}

const char *notify_kind_name(notify_kind kind)
{
    return (unsigned)kind < NOTIFY_KINDS ? kind_names[kind] : "";
}

unsigned notify_kind_bit(notify_kind kind)
{
    static const unsigned bits[NOTIFY_KINDS] = {
        [NOTIFY_TASK_START] = TASK_EV_TASK_START,     [NOTIFY_TASK_EXIT] = TASK_EV_TASK_EXIT,
        [NOTIFY_FILE_START] = TASK_EV_FILE_START,     [NOTIFY_FILE_FINISH] = TASK_EV_FILE_FINISH,
        [NOTIFY_RESET_CONFIG] = TASK_EV_RESET_CONFIG, [NOTIFY_ALARM] = TASK_EV_ALARM,
    };
    return (unsigned)kind < NOTIFY_KINDS ? bits[kind] : 0;
}

static bool live(task_state s)
{
    return s == TASK_RUNNING || s == TASK_RECOVERING;
}

/* A recovery (recovering -> running) is a state change, not a new start. */
int notify_transition_kind(task_state from, task_state to)
{
    if (from == to)
        return -1;
    if (to == TASK_RUNNING)
        return from == TASK_RECOVERING ? NOTIFY_TASK_STATE : NOTIFY_TASK_START;
    if (to == TASK_FINISHED || to == TASK_OFFLINE || (to == TASK_PAUSED && live(from)))
        return NOTIFY_TASK_EXIT;
    return NOTIFY_TASK_STATE;
}

static bool wanted(const task *t, const notify_event *ev)
{
    unsigned filter = t->spec.callback_events;
    if (!t->spec.callback_url || !t->spec.callback_url[0])
        return false;
    return filter == 0 || (filter & notify_kind_bit(ev->kind)) != 0;
}

static store_event *make_row(const task *t, const notify_event *ev, char *body)
{
    store_event *row = calloc(1, sizeof(*row));
    if (!row || !(row->url = strdup(t->spec.callback_url))) {
        free(row);
        free(body);
        return NULL;
    }
    row->body = body;
    snprintf(row->id, sizeof(row->id), "%s", ev->id);
    snprintf(row->task_id, sizeof(row->task_id), "%s", t->id);
    snprintf(row->account, sizeof(row->account), "%s", t->account);
    row->dialect = (int)t->dialect;
    snprintf(row->type, sizeof(row->type), "%s", notify_kind_name(ev->kind));
    row->created_ms = row->next_ms = time_now_ms();
    return row;
}

store_event *notify_event_rows(const config *cfg, const task *t, notify_event *ev)
{
    if (!wanted(t, ev))
        return NULL;
    id_uuid(ev->id);
    if (!ev->at_ms)
        ev->at_ms = time_now_ms();
    notify_format_fn f = (unsigned)t->dialect < 3 && formats[t->dialect] ? formats[t->dialect]
                                                                         : notify_native_format;
    task shown = *t; /* read only: the payload carries the id its account knows (ids.h) */
    id_task_public(t->id, shown.id);
    json_t *doc = f(&shown, ev, config_find_account(cfg, t->account));
    if (!doc)
        return NULL;
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body) {
        tlog_error(t->id, "callback %s: out of memory", notify_kind_name(ev->kind));
        return NULL;
    }
    return make_row(t, ev, body);
}

/* ---------- the native payload ---------- */

static json_t *iso_time(int64_t ms)
{
    char buf[40];
    return json_string(time_format_iso(ms, buf, sizeof(buf)));
}

static int add_file(json_t *doc, const notify_event *ev)
{
    return json_object_set_new(doc, "file",
                               json_pack("{s:s, s:i, s:I}", "url", ev->url ? ev->url : "", "index",
                                         ev->index, "duration_ms", (json_int_t)ev->duration_ms));
}

json_t *notify_native_format(const task *t, const notify_event *ev, const config_account *acct)
{
    (void)acct;
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:s, s:s, s:s, s:s}", "id", ev->id, "type",
                  native_names[ev->kind], "task_id", t->id, "at", iso_time(ev->at_ms), "at_ms",
                  (json_int_t)ev->at_ms, "state", task_state_name(ev->to), "from_state",
                  task_state_name(ev->from), "reason", ev->reason ? ev->reason : "", "detail",
                  ev->detail ? ev->detail : "", "task_name", t->spec.name ? t->spec.name : "");
    int rc = doc ? 0 : -1;
    if (rc == 0 && (ev->kind == NOTIFY_FILE_START || ev->kind == NOTIFY_FILE_FINISH))
        rc = add_file(doc, ev);
    if (rc == 0 && ev->kind == NOTIFY_ALARM)
        rc = json_object_set_new(doc, "alarm", json_string(ev->alarm ? ev->alarm : ""));
    if (rc == 0 && ev->deleted)
        rc = json_object_set_new(doc, "deleted", json_true());
    if (rc != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
