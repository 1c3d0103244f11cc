/* http_server.c — the libmicrohttpd server: listening socket, per-request state, bounded
 * body reading, the dialect table the router dispatches from, and /healthz. */
#include "api/api.h"
#include "api/api_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "api/ali.h"
#include "api/conn_limit.h"
#include "api/metrics_api.h"
#include "api/tc.h"
#include "notify/notify.h"

/* Room for the request line, the headers and the read buffer of one connection. Query
 * strings of the cloud dialects can carry 30 source URLs, hence more than the default. */
#define CONNECTION_MEMORY_LIMIT ((size_t)128 * 1024)
#define CONNECTION_TIMEOUT_S 15u /* a connection idle this long (mid-request too) is closed */
/* A chunked body over the limit is read and thrown away so that the client still gets its
 * 413; past this much more the connection is simply closed. */
#define DRAIN_MAX ((size_t)16 * 1024 * 1024)

static const api_dialect healthz_dialect;

extern const api_dialect api_tencent_dialect; /* tc_dialect.c */
extern const api_dialect api_alibaba_dialect; /* ali_dialect.c */
extern const api_dialect api_console_dialect; /* console.c: the web console */

/* The router's table, tried in order. Cloud dialects at "/" go last. */
// clang-format off
static const api_dialect *const dialects[] = {
    &healthz_dialect,
    &api_metrics_dialect,
    &api_native_dialect,
    &api_console_dialect,
    &api_tencent_dialect,
    &api_alibaba_dialect,
};
// clang-format on

#define N_DIALECTS (sizeof(dialects) / sizeof(dialects[0]))

static struct MHD_Daemon *daemon_handle;
static const config *server_cfg;
static conn_limits server_limits; /* past these a request is answered 429 or 503 */
static atomic_int server_ready;

/* Everything one request owns; freed in request_completed. */
typedef struct exchange {
    api_request req;
    char *raw_uri;
    api_kv *kv; /* the headers, then the query arguments */
    const api_dialect *dialect;
    char *body;
    size_t body_len, body_cap;
    size_t body_seen; /* bytes received, kept or not */
    bool started, answered, too_large, oom;
    int64_t t0_us;
} exchange;

/* --- request accessors (declared in api_internal.h) --- */

const char *api_header(const api_request *req, const char *name)
{
    for (int i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].key, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *api_query(const api_request *req, const char *name)
{
    for (int i = 0; i < req->n_query; i++)
        if (strcmp(req->query[i].key, name) == 0)
            return req->query[i].value ? req->query[i].value : "";
    return NULL;
}

/* --- /healthz --- */

static void healthz_handle(const api_request *req, api_response *resp)
{
    if (strcmp(req->path, "/healthz") != 0) {
        api_reply_error(resp, FERR_NOT_FOUND, NULL, "No such endpoint.");
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        api_reply_error(resp, API_ERR_METHOD, NULL, "Use GET on /healthz.");
        api_resp_header(resp, "Allow", "GET, HEAD");
        return;
    }
    resp->action = "healthz";
    int ready = atomic_load(&server_ready);
    api_reply_json(resp, ready ? 200 : 503,
                   json_pack("{s:s}", "status", ready ? "ok" : "starting"));
}

static const api_dialect healthz_dialect = {
    .name = "healthz",
    .prefix = "/healthz",
    .handle = healthz_handle,
};

/* --- routing --- */

static bool prefix_matches(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (n == 0 || strncmp(path, prefix, n) != 0)
        return false;
    return prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/';
}

static const api_dialect *route(const api_request *req)
{
    for (size_t i = 0; i < N_DIALECTS; i++) {
        const api_dialect *d = dialects[i];
        if (prefix_matches(d->prefix, req->path) && (!d->claims || d->claims(req)))
            return d;
    }
    return NULL;
}

/* --- collecting the request --- */

typedef struct kv_fill {
    api_kv *kv;
    int n, cap;
} kv_fill;

static enum MHD_Result count_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (*(int *)cls)++;
    return MHD_YES;
}

static enum MHD_Result fill_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    kv_fill *f = cls;
    if (f->n < f->cap && key) {
        f->kv[f->n].key = key;
        f->kv[f->n].value = value;
        f->n++;
    }
    return MHD_YES;
}

/* Points req->headers and req->query at one array of the connection's values. */
static int collect_values(struct MHD_Connection *conn, exchange *x)
{
    int nh = 0, nq = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_value, &nh);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_value, &nq);
    x->kv = calloc((size_t)nh + (size_t)nq + 1, sizeof(api_kv));
    if (!x->kv)
        return -1;
    kv_fill h = {x->kv, 0, nh};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, fill_value, &h);
    kv_fill q = {x->kv + h.n, 0, nq};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, fill_value, &q);
    x->req.headers = h.kv;
    x->req.n_headers = h.n;
    x->req.query = q.kv;
    x->req.n_query = q.n;
    return 0;
}

static void client_address(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, len, "-");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

/* --- per-request state --- */

static exchange *exchange_new(const char *raw_uri)
{
    exchange *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->raw_uri = strdup(raw_uri ? raw_uri : "");
    if (!x->raw_uri) {
        free(x);
        return NULL;
    }
    x->t0_us = time_mono_us();
    id_random_hex(x->req.request_id, (API_REQUEST_ID_LEN - 1) / 2);
    return x;
}

static void exchange_free(exchange *x)
{
    if (!x)
        return;
    free(x->raw_uri);
    free(x->kv);
    free(x->body);
    free(x);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first sight of a request, with its raw target. The
 * pointer returned becomes the request's context. */
static void *request_begun(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return exchange_new(uri);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    exchange_free(*con_cls);
    *con_cls = NULL;
}

/* --- answering --- */

/* A printable copy of client text for a log line: no control bytes, no newlines. */
static void log_safe(char *out, size_t len, const char *in)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < len; i++)
        out[i] = (unsigned char)in[i] < 0x20 || (unsigned char)in[i] >= 0x7f ? '?' : in[i];
    out[i] = '\0';
}

static void log_exchange(const exchange *x, unsigned status)
{
    long long ms = (long long)((time_mono_us() - x->t0_us) / 1000);
    log_level lvl = status >= 400 ? LOG_INFO : LOG_DEBUG;
    if (!log_enabled(lvl))
        return;
    char method[16], path[201];
    log_safe(method, sizeof(method), x->req.method);
    log_safe(path, sizeof(path), x->req.path);
    log_write(lvl, NULL, "http %s %s -> %u %lldms client=%s request_id=%s", method, path, status,
              ms, x->req.client_ip, x->req.request_id);
}

static struct MHD_Response *make_mhd_response(api_response *resp)
{
    struct MHD_Response *r;
    if (resp->body) {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->body = NULL; /* MHD owns it now */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    return r;
}

/* Queues resp on the connection and frees it. */
static enum MHD_Result send_response(struct MHD_Connection *conn, exchange *x, api_response *resp)
{
    if (resp->status == 0)
        api_reply_error(resp, FERR_INTERNAL, NULL, "The request produced no answer.");
    struct MHD_Response *r = make_mhd_response(resp);
    if (!r) {
        api_response_free(resp);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(r, "X-Request-Id", x->req.request_id);
    for (int i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->headers[i].key, resp->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    log_exchange(x, resp->status);
    api_metrics_note(x->dialect, resp->action,
                     resp->outcome_status ? resp->outcome_status : resp->status,
                     time_mono_us() - x->t0_us);
    api_response_free(resp);
    x->answered = true;
    return ret;
}

/* An error the server raises itself, in the chosen dialect's envelope. */
static void dialect_error(exchange *x, api_response *resp, int code, const char *fmt, va_list ap)
{
    ferr e = {.code = code};
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    if (x->dialect && x->dialect->error)
        x->dialect->error(&x->req, resp, &e);
    else
        api_reply_ferr(resp, &e);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, exchange *x, int code,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_error(struct MHD_Connection *conn, exchange *x, int code,
                                  const char *fmt, ...)
{
    api_response resp = {0};
    va_list ap;
    va_start(ap, fmt);
    dialect_error(x, &resp, code, fmt, ap);
    va_end(ap);
    return send_response(conn, x, &resp);
}

/* As send_error, then the connection is closed: the client holds too many of them. */
static enum MHD_Result send_error_close(struct MHD_Connection *conn, exchange *x, int code,
                                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_error_close(struct MHD_Connection *conn, exchange *x, int code,
                                        const char *fmt, ...)
{
    api_response resp = {0};
    va_list ap;
    va_start(ap, fmt);
    dialect_error(x, &resp, code, fmt, ap);
    va_end(ap);
    api_resp_header(&resp, "Retry-After", "1");
    api_resp_header(&resp, MHD_HTTP_HEADER_CONNECTION, "close");
    return send_response(conn, x, &resp);
}

/* --- connection limits --- */

static void connection_notified(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = conn_limit_opened(ci ? ci->client_addr : NULL);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_limit_closed(*socket_context);
        *socket_context = NULL;
    }
}

/* A request on a connection over a limit gets a clear answer, then the connection goes. */
static enum MHD_Result refuse_over_limit(struct MHD_Connection *conn, exchange *x)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    unsigned held = 0;
    int over = conn_limit_check(ci ? ci->socket_context : NULL, &server_limits, &held);
    if (over == FERR_THROTTLED)
        return send_error_close(conn, x, FERR_THROTTLED,
                                "Too many connections from %s: it holds %u, the limit is %u "
                                "(http_connections_per_ip). Close idle ones and retry.",
                                x->req.client_ip, held, server_limits.per_ip);
    if (over == API_ERR_BUSY)
        return send_error_close(conn, x, API_ERR_BUSY,
                                "The server is busy: %u API connections are open, the limit "
                                "is %u (http_max_connections). Retry in a second.",
                                held, server_limits.total);
    return MHD_YES;
}

/* --- the access handler's three phases --- */

static bool declared_too_large(const api_request *req)
{
    const char *cl = api_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return end != cl && (errno == ERANGE || n > (unsigned long long)req->cfg->max_body_bytes);
}

/* First call: headers are in; pick the dialect and refuse what can be refused unread. */
static enum MHD_Result begin(struct MHD_Connection *conn, exchange *x, const char *url,
                             const char *method)
{
    x->started = true;
    x->req.cfg = server_cfg;
    x->req.method = method;
    x->req.path = url;
    x->req.raw_uri = x->raw_uri;
    x->req.body = "";
    client_address(conn, x->req.client_ip, sizeof(x->req.client_ip));
    if (collect_values(conn, x) != 0)
        return send_error(conn, x, FERR_INTERNAL, "The server ran out of memory.");
    x->dialect = route(&x->req);
    if (!x->dialect)
        return send_error(conn, x, FERR_NOT_FOUND, "No such endpoint.");
    enum MHD_Result limited = refuse_over_limit(conn, x);
    if (x->answered)
        return limited;
    if (declared_too_large(&x->req))
        return send_error(conn, x, FERR_TOO_LARGE,
                          "The request body is larger than the limit of %d bytes.",
                          server_cfg->max_body_bytes);
    return MHD_YES;
}

static int grow_body(exchange *x, size_t need)
{
    if (need <= x->body_cap)
        return 0;
    size_t cap = x->body_cap ? x->body_cap : 4096;
    while (cap < need)
        cap *= 2;
    size_t most = (size_t)server_cfg->max_body_bytes + 1;
    if (cap > most)
        cap = most;
    char *b = realloc(x->body, cap);
    if (!b)
        return -1;
    x->body = b;
    x->body_cap = cap;
    return 0;
}

/* Middle calls: keep the body up to the limit, then only count what arrives. */
static enum MHD_Result take_upload(exchange *x, const char *data, size_t n)
{
    x->body_seen += n;
    if (x->too_large || x->oom) {
        if (x->body_seen <= (size_t)server_cfg->max_body_bytes + DRAIN_MAX)
            return MHD_YES;
        log_info("http: closing the connection of %s: it keeps sending an oversized body "
                 "(request_id=%s)",
                 x->req.client_ip, x->req.request_id);
        return MHD_NO;
    }
    if (x->body_len + n > (size_t)server_cfg->max_body_bytes) {
        x->too_large = true;
    } else if (grow_body(x, x->body_len + n + 1) != 0) {
        x->oom = true;
    } else {
        memcpy(x->body + x->body_len, data, n);
        x->body_len += n;
        x->body[x->body_len] = '\0';
        return MHD_YES;
    }
    free(x->body);
    x->body = NULL;
    x->body_len = x->body_cap = 0;
    return MHD_YES;
}

/* Last call: the request is complete; the dialect answers it. */
static enum MHD_Result finish(struct MHD_Connection *conn, exchange *x)
{
    if (x->too_large)
        return send_error(conn, x, FERR_TOO_LARGE,
                          "The request body is larger than the limit of %d bytes.",
                          server_cfg->max_body_bytes);
    if (x->oom)
        return send_error(conn, x, FERR_INTERNAL, "The server ran out of memory.");
    x->req.body = x->body ? x->body : "";
    x->req.body_len = x->body_len;
    api_response resp = {0};
    x->dialect->handle(&x->req, &resp);
    return send_response(conn, x, &resp);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    exchange *x = *con_cls;
    if (!x) { /* the URI callback could not allocate */
        x = exchange_new(url);
        if (!x)
            return MHD_NO;
        *con_cls = x;
    }
    if (!x->started)
        return begin(conn, x, url, method);
    if (x->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        enum MHD_Result r = take_upload(x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return r;
    }
    return finish(conn, x);
}

/* --- listening --- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* Mostly client misbehaviour; a failed start is reported by api_start itself. */
    log_info("http: %s", line);
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (every address). */
static int split_listen(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *rbracket = strchr(addr, ']');
        if (!rbracket || rbracket[1] != ':' || (size_t)(rbracket - addr - 1) >= hlen)
            return -1;
        snprintf(host, hlen, "%.*s", (int)(rbracket - addr - 1), addr + 1);
        colon = rbracket + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= hlen)
            return -1;
        snprintf(host, hlen, "%.*s", (int)(colon - addr), addr);
    }
    const char *digits = colon + 1;
    size_t nd = strlen(digits);
    if (nd == 0 || nd >= plen || strspn(digits, "0123456789") != nd || atol(digits) > 65535)
        return -1;
    snprintf(port, plen, "%s", digits);
    return 0;
}

static int bind_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int open_listener(const char *addr, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_listen(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "listen address '%s' is not HOST:PORT", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen address '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = bind_one(ai);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static void log_bound(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    log_info("api: listening on %s port %d", host, port);
}

/* http_max_connections, within the open-file limit (raised to fit when allowed): each
 * connection is a descriptor, and the relays need theirs too. */
static unsigned connection_limit(const config *cfg)
{
    rlim_t want = (rlim_t)(cfg->http_max_connections > 16 ? cfg->http_max_connections : 16);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    rlim_t need = want * 2 + 1024; /* room for relays, the store and callbacks */
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t fit = rl.rlim_cur > 2048 ? (rl.rlim_cur - 1024) : rl.rlim_cur / 2;
    if (want > fit) {
        log_warn("api: http_max_connections %u lowered to %u by the open-file limit",
                 (unsigned)want, (unsigned)fit);
        want = fit;
    }
    return (unsigned)want;
}

int api_start(const config *cfg, char *err, size_t errlen)
{
    if (daemon_handle) {
        snprintf(err, errlen, "the API server is already running");
        return -1;
    }
    int fd = open_listener(cfg->listen, err, errlen);
    if (fd < 0)
        return -1;
    server_cfg = cfg;
    unsigned threads = cfg->http_threads > 1 ? (unsigned)cfg->http_threads : 1u;
    unsigned hard_total = connection_limit(cfg);
    server_limits.per_ip =
        cfg->http_connections_per_ip > 0 ? (unsigned)cfg->http_connections_per_ip : 0;
    server_limits.total = conn_limit_soft_total(hard_total);
    /* The external logger goes first so that every message of MHD reaches ferry's log. */
    // clang-format off
    daemon_handle = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        access_handler, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, hard_total,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, conn_limit_hard_per_ip(server_limits.per_ip),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY_LIMIT,
        MHD_OPTION_URI_LOG_CALLBACK, request_begun, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, connection_notified, NULL,
        MHD_OPTION_END);
    // clang-format on
    if (!daemon_handle) {
        /* MHD may already have closed fd on its failure path; a second close could hit
         * a descriptor another thread just opened, so a failed start leaks it instead. */
        snprintf(err, errlen, "cannot start the HTTP server on %s (see the log)", cfg->listen);
        return -1;
    }
    log_bound(fd);
    return 0;
}

void api_set_ready(int ready)
{
    atomic_store(&server_ready, ready ? 1 : 0);
}

void api_stop(void)
{
    if (!daemon_handle)
        return;
    MHD_stop_daemon(daemon_handle); /* closes the listener and every connection */
    daemon_handle = NULL;
    atomic_store(&server_ready, 0);
}

void api_register_callback_formats(void)
{
    notify_register_format(TASK_DIALECT_TENCENT, tc_callback_format);
    notify_register_format(TASK_DIALECT_ALIBABA, ali_callback_format);
}
