/* ali_dialect.c — the Alibaba Cloud RPC front end at "/": which requests are its, merging
 * query and form, authentication and nonces, version, action, throttling, reply envelopes. */
#include "api/ali.h"
#include "api/dialect_util.h"
#include "api/sign_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/throttle.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"

/* The one table from ferry's error codes to Alibaba's codes and HTTP statuses (wire.md §8,
 * api-compat.md §2.1). A code missing here is a 500 InternalError. */
static const struct {
    int code;
    unsigned status;
    const char *name;
} errors[] = {
    {FERR_INVALID, 400, "InvalidParameter"},
    {FERR_MISSING, 400, "MissingParameter"},
    {FERR_TASK_TIME, 400, "InvalidParam.CodeIllegalDuration"},
    {FERR_SOURCE_URL, 400, "InvalidParameter"},
    {FERR_DST_URL, 400, "InvalidParameter"},
    {FERR_BACKUP_DST_URL, 400, "InvalidParameter"},
    {FERR_CALLBACK_URL, 400, "InvalidParameter"},
    {FERR_WATERMARK, 400, "InvalidParameter"},
    {FERR_NOT_FOUND, 404, "InvalidTaskId.NotFound"},
    {FERR_EXISTS, 400, "CodeConfigAlreadyExists"},
    {FERR_QUOTA, 400, "CodeNotEnoughResource"},
    {FERR_STATE, 400, "InvalidParameter"},
    {FERR_TOO_LARGE, 400, "InvalidParameter"},
    {FERR_MALFORMED, 400, "InvalidParameter"},
    {FERR_UNAUTHORIZED, 403, "Forbidden"},
    {FERR_FORBIDDEN, 403, "Forbidden"},
    {FERR_INTERNAL, 500, "InternalError"},
    {FERR_UNAVAILABLE, 400, "CodeNotEnoughResource"},
    {API_ERR_METHOD, 400, "UnsupportedHTTPMethod"},
    {API_ERR_MEDIA_TYPE, 400, "InvalidParameter"},
    {API_ERR_BUSY, 503, "ServiceUnavailable"},
    {FERR_THROTTLED, 400, "Throttling.User"},
    {ALI_ERR_ACTION, 404, "InvalidApi.NotFound"},
    {ALI_ERR_VERSION, 400, "NoSuchVersion"},
    {ALI_ERR_FORMAT, 400, "InvalidParameter.Format"},
    {ALI_ERR_THROTTLED, 400, "Throttling.User"},
    {ALI_ERR_KEY, 404, "InvalidAccessKeyId.NotFound"},
    {ALI_ERR_INCOMPLETE, 400, "IncompleteSignature"},
    {ALI_ERR_SIG_METHOD, 400, "InvalidSignatureMethod"},
    {ALI_ERR_TIME_FORMAT, 400, "InvalidTimeStamp.Format"},
    {ALI_ERR_EXPIRED, 400, "InvalidTimeStamp.Expired"},
    {ALI_ERR_NONCE, 400, "SignatureNonceUsed"},
    {ALI_ERR_SIGNATURE, 400, "SignatureDoesNotMatch"},
    {ALI_ERR_NOT_FOUND, 404, "InvalidTaskId.NotFound"},
};

static int error_index(int code)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].code == code)
            return (int)i;
    return -1;
}

/* ---------- replies ---------- */

static bool printable(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static void send(ali_call *c, unsigned status, json_t *body)
{
    api_reply_json(c->resp, status, body);
    api_resp_header(c->resp, "x-acs-request-id", c->request_id);
}

void ali_reply(ali_call *c, json_t *fields)
{
    json_t *body = json_pack("{s:s}", "RequestId", c->request_id);
    if (body && fields && json_object_update(body, fields) != 0) {
        json_decref(body);
        body = NULL;
    }
    json_decref(fields);
    send(c, 200, body);
    log_debug("alibaba: %s ok RequestId=%s request_id=%s", c->action ? c->action : "-",
              c->request_id, c->req->request_id);
}

void ali_fail(ali_call *c, int code, const char *fmt, ...)
{
    char msg[512], recommend[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dialect_ascii_only(msg); /* messages quote client input: keep them ASCII */
    int i = error_index(code);
    const char *name = i < 0 ? "InternalError" : errors[i].name;
    unsigned status = i < 0 ? 500 : errors[i].status;
    const char *host = api_header(c->req, "Host");
    snprintf(recommend, sizeof(recommend), "ferry docs/compat.md, Alibaba errors: %s", name);
    if (status >= 500)
        log_warn("alibaba: %s -> %s: %s", c->action ? c->action : "-", name, msg);
    log_info("alibaba: %s -> %s RequestId=%s request_id=%s", c->action ? c->action : "-", name,
             c->request_id, c->req->request_id);
    send(c, status,
         json_pack("{s:s, s:s, s:s, s:s, s:s}", "RequestId", c->request_id, "HostId",
                   printable(host, 255) ? host : "ferry", "Code", name, "Message", msg, "Recommend",
                   recommend));
}

void ali_fail_ferr(ali_call *c, const ferr *err)
{
    const char *msg = err->msg[0] ? err->msg : "The request failed.";
    const char *param = ali_param_for_field(err->field);
    if (param && !strstr(msg, param))
        ali_fail(c, err->code, "%s (parameter %s).", msg, param);
    else
        ali_fail(c, err->code, "%s", msg);
}

/* ---------- reading the request ---------- */

/* JSON replies quote parameters: every value must be UTF-8. */
static int utf8_values(const form_params *p, ferr *err)
{
    for (int i = 0; i < p->n; i++) {
        json_t *s = json_string(p->v[i].value);
        if (!s)
            return ferr_set(err, FERR_INVALID, "", "The parameter `%.100s` is not UTF-8 text.",
                            p->v[i].key);
        json_decref(s);
    }
    return 0;
}

/* The decoded query into query, and query plus form body into c->params. */
static int read_params(ali_call *c, form_params *query, ferr *err)
{
    const api_request *req = c->req;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        return ferr_set(err, API_ERR_METHOD, "", "Only GET and POST are supported.");
    const char *q = strchr(req->raw_uri, '?');
    q = q ? q + 1 : "";
    int rc = dialect_decode(query, q, strlen(q), err);
    if (rc == 0)
        rc = dialect_decode(&c->params, q, strlen(q), err);
    if (rc == 0 && req->body_len) {
        if (!dialect_content_type_is(req, "application/x-www-form-urlencoded"))
            return ferr_set(err, API_ERR_MEDIA_TYPE, "",
                            "Send the parameters in the query or in an "
                            "application/x-www-form-urlencoded body.");
        rc = dialect_decode(&c->params, req->body, req->body_len, err);
    }
    return rc ? rc : utf8_values(&c->params, err);
}

/* ---------- authentication ---------- */

static const config_account *account_of(const config *cfg, const char *key_id)
{
    for (int i = 0; key_id && *key_id && i < cfg->n_accounts; i++) {
        const config_account *a = &cfg->accounts[i];
        if (a->ali_key_id[0] && a->ali_key_secret[0] && strcmp(a->ali_key_id, key_id) == 0)
            return a;
    }
    return NULL;
}

static int sig_error(ali_sig s, const char *why, ferr *err)
{
    static const int codes[] = {
        [ALI_SIG_INCOMPLETE] = ALI_ERR_INCOMPLETE,   [ALI_SIG_METHOD] = ALI_ERR_SIG_METHOD,
        [ALI_SIG_TIME_FORMAT] = ALI_ERR_TIME_FORMAT, [ALI_SIG_EXPIRED] = ALI_ERR_EXPIRED,
        [ALI_SIG_MISMATCH] = ALI_ERR_SIGNATURE,
    };
    return s == ALI_SIG_OK ? 0 : ferr_set(err, codes[s], "", "%s", why);
}

static int authenticate(ali_call *c, const form_params *query, bool acs3, ferr *err)
{
    const api_request *req = c->req;
    ali_acs3_auth auth;
    const char *authz = api_header(req, "Authorization");
    if (acs3 && ali_acs3_parse_authorization(authz, &auth) != 0)
        return ferr_set(err, ALI_ERR_INCOMPLETE, "",
                        "The Authorization header is not a valid ACS3-HMAC-SHA256 authorization "
                        "(Credential=ID,SignedHeaders=host;x-acs-...,Signature=64 hex).");
    const char *key_id = acs3 ? auth.key_id : form_get(&c->params, "AccessKeyId");
    if (!key_id || !*key_id)
        return ferr_set(err, ALI_ERR_INCOMPLETE, "",
                        "The request is not signed: send AccessKeyId, Signature, SignatureMethod, "
                        "SignatureNonce and Timestamp, or an ACS3-HMAC-SHA256 Authorization.");
    const config_account *a = account_of(req->cfg, key_id);
    if (!a)
        return ferr_set(err, ALI_ERR_KEY, "", "Specified access key is not found.");
    char why[512] = "";
    int64_t now_s = time_now_ms() / 1000;
    ali_acs3_request r = {.method = req->method,
                          .query = query,
                          .headers = req->headers,
                          .n_headers = req->n_headers,
                          .body = req->body,
                          .body_len = req->body_len};
    ali_sig s =
        acs3 ? ali_acs3_verify(&r, &auth, a->ali_key_secret, now_s, why, sizeof(why))
             : ali_rpc_verify(req->method, &c->params, a->ali_key_secret, now_s, why, sizeof(why));
    int rc = sig_error(s, why, err);
    if (rc != 0)
        return rc;
    const char *nonce =
        acs3 ? api_header(req, "x-acs-signature-nonce") : form_get(&c->params, "SignatureNonce");
    if (!sign_nonce_fresh(key_id, nonce, time_mono_ms() / 1000))
        return ferr_set(err, ALI_ERR_NONCE, "", "Specified signature nonce was used already.");
    c->account = a;
    return 0;
}

/* ---------- version, format, action, rate ---------- */

static int find_action(ali_call *c, bool acs3, const ali_action **out, ferr *err)
{
    const form_params *p = &c->params;
    const char *version = acs3 ? api_header(c->req, "x-acs-version") : form_get(p, "Version");
    const char *action = acs3 ? api_header(c->req, "x-acs-action") : form_get(p, "Action");
    const char *format = form_get(p, "Format");
    if (!version || !*version)
        return ferr_set(err, FERR_MISSING, "", "The request is missing the Version.");
    if (strcmp(version, ALI_VERSION) != 0)
        return ferr_set(err, ALI_ERR_VERSION, "",
                        "Specified version `%.32s` is not found; this API is " ALI_VERSION ".",
                        version);
    if (format && strcasecmp(format, "JSON") != 0)
        return ferr_set(err, ALI_ERR_FORMAT, "", "ferry answers in JSON only: send Format=JSON.");
    if (!action || !*action)
        return ferr_set(err, FERR_MISSING, "", "The request is missing the Action.");
    *out = ali_action_find(action);
    if (!*out)
        return ferr_set(err, ALI_ERR_ACTION, "", "Specified api `%.64s` is not found.", action);
    c->action = (*out)->name;
    c->resp->action = (*out)->name;
    return 0;
}

/* A caller whose address keeps failing authentication gets Throttling.User before anything
 * of its request is read. */
static int check_address(const ali_call *c, ferr *err)
{
    if (!throttle_auth_blocked(c->req->client_ip, c->req->cfg->auth_failures_per_ip,
                               time_mono_us()))
        return 0;
    return ferr_set(err, ALI_ERR_THROTTLED, "",
                    "Request was denied due to too many failed authentications from %s: try "
                    "again in a second.",
                    c->req->client_ip);
}

/* authenticate; a failure counts against the caller's address. */
static int counted_authenticate(ali_call *c, const form_params *query, bool acs3, ferr *err)
{
    int rc = authenticate(c, query, acs3, err);
    if (rc != 0)
        throttle_auth_failed(c->req->client_ip, c->req->cfg->auth_failures_per_ip, time_mono_us());
    return rc;
}

static int check_rate(const ali_call *c, ferr *err)
{
    int rate = c->account->ali_qps > 0 ? c->account->ali_qps : c->req->cfg->ali_qps;
    if (throttle_take(c->account->name, c->action, rate, time_mono_us()))
        return 0;
    return ferr_set(err, ALI_ERR_THROTTLED, "",
                    "Request was denied due to user flow control: %s allows %d requests per "
                    "second per AccessKey.",
                    c->action, rate);
}

/* ---------- the dialect ---------- */

static void new_request_id(char out[40])
{
    id_uuid(out);
    for (char *s = out; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static bool is_acs3(const api_request *req)
{
    const char *a = api_header(req, "Authorization");
    return a && strncmp(a + strspn(a, " "), "ACS3-", 5) == 0;
}

static void ali_handle(const api_request *req, api_response *resp)
{
    ali_call c = {.req = req, .resp = resp};
    form_params query = {0};
    const ali_action *a = NULL;
    ferr err = {0};
    bool acs3 = is_acs3(req);
    new_request_id(c.request_id);
    int rc = check_address(&c, &err);
    if (rc == 0)
        rc = read_params(&c, &query, &err);
    if (rc == 0)
        rc = counted_authenticate(&c, &query, acs3, &err);
    if (rc == 0)
        rc = find_action(&c, acs3, &a, &err);
    if (rc == 0)
        rc = check_rate(&c, &err);
    if (rc == 0)
        a->run(&c);
    else
        ali_fail_ferr(&c, &err);
    form_free(&c.params);
    form_free(&query);
}

/* Errors the server raises itself (a body over the limit), in the Alibaba envelope. */
static void ali_error(const api_request *req, api_response *resp, const ferr *err)
{
    ali_call c = {.req = req, .resp = resp};
    new_request_id(c.request_id);
    ali_fail_ferr(&c, err);
}

/* Alibaba's requests at "/": x-acs-* headers (every official client sends them), an ACS3
 * Authorization, or an AccessKeyId in the query. */
static bool ali_claims(const api_request *req)
{
    if (strcmp(req->path, "/") != 0)
        return false;
    for (int i = 0; i < req->n_headers; i++)
        if (strncasecmp(req->headers[i].key, "x-acs-", 6) == 0)
            return true;
    return is_acs3(req) || api_query(req, "AccessKeyId");
}

const api_dialect api_alibaba_dialect = {
    .name = "alibaba",
    .prefix = "/",
    .claims = ali_claims,
    .handle = ali_handle,
    .error = ali_error,
};
