/* native_api.c — ferry's own REST dialect under /v1: bearer-token accounts, the task routes
 * (a table of method + path pattern), and bodies in the model's own JSON field names. */
#include "api/api_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "api/throttle.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "notify/notify.h"
#include "task/task.h"

#define PAGE_SIZE_DEFAULT 20
#define PAGE_SIZE_MAX 100
#define PAGE_MAX 1000000 /* keeps (page - 1) * page_size inside an int */
#define FILTER_MAX 256   /* longest accepted search string */

/* One request on its way through a route handler. */
typedef struct native_call {
    const api_request *req;
    api_response *resp;
    const char *account;
    char id[TASK_ID_MAX]; /* the {id} path segment, when the route has one */
} native_call;

/* ---------- small helpers ---------- */

/* Replies a service error; a callee that returned a code without filling err still gets
 * an envelope with that code. */
static void fail(native_call *c, int rc, ferr *err)
{
    if (err->code == 0)
        ferr_set(err, rc ? rc : FERR_INTERNAL, "", "The request failed.");
    api_reply_ferr(c->resp, err);
}

static void reply_task(native_call *c, unsigned status, const task *t, const task_progress *p)
{
    api_reply_json(c->resp, status, task_json(t, p));
}

/* Replies the task as it is now (after stop, restart). */
static void reply_current(native_call *c)
{
    task t;
    ferr err = {0};
    int rc = task_get(c->account, c->id, &t, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    reply_task(c, 200, &t, NULL);
    task_free(&t);
}

/* The body as a JSON object, or NULL after replying 400 malformed_request. */
static json_t *body_object(native_call *c)
{
    const api_request *req = c->req;
    if (req->body_len == 0) {
        api_reply_error(c->resp, FERR_MALFORMED, NULL,
                        "The request body is empty; send a JSON object.");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        api_reply_error(c->resp, FERR_MALFORMED, NULL,
                        "The body is not valid JSON: %s (line %d, column %d).", je.text, je.line,
                        je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        api_reply_error(c->resp, FERR_MALFORMED, NULL, "The body must be a JSON object.");
        return NULL;
    }
    return o;
}

/* Fields task_json shows that no request may set. */
static const char *const read_only_fields[] = {
    "api",        "state",      "reason",    "last_error", "created_at",
    "updated_at", "started_at", "exited_at", "progress",
};

static int refuse_read_only(const json_t *o, ferr *err)
{
    for (size_t i = 0; i < sizeof(read_only_fields) / sizeof(read_only_fields[0]); i++)
        if (json_object_get(o, read_only_fields[i]))
            return ferr_set(err, FERR_INVALID, read_only_fields[i],
                            "%s is read-only and cannot be set.", read_only_fields[i]);
    return 0;
}

/* Takes "id" out of a create body into want (left "" when absent). */
static int take_create_id(json_t *o, char want[TASK_ID_MAX], ferr *err)
{
    json_t *v = json_object_get(o, "id");
    want[0] = '\0';
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    if (!s || !id_is_valid_task_id(s))
        return ferr_set(err, FERR_INVALID, "id",
                        "id must be a string of 1..55 letters, digits, '_' or '-'.");
    snprintf(want, TASK_ID_MAX, "%s", s);
    json_object_del(o, "id");
    return 0;
}

/* A PATCH body may repeat the task's own id, nothing else. */
static int take_patch_id(json_t *o, const char *id, ferr *err)
{
    json_t *v = json_object_get(o, "id");
    if (!v)
        return 0;
    if (!json_is_string(v) || strcmp(json_string_value(v), id) != 0)
        return ferr_set(err, FERR_INVALID, "id", "The id of a task cannot be changed.");
    json_object_del(o, "id");
    return 0;
}

/* ---------- the handlers ---------- */

static void create_task(native_call *c)
{
    json_t *o = body_object(c);
    if (!o)
        return;
    char want[TASK_ID_MAX];
    task_spec spec;
    task out;
    ferr err = {0};
    task_spec_init(&spec);
    int rc = take_create_id(o, want, &err);
    if (rc == 0)
        rc = refuse_read_only(o, &err);
    if (rc == 0)
        rc = task_spec_apply_json(&spec, o, &err);
    task_caller who = api_caller(c->req, c->account, TASK_DIALECT_NATIVE);
    if (rc == 0)
        rc = task_create(&who, &spec, want[0] ? want : NULL, &out, &err);
    json_decref(o);
    task_spec_free(&spec);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    char location[TASK_ID_MAX + 16];
    snprintf(location, sizeof(location), "/v1/tasks/%s", out.id);
    reply_task(c, 201, &out, NULL);
    api_resp_header(c->resp, "Location", location);
    task_free(&out);
}

static void get_task(native_call *c)
{
    task t;
    ferr err = {0};
    int rc = task_get(c->account, c->id, &t, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    /* Always show "progress": an inactive snapshot when no worker answers. */
    task_progress p;
    ferr perr = {0};
    if (task_get_progress(c->account, c->id, &p, &perr) != 0)
        memset(&p, 0, sizeof(p));
    reply_task(c, 200, &t, &p);
    task_free(&t);
}

/* Applies patch onto the task's current spec and stores it through task_modify. */
static int modify_with(native_call *c, const json_t *patch, bool set_paused, bool paused, task *out,
                       ferr *err)
{
    task cur;
    int rc = task_get(c->account, c->id, &cur, err);
    if (rc != 0)
        return rc;
    task_spec spec;
    rc = task_spec_copy(&spec, &cur.spec) ? ferr_set(err, FERR_INTERNAL, "", "Out of memory.") : 0;
    task_free(&cur);
    if (rc != 0)
        return rc;
    if (patch)
        rc = task_spec_apply_json(&spec, patch, err);
    if (set_paused)
        spec.paused = paused;
    task_caller who = api_caller(c->req, c->account, TASK_DIALECT_NATIVE);
    if (rc == 0)
        rc = task_modify(&who, c->id, &spec, out, err);
    task_spec_free(&spec);
    return rc;
}

static void patch_task(native_call *c)
{
    json_t *o = body_object(c);
    if (!o)
        return;
    task out;
    ferr err = {0};
    int rc = take_patch_id(o, c->id, &err);
    if (rc == 0)
        rc = refuse_read_only(o, &err);
    if (rc == 0)
        rc = modify_with(c, o, false, false, &out, &err);
    json_decref(o);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    reply_task(c, 200, &out, NULL);
    task_free(&out);
}

static void set_paused(native_call *c, bool paused)
{
    task out;
    ferr err = {0};
    int rc = modify_with(c, NULL, true, paused, &out, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    reply_task(c, 200, &out, NULL);
    task_free(&out);
}

static void pause_task(native_call *c)
{
    set_paused(c, true);
}

static void resume_task(native_call *c)
{
    set_paused(c, false);
}

static void delete_task(native_call *c)
{
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account, TASK_DIALECT_NATIVE);
    int rc = task_delete(&who, c->id, &err);
    if (rc != 0)
        fail(c, rc, &err);
    else
        api_reply_empty(c->resp, 204);
}

static void stop_task(native_call *c)
{
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account, TASK_DIALECT_NATIVE);
    int rc = task_stop(&who, c->id, &err);
    if (rc != 0)
        fail(c, rc, &err);
    else
        reply_current(c);
}

static void restart_task(native_call *c)
{
    ferr err = {0};
    task_caller who = api_caller(c->req, c->account, TASK_DIALECT_NATIVE);
    int rc = task_restart(&who, c->id, &err);
    if (rc != 0)
        fail(c, rc, &err);
    else
        reply_current(c);
}

static void task_history(native_call *c)
{
    task_history_entry *h = NULL;
    int n = 0;
    ferr err = {0};
    int rc = task_get_history(c->account, c->id, &h, &n, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    api_reply_json(c->resp, 200, json_pack("{s:o}", "history", task_history_json(h, n)));
    free(h);
}

/* GET /v1/tasks/{id}/callbacks: the task's events still in the outbox, newest first. */
static void task_callbacks(native_call *c)
{
    task_callback_line *l = NULL;
    int n = 0;
    ferr err = {0};
    int rc = task_get_callbacks(c->account, c->id, &l, &n, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    api_reply_json(c->resp, 200, json_pack("{s:o}", "callbacks", task_callbacks_json(l, n)));
    free(l);
}

/* ---------- node statistics ---------- */

/* GET /v1/stats: the node's callback delivery counters (all accounts). */
static void node_stats(native_call *c)
{
    notify_stats n;
    notify_get_stats(&n);
    json_t *cb = json_pack("{s:I, s:I, s:I, s:I, s:i, s:i, s:i}", "delivered",
                           (json_int_t)n.delivered, "failed", (json_int_t)n.failed, "dead",
                           (json_int_t)n.dead, "dead_removed", (json_int_t)n.purged, "in_flight",
                           n.in_flight, "pending", n.pending, "dead_kept", n.dead_kept);
    api_reply_json(c->resp, 200, json_pack("{s:o}", "callbacks", cb));
}

/* Replies 403 forbidden and returns false unless the caller's account is an operator
 * (`operator = true`): the nodes are the installation's, not a tenant's. */
static bool require_operator(native_call *c, const char *what)
{
    const config_account *a = config_find_account(c->req->cfg, c->account);
    if (a && a->is_operator)
        return true;
    ferr err = {0};
    ferr_set(&err, FERR_FORBIDDEN, "",
             "%s is an operator's action: this account may not do it "
             "(operator = true in its [account] section allows it).",
             what);
    fail(c, FERR_FORBIDDEN, &err);
    return false;
}

/* GET /v1/nodes: the cluster's nodes (a single node: itself), their labels, load and last
 * heartbeat. Operators only. */
static void node_list(native_call *c)
{
    if (!require_operator(c, "Listing the nodes"))
        return;
    task_node *nodes = NULL;
    int n = 0;
    ferr err = {0};
    int rc = task_nodes(&nodes, &n, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const task_node *x = &nodes[i];
        char beat[40], started[40];
        json_t *labels = json_array();
        char copy[sizeof(x->labels)];
        snprintf(copy, sizeof(copy), "%s", x->labels);
        for (char *save = NULL, *l = strtok_r(copy, ",", &save); l; l = strtok_r(NULL, ",", &save))
            json_array_append_new(labels, json_string(l));
        json_array_append_new(
            arr, json_pack("{s:s, s:o, s:s, s:b, s:i, s:I, s:i, s:i, s:s, s:s}", "id", x->id,
                           "labels", labels, "state", x->state, "draining", x->draining, "running",
                           x->running, "bitrate_kbps", (json_int_t)x->bitrate_kbps,
                           "max_running_tasks", x->max_running, "tasks", x->tasks, "last_heartbeat",
                           time_format_iso(x->heartbeat_ms, beat, sizeof(beat)), "started",
                           x->started_ms ? time_format_iso(x->started_ms, started, sizeof(started))
                                         : ""));
    }
    free(nodes);
    api_reply_json(c->resp, 200, json_pack("{s:o}", "nodes", arr));
}

/* POST /v1/nodes/{id}/drain and /undrain: the node hands its tasks to the others and takes
 * none, or takes tasks again. */
static void set_draining(native_call *c, bool on)
{
    if (!require_operator(c, on ? "Draining a node" : "Undraining a node"))
        return;
    ferr err = {0};
    int rc = task_node_drain(c->id, on, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    api_reply_json(c->resp, 200, json_pack("{s:s, s:b}", "id", c->id, "draining", on));
}

static void drain_node(native_call *c)
{
    set_draining(c, true);
}

static void undrain_node(native_call *c)
{
    set_draining(c, false);
}

/* ---------- listing ---------- */

/* An optional integer query argument within [min, max]. */
static int query_int(native_call *c, const char *name, int min, int max, int def, int *out)
{
    const char *s = api_query(c->req, name);
    *out = def;
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || v < min || v > max) {
        api_reply_error(c->resp, FERR_INVALID, name, "%s must be an integer from %d to %d.", name,
                        min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* An optional search string; "" counts as absent. */
static int query_filter(native_call *c, const char *name, const char **out)
{
    const char *s = api_query(c->req, name);
    *out = s && *s ? s : NULL;
    if (*out && strlen(*out) > FILTER_MAX) {
        api_reply_error(c->resp, FERR_INVALID, name, "%s is limited to %d characters.", name,
                        FILTER_MAX);
        return -1;
    }
    return 0;
}

static int query_api(native_call *c, int *dialect)
{
    static const char *const names[] = {"native", "tencent", "alibaba"};
    const char *s = api_query(c->req, "api");
    *dialect = -1;
    if (!s || !*s)
        return 0;
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *dialect = i;
            return 0;
        }
    api_reply_error(c->resp, FERR_INVALID, "api", "api must be native, tencent or alibaba.");
    return -1;
}

/* Reads page, page_size and the filters: q is a substring of the id, the name or the
 * destination; name and destination narrow further (all given filters must match). */
static int list_args(native_call *c, int *page, int *page_size, task_filter *f)
{
    memset(f, 0, sizeof(*f));
    if (query_int(c, "page", 1, PAGE_MAX, 1, page) != 0 ||
        query_int(c, "page_size", 1, PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT, page_size) != 0 ||
        query_filter(c, "q", &f->any_like) != 0 || query_filter(c, "name", &f->name_like) != 0 ||
        query_filter(c, "destination", &f->dst_like) != 0 || query_api(c, &f->dialect) != 0)
        return -1;
    return 0;
}

static void list_tasks(native_call *c)
{
    int page, page_size;
    task_filter f;
    if (list_args(c, &page, &page_size, &f) != 0)
        return;
    task *list = NULL;
    int n = 0, total = 0;
    ferr err = {0};
    int rc = task_list(c->account, &f, (page - 1) * page_size, page_size, &list, &n, &total, &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    json_t *tasks = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(tasks, task_json(&list[i], NULL));
    task_list_free(list, n);
    api_reply_json(c->resp, 200,
                   json_pack("{s:o, s:i, s:i, s:i}", "tasks", tasks, "page", page, "page_size",
                             page_size, "total", total));
}

/* GET /v1/audit: the account's audit trail, newest first; ?task_id= narrows it to one task
 * (deleted ones too). Paged like the task list. */
static void list_audit(native_call *c)
{
    int page, page_size;
    const char *task_id = NULL;
    if (query_int(c, "page", 1, PAGE_MAX, 1, &page) != 0 ||
        query_int(c, "page_size", 1, PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT, &page_size) != 0 ||
        query_filter(c, "task_id", &task_id) != 0)
        return;
    task_audit_line *lines = NULL;
    int n = 0, total = 0;
    ferr err = {0};
    int rc = task_audit(c->account, task_id, (page - 1) * page_size, page_size, &lines, &n, &total,
                        &err);
    if (rc != 0) {
        fail(c, rc, &err);
        return;
    }
    api_reply_json(c->resp, 200,
                   json_pack("{s:o, s:i, s:i, s:i}", "audit", task_audit_json(lines, n), "page",
                             page, "page_size", page_size, "total", total));
    free(lines);
}

/* ---------- authentication ---------- */

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(const char *h, size_t *len)
{
    if (!h)
        return NULL;
    h += strspn(h, " \t");
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return NULL;
    h += 6;
    h += strspn(h, " \t");
    *len = strcspn(h, " \t");
    if (h[*len + strspn(h + *len, " \t")] != '\0')
        return NULL;
    return *len ? h : NULL;
}

/* The account whose token is presented. Every account's token is compared in full and in
 * constant time, so the time taken tells nothing about how much of a token was right. */
static const config_account *authenticate(const api_request *req)
{
    size_t len = 0;
    const char *token = bearer_token(api_header(req, "Authorization"), &len);
    if (!token || len >= CONFIG_STR_MAX)
        return NULL;
    unsigned char given[CONFIG_STR_MAX] = {0}, want[CONFIG_STR_MAX];
    memcpy(given, token, len);
    const config_account *found = NULL;
    for (int i = 0; i < req->cfg->n_accounts; i++) {
        const config_account *a = &req->cfg->accounts[i];
        size_t n = strnlen(a->token, sizeof(a->token));
        memset(want, 0, sizeof(want));
        memcpy(want, a->token, n);
        int same = CRYPTO_memcmp(given, want, sizeof(want)) == 0;
        if (same && n > 0 && !found)
            found = a;
    }
    OPENSSL_cleanse(given, sizeof(given));
    OPENSSL_cleanse(want, sizeof(want));
    return found;
}

/* ---------- routing ---------- */

typedef struct native_route {
    const char *method;
    const char *pattern; /* "{id}" stands for one task id segment */
    void (*fn)(native_call *c);
} native_route;

static const native_route routes[] = {
    {"GET", "/v1/tasks", list_tasks},
    {"POST", "/v1/tasks", create_task},
    {"GET", "/v1/tasks/{id}", get_task},
    {"PATCH", "/v1/tasks/{id}", patch_task},
    {"DELETE", "/v1/tasks/{id}", delete_task},
    {"POST", "/v1/tasks/{id}/stop", stop_task},
    {"POST", "/v1/tasks/{id}/restart", restart_task},
    {"POST", "/v1/tasks/{id}/pause", pause_task},
    {"POST", "/v1/tasks/{id}/resume", resume_task},
    {"GET", "/v1/tasks/{id}/history", task_history},
    {"GET", "/v1/tasks/{id}/callbacks", task_callbacks},
    {"GET", "/v1/audit", list_audit},
    {"GET", "/v1/stats", node_stats},
    {"GET", "/v1/nodes", node_list},
    {"POST", "/v1/nodes/{id}/drain", drain_node},
    {"POST", "/v1/nodes/{id}/undrain", undrain_node},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* The {id} segment of a matched path. */
typedef struct path_id {
    const char *at;
    size_t len;
} path_id;

/* Matches path against pattern; "{id}" takes one non-empty segment. A single trailing
 * slash on the path is tolerated. */
static bool path_matches(const char *pattern, const char *path, path_id *id)
{
    size_t plen = strlen(path);
    if (plen > 1 && path[plen - 1] == '/')
        plen--;
    const char *s = path, *end = path + plen, *p = pattern;
    while (*p) {
        if (strncmp(p, "{id}", 4) == 0) {
            const char *seg = s;
            while (s < end && *s != '/')
                s++;
            if (s == seg)
                return false;
            id->at = seg;
            id->len = (size_t)(s - seg);
            p += 4;
        } else if (s < end && *s == *p) {
            s++;
            p++;
        } else {
            return false;
        }
    }
    return s == end;
}

/* "METHOD pattern" of each route: its action in /metrics (a bounded set, never a path). */
static char route_names[N_ROUTES][48];
static pthread_once_t route_names_once = PTHREAD_ONCE_INIT;

static void name_routes(void)
{
    for (size_t i = 0; i < N_ROUTES; i++)
        snprintf(route_names[i], sizeof(route_names[i]), "%s %s", routes[i].method,
                 routes[i].pattern);
}

static const char *route_name(const native_route *r)
{
    pthread_once(&route_names_once, name_routes);
    return route_names[r - routes];
}

/* Finds the route of the request; when the path matches but the method does not, fills
 * allow with the methods it has and returns NULL. */
static const native_route *find_route(const api_request *req, path_id *id, char *allow, size_t alen)
{
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        path_id seg = {0};
        if (!path_matches(routes[i].pattern, req->path, &seg))
            continue;
        if (strcmp(routes[i].method, req->method) == 0) {
            *id = seg;
            return &routes[i];
        }
        size_t used = strlen(allow);
        snprintf(allow + used, alen - used, "%s%s", used ? ", " : "", routes[i].method);
    }
    return NULL;
}

static bool is_json_type(const char *ct)
{
    ct += strspn(ct, " \t");
    size_t n = strcspn(ct, "; \t");
    return n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0;
}

/* Checks made before any handler runs: media type and the id's syntax. */
static bool precheck(native_call *c, const path_id *id)
{
    const char *ct = api_header(c->req, "Content-Type");
    if (c->req->body_len > 0 && ct && !is_json_type(ct)) {
        api_reply_error(c->resp, API_ERR_MEDIA_TYPE, NULL,
                        "Send request bodies as Content-Type: application/json.");
        return false;
    }
    if (!id->at)
        return true;
    if (id->len < sizeof(c->id))
        snprintf(c->id, sizeof(c->id), "%.*s", (int)id->len, id->at);
    if (id->len >= sizeof(c->id) || !id_is_valid_task_id(c->id)) {
        api_reply_error(c->resp, FERR_NOT_FOUND, "id", "No task has that id.");
        return false;
    }
    return true;
}

static void native_handle(const api_request *req, api_response *resp)
{
    native_call c = {.req = req, .resp = resp};
    int rate = req->cfg->auth_failures_per_ip;
    if (throttle_auth_blocked(req->client_ip, rate, time_mono_us())) {
        api_reply_error(resp, FERR_THROTTLED, NULL,
                        "Too many failed authentications from %s: try again in a second.",
                        req->client_ip);
        api_resp_header(resp, "Retry-After", "1");
        return;
    }
    const config_account *acct = authenticate(req);
    if (!acct) {
        throttle_auth_failed(req->client_ip, rate, time_mono_us());
        api_reply_error(resp, FERR_UNAUTHORIZED, NULL,
                        "Send a valid token as 'Authorization: Bearer <token>'.");
        api_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"ferry\"");
        return;
    }
    c.account = acct->name;
    path_id id = {0};
    char allow[64];
    const native_route *r = find_route(req, &id, allow, sizeof(allow));
    if (!r && allow[0]) {
        api_reply_error(resp, API_ERR_METHOD, NULL, "%s is not allowed here; use %s.", req->method,
                        allow);
        api_resp_header(resp, "Allow", allow);
        return;
    }
    if (!r) {
        api_reply_error(resp, FERR_NOT_FOUND, NULL, "No such endpoint.");
        return;
    }
    resp->action = route_name(r);
    if (precheck(&c, &id))
        r->fn(&c);
}

const api_dialect api_native_dialect = {
    .name = "native",
    .prefix = "/v1",
    .handle = native_handle,
};
