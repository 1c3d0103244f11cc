/* api_internal.h — what the HTTP server shares with the dialects: the request and response
 * structs, the dialect descriptor the router dispatches to, and the reply helpers. */
#ifndef FERRY_API_INTERNAL_H
#define FERRY_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/config.h"
#include "common/ferr.h"
#include "task/task.h"

#define API_REQUEST_ID_LEN 17 /* 16 hex characters and the NUL */
#define API_MAX_RESP_HEADERS 8

/* A name/value pair. In a request both point into the connection's memory and live as long
 * as the request; in a response the value is heap-owned by the response. */
typedef struct api_kv {
    const char *key;
    const char *value;
} api_kv;

/* One complete HTTP request. Everything is read-only for the dialects. */
typedef struct api_request {
    const config *cfg;
    const char *method;  /* "GET", "POST", ... as sent */
    const char *path;    /* percent-decoded path without the query: "/v1/tasks/abc" */
    const char *raw_uri; /* the request target exactly as received, query included */
    const char *body;    /* NUL-terminated (the NUL is not counted); "" when none */
    size_t body_len;
    int n_headers;
    const api_kv *headers; /* in arrival order */
    int n_query;
    const api_kv *query; /* decoded query arguments in arrival order */
    char client_ip[64];
    char request_id[API_REQUEST_ID_LEN];
} api_request;

/* The caller of a task change made by this request, for the audit trail (its strings
 * point into req and account). */
task_caller api_caller(const api_request *req, const char *account, task_dialect d);

/* First value of a header (name compared case-insensitively), or NULL. */
const char *api_header(const api_request *req, const char *name);
/* First value of a query argument (name compared exactly), or NULL. A bare "?a" gives "". */
const char *api_query(const api_request *req, const char *name);

/* What a dialect answers. The server adds Content-Type (content_type or application/json)
 * and X-Request-Id, sends it, and frees it with api_response_free. */
typedef struct api_response {
    unsigned status; /* 0 until a reply is set */
    char *body;      /* heap (free()); NULL = no body */
    size_t body_len;
    const char *content_type; /* static string; NULL = application/json */
    int n_headers;
    api_kv headers[API_MAX_RESP_HEADERS]; /* values heap-owned */
    /* For /metrics: the action answered, a static string of a bounded set (a cloud Action
     * name, a native route pattern); NULL counts as "unknown". Never client text. */
    const char *action;
    /* For /metrics, when the status hides the outcome (Tencent answers errors with 200):
     * 400 for a client error, 500 for a server error; 0 = the status tells. */
    unsigned outcome_status;
} api_response;

/* A front end that the router dispatches to, like a libavformat format descriptor: adding
 * a dialect is one file and one line in the router's table (http_server.c).
 * The router takes the table in order and picks the first dialect whose prefix matches
 * the path at a segment boundary and whose claims() accepts the request. It picks while
 * only the request line, headers and query are known, before the body is read. */
typedef struct api_dialect {
    const char *name;   /* for logs: "native", "tencent", ... */
    const char *prefix; /* "/v1", "/healthz", "/" */
    /* Optional: decides from method, path, headers and query (body still empty) whether
     * the request is this dialect's. NULL claims everything under the prefix. */
    bool (*claims)(const api_request *req);
    /* Answers a complete request (body read). Must set resp->status. Never blocks on
     * media I/O: it only calls the task service. */
    void (*handle)(const api_request *req, api_response *resp);
    /* Optional: renders an error the server raises itself (body too large, out of memory)
     * in the dialect's own envelope. NULL = the native envelope (api_reply_ferr). */
    void (*error)(const api_request *req, api_response *resp, const ferr *err);
} api_dialect;

extern const api_dialect api_native_dialect; /* native_api.c: /v1 */

/* Error codes the HTTP layer adds to ferr's: they have no meaning below the API. */
enum {
    API_ERR_METHOD = -100,     /* method_not_allowed, 405 */
    API_ERR_MEDIA_TYPE = -101, /* unsupported_media_type, 415 */
    API_ERR_BUSY = -102,       /* server_busy, 503: every API connection is taken */
};

/* --- replies (api_reply.c) --- */
/* The HTTP status of a ferr or API_ERR code: the one table of that mapping. */
unsigned api_http_status(int code);
/* The stable snake_case name of a ferr or API_ERR code. */
const char *api_error_name(int code);
/* Replies status with the JSON text of body; steals the reference (NULL gives a 500). */
void api_reply_json(api_response *resp, unsigned status, json_t *body);
/* Replies status with no body (204). */
void api_reply_empty(api_response *resp, unsigned status);
/* Replies the native error envelope
 * {"error":{"code":"<name>","message":"<msg>","field":"<field>"}} with the code's status;
 * field NULL or "" leaves "field" out. */
void api_reply_error(api_response *resp, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_reply_ferr(api_response *resp, const ferr *err);
/* Adds a response header (value copied). Returns 0, or -1 when full or out of memory. */
int api_resp_header(api_response *resp, const char *name, const char *value);
/* Frees the body and header values and clears the response. */
void api_response_free(api_response *resp);

#endif
