/* ctl_cmd_history.c — ferryctl's history (a task's state changes and notes as a table)
 * and events (the same lines as an event stream, followed as new ones are written); audit. */
#include "ctl/ctl_cmd.h"

#include <stdio.h>

#include <curl/curl.h>

#include "ctl/ctl_http.h"
#include "ctl/ctl_view.h"

static int fetch_history(ctl_client *c, const char *id, json_t **out)
{
    char path[256];
    return ctl_call(c, "GET", ctl_task_path(path, sizeof(path), id, "/history"), NULL, id, out);
}

/* GETs path (about subject, a task id or NULL) and prints the answer: its JSON with --json,
 * else show(the array member `list`). */
static int show_list(ctl_args *a, const char *path, const char *subject, const char *list,
                     void (*show)(FILE *, const json_t *))
{
    ctl_client *c = NULL;
    json_t *doc = NULL;
    int rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = ctl_call(c, "GET", path, NULL, subject, &doc);
    if (rc == CTL_OK && a->json)
        view_json(stdout, doc, false);
    else if (rc == CTL_OK)
        show(stdout, json_object_get(doc, list));
    json_decref(doc);
    ctl_client_free(c);
    return rc;
}

static void show_history(FILE *out, const json_t *lines)
{
    view_history(out, lines, NULL);
}

int cmd_history(ctl_args *a)
{
    if (a->argc != 1) {
        fprintf(stderr, "ferryctl: history: takes one task id (see ferryctl history --help)\n");
        return CTL_USAGE;
    }
    char path[256];
    return show_list(a, ctl_task_path(path, sizeof(path), a->argv[0], "/history"), a->argv[0],
                     "history", show_history);
}

/* ---------- events ---------- */

/* Where the new lines of a history start, given the lines printed so far: the store keeps
 * a task's newest lines only, so once it is full the count stays and the last line printed
 * is looked up instead. */
static size_t first_new(const json_t *lines, size_t printed, const json_t *last)
{
    size_t n = json_array_size(lines);
    if (!last)
        return 0;
    if (n > printed)
        return printed;
    for (size_t i = n; i > 0; i--)
        if (json_equal(json_array_get(lines, i - 1), (json_t *)last))
            return i;
    return 0;
}

static void print_events(const ctl_args *a, const json_t *lines, size_t from)
{
    const char *id = a->argv[0];
    for (size_t i = from; i < json_array_size(lines); i++) {
        json_t *e = json_deep_copy(json_array_get(lines, i));
        json_object_set_new(e, "task_id", json_string(id));
        if (a->json) {
            view_json(stdout, e, true);
        } else {
            json_t *one = json_pack("[O]", e);
            view_history(stdout, one, id);
            json_decref(one);
        }
        json_decref(e);
    }
    fflush(stdout);
}

/* Prints the lines not printed yet; keeps a copy of the last one in *last. */
static int poll_events(ctl_client *c, const ctl_args *a, size_t *printed, json_t **last)
{
    json_t *doc;
    int rc = fetch_history(c, a->argv[0], &doc);
    if (rc != CTL_OK)
        return rc;
    json_t *lines = json_object_get(doc, "history");
    size_t n = json_array_size(lines);
    print_events(a, lines, first_new(lines, *printed, *last));
    if (n > 0) {
        json_decref(*last);
        *last = json_deep_copy(json_array_get(lines, n - 1));
    }
    *printed = n;
    json_decref(doc);
    return CTL_OK;
}

int cmd_events(ctl_args *a)
{
    if (a->argc != 1) {
        fprintf(stderr, "ferryctl: events: takes one task id (see ferryctl events --help)\n");
        return CTL_USAGE;
    }
    ctl_client *c = NULL;
    json_t *last = NULL;
    size_t printed = 0;
    int rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = poll_events(c, a, &printed, &last);
    if (rc == CTL_OK && a->follow)
        ctl_catch_interrupt();
    for (int n = 1; rc == CTL_OK && a->follow && (!a->count || n < a->count); n++) {
        if (!ctl_pause(a->interval_s))
            break;
        rc = poll_events(c, a, &printed, &last);
    }
    json_decref(last);
    ctl_client_free(c);
    return rc;
}

/* ---------- audit ---------- */

/* The path of the newest page of the audit trail, of one task when id is set. */
static const char *audit_path(char *buf, size_t len, const char *id)
{
    char *esc = id ? curl_easy_escape(NULL, id, 0) : NULL;
    int n =
        snprintf(buf, len, "/v1/audit?page_size=100%s%s", esc ? "&task_id=" : "", esc ? esc : "");
    curl_free(esc);
    if (n < 0 || (size_t)n >= len)
        buf[0] = '\0';
    return buf;
}

int cmd_audit(ctl_args *a)
{
    if (a->argc > 1) {
        fprintf(stderr, "ferryctl: audit: takes at most one task id (see ferryctl audit --help)\n");
        return CTL_USAGE;
    }
    char path[256];
    const char *id = a->argc ? a->argv[0] : NULL;
    return show_list(a, audit_path(path, sizeof(path), id), id, "audit", view_audit);
}
