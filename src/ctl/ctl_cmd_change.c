/* ctl_cmd_change.c — ferryctl's commands that change tasks: create and edit (a body from
 * flags and/or a JSON file), pause, resume, restart, stop and rm on one or more ids. */
#include "ctl/ctl_cmd.h"

#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_view.h"

/* Reads the JSON object of -f FILE ("-": stdin). */
static int read_body_file(const char *path, json_t **out)
{
    json_error_t je;
    json_t *o = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &je)
                                       : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        fprintf(stderr, "ferryctl: file: %s: %s (line %d, column %d)\n",
                strcmp(path, "-") ? path : "stdin", je.text, je.line, je.column);
        return CTL_USAGE;
    }
    if (!json_is_object(o)) {
        fprintf(stderr, "ferryctl: file: %s: not a JSON object\n", path);
        json_decref(o);
        return CTL_USAGE;
    }
    *out = o;
    return CTL_OK;
}

/* The request body: the file's object (if any) with the flags' fields over it. */
static int build_body(const ctl_args *a, json_t **out)
{
    json_t *body = NULL;
    if (a->file) {
        int rc = read_body_file(a->file, &body);
        if (rc != CTL_OK)
            return rc;
    } else {
        body = json_object();
    }
    json_object_update(body, a->fields);
    *out = body;
    return CTL_OK;
}

static void print_task_result(const ctl_args *a, const json_t *task)
{
    if (a->json)
        view_json(stdout, task, false);
    else
        view_task(stdout, task, a->show_keys, time_now_ms());
}

int cmd_create(ctl_args *a)
{
    if (a->argc != 0) {
        fprintf(stderr, "ferryctl: create: takes no arguments; the fields are flags or -f FILE\n");
        return CTL_USAGE;
    }
    json_t *body = NULL, *task = NULL;
    ctl_client *c = NULL;
    int rc = build_body(a, &body);
    if (rc == CTL_OK)
        rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = ctl_call(c, "POST", "/v1/tasks", body, NULL, &task);
    if (rc == CTL_OK && a->json)
        view_json(stdout, task, false);
    else if (rc == CTL_OK)
        printf("%s\n", json_string_value(json_object_get(task, "id")));
    json_decref(body);
    json_decref(task);
    ctl_client_free(c);
    return rc;
}

int cmd_edit(ctl_args *a)
{
    if (a->argc != 1) {
        fprintf(stderr, "ferryctl: edit: takes one task id (see ferryctl edit --help)\n");
        return CTL_USAGE;
    }
    json_t *body = NULL, *task = NULL;
    ctl_client *c = NULL;
    char path[256];
    int rc = build_body(a, &body);
    if (rc == CTL_OK && json_object_size(body) == 0) {
        fprintf(stderr, "ferryctl: edit: nothing to change: give field flags or -f FILE\n");
        rc = CTL_USAGE;
    }
    if (rc == CTL_OK)
        rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = ctl_call(c, "PATCH", ctl_task_path(path, sizeof(path), a->argv[0], ""), body,
                      a->argv[0], &task);
    if (rc == CTL_OK)
        print_task_result(a, task);
    json_decref(body);
    json_decref(task);
    ctl_client_free(c);
    return rc;
}

/* ---------- actions on ids ---------- */

/* METHOD on one id's path + suffix; prints "ID STATE" (rm: "ID deleted"), or with --json
 * the answer as one compact JSON line. */
static int act_on(ctl_client *c, const ctl_args *a, const char *id, const char *method,
                  const char *suffix)
{
    char path[256];
    json_t *doc = NULL;
    int rc = ctl_call(c, method, ctl_task_path(path, sizeof(path), id, suffix), NULL, id, &doc);
    if (rc != CTL_OK)
        return rc;
    if (!doc)
        doc = json_pack("{s:s, s:b}", "id", id, "deleted", 1);
    const char *state = json_string_value(json_object_get(doc, "state"));
    if (a->json)
        view_json(stdout, doc, true);
    else
        printf("%s %s\n", id, state ? state : "deleted");
    json_decref(doc);
    return CTL_OK;
}

/* Every id is tried (unless ferryd cannot be reached or the token is refused); the exit
 * code is that of the first failure. */
static int each_id(ctl_args *a, const char *method, const char *suffix)
{
    if (a->argc < 1) {
        fprintf(stderr, "ferryctl: %s: give one or more task ids (see ferryctl %s --help)\n",
                a->prog_cmd, a->prog_cmd);
        return CTL_USAGE;
    }
    ctl_client *c = NULL;
    int first = ctl_connect(a, &c);
    if (first != CTL_OK)
        return first;
    for (int i = 0; i < a->argc; i++) {
        int rc = act_on(c, a, a->argv[i], method, suffix);
        if (rc != CTL_OK && first == CTL_OK)
            first = rc;
        if (rc == CTL_UNREACHABLE || rc == CTL_UNAUTHORIZED)
            break;
    }
    ctl_client_free(c);
    return first;
}

int cmd_pause(ctl_args *a)
{
    return each_id(a, "POST", "/pause");
}

int cmd_resume(ctl_args *a)
{
    return each_id(a, "POST", "/resume");
}

int cmd_restart(ctl_args *a)
{
    return each_id(a, "POST", "/restart");
}

int cmd_stop(ctl_args *a)
{
    return each_id(a, "POST", "/stop");
}

int cmd_rm(ctl_args *a)
{
    return each_id(a, "DELETE", "");
}
