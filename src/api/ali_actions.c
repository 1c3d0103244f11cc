/* ali_actions.c — the seven *LivePullToPush actions of ApsaraVideo Live 2016-11-01
 * (spec/api-compat.md §2.2) and what each asks of the task service. */
#include "api/ali.h"
#include "api/dialect_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define PAGE_SIZE_DEFAULT 10
#define PAGE_SIZE_MAX 100
#define PAGE_NUMBER_MAX 1000000 /* keeps (PageNumber - 1) * PageSize inside an int */

/* Serialises the DstUrl uniqueness check with the create it guards. */
static pthread_mutex_t dst_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const regions[] = {"cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1",
                                      "ap-southeast-5"};

/* ---------- helpers ---------- */

static json_t *ok_fields(void)
{
    return json_pack("{s:i, s:s}", "RetCode", 0, "Description", "OK");
}

static void fail(ali_call *c, int rc, ferr *err)
{
    if (err->code == 0)
        ferr_set(err, rc, "", "The request failed.");
    ali_fail_ferr(c, err);
}

static int missing(const char *name, ferr *err)
{
    return ferr_set(err, FERR_MISSING, name,
                    "The input parameter \"%s\" that is mandatory for processing this request is "
                    "not supplied.",
                    name);
}

/* Region is required by every action and must be one of Alibaba's five. */
static int check_region(const ali_call *c, ferr *err)
{
    const char *r = form_get(&c->params, "Region");
    if (!r)
        return missing("Region", err);
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        if (strcmp(r, regions[i]) == 0)
            return 0;
    return ferr_set(err, FERR_INVALID, "Region",
                    "Region must be cn-shanghai, cn-beijing, cn-shenzhen, ap-southeast-1 or "
                    "ap-southeast-5.");
}

/* The caller's task named by TaskId (made through any of ferry's APIs). */
static int load_task(ali_call *c, task *t)
{
    ferr err = {0};
    const char *id = form_get(&c->params, "TaskId");
    int rc = check_region(c, &err);
    if (rc == 0 && (!id || !*id))
        rc = missing("TaskId", &err);
    if (rc == 0 && task_get(c->account->name, id, t, &err) != 0)
        rc = ferr_set(&err, ALI_ERR_NOT_FOUND, "", "The specified TaskId does not exist.");
    if (rc != 0)
        fail(c, rc, &err);
    return rc;
}

/* FERR_EXISTS when another task of the account that has not exited pushes to dst. */
static int dst_unique(const ali_call *c, const char *dst, ferr *err)
{
    task_filter f = {.dst_like = dst, .dialect = -1};
    task *list = NULL;
    int n = 0, total = 0;
    int rc = task_list(c->account->name, &f, 0, -1, &list, &n, &total, err);
    for (int i = 0; rc == 0 && i < n; i++)
        if (list[i].state != TASK_FINISHED && strcmp(list[i].spec.dst_url, dst) == 0)
            rc = ferr_set(err, FERR_EXISTS, "DstUrl",
                          "Config already exists: task %s already pushes to this DstUrl.",
                          list[i].id);
    task_list_free(list, n);
    return rc;
}

/* ---------- CreateLivePullToPush ---------- */

static void create_task(ali_call *c)
{
    task_spec spec;
    task out;
    ferr err = {0};
    int rc = ali_spec_from_create(&c->params, c->req->cfg, &spec, time_now_ms(), &err);
    if (rc == 0) {
        pthread_mutex_lock(&dst_lock);
        rc = dst_unique(c, spec.dst_url, &err);
        task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_ALIBABA);
        if (rc == 0)
            rc = task_create(&who, &spec, NULL, &out, &err);
        pthread_mutex_unlock(&dst_lock);
    }
    task_spec_free(&spec);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    json_t *f = json_pack("{s:s, s:i, s:s}", "TaskId", out.id, "RetCode", 0, "Description", "OK");
    task_free(&out);
    ali_reply(c, f);
}

/* ---------- UpdateLivePullToPush ---------- */

/* What an Update applies: the call and the task as it stands. */
struct update {
    const ali_call *c;
    const task *t;
};

static int apply_update(const void *arg, task_spec *s, ferr *err)
{
    const struct update *u = arg;
    return ali_spec_apply_update(&u->c->params, u->c->req->cfg, u->t, s, time_now_ms(), err);
}

static void update_task(ali_call *c)
{
    task t;
    if (load_task(c, &t) != 0)
        return;
    ferr err = {0};
    struct update u = {c, &t};
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_ALIBABA);
    int rc = dialect_modify_task(&who, &t, apply_update, &u, &err);
    task_free(&t);
    if (rc != 0)
        fail(c, rc, &err);
    else
        ali_reply(c, ok_fields());
}

/* ---------- DeleteLivePullToPush, StopLivePullToPush, RestartLivePullToPush ---------- */

/* Delete ends the task (TaskStatus -1, TriggerByUser), readable for the retention; deleting
 * a task that has already exited removes it. */
static void delete_task(ali_call *c)
{
    task t;
    if (load_task(c, &t) != 0)
        return;
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_ALIBABA);
    int rc = ali_task_status(&t) == -1 ? task_delete(&who, t.id, &err)
                                       : task_retire(&who, t.id, "TriggerByUser", &err);
    task_free(&t);
    if (rc != 0)
        fail(c, rc, &err);
    else
        ali_reply(c, ok_fields());
}

/* Stop takes a running or recovering task offline; any other task is left as it is. */
static void stop_task(ali_call *c)
{
    task t;
    if (load_task(c, &t) != 0)
        return;
    ferr err = {0};
    int status = ali_task_status(&t);
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_ALIBABA);
    int rc = status == 1 || status == 2 ? task_stop(&who, t.id, &err) : 0;
    if (rc != 0)
        fail(c, rc, &err);
    else
        ali_reply(c, json_pack("{s:s}", "TaskId", t.id));
    task_free(&t);
}

/* Restart runs the task again from its configured start, with its latest configuration. */
static void restart_task(ali_call *c)
{
    task t;
    if (load_task(c, &t) != 0)
        return;
    ferr err = {0};
    int rc = 0;
    task_caller who = api_caller(c->req, c->account->name, TASK_DIALECT_ALIBABA);
    if (ali_task_status(&t) == -1) {
        rc = ferr_set(&err, FERR_STATE, "", "The task has exited (%s); create a new task.",
                      t.reason ? t.reason : "");
    } else if (t.state == TASK_PAUSED) { /* paused through another API: resume it */
        task_spec spec;
        rc = task_spec_copy(&spec, &t.spec) ? FERR_INTERNAL : 0;
        if (rc == 0) {
            spec.paused = false;
            rc = task_modify(&who, t.id, &spec, NULL, &err);
            task_spec_free(&spec);
        }
    } else if (!(t.state == TASK_IDLE && time_now_ms() < t.spec.start_ms)) {
        rc = task_restart(&who, t.id, &err); /* before StartTime: no effect */
    }
    if (rc != 0)
        fail(c, rc, &err);
    else
        ali_reply(c, json_pack("{s:s}", "TaskId", t.id));
    task_free(&t);
}

/* ---------- DescribeLivePullToPush, DescribeLivePullToPushList ---------- */

static json_t *state_of(ali_call *c, const task *t)
{
    task_progress p;
    ferr err = {0};
    bool with = task_get_progress(c->account->name, t->id, &p, &err) == 0;
    return ali_task_state(t, with ? &p : NULL);
}

static void describe_task(ali_call *c)
{
    task t;
    if (load_task(c, &t) != 0)
        return;
    json_t *f = ok_fields();
    json_t *state = state_of(c, &t);
    task_free(&t);
    if (!f || !state || json_object_update(f, state) != 0) {
        json_decref(f);
        json_decref(state);
        ali_fail(c, FERR_INTERNAL, "The task could not be shown.");
        return;
    }
    json_decref(state);
    ali_reply(c, f);
}

static void describe_list(ali_call *c)
{
    ferr err = {0};
    long long page = 1, size = PAGE_SIZE_DEFAULT;
    int rc = check_region(c, &err);
    if (rc == 0 && ali_int_param(&c->params, "PageNumber", 1, PAGE_NUMBER_MAX, &page, &err) < 0)
        rc = err.code;
    if (rc == 0 && ali_int_param(&c->params, "PageSize", 1, PAGE_SIZE_MAX, &size, &err) < 0)
        rc = err.code;
    task_filter f = {.id_like = form_get(&c->params, "TaskId"),
                     .name_like = form_get(&c->params, "TaskName"),
                     .dst_like = form_get(&c->params, "DstUrl"),
                     .dialect = -1};
    task *list = NULL;
    int n = 0, total = 0;
    if (rc == 0)
        rc = task_list(c->account->name, &f, (int)((page - 1) * size), (int)size, &list, &n, &total,
                       &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    json_t *tasks = json_array();
    for (int i = 0; tasks && i < n; i++)
        json_array_append_new(tasks, state_of(c, &list[i]));
    task_list_free(list, n);
    ali_reply(c, json_pack("{s:i, s:i, s:i, s:o}", "PageNumber", (int)page, "PageSize", (int)size,
                           "Total", total, "TaskList", tasks));
}

/* ---------- the table ---------- */

static void create_checked(ali_call *c)
{
    ferr err = {0};
    int rc = check_region(c, &err);
    if (rc != 0)
        fail(c, rc, &err);
    else
        create_task(c);
}

static const ali_action actions[] = {
    {"CreateLivePullToPush", create_checked},      {"UpdateLivePullToPush", update_task},
    {"DeleteLivePullToPush", delete_task},         {"DescribeLivePullToPush", describe_task},
    {"DescribeLivePullToPushList", describe_list}, {"StopLivePullToPush", stop_task},
    {"RestartLivePullToPush", restart_task},
};

const ali_action *ali_action_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}
