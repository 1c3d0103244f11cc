/* tc.h — what the files of the Tencent Cloud API 3.0 dialect share: parameter decoding,
 * signature verification (TC3-HMAC-SHA256, legacy HmacSHA1/HmacSHA256), the call context. */
#ifndef FERRY_API_TC_H
#define FERRY_API_TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api_internal.h"
#include "api/form.h"
#include "common/config.h"
#include "common/ferr.h"
#include "task/task.h"

#define TC_VERSION "2018-08-01"
#define TC_MAX_SKEW_S 300 /* a signed timestamp further than this from now has expired */

/* Errors only this dialect raises. Together with ferr's codes they are mapped to Tencent's
 * error codes by the one table in tc_dialect.c. */
enum {
    TC_ERR_UNKNOWN_PARAM = -200,  /* UnknownParameter */
    TC_ERR_NO_VERSION = -201,     /* NoSuchVersion */
    TC_ERR_ACTION = -202,         /* InvalidAction */
    TC_ERR_PROTOCOL = -203,       /* UnsupportedProtocol */
    TC_ERR_THROTTLED = -204,      /* RequestLimitExceeded */
    TC_ERR_AUTH_MALFORMED = -205, /* AuthFailure.InvalidAuthorization */
    TC_ERR_AUTH_EXPIRED = -206,   /* AuthFailure.SignatureExpire */
    TC_ERR_AUTH_ID = -207,        /* AuthFailure.SecretIdNotFound */
    TC_ERR_AUTH_SIGNATURE = -208, /* AuthFailure.SignatureFailure */
};

/* ---------- parameters (tc_params.c): pure functions, no I/O ---------- */

/* Decoded name=value pairs: the shared form decoder's types (api/form.h). */
typedef form_param tc_param;
typedef form_params tc_params;

/* Appends the pairs of an application/x-www-form-urlencoded text (a query string or a
 * form body): '+' is a space, %XX a byte. Returns 0, or -1 with a reason in why (bad
 * escape, NUL byte, too many pairs, duplicate name, out of memory). */
int tc_params_decode(tc_params *out, const char *text, size_t len, char *why, size_t whylen);
void tc_params_free(tc_params *p);
/* The value of name, or NULL. */
const char *tc_params_get(const tc_params *p, const char *name);

/* Rebuilds the nested parameters of a flat list: "Name.N" becomes an array (indexes from 0,
 * or from 1, without gaps) and "Name.N.Sub" an array of objects. Names listed in skip
 * (NULL-terminated) are left out. Leaves are strings. Returns a new object, or NULL with
 * a reason in why. */
json_t *tc_params_unflatten(const tc_params *p, const char *const *skip, char *why, size_t whylen);

/* The declared type of an action parameter. */
typedef enum {
    TC_STR,        /* string */
    TC_INT,        /* integer; also a string of decimal digits (form encodings) */
    TC_STR_OR_INT, /* VodLoopTimes: a string in Create, a number elsewhere */
    TC_STRS,       /* array of strings */
    TC_WATERMARKS, /* array of PullPushWatermarkInfo objects */
} tc_type;

typedef struct tc_param_def {
    const char *name;
    tc_type type;
    bool required;
} tc_param_def;

/* Checks params against defs (terminated by a NULL name): an unknown name is
 * TC_ERR_UNKNOWN_PARAM, a missing required one FERR_MISSING, a wrong type FERR_INVALID.
 * JSON nulls count as absent and are removed first. */
int tc_params_check(json_t *params, const tc_param_def *defs, ferr *err);
/* Typed reads of a checked object: NULL / false when absent. */
const char *tc_str(const json_t *params, const char *name);
bool tc_int(const json_t *params, const char *name, long long *out);
/* Reads an integer given as a JSON integer or a decimal string. */
bool tc_json_int(const json_t *v, long long *out);

/* ---------- signatures (tc_sign.c): pure functions; the clock is an argument ---------- */

typedef enum {
    TC_SIG_OK = 0,
    TC_SIG_MALFORMED, /* a field is missing or unparsable */
    TC_SIG_EXPIRED,   /* the signed timestamp is more than TC_MAX_SKEW_S away from now */
    TC_SIG_MISMATCH,  /* the signature does not verify */
} tc_sig;

/* The parts of "Authorization: TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
 * SignedHeaders=h1;h2, Signature=HEX". */
typedef struct tc3_auth {
    char secret_id[CONFIG_STR_MAX];
    char date[11];
    char service[64];
    char signed_headers[512];
    char signature[65];
} tc3_auth;

/* What a TC3 signature covers. */
typedef struct tc3_request {
    const char *method;
    const char *query; /* the raw query string, after '?'; "" when none */
    const api_kv *headers;
    int n_headers;
    const char *body;
    size_t body_len;
} tc3_request;

/* Returns 0, or -1 when the header is not a well-formed TC3 Authorization. */
int tc3_parse_authorization(const char *value, tc3_auth *out);
/* The canonical request, with host as the value of the "host" line (heap; NULL on OOM or
 * when a signed header is absent). */
char *tc3_canonical_request(const tc3_request *r, const tc3_auth *a, const char *host);
/* The string to sign for the canonical request (heap; NULL on OOM). */
char *tc3_string_to_sign(const char *timestamp, const tc3_auth *a, const char *canonical);
/* The lowercase hex signature of sts. */
void tc3_signature(const char *secret_key, const tc3_auth *a, const char *sts, char hex[65]);
/* Verifies a TC3 request at time now_s: X-TC-Timestamp, the credential date, then the
 * signature with the Host header as sent and, failing that, without its port. */
tc_sig tc3_verify(const tc3_request *r, const tc3_auth *a, const char *secret_key, int64_t now_s,
                  char *why, size_t whylen);

/* Legacy: METHOD + host + "/?" + the sorted k=v pairs (raw values, Signature left out). */
char *tc_legacy_string_to_sign(const char *method, const char *host, const tc_params *p);
/* base64(HMAC(secret, sts)) with SHA-1 or SHA-256 (method "HmacSHA1" / "HmacSHA256").
 * Returns 0, or -1 for another method. out needs 45 bytes. */
int tc_legacy_signature(const char *secret_key, const char *method, const char *sts, char out[45]);
/* Verifies a legacy request (its decoded query or form) at time now_s. */
tc_sig tc_legacy_verify(const char *http_method, const char *host, const tc_params *p,
                        const char *secret_key, int64_t now_s, char *why, size_t whylen);

/* ---------- one call (tc_dialect.c) ---------- */

typedef struct tc_call {
    const api_request *req;
    api_response *resp;
    const config_account *account;
    const char *action;
    const char *region; /* X-TC-Region or Region; "" when none */
    json_t *params;     /* the business parameters */
    char request_id[40];
} tc_call;

/* Replies {"Response":{<fields>,"RequestId":...}} (steals fields; NULL = none). */
void tc_reply(tc_call *c, json_t *fields);
/* Replies Response.Error for a ferr or TC_ERR code. */
void tc_fail(tc_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Replies Response.Error for err; model field names in it become Tencent parameter names. */
void tc_fail_ferr(tc_call *c, const ferr *err);

/* ---------- the actions (tc_actions.c) ---------- */

typedef struct tc_action {
    const char *name;
    const tc_param_def *params;
    size_t qps_offset; /* offsetof(config_tc_qps, ...) of its rate */
    void (*run)(tc_call *c);
} tc_action;

/* The action of that name, or NULL. */
const tc_action *tc_action_find(const char *name);

/* ---------- Tencent <-> model (tc_model.c) ---------- */

/* Builds the spec of a CreateLivePullStreamTask from checked parameters. */
int tc_spec_from_create(const json_t *p, const char *region, task_spec *s, int64_t now_ms,
                        ferr *err);
/* Applies the fields of a ModifyLivePullStreamTask onto a copy of the task's spec. */
int tc_spec_apply_modify(const json_t *p, task_spec *s, int64_t now_ms, ferr *err);
/* PullStreamTaskInfo of a task; RecentPullInfo from p, or null when p is NULL. */
json_t *tc_task_info(const task *t, const task_progress *p);
/* TaskStatusInfo of a progress snapshot. */
json_t *tc_status_info(const task_progress *p);
/* The Tencent parameter that a model field name stands for ("end_time" -> "EndTime"). */
const char *tc_param_for_field(const char *field);

/* ---------- callbacks (tc_callback.c) ---------- */
struct notify_event; /* notify/notify.h */
/* The payload of a task event (notify_format_fn); NULL when the cloud sends none. */
json_t *tc_callback_format(const task *t, const struct notify_event *ev,
                           const config_account *acct);

#endif
