/* ctl_http.c — ferryctl's libcurl client of the native API: bearer token, JSON bodies,
 * and the one place where an HTTP failure becomes a message and an exit code. */
#include "ctl/ctl_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl/ctl.h"

#define ANSWER_MAX (64u << 20) /* more than any API answer */

struct ctl_client {
    CURL *curl;
    struct curl_slist *headers;
    char base[CTL_URL_MAX];
};

typedef struct answer {
    char *data;
    size_t len;
} answer;

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
    answer *a = userdata;
    size_t add = size * n;
    if (a->len + add > ANSWER_MAX)
        return 0;
    char *grown = realloc(a->data, a->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + a->len, p, add);
    a->data = grown;
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

ctl_client *ctl_client_new(const ctl_target *t)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    ctl_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->curl = curl_easy_init())) {
        free(c);
        return NULL;
    }
    snprintf(c->base, sizeof(c->base), "%s", t->base);
    char auth[CTL_TOKEN_MAX + 32];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->token);
    c->headers = curl_slist_append(c->headers, auth);
    c->headers = curl_slist_append(c->headers, "Accept: application/json");
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    return c;
}

void ctl_client_free(ctl_client *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->headers);
    curl_easy_cleanup(c->curl);
    free(c);
    curl_global_cleanup();
}

const char *ctl_task_path(char *buf, size_t len, const char *id, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, id, 0);
    int n = snprintf(buf, len, "/v1/tasks/%s%s", esc ? esc : "", suffix);
    curl_free(esc);
    if (n < 0 || (size_t)n >= len)
        buf[0] = '\0';
    return buf;
}

/* ---------- errors ---------- */

static int exit_code_of(long status)
{
    if (status == 401)
        return CTL_UNAUTHORIZED;
    if (status == 404)
        return CTL_NOT_FOUND;
    if (status >= 400 && status < 500)
        return CTL_REFUSED;
    return CTL_SERVER;
}

/* Prints the error envelope {"error":{code,message,field}} of a refused request. */
static int report_error(long status, const json_t *doc, const char *subject)
{
    json_t *e = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));
    if (!msg) {
        fprintf(stderr, "ferryctl: ferryd answered HTTP %ld without an API error\n", status);
        return status >= 400 && status < 500 ? exit_code_of(status) : CTL_SERVER;
    }
    if (!field || !*field)
        field = status == 401 ? "token" : status == 404 && subject ? "id" : NULL;
    if (field)
        fprintf(stderr, "ferryctl: %s: %s (%s)\n", field, msg, code ? code : "?");
    else
        fprintf(stderr, "ferryctl: %s (%s)\n", msg, code ? code : "?");
    return exit_code_of(status);
}

/* ---------- the request ---------- */

static void prepare(ctl_client *c, const char *method, const char *url, const char *body,
                    answer *ans)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* ferryd is reached directly */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, ans);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
}

/* The answer as JSON: *doc is NULL for an empty body. Returns -1 when it is not JSON. */
static int parse_answer(const answer *ans, json_t **doc)
{
    *doc = NULL;
    if (ans->len == 0)
        return 0;
    *doc = json_loadb(ans->data, ans->len, 0, NULL);
    return *doc ? 0 : -1;
}

static int call(ctl_client *c, const char *method, const char *path, json_t *body,
                const char *subject, long silent, json_t **out)
{
    if (!*path) { /* ctl_task_path found no room for the id */
        fprintf(stderr, "ferryctl: id: a task id is 1 to 55 characters\n");
        return CTL_USAGE;
    }
    char url[CTL_URL_MAX + 256];
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    answer ans = {0};
    *out = NULL;
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    prepare(c, method, url, text, &ans);
    CURLcode cc = curl_easy_perform(c->curl);
    free(text);
    if (cc != CURLE_OK) {
        free(ans.data);
        fprintf(stderr, "ferryctl: cannot reach ferryd at %s: %s\n", c->base,
                curl_easy_strerror(cc));
        return CTL_UNREACHABLE;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    json_t *doc;
    int bad = parse_answer(&ans, &doc);
    free(ans.data);
    if (status >= 200 && status < 300 && !bad) {
        *out = doc;
        return CTL_OK;
    }
    if (bad) {
        fprintf(stderr, "ferryctl: ferryd at %s answered HTTP %ld, not JSON\n", c->base, status);
        return status >= 400 && status < 500 ? exit_code_of(status) : CTL_SERVER;
    }
    int rc = status == silent ? exit_code_of(status) : report_error(status, doc, subject);
    json_decref(doc);
    return rc;
}

int ctl_call(ctl_client *c, const char *method, const char *path, json_t *body, const char *subject,
             json_t **out)
{
    return call(c, method, path, body, subject, 0, out);
}

int ctl_call_unless(ctl_client *c, const char *method, const char *path, long silent, json_t **out)
{
    return call(c, method, path, NULL, NULL, silent, out);
}

int ctl_connect(const ctl_args *a, ctl_client **c)
{
    ctl_target t;
    int rc = ctl_target_resolve(a, &t);
    if (rc != CTL_OK)
        return rc;
    *c = ctl_client_new(&t);
    if (!*c) {
        fprintf(stderr, "ferryctl: cannot start libcurl\n");
        return CTL_SERVER;
    }
    return CTL_OK;
}

const char *ctl_query_escape(const char *s, char *buf, size_t len)
{
    char *esc = curl_easy_escape(NULL, s, 0);
    if (!esc || (size_t)snprintf(buf, len, "%s", esc) >= len)
        buf[0] = '\0';
    curl_free(esc);
    return buf;
}
