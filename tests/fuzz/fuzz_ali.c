/* fuzz_ali.c — libFuzzer target for the Alibaba dialect's request path without the network or
 * the task service: query and form decoding, both verifiers (RPC v1, ACS3), SourceUrls and
 * integer readers, the Alibaba -> model mapping and the task state it shows, on a fixed clock.
 *
 * An input is an HTTP request as text, the way the seeds in corpus_ali/ are written:
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

#include "api/ali.h"
#include "api/sign_util.h"
#include "common/config.h"
#include "task/task.h"

#include "fuzz_request.h"

/* The clock and the secret the seeds were signed with (tests/data/signature-vectors.json). */
#define NOW_S INT64_C(1795265850)
#define NOW_MS (NOW_S * 1000)
#define SECRET "SECRETTEST"

static config cfg;
static task existing; /* the task every Update input edits */
static bool trace;    /* FUZZ_ALI_TRACE=1: say what each stage decided */

static void say(const char *stage, int rc, const char *why)
{
    if (trace)
        fprintf(stderr, "fuzz_ali: %-10s %d %s\n", stage, rc, why ? why : "");
}

static void verify(const fuzz_request *r, const form_params *query, const form_params *all)
{
    char why[512] = "";
    const char *authz = fuzz_header(r, "Authorization");
    ali_acs3_auth auth;
    if (authz && ali_acs3_parse_authorization(authz, &auth) == 0) {
        ali_acs3_request ar = {.method = r->method,
                               .query = query,
                               .headers = r->headers,
                               .n_headers = r->n_headers,
                               .body = r->body,
                               .body_len = r->body_len};
        say("acs3", (int)ali_acs3_verify(&ar, &auth, SECRET, NOW_S, why, sizeof(why)), why);
    } else {
        say("rpc-v1", (int)ali_rpc_verify(r->method, all, SECRET, NOW_S, why, sizeof(why)), why);
    }
    const char *nonce = form_get(all, "SignatureNonce");
    (void)sign_nonce_fresh("AKIDTEST", nonce ? nonce : "", NOW_S);
}

static void render(const task *t)
{
    task_progress p = {.active = true, .file_index = 1, .offset_ms = 5000};
    json_t *state = ali_task_state(t, &p);
    char *text = state ? json_dumps(state, JSON_COMPACT) : NULL;
    say("render", text ? 0 : -1, NULL);
    free(text);
    json_decref(state);
}

static void map_to_model(const form_params *p, const char *action)
{
    ferr err = {0};
    bool create = strcmp(action, "CreateLivePullToPush") == 0;
    if (!create && strcmp(action, "UpdateLivePullToPush") != 0)
        return;
    task t = existing;
    int rc;
    if (create)
        rc = ali_spec_from_create(p, &cfg, &t.spec, NOW_MS, &err);
    else if (task_spec_copy(&t.spec, &existing.spec) == 0)
        rc = ali_spec_apply_update(p, &cfg, &existing, &t.spec, NOW_MS, &err);
    else
        return;
    say("map", rc, err.msg);
    if (rc == 0) {
        if (t.spec.retry_count < 0)
            t.spec.retry_count = cfg.retry_count_default;
        if (t.spec.retry_interval_s < 0)
            t.spec.retry_interval_s = cfg.retry_interval_default_s;
        say("validate", task_validate(&t.spec, &cfg, NOW_MS, create, &err), err.msg);
        render(&t);
    }
    (void)ali_param_for_field(err.field);
    task_spec_free(&t.spec);
}

static void run(const fuzz_request *r)
{
    form_params query = {0}, all = {0};
    char why[256] = "";
    int rc = form_decode(&query, r->query, strlen(r->query), why, sizeof(why));
    if (rc == 0)
        rc = form_decode(&all, r->query, strlen(r->query), why, sizeof(why));
    if (rc == 0)
        rc = form_decode(&all, r->body, r->body_len, why, sizeof(why));
    say("decode", rc, why);
    if (rc == 0) {
        verify(r, &query, &all);
        const char *action = fuzz_header(r, "x-acs-action");
        if (form_get(&all, "Action"))
            action = form_get(&all, "Action");
        say("action", ali_action_find(action) ? 0 : -1, action);
        if (action)
            map_to_model(&all, action);
        long long n;
        ferr err = {0};
        (void)ali_int_param(&all, "PageSize", 1, 100, &n, &err);
    }
    form_free(&query);
    form_free(&all);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    trace = getenv("FUZZ_ALI_TRACE") != NULL;
    json_object_seed(1);
    config_defaults(&cfg);
    static const char base[] =
        "Region=cn-shanghai&SourceType=url&SourceUrls=%5B%22http%3A%2F%2Fexample.com%2Fa.mp4%22%2C"
        "%22http%3A%2F%2Fexample.com%2Fb.mp4%22%5D&DstUrl=rtmp%3A%2F%2Fpush.example.com%2Flive%2Fs"
        "&StartTime=2030-01-01T00%3A00%3A00Z&EndTime=2030-01-02T00%3A00%3A00Z&RepeatNumber=1";
    form_params p = {0};
    char why[256];
    ferr err = {0};
    if (form_decode(&p, base, strlen(base), why, sizeof(why)) != 0 ||
        ali_spec_from_create(&p, &cfg, &existing.spec, NOW_MS, &err) != 0) {
        fprintf(stderr, "fuzz_ali: the base task does not map: %s\n", err.msg);
        abort();
    }
    form_free(&p);
    snprintf(existing.id, sizeof(existing.id), "fuzz-task");
    existing.state = TASK_OFFLINE;
    existing.reason = "TriggerByUser";
    existing.last_error = "";
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request_feed(data, size, run);
    return 0;
}
