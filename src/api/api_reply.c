/* api_reply.c — building responses: JSON bodies, the native error envelope and the one
 * table that maps ferry's error codes to HTTP statuses and stable names. */
#include "api/api_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* name NULL = ferr_name(code). A code missing here is a 500. */
static const struct {
    int code;
    unsigned status;
    const char *name;
} error_table[] = {
    {FERR_INVALID, 400, NULL},
    {FERR_MISSING, 400, NULL},
    {FERR_TASK_TIME, 400, NULL},
    {FERR_SOURCE_URL, 400, NULL},
    {FERR_DST_URL, 400, NULL},
    {FERR_BACKUP_DST_URL, 400, NULL},
    {FERR_CALLBACK_URL, 400, NULL},
    {FERR_WATERMARK, 400, NULL},
    {FERR_MALFORMED, 400, NULL},
    {FERR_UNAUTHORIZED, 401, NULL},
    {FERR_FORBIDDEN, 403, NULL},
    {FERR_NOT_FOUND, 404, NULL},
    {API_ERR_METHOD, 405, "method_not_allowed"},
    {FERR_EXISTS, 409, NULL},
    {FERR_STATE, 409, NULL},
    {FERR_QUOTA, 409, NULL},
    {FERR_TOO_LARGE, 413, NULL},
    {API_ERR_MEDIA_TYPE, 415, "unsupported_media_type"},
    {FERR_THROTTLED, 429, NULL},
    {FERR_INTERNAL, 500, NULL},
    {FERR_UNAVAILABLE, 503, NULL},
    {API_ERR_BUSY, 503, "server_busy"},
};

#define N_ERRORS (sizeof(error_table) / sizeof(error_table[0]))

unsigned api_http_status(int code)
{
    for (size_t i = 0; i < N_ERRORS; i++)
        if (error_table[i].code == code)
            return error_table[i].status;
    return 500;
}

const char *api_error_name(int code)
{
    for (size_t i = 0; i < N_ERRORS; i++)
        if (error_table[i].code == code)
            return error_table[i].name ? error_table[i].name : ferr_name(code);
    return ferr_name(FERR_INTERNAL);
}

static void set_body(api_response *resp, char *body, size_t len)
{
    free(resp->body);
    resp->body = body;
    resp->body_len = len;
}

/* The last resort when even the error body cannot be built. */
static void reply_oom(api_response *resp)
{
    static const char text[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"The server ran out of memory.\"}}";
    resp->status = 500;
    set_body(resp, strdup(text), sizeof(text) - 1);
    if (!resp->body)
        resp->body_len = 0;
}

void api_reply_json(api_response *resp, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        log_error("api: cannot serialise a response body");
        reply_oom(resp);
        return;
    }
    resp->status = status;
    set_body(resp, text, strlen(text));
}

void api_reply_empty(api_response *resp, unsigned status)
{
    resp->status = status;
    set_body(resp, NULL, 0);
}

/* Length of the valid UTF-8 sequence at s, or 0 (as strict as jansson: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4;
    else
        return 0;
    unsigned long cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned long least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Messages quote client input and may be cut mid-character by a fixed buffer; JSON text
 * must be UTF-8, so every byte that does not start a valid sequence becomes '?'. */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

static void reply_error_text(api_response *resp, int code, const char *field, char *msg)
{
    utf8_sanitize(msg);
    json_t *e = json_pack("{s:s, s:s}", "code", api_error_name(code), "message", msg);
    if (e && field && *field) {
        char f[sizeof(((ferr *)0)->field)];
        snprintf(f, sizeof(f), "%s", field);
        utf8_sanitize(f);
        json_object_set_new(e, "field", json_string(f));
    }
    json_t *body = e ? json_pack("{s:o}", "error", e) : NULL;
    api_reply_json(resp, api_http_status(code), body);
}

void api_reply_error(api_response *resp, int code, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_error_text(resp, code, field, msg);
}

void api_reply_ferr(api_response *resp, const ferr *err)
{
    char msg[sizeof(err->msg)];
    snprintf(msg, sizeof(msg), "%s", err->msg[0] ? err->msg : "The request failed.");
    if (err->code == FERR_INTERNAL)
        log_warn("api: internal error: %s", msg);
    reply_error_text(resp, err->code, err->field, msg);
}

int api_resp_header(api_response *resp, const char *name, const char *value)
{
    if (resp->n_headers >= API_MAX_RESP_HEADERS)
        return -1;
    char *copy = strdup(value);
    if (!copy)
        return -1;
    resp->headers[resp->n_headers].key = name;
    resp->headers[resp->n_headers].value = copy;
    resp->n_headers++;
    return 0;
}

void api_response_free(api_response *resp)
{
    free(resp->body);
    for (int i = 0; i < resp->n_headers; i++)
        free((char *)resp->headers[i].value);
    memset(resp, 0, sizeof(*resp));
}

task_caller api_caller(const api_request *req, const char *account, task_dialect d)
{
    return (task_caller){
        .account = account, .dialect = d, .address = req->client_ip, .request_id = req->request_id};
}
