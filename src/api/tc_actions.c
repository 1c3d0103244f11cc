/* tc_actions.c — the six *LivePullStreamTask* actions of Tencent CSS 2018-08-01: their
 * parameter tables (spec/api-compat.md §1.2) and what each asks of the task service. */
#include "api/tc.h"
#include "api/dialect_util.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "common/timeutil.h"

#define PAGE_SIZE_DEFAULT 10
#define PAGE_SIZE_MAX 20
#define PAGE_NUM_MAX 1000000 /* keeps (PageNum - 1) * PageSize inside an int */

/* ---------- parameter tables ---------- */

static const tc_param_def create_params[] = {
    {"SourceType", TC_STR, true},
    {"SourceUrls", TC_STRS, true},
    {"DomainName", TC_STR, true},
    {"AppName", TC_STR, true},
    {"StreamName", TC_STR, true},
    {"StartTime", TC_STR, true},
    {"EndTime", TC_STR, true},
    {"Operator", TC_STR, true},
    {"PushArgs", TC_STR, false},
    {"CallbackEvents", TC_STRS, false},
    {"VodLoopTimes", TC_STR_OR_INT, false},
    {"VodRefreshType", TC_STR, false},
    {"CallbackUrl", TC_STR, false},
    {"ExtraCmd", TC_STR, false},
    {"SpecifyTaskId", TC_STR, false},
    {"Comment", TC_STR, false},
    {"ToUrl", TC_STR, false},
    {"FileIndex", TC_INT, false},
    {"OffsetTime", TC_INT, false},
    {"BackupSourceType", TC_STR, false},
    {"BackupSourceUrl", TC_STR, false},
    {"WatermarkList", TC_WATERMARKS, false},
    {"VodLocalMode", TC_INT, false},
    {"RecordTemplateId", TC_STR, false},
    {"BackupToUrl", TC_STR, false},
    {"TranscodeTemplateName", TC_STR, false},
    {NULL, TC_STR, false},
};

static const tc_param_def modify_params[] = {
    {"TaskId", TC_STR, true},           {"Operator", TC_STR, true},
    {"SourceUrls", TC_STRS, false},     {"StartTime", TC_STR, false},
    {"EndTime", TC_STR, false},         {"VodLoopTimes", TC_STR_OR_INT, false},
    {"VodRefreshType", TC_STR, false},  {"Status", TC_STR, false},
    {"CallbackEvents", TC_STRS, false}, {"CallbackUrl", TC_STR, false},
    {"FileIndex", TC_INT, false},       {"OffsetTime", TC_INT, false},
    {"SpecifyTaskId", TC_STR, false},   {"ToUrl", TC_STR, false},
    {"Comment", TC_STR, false},         {"BackupSourceType", TC_STR, false},
    {"BackupSourceUrl", TC_STR, false}, {"WatermarkList", TC_WATERMARKS, false},
    {"VodLocalMode", TC_INT, false},    {"BackupToUrl", TC_STR, false},
    {"BackupVodUrl", TC_STR, false},    {NULL, TC_STR, false},
};

static const tc_param_def delete_params[] = {
    {"TaskId", TC_STR, true},
    {"Operator", TC_STR, true},
    {"SpecifyTaskId", TC_STR, false},
    {NULL, TC_STR, false},
};

static const tc_param_def describe_params[] = {
    {"TaskId", TC_STR, false},        {"PageNum", TC_INT, false}, {"PageSize", TC_INT, false},
    {"SpecifyTaskId", TC_STR, false}, {NULL, TC_STR, false},
};

static const tc_param_def status_params[] = {
    {"TaskId", TC_STR, true},
    {NULL, TC_STR, false},
};

static const tc_param_def restart_params[] = {
    {"TaskId", TC_STR, true},
    {"Operator", TC_STR, true},
    {NULL, TC_STR, false},
};

/* ---------- helpers ---------- */

static void reply_ok(tc_call *c)
{
    tc_reply(c, NULL);
}

/* The id a call names: TaskId, or SpecifyTaskId when TaskId is empty. Both given and
 * different name no task. NULL when neither is given. */
static const char *named_id(const tc_call *c)
{
    const char *id = tc_str(c->params, "TaskId");
    const char *custom = tc_str(c->params, "SpecifyTaskId");
    if (id && *id)
        return custom && *custom && strcmp(custom, id) != 0 ? "" : id;
    return custom && *custom ? custom : NULL;
}

/* The caller's task with that id, whichever API created it (one task model: each API
 * shows every task of the account in its own shape). Other accounts' tasks do not exist. */
static int load_task(const tc_call *c, const char *id, task *t, ferr *err)
{
    if (!id)
        return ferr_set(err, FERR_MISSING, "TaskId",
                        "The request is missing a required parameter `TaskId`.");
    int rc = task_get(c->account->name, id, t, err);
    if (rc == FERR_NOT_FOUND)
        ferr_set(err, FERR_NOT_FOUND, "TaskId", "The task does not exist.");
    return rc;
}

/* Loads the named task into t; replies the error and returns -1 when there is none. */
static int load_named(tc_call *c, task *t)
{
    ferr err = {0};
    if (load_task(c, named_id(c), t, &err) != 0) {
        tc_fail_ferr(c, &err);
        return -1;
    }
    return 0;
}

static void reply_result(tc_call *c, int rc, ferr *err)
{
    if (rc == 0) {
        reply_ok(c);
        return;
    }
    if (err->code == 0)
        ferr_set(err, rc, "", "The request failed.");
    tc_fail_ferr(c, err);
}

/* ---------- CreateLivePullStreamTask ---------- */

static bool region_ok(const char *r)
{
    size_t n = strlen(r);
    return n <= 32 && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* A create with a SpecifyTaskId the caller already has is a retry: answer that task. */
static bool replied_existing(tc_call *c, const char *want)
{
    task t;
    ferr err = {0};
    if (!want || load_task(c, want, &t, &err) != 0)
        return false;
    tc_reply(c, json_pack("{s:s}", "TaskId", t.id));
    task_free(&t);
    return true;
}

static void create_task(tc_call *c)
{
    const char *want = tc_str(c->params, "SpecifyTaskId");
    want = want && *want ? want : NULL;
    if (want && !id_is_valid_task_id(want)) {
        tc_fail(c, FERR_INVALID, "SpecifyTaskId must be 1 to 55 letters, digits, '_' or '-'.");
        return;
    }
    if (!region_ok(c->region)) {
        tc_fail(c, FERR_INVALID, "The region must be a name like ap-guangzhou.");
        return;
    }
    if (replied_existing(c, want))
        return;
    task_spec spec;
    task out;
    ferr err = {0};
    int rc = tc_spec_from_create(c->params, c->region, &spec, time_now_ms(), &err);
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_TENCENT);
    if (rc == 0)
        rc = task_create(&who, &spec, want, &out, &err);
    task_spec_free(&spec);
    if (rc == FERR_EXISTS)
        ferr_set(&err, FERR_EXISTS, "SpecifyTaskId", "The SpecifyTaskId is already in use.");
    if (rc != 0) {
        reply_result(c, rc, &err);
        return;
    }
    tc_reply(c, json_pack("{s:s}", "TaskId", out.id));
    task_free(&out);
}

/* ---------- ModifyLivePullStreamTask ---------- */

static int apply_modify(const void *arg, task_spec *s, ferr *err)
{
    const tc_call *c = arg;
    return tc_spec_apply_modify(c->params, s, time_now_ms(), err);
}

static void modify_task(tc_call *c)
{
    task t;
    if (load_named(c, &t) != 0)
        return;
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_TENCENT);
    int rc = dialect_modify_task(&who, &t, apply_modify, c, &err);
    task_free(&t);
    reply_result(c, rc, &err);
}

/* ---------- DeleteLivePullStreamTask, RestartLivePullStreamTask ---------- */

static void delete_task(tc_call *c)
{
    task t;
    if (load_named(c, &t) != 0)
        return;
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_TENCENT);
    int rc = task_delete(&who, t.id, &err);
    task_free(&t);
    reply_result(c, rc, &err);
}

static void restart_task(tc_call *c)
{
    task t;
    if (load_named(c, &t) != 0)
        return;
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_TENCENT);
    int rc = task_restart(&who, t.id, &err);
    task_free(&t);
    reply_result(c, rc, &err);
}

/* ---------- DescribeLivePullStreamTaskStatus ---------- */

static void task_status(tc_call *c)
{
    task t;
    if (load_named(c, &t) != 0)
        return;
    task_progress p;
    ferr err = {0};
    if (task_get_progress(c->account->name, t.id, &p, &err) != 0)
        memset(&p, 0, sizeof(p));
    task_free(&t);
    tc_reply(c, json_pack("{s:o}", "TaskStatusInfo", tc_status_info(&p)));
}

/* ---------- DescribeLivePullStreamTasks ---------- */

static int page_arg(tc_call *c, const char *name, long long def, long long max, int *out)
{
    long long v = def;
    tc_int(c->params, name, &v);
    if (v < 1 || v > max) {
        tc_fail(c, FERR_INVALID, "%s must be from 1 to %lld.", name, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* The list: newest UpdateTime first; RecentPullInfo only when one task is asked for. */
static json_t *task_infos(tc_call *c, const task *list, int n, bool single)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        task_progress p;
        ferr err = {0};
        bool with = single && task_get_progress(c->account->name, list[i].id, &p, &err) == 0;
        json_array_append_new(a, tc_task_info(&list[i], with ? &p : NULL));
    }
    return a;
}

static void describe_tasks(tc_call *c)
{
    int page, size;
    if (page_arg(c, "PageNum", 1, PAGE_NUM_MAX, &page) != 0 ||
        page_arg(c, "PageSize", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, &size) != 0)
        return;
    const char *id = named_id(c);
    task_filter f = {.id_exact = id, .dialect = -1};
    task *list = NULL;
    int n = 0, total = 0;
    ferr err = {0};
    int rc =
        id && !id_is_valid_task_id(id) /* no such task: an empty list */
            ? 0
            : task_list(c->account->name, &f, (page - 1) * size, size, &list, &n, &total, &err);
    if (rc != 0) {
        reply_result(c, rc, &err);
        return;
    }
    json_t *infos = task_infos(c, list, n, id != NULL);
    task_list_free(list, n);
    tc_reply(c,
             json_pack("{s:o, s:i, s:i, s:i, s:i, s:i}", "TaskInfos", infos, "PageNum", page,
                       "PageSize", size, "TotalNum", total, "TotalPage", (total + size - 1) / size,
                       "LimitTaskNum", config_account_quota(c->req->cfg, c->account)));
}

/* ---------- the table ---------- */

static const tc_action actions[] = {
    {"CreateLivePullStreamTask", create_params, offsetof(config_tc_qps, create), create_task},
    {"ModifyLivePullStreamTask", modify_params, offsetof(config_tc_qps, modify), modify_task},
    {"DeleteLivePullStreamTask", delete_params, offsetof(config_tc_qps, del), delete_task},
    {"DescribeLivePullStreamTasks", describe_params, offsetof(config_tc_qps, describe),
     describe_tasks},
    {"DescribeLivePullStreamTaskStatus", status_params, offsetof(config_tc_qps, status),
     task_status},
    {"RestartLivePullStreamTask", restart_params, offsetof(config_tc_qps, restart), restart_task},
};

const tc_action *tc_action_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}
