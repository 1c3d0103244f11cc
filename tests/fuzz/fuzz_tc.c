/* fuzz_tc.c — libFuzzer target for the Tencent dialect's request path without the network or
 * the task service: parameter decoding (JSON body, query, form, Name.N rebuild), both
 * signature verifiers (TC3 and legacy) and the Tencent -> model mapping, on a fixed clock.
 *
 * An input is an HTTP request as text, the way the seeds in corpus_tc/ are written:
 *   METHOD TARGET\n  then "Name: value" header lines, an empty line, and the body.
 * Lines may end in \r\n. Everything after the empty line is the body, byte for byte. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/dialect_util.h"
#include "api/tc.h"
#include "common/config.h"
#include "task/task.h"

#include "fuzz_request.h"

/* The clock and the key the seeds were signed with (tests/data/signature-vectors.json), so
 * a seed verifies and its mutants reach every branch of the verifiers. */
#define NOW_S INT64_C(1795265850)
#define NOW_MS (NOW_S * 1000)
#define SECRET_KEY "SECRETTEST"

/* What the dialect leaves out of the business parameters of a query or form. */
static const char *const common_params[] = {
    "Action", "Version",  "Region",    "Timestamp",       "Nonce",         "SecretId",
    "Token",  "Language", "Signature", "SignatureMethod", "RequestClient", NULL,
};

static config cfg;         /* defaults: the limits task_validate checks against */
static task_spec existing; /* the task a ModifyLivePullStreamTask edits */
static bool trace;         /* FUZZ_TC_TRACE=1: say what each stage decided (reproducing) */

static void say(const char *stage, int rc, const char *why)
{
    if (trace)
        fprintf(stderr, "fuzz_tc: %-10s %d %s\n", stage, rc, why ? why : "");
}

/* ---------- signatures ---------- */

static void verify_tc3(const fuzz_request *r, const char *authz)
{
    tc3_auth auth;
    int rc = tc3_parse_authorization(authz, &auth);
    say("tc3-parse", rc, NULL);
    if (rc != 0)
        return;
    tc3_request tr = {.method = r->method,
                      .query = r->query,
                      .headers = r->headers,
                      .n_headers = r->n_headers,
                      .body = r->body,
                      .body_len = r->body_len};
    char why[256] = "";
    say("tc3-verify", (int)tc3_verify(&tr, &auth, SECRET_KEY, NOW_S, why, sizeof(why)), why);
}

static void verify_legacy(const fuzz_request *r, const tc_params *flat)
{
    char why[256] = "";
    tc_sig rc = tc_legacy_verify(r->method, fuzz_header(r, "Host"), flat, SECRET_KEY, NOW_S, why,
                                 sizeof(why));
    say("legacy", (int)rc, why);
}

/* ---------- parameters ---------- */

/* The flat pairs of a query or form, as the dialect picks them. Returns 1 when the
 * parameters are a JSON body instead, 0 when decoded, -1 on a decoding error. */
static int read_flat(const fuzz_request *r, bool tc3, tc_params *flat)
{
    const char *text = NULL;
    size_t len = 0;
    bool get = strcmp(r->method, "GET") == 0;
    if (get) {
        text = r->query;
        len = strlen(text);
    } else if (dialect_content_type_is(&r->api, "application/x-www-form-urlencoded")) {
        text = r->body;
        len = r->body_len;
    } else if (tc3) {
        return 1;
    }
    if (!text)
        return 0;
    char why[256] = "";
    int rc = tc_params_decode(flat, text, len, why, sizeof(why));
    say("decode", rc, why);
    return rc;
}

static json_t *business_params(const fuzz_request *r, int flat_rc, const tc_params *flat)
{
    char why[256] = "";
    json_t *params;
    if (flat_rc == 1) {
        json_error_t je;
        params = r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je)
                             : json_object();
        snprintf(why, sizeof(why), "%s", params ? "" : je.text);
    } else {
        params = tc_params_unflatten(flat, common_params, why, sizeof(why));
    }
    say("params", params ? 0 : -1, why);
    if (params && !json_is_object(params)) {
        json_decref(params);
        return NULL;
    }
    return params;
}

/* ---------- Tencent -> model ---------- */

/* The configured retry defaults, which the task service fills in before it validates. */
static void fill_defaults(task_spec *s)
{
    if (s->retry_count < 0)
        s->retry_count = cfg.retry_count_default;
    if (s->retry_interval_s < 0)
        s->retry_interval_s = cfg.retry_interval_default_s;
}

/* Renders the spec back as PullStreamTaskInfo, as a Describe would. */
static void render(const task_spec *s)
{
    task t = {.spec = *s, .state = TASK_OFFLINE, .last_error = "", .reason = ""};
    snprintf(t.id, sizeof(t.id), "fuzz-task");
    json_t *info = tc_task_info(&t, NULL);
    char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    say("render", text ? 0 : -1, NULL);
    free(text);
    json_decref(info);
}

static void map_to_model(const tc_action *a, json_t *params, const char *region)
{
    ferr err = {0};
    int rc = tc_params_check(params, a->params, &err);
    say("check", rc, err.msg);
    if (rc != 0) {
        (void)tc_param_for_field(err.field);
        return;
    }
    bool create = strcmp(a->name, "CreateLivePullStreamTask") == 0;
    if (!create && strcmp(a->name, "ModifyLivePullStreamTask") != 0)
        return;
    task_spec s;
    if (create) {
        rc = tc_spec_from_create(params, region, &s, NOW_MS, &err);
    } else if (task_spec_copy(&s, &existing) == 0) {
        rc = tc_spec_apply_modify(params, &s, NOW_MS, &err);
    } else {
        return;
    }
    say("map", rc, err.msg);
    if (rc == 0) {
        fill_defaults(&s);
        rc = task_validate(&s, &cfg, NOW_MS, create, &err);
        say("validate", rc, err.msg);
        render(&s);
    }
    (void)tc_param_for_field(err.field);
    task_spec_free(&s);
}

/* ---------- the target ---------- */

static void run(const fuzz_request *r)
{
    const char *authz = fuzz_header(r, "Authorization");
    bool tc3 = authz && strncmp(authz + strspn(authz, " "), "TC3-", 4) == 0;
    tc_params flat = {0};
    int flat_rc = read_flat(r, tc3, &flat);
    if (tc3)
        verify_tc3(r, authz);
    else if (flat_rc == 0)
        verify_legacy(r, &flat);
    const char *action = tc3 ? fuzz_header(r, "X-TC-Action") : tc_params_get(&flat, "Action");
    const char *region = tc3 ? fuzz_header(r, "X-TC-Region") : tc_params_get(&flat, "Region");
    const tc_action *a = action ? tc_action_find(action) : NULL;
    say("action", a ? 0 : -1, action);
    json_t *params = flat_rc >= 0 ? business_params(r, flat_rc, &flat) : NULL;
    if (a && params)
        map_to_model(a, params, region ? region : "");
    json_decref(params);
    tc_params_free(&flat);
}

/* The task every Modify input edits: a VOD relay with two files and a watermark. */
static const char existing_create[] =
    "{\"SourceType\":\"PullVodPushLive\","
    "\"SourceUrls\":[\"http://example.com/a.mp4\",\"http://example.com/b.mp4\"],"
    "\"DomainName\":\"push.example.com\",\"AppName\":\"live\",\"StreamName\":\"s1\","
    "\"StartTime\":\"2030-01-01T00:00:00Z\",\"EndTime\":\"2030-01-02T00:00:00Z\","
    "\"Operator\":\"fuzz\",\"VodLoopTimes\":\"2\",\"CallbackEvents\":[\"TaskStart\"],"
    "\"WatermarkList\":[{\"PictureUrl\":\"http://example.com/w.png\",\"XPosition\":1,"
    "\"YPosition\":2,\"Width\":10,\"Height\":10,\"Location\":0}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    trace = getenv("FUZZ_TC_TRACE") != NULL;
    json_object_seed(1); /* the same hash order on every run */
    config_defaults(&cfg);
    const tc_action *create = tc_action_find("CreateLivePullStreamTask");
    json_t *p = json_loads(existing_create, 0, NULL);
    ferr err = {0};
    if (!create || !p || tc_params_check(p, create->params, &err) != 0 ||
        tc_spec_from_create(p, "ap-guangzhou", &existing, NOW_MS, &err) != 0) {
        fprintf(stderr, "fuzz_tc: the base task does not map: %s\n", err.msg);
        abort();
    }
    fill_defaults(&existing);
    json_decref(p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request_feed(data, size, run);
    return 0;
}
