/* tc_dialect.c — the Tencent Cloud API 3.0 front end at "/": which requests are its, reading
 * action, version and parameters, authentication, throttling, and the Response envelope. */
#include "api/tc.h"
#include "api/dialect_util.h"
#include "api/sign_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/throttle.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"

/* The one table from ferry's error codes to Tencent's. A code missing here is an
 * InternalError. */
static const struct {
    int code;
    const char *name;
} errors[] = {
    {FERR_INVALID, "InvalidParameter"},
    {FERR_MISSING, "MissingParameter"},
    {FERR_TASK_TIME, "InvalidParameter.InvalidTaskTime"},
    {FERR_SOURCE_URL, "InvalidParameter.InvalidSourceUrl"},
    {FERR_DST_URL, "InvalidParameter.InvalidToUrl"},
    {FERR_BACKUP_DST_URL, "InvalidParameter.InvalidBackupToUrl"},
    {FERR_CALLBACK_URL, "InvalidParameter.InvalidCallbackUrl"},
    {FERR_WATERMARK, "InvalidParameter.InvalidWatermark"},
    {FERR_NOT_FOUND, "InvalidParameter.TaskNotExist"},
    {FERR_EXISTS, "FailedOperation"},
    {FERR_QUOTA, "InvalidParameter.TaskNumMoreThanLimit"},
    {FERR_STATE, "FailedOperation"},
    {FERR_TOO_LARGE, "RequestSizeLimitExceeded"},
    {FERR_MALFORMED, "InvalidParameter"},
    {FERR_UNAUTHORIZED, "AuthFailure.UnauthorizedOperation"},
    {FERR_FORBIDDEN, "UnauthorizedOperation"},
    {FERR_INTERNAL, "InternalError"},
    {FERR_UNAVAILABLE, "ResourceUnavailable"},
    {API_ERR_METHOD, "UnsupportedProtocol"},
    {API_ERR_MEDIA_TYPE, "InvalidParameter"},
    {API_ERR_BUSY, "ResourceUnavailable"},
    {FERR_THROTTLED, "RequestLimitExceeded"},
    {TC_ERR_UNKNOWN_PARAM, "UnknownParameter"},
    {TC_ERR_NO_VERSION, "NoSuchVersion"},
    {TC_ERR_ACTION, "InvalidAction"},
    {TC_ERR_PROTOCOL, "UnsupportedProtocol"},
    {TC_ERR_THROTTLED, "RequestLimitExceeded"},
    {TC_ERR_AUTH_MALFORMED, "AuthFailure.InvalidAuthorization"},
    {TC_ERR_AUTH_EXPIRED, "AuthFailure.SignatureExpire"},
    {TC_ERR_AUTH_ID, "AuthFailure.SecretIdNotFound"},
    {TC_ERR_AUTH_SIGNATURE, "AuthFailure.SignatureFailure"},
};

/* Common parameters of query and form encodings: they are not business parameters. */
static const char *const common_params[] = {
    "Action", "Version",  "Region",    "Timestamp",       "Nonce",         "SecretId",
    "Token",  "Language", "Signature", "SignatureMethod", "RequestClient", NULL,
};

static const char *error_name(int code)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].code == code)
            return errors[i].name;
    return "InternalError";
}

/* ---------- replies ---------- */

static bool printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Wraps fields into {"Response":{...,"RequestId":...}}, HTTP 200, echoing X-TC-TraceId. */
static void send_response(tc_call *c, json_t *fields)
{
    if (fields)
        json_object_set_new(fields, "RequestId", json_string(c->request_id));
    api_reply_json(c->resp, 200, fields ? json_pack("{s:o}", "Response", fields) : NULL);
    const char *trace = api_header(c->req, "X-TC-TraceId");
    if (trace && printable(trace, 128))
        api_resp_header(c->resp, "X-TC-TraceId", trace);
}

void tc_reply(tc_call *c, json_t *fields)
{
    send_response(c, fields ? fields : json_object());
    log_debug("tencent: %s ok RequestId=%s request_id=%s", c->action ? c->action : "-",
              c->request_id, c->req->request_id);
}

void tc_fail(tc_call *c, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dialect_ascii_only(msg);
    const char *name = error_name(code);
    if (code == FERR_INTERNAL)
        log_warn("tencent: internal error: %s", msg);
    log_info("tencent: %s -> %s RequestId=%s request_id=%s", c->action ? c->action : "-", name,
             c->request_id, c->req->request_id);
    send_response(c, json_pack("{s:{s:s, s:s}}", "Error", "Code", name, "Message", msg));
    c->resp->outcome_status = code == FERR_INTERNAL || code == FERR_UNAVAILABLE ? 500 : 400;
}

void tc_fail_ferr(tc_call *c, const ferr *err)
{
    const char *msg = err->msg[0] ? err->msg : "The request failed.";
    const char *param = tc_param_for_field(err->field);
    if (param)
        tc_fail(c, err->code, "%s (parameter %s).", msg, param);
    else
        tc_fail(c, err->code, "%s", msg);
}

/* ---------- reading the request ---------- */

/* What the transport says about a call, before its parameters are typed. */
typedef struct tc_request {
    bool tc3;
    tc3_auth auth;
    const char *query;   /* raw, after '?' */
    const char *action;  /* X-TC-Action or Action */
    const char *version; /* X-TC-Version or Version */
    tc_params flat;      /* decoded query or form body */
    bool json_body;      /* TC3 POST with a JSON body */
} tc_request;

/* TC3: action and version in headers; parameters in a JSON body, the query or a form. */
static int read_tc3(tc_call *c, tc_request *r, const char *authz, ferr *err)
{
    const api_request *req = c->req;
    if (tc3_parse_authorization(authz, &r->auth) != 0)
        return ferr_set(err, TC_ERR_AUTH_MALFORMED, "",
                        "The Authorization header is not a valid TC3-HMAC-SHA256 "
                        "authorization (Credential=ID/DATE/SERVICE/tc3_request, "
                        "SignedHeaders including content-type and host, Signature=64 hex).");
    r->action = api_header(req, "X-TC-Action");
    r->version = api_header(req, "X-TC-Version");
    const char *region = api_header(req, "X-TC-Region");
    c->region = region ? region : "";
    if (strcmp(req->method, "GET") == 0)
        return dialect_decode(&r->flat, r->query, strlen(r->query), err);
    if (dialect_content_type_is(req, "application/x-www-form-urlencoded"))
        return dialect_decode(&r->flat, req->body, req->body_len, err);
    r->json_body = true;
    return 0;
}

/* Legacy: everything, signature included, in the query (GET) or a form body (POST). */
static int read_legacy(tc_call *c, tc_request *r, ferr *err)
{
    const api_request *req = c->req;
    int rc;
    if (strcmp(req->method, "GET") == 0) {
        rc = dialect_decode(&r->flat, r->query, strlen(r->query), err);
    } else if (*r->query) {
        rc = ferr_set(err, FERR_INVALID, "",
                      "A POST carries its parameters in the form body, not in the query.");
    } else if (dialect_content_type_is(req, "application/x-www-form-urlencoded")) {
        rc = dialect_decode(&r->flat, req->body, req->body_len, err);
    } else {
        rc = 0; /* no form, so no SecretId: authentication says the request is unsigned */
    }
    r->action = tc_params_get(&r->flat, "Action");
    r->version = tc_params_get(&r->flat, "Version");
    const char *region = tc_params_get(&r->flat, "Region");
    c->region = region ? region : "";
    return rc;
}

static int read_request(tc_call *c, tc_request *r, ferr *err)
{
    const api_request *req = c->req;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        return ferr_set(err, TC_ERR_PROTOCOL, "", "Only GET and POST are supported.");
    const char *q = strchr(req->raw_uri, '?');
    r->query = q ? q + 1 : "";
    const char *authz = api_header(req, "Authorization");
    const char *a = authz ? authz + strspn(authz, " ") : "";
    r->tc3 = strncmp(a, "TC3-", 4) == 0;
    return r->tc3 ? read_tc3(c, r, authz, err) : read_legacy(c, r, err);
}

/* ---------- authentication ---------- */

static const config_account *account_of(const config *cfg, const char *secret_id)
{
    for (int i = 0; secret_id && *secret_id && i < cfg->n_accounts; i++) {
        const config_account *a = &cfg->accounts[i];
        if (a->tc_secret_id[0] && a->tc_secret_key[0] && strcmp(a->tc_secret_id, secret_id) == 0)
            return a;
    }
    return NULL;
}

static tc_sig verify(const tc_call *c, const tc_request *r, const char *key, char *why,
                     size_t whylen)
{
    const api_request *req = c->req;
    int64_t now_s = time_now_ms() / 1000;
    if (!r->tc3)
        return tc_legacy_verify(req->method, api_header(req, "Host"), &r->flat, key, now_s, why,
                                whylen);
    tc3_request tr = {.method = req->method,
                      .query = r->query,
                      .headers = req->headers,
                      .n_headers = req->n_headers,
                      .body = req->body,
                      .body_len = req->body_len};
    return tc3_verify(&tr, &r->auth, key, now_s, why, whylen);
}

/* Whether list (";"-separated, lowercase) names header. */
static bool signs_header(const char *list, const char *header)
{
    size_t n = strlen(header);
    for (const char *p = list; *p; p += strcspn(p, ";"), p += *p == ';')
        if (strncasecmp(p, header, n) == 0 && (p[n] == ';' || p[n] == '\0'))
            return true;
    return false;
}

/* A legacy signature covers every parameter, Nonce and Timestamp too: a second use of it
 * is a replay. A TC3 signature leaves X-TC-Action out when the client signs only
 * content-type and host (the Node SDKs do): with tc3_signed_action = 1 such a request is
 * refused, so a captured Restart cannot come back as a Delete. (Binding the signature to
 * its first action instead would refuse a client's own Restart and Delete of one task in
 * the same second: their signatures are the same.) */
static int check_replay(const config *cfg, const tc_request *r, const char *sid, ferr *err)
{
    if (r->tc3) {
        if (cfg->tc3_signed_action && !signs_header(r->auth.signed_headers, "x-tc-action"))
            return ferr_set(err, TC_ERR_AUTH_SIGNATURE, "",
                            "This server requires x-tc-action in SignedHeaders.");
        return 0;
    }
    const char *sig = tc_params_get(&r->flat, "Signature");
    char key[CONFIG_STR_MAX + 16];
    snprintf(key, sizeof(key), "tc-legacy\n%s", sid);
    if (sig && !sign_nonce_fresh(key, sig, time_mono_ms() / 1000))
        return ferr_set(err, TC_ERR_AUTH_SIGNATURE, "",
                        "This signature was used already (a replay): sign each request with a "
                        "new Nonce and Timestamp.");
    return 0;
}

static int authenticate(tc_call *c, const tc_request *r, ferr *err)
{
    const char *sid = r->tc3 ? r->auth.secret_id : tc_params_get(&r->flat, "SecretId");
    if (!sid || !*sid)
        return ferr_set(err, TC_ERR_AUTH_MALFORMED, "",
                        "The request is not signed: send an Authorization header "
                        "(TC3-HMAC-SHA256), or the SecretId, Timestamp, Nonce and Signature "
                        "parameters.");
    const config_account *a = account_of(c->req->cfg, sid);
    if (!a)
        return ferr_set(err, TC_ERR_AUTH_ID, "", "The SecretId is not found.");
    char why[256] = "";
    switch (verify(c, r, a->tc_secret_key, why, sizeof(why))) {
    case TC_SIG_OK:
        if (check_replay(c->req->cfg, r, sid, err) != 0)
            return TC_ERR_AUTH_SIGNATURE;
        c->account = a;
        return 0;
    case TC_SIG_MALFORMED:
        return ferr_set(err, TC_ERR_AUTH_MALFORMED, "", "%s", why);
    case TC_SIG_EXPIRED:
        return ferr_set(err, TC_ERR_AUTH_EXPIRED, "", "%s", why);
    default:
        return ferr_set(err, TC_ERR_AUTH_SIGNATURE, "", "%s", why);
    }
}

/* A caller whose address keeps failing authentication gets RequestLimitExceeded before
 * anything of its request is read. */
static int check_address(const tc_call *c, ferr *err)
{
    if (!throttle_auth_blocked(c->req->client_ip, c->req->cfg->auth_failures_per_ip,
                               time_mono_us()))
        return 0;
    return ferr_set(err, TC_ERR_THROTTLED, "",
                    "Too many failed authentications from %s: try again in a second.",
                    c->req->client_ip);
}

/* authenticate; a failure counts against the caller's address. */
static int counted_authenticate(tc_call *c, const tc_request *r, ferr *err)
{
    int rc = authenticate(c, r, err);
    if (rc != 0)
        throttle_auth_failed(c->req->client_ip, c->req->cfg->auth_failures_per_ip, time_mono_us());
    return rc;
}

/* ---------- version, action, rate ---------- */

static int find_action(const tc_request *r, const tc_action **out, ferr *err)
{
    if (!r->version || strcmp(r->version, TC_VERSION) != 0)
        return ferr_set(err, TC_ERR_NO_VERSION, "",
                        "The API version `%.32s` does not exist; this API is " TC_VERSION ".",
                        r->version ? r->version : "");
    if (!r->action || !*r->action)
        return ferr_set(err, FERR_MISSING, "",
                        "The request is missing the action (X-TC-Action or Action).");
    *out = tc_action_find(r->action);
    if (!*out)
        return ferr_set(err, TC_ERR_ACTION, "", "The action `%.64s` does not exist.", r->action);
    return 0;
}

static int rate_of(const tc_call *c, const tc_action *a)
{
    int own = *(const int *)((const char *)&c->account->tc_qps + a->qps_offset);
    int global = *(const int *)((const char *)&c->req->cfg->tc_qps + a->qps_offset);
    return own > 0 ? own : global;
}

static int check_rate(const tc_call *c, const tc_action *a, ferr *err)
{
    int rate = rate_of(c, a);
    if (throttle_take(c->account->name, a->name, rate, time_mono_us()))
        return 0;
    return ferr_set(err, TC_ERR_THROTTLED, "",
                    "Too many %s requests: this account may send %d per second.", a->name, rate);
}

/* ---------- parameters ---------- */

static int json_params(tc_call *c, const tc_request *r, ferr *err)
{
    const api_request *req = c->req;
    if (req->body_len && !dialect_content_type_is(req, "application/json"))
        return ferr_set(err, FERR_INVALID, "",
                        "Send the parameters as a JSON body (Content-Type: application/json).");
    json_error_t je;
    c->params = req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je)
                              : json_object();
    if (!c->params)
        return ferr_set(err, FERR_INVALID, "", "The body is not valid JSON: %s.", je.text);
    if (!json_is_object(c->params))
        return ferr_set(err, FERR_INVALID, "", "The body must be a JSON object.");
    return 0;
}

static int load_params(tc_call *c, const tc_request *r, const tc_action *a, ferr *err)
{
    if (strcmp(c->req->method, "GET") != 0 && *r->query)
        return ferr_set(err, FERR_INVALID, "",
                        "A POST carries its parameters in the body, not in the query.");
    if (r->json_body) {
        int rc = json_params(c, r, err);
        if (rc)
            return rc;
    } else {
        char why[256];
        c->params = tc_params_unflatten(&r->flat, common_params, why, sizeof(why));
        if (!c->params)
            return ferr_set(err, FERR_INVALID, "", "%s", why);
    }
    return tc_params_check(c->params, a->params, err);
}

/* ---------- the dialect ---------- */

static void tc_handle(const api_request *req, api_response *resp)
{
    tc_call c = {.req = req, .resp = resp, .region = ""};
    tc_request r = {0};
    const tc_action *a = NULL;
    ferr err = {0};
    id_uuid(c.request_id);
    int rc = check_address(&c, &err);
    if (rc == 0)
        rc = read_request(&c, &r, &err);
    if (rc == 0)
        rc = counted_authenticate(&c, &r, &err);
    if (rc == 0)
        rc = find_action(&r, &a, &err);
    if (rc == 0) {
        c.action = a->name;
        resp->action = a->name;
        rc = check_rate(&c, a, &err);
    }
    if (rc == 0)
        rc = load_params(&c, &r, a, &err);
    if (rc == 0)
        a->run(&c);
    else
        tc_fail_ferr(&c, &err);
    json_decref(c.params);
    tc_params_free(&r.flat);
}

/* Errors the server raises itself (a body over the limit), in the Tencent envelope. */
static void tc_error(const api_request *req, api_response *resp, const ferr *err)
{
    tc_call c = {.req = req, .resp = resp, .region = ""};
    id_uuid(c.request_id);
    tc_fail_ferr(&c, err);
}

static bool has_header_prefix(const api_request *req, const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < req->n_headers; i++)
        if (strncasecmp(req->headers[i].key, prefix, n) == 0)
            return true;
    return false;
}

/* Tencent's requests at "/": X-TC-* headers, a TC3 Authorization, a legacy SecretId in the
 * query, or a form POST. Alibaba's clients always send x-acs-* headers, so those stay out. */
static bool tc_claims(const api_request *req)
{
    if (strcmp(req->path, "/") != 0 || has_header_prefix(req, "x-acs-"))
        return false;
    const char *authz = api_header(req, "Authorization");
    if (has_header_prefix(req, "X-TC-") || (authz && strstr(authz, "TC3-HMAC-SHA256")) ||
        api_query(req, "SecretId"))
        return true;
    if (api_query(req, "AccessKeyId"))
        return false;
    return strcmp(req->method, "POST") == 0 && !strchr(req->raw_uri, '?') &&
           dialect_content_type_is(req, "application/x-www-form-urlencoded");
}

const api_dialect api_tencent_dialect = {
    .name = "tencent",
    .prefix = "/",
    .claims = tc_claims,
    .handle = tc_handle,
    .error = tc_error,
};
