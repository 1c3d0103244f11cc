/* ali.h — what the files of the Alibaba Cloud ApsaraVideo Live RPC dialect (2016-11-01)
 * share: signature verification (RPC v1 HMAC-SHA1, ACS3-HMAC-SHA256), nonces, the call. */
#ifndef FERRY_API_ALI_H
#define FERRY_API_ALI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api_internal.h"
#include "api/form.h"
#include "common/config.h"
#include "common/ferr.h"
#include "task/task.h"

#define ALI_VERSION "2016-11-01"
#define ALI_MAX_SKEW_S 900 /* a signed time further than 15 minutes from now has expired */

/* Errors only this dialect raises. With ferr's codes they are mapped to Alibaba's codes and
 * HTTP statuses by the one table in ali_dialect.c. */
enum {
    ALI_ERR_ACTION = -300,      /* InvalidApi.NotFound */
    ALI_ERR_VERSION = -301,     /* NoSuchVersion */
    ALI_ERR_FORMAT = -302,      /* InvalidParameter.Format */
    ALI_ERR_THROTTLED = -303,   /* Throttling.User */
    ALI_ERR_KEY = -304,         /* InvalidAccessKeyId.NotFound */
    ALI_ERR_INCOMPLETE = -305,  /* IncompleteSignature */
    ALI_ERR_SIG_METHOD = -306,  /* InvalidSignatureMethod */
    ALI_ERR_TIME_FORMAT = -307, /* InvalidTimeStamp.Format */
    ALI_ERR_EXPIRED = -308,     /* InvalidTimeStamp.Expired */
    ALI_ERR_NONCE = -309,       /* SignatureNonceUsed */
    ALI_ERR_SIGNATURE = -310,   /* SignatureDoesNotMatch */
    ALI_ERR_NOT_FOUND = -311,   /* InvalidTaskId.NotFound */
};

/* ---------- signatures (ali_sign.c): pure functions; the clock is an argument ---------- */

typedef enum {
    ALI_SIG_OK = 0,
    ALI_SIG_INCOMPLETE,  /* a signature field is missing or unparsable */
    ALI_SIG_METHOD,      /* SignatureMethod / SignatureVersion not HMAC-SHA1 / 1.0 */
    ALI_SIG_TIME_FORMAT, /* Timestamp / x-acs-date not YYYY-MM-DDThh:mm:ssZ */
    ALI_SIG_EXPIRED,     /* the signed time is more than ALI_MAX_SKEW_S from now */
    ALI_SIG_MISMATCH,    /* the signature does not verify */
} ali_sig;

/* RFC 3986 percent-encoding of the bytes of s (unreserved: A-Z a-z 0-9 - _ . ~); heap. */
char *ali_pct(const char *s);

/* RPC v1: the sorted pct(k)=pct(v) string of every parameter but Signature (heap). */
char *ali_rpc_canonicalized(const form_params *p);
/* METHOD&%2F&pct(canonicalized) (heap). */
char *ali_rpc_string_to_sign(const char *method, const char *canonicalized);
/* base64(HMAC-SHA1(secret + "&", sts)); out needs 29 bytes. */
void ali_rpc_signature(const char *secret, const char *sts, char out[29]);
/* Verifies the merged query and form parameters of an RPC v1 request at time now_s. */
ali_sig ali_rpc_verify(const char *method, const form_params *p, const char *secret, int64_t now_s,
                       char *why, size_t whylen);

/* The parts of "Authorization: ACS3-HMAC-SHA256 Credential=ID,SignedHeaders=a;b,Signature=HEX". */
typedef struct ali_acs3_auth {
    char key_id[CONFIG_STR_MAX];
    char signed_headers[1024];
    char signature[65];
} ali_acs3_auth;

/* What an ACS3 signature covers. */
typedef struct ali_acs3_request {
    const char *method;
    const form_params *query; /* the decoded query (not the form body) */
    const api_kv *headers;
    int n_headers;
    const char *body;
    size_t body_len;
} ali_acs3_request;

/* Returns 0, or -1 when value is not a well-formed ACS3 Authorization that signs host and
 * the x-acs- action, version, date, signature-nonce and content-sha256 headers. */
int ali_acs3_parse_authorization(const char *value, ali_acs3_auth *out);
/* The canonical request (heap; NULL on OOM or when a signed header is absent). */
char *ali_acs3_canonical_request(const ali_acs3_request *r, const ali_acs3_auth *a);
/* "ACS3-HMAC-SHA256\n" + hex(sha256(canonical)) (heap). */
char *ali_acs3_string_to_sign(const char *canonical);
/* lowercase hex HMAC-SHA256(secret, sts). */
void ali_acs3_signature(const char *secret, const char *sts, char hex[65]);
/* Verifies an ACS3 request at time now_s: the body hash, x-acs-date, then the signature. */
ali_sig ali_acs3_verify(const ali_acs3_request *r, const ali_acs3_auth *a, const char *secret,
                        int64_t now_s, char *why, size_t whylen);

/* ---------- one call (ali_dialect.c) ---------- */

typedef struct ali_call {
    const api_request *req;
    api_response *resp;
    const config_account *account;
    const char *action;
    form_params params; /* query and form body, decoded and merged */
    char request_id[40];
} ali_call;

/* Replies HTTP 200 {"RequestId":...,<fields>} (steals fields; NULL = none). */
void ali_reply(ali_call *c, json_t *fields);
/* Replies the error body {RequestId, HostId, Code, Message, Recommend} with its status. */
void ali_fail(ali_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for err; model field names in it become Alibaba parameter names. */
void ali_fail_ferr(ali_call *c, const ferr *err);

/* ---------- the actions (ali_actions.c) ---------- */

typedef struct ali_action {
    const char *name;
    void (*run)(ali_call *c);
} ali_action;

const ali_action *ali_action_find(const char *name);

/* ---------- parameters (ali_params.c) and Alibaba <-> model (ali_model.c) ---------- */

/* Reads an integer parameter: 0 and *out set, 1 when absent, or a FERR_INVALID. */
int ali_int_param(const form_params *p, const char *name, long long min, long long max,
                  long long *out, ferr *err);
/* The SourceUrls of p (a JSON-array string, one plain URL, or SourceUrls.1..N) as a new
 * array of strings; *out NULL when none is given. */
int ali_source_urls(const form_params *p, json_t **out, ferr *err);
/* The URLs of vod media ids (an array of strings) through config's vod_media_map file. */
int ali_resolve_media(const config *cfg, const json_t *ids, json_t **urls, ferr *err);
/* Builds the spec of a CreateLivePullToPush. */
int ali_spec_from_create(const form_params *p, const config *cfg, task_spec *s, int64_t now_ms,
                         ferr *err);
/* Applies an UpdateLivePullToPush onto s (a copy of t's spec) under the rules of t's state. */
int ali_spec_apply_update(const form_params *p, const config *cfg, const task *t, task_spec *s,
                          int64_t now_ms, ferr *err);
/* TaskStatus of a task: 0, 1, 2, 3 or -1. */
int ali_task_status(const task *t);
/* The task-state object (TaskId, TaskStatus, ..., TaskInfo); p may be NULL. */
json_t *ali_task_state(const task *t, const task_progress *p);
/* The Alibaba parameter a model field name stands for ("end_time" -> "EndTime"), or NULL. */
const char *ali_param_for_field(const char *field);
/* True when region is one of config's ali_regions (comma-separated). */
bool ali_region_served(const config *cfg, const char *region);

/* ---------- callbacks (ali_callback.c) ---------- */
struct notify_event; /* notify/notify.h */
/* The payload of a task event (notify_format_fn); NULL when the cloud sends none. */
json_t *ali_callback_format(const task *t, const struct notify_event *ev,
                            const config_account *acct);

#endif
