/* ctl_cmd_list.c — ferryctl's reading commands: ls (every task with its progress, as a
 * table), get (one task) and watch (ls again every few seconds until Ctrl-C or --count). */
#include "ctl/ctl_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_view.h"

#define PAGE_SIZE 100

static int want_args(const ctl_args *a, int n)
{
    if (a->argc == n)
        return CTL_OK;
    fprintf(stderr, "ferryctl: %s: takes %s (see ferryctl %s --help)\n", a->prog_cmd,
            n ? "one task id" : "no arguments", a->prog_cmd);
    return CTL_USAGE;
}

/* One page of GET /v1/tasks, appended to tasks; *total is the API's count. */
static int fetch_page(ctl_client *c, const char *filter, int page, json_t *tasks, int *total)
{
    char path[1024], esc[800] = "";
    if (filter && !*ctl_query_escape(filter, esc, sizeof(esc))) {
        fprintf(stderr, "ferryctl: q: the filter is too long\n");
        return CTL_USAGE;
    }
    snprintf(path, sizeof(path), "/v1/tasks?page=%d&page_size=%d%s%s", page, PAGE_SIZE,
             filter ? "&q=" : "", esc);
    json_t *doc;
    int rc = ctl_call(c, "GET", path, NULL, NULL, &doc);
    if (rc != CTL_OK)
        return rc;
    json_array_extend(tasks, json_object_get(doc, "tasks"));
    *total = (int)json_integer_value(json_object_get(doc, "total"));
    int got = (int)json_array_size(json_object_get(doc, "tasks"));
    json_decref(doc);
    return got > 0 ? CTL_OK : -1; /* -1: past the end */
}

/* Replaces each listed task by its own view, which carries "progress"; a task deleted
 * in between keeps its list form. */
static int add_progress(ctl_client *c, json_t *tasks)
{
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(tasks, i), "id"));
        char path[256];
        json_t *doc;
        int rc =
            ctl_call_unless(c, "GET", ctl_task_path(path, sizeof(path), id ?: "", ""), 404, &doc);
        if (rc == CTL_OK)
            json_array_set_new(tasks, i, doc);
        else if (rc != CTL_NOT_FOUND)
            return rc;
    }
    return CTL_OK;
}

/* Every task of the account, with progress: {"tasks":[...],"total":N}. */
static int fetch_all(ctl_client *c, const char *filter, json_t **out)
{
    json_t *tasks = json_array();
    int total = 0, page = 1, rc;
    do
        rc = fetch_page(c, filter, page++, tasks, &total);
    while (rc == CTL_OK && (int)json_array_size(tasks) < total);
    if (rc == -1)
        rc = CTL_OK;
    if (rc == CTL_OK)
        rc = add_progress(c, tasks);
    if (rc != CTL_OK) {
        json_decref(tasks);
        return rc;
    }
    *out = json_pack("{s:o, s:i}", "tasks", tasks, "total", total);
    return CTL_OK;
}

static int show_list(ctl_client *c, const ctl_args *a, bool compact)
{
    json_t *doc;
    int rc = fetch_all(c, a->filter, &doc);
    if (rc != CTL_OK)
        return rc;
    if (a->json)
        view_json(stdout, doc, compact);
    else
        view_table(stdout, json_object_get(doc, "tasks"), a->show_keys, time_now_ms());
    json_decref(doc);
    fflush(stdout);
    return CTL_OK;
}

int cmd_ls(ctl_args *a)
{
    ctl_client *c = NULL;
    int rc = want_args(a, 0);
    if (rc == CTL_OK)
        rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = show_list(c, a, false);
    ctl_client_free(c);
    return rc;
}

int cmd_get(ctl_args *a)
{
    ctl_client *c = NULL;
    json_t *doc = NULL;
    char path[256];
    int rc = want_args(a, 1);
    if (rc == CTL_OK)
        rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = ctl_call(c, "GET", ctl_task_path(path, sizeof(path), a->argv[0], ""), NULL, a->argv[0],
                      &doc);
    if (rc == CTL_OK && a->json)
        view_json(stdout, doc, false);
    else if (rc == CTL_OK)
        view_task(stdout, doc, a->show_keys, time_now_ms());
    json_decref(doc);
    ctl_client_free(c);
    return rc;
}

int cmd_nodes(ctl_args *a)
{
    ctl_client *c = NULL;
    json_t *doc = NULL;
    int rc = want_args(a, 0);
    if (rc == CTL_OK)
        rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = ctl_call(c, "GET", "/v1/nodes", NULL, "nodes", &doc);
    if (rc == CTL_OK && a->json)
        view_json(stdout, doc, false);
    else if (rc == CTL_OK)
        view_nodes(stdout, json_object_get(doc, "nodes"));
    json_decref(doc);
    ctl_client_free(c);
    return rc;
}

/* node drain|undrain NODE: POST /v1/nodes/NODE/drain (or /undrain). */
int cmd_node(ctl_args *a)
{
    if (a->argc != 2 || (strcmp(a->argv[0], "drain") != 0 && strcmp(a->argv[0], "undrain") != 0)) {
        fprintf(stderr, "ferryctl: node: takes drain or undrain and a node id (see ferryctl node "
                        "--help)\n");
        return CTL_USAGE;
    }
    char path[512];
    if (strlen(a->argv[1]) > 200 || strchr(a->argv[1], '/')) {
        fprintf(stderr, "ferryctl: node: %s is not a node id\n", a->argv[1]);
        return CTL_USAGE;
    }
    snprintf(path, sizeof(path), "/v1/nodes/%s/%s", a->argv[1], a->argv[0]);
    ctl_client *c = NULL;
    json_t *doc = NULL;
    int rc = ctl_connect(a, &c);
    if (rc == CTL_OK)
        rc = ctl_call(c, "POST", path, NULL, "node", &doc);
    if (rc == CTL_OK && a->json)
        view_json(stdout, doc, false);
    else if (rc == CTL_OK)
        printf("node %s %s\n", a->argv[1],
               json_is_true(json_object_get(doc, "draining"))
                   ? "drains: its tasks move to the others"
                   : "takes tasks again");
    json_decref(doc);
    ctl_client_free(c);
    return rc;
}

/* ---------- watch ---------- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

void ctl_catch_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool ctl_pause(int seconds)
{
    for (int i = 0; i < seconds * 10 && !interrupted; i++)
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    return !interrupted;
}

static void watch_header(const ctl_args *a)
{
    char now[32];
    time_format_iso(time_now_ms(), now, sizeof(now));
    if (isatty(STDOUT_FILENO))
        fputs("\033[H\033[2J", stdout);
    else
        fputc('\n', stdout);
    printf("%s  every %ds%s\n", now, a->interval_s, a->count ? "" : "  (Ctrl-C ends)");
}

int cmd_watch(ctl_args *a)
{
    ctl_client *c = NULL;
    int rc = want_args(a, 0);
    if (rc == CTL_OK)
        rc = ctl_connect(a, &c);
    if (rc != CTL_OK)
        return rc;
    ctl_catch_interrupt();
    for (int n = 1; !interrupted; n++) {
        if (!a->json)
            watch_header(a);
        rc = show_list(c, a, true);
        if (rc == CTL_UNAUTHORIZED || (a->count && n >= a->count) || !ctl_pause(a->interval_s))
            break;
    }
    ctl_client_free(c);
    return interrupted ? CTL_OK : rc;
}
