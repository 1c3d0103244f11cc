/* metrics_api.c — GET /metrics: who may scrape it, the API's request counters and latency
 * histograms, callback and process figures, and the families every part registered. */
#include "api/metrics_api.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/throttle.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "notify/notify.h"

#define MAX_ACTIONS 96 /* per dialect: far above the cloud Actions and native routes */
#define TOKEN_MAX 256

/* The dialect label: the router's dialects, and "none" when no dialect matched. */
enum { D_NATIVE, D_TENCENT, D_ALIBABA, D_HEALTH, D_METRICS, D_NONE, N_DIALECT_LABELS };

static const struct {
    const char *name; /* api_dialect.name */
    const char *label;
} dialect_labels[N_DIALECT_LABELS] = {
    [D_NATIVE] = {"native", "native"},    [D_TENCENT] = {"tencent", "tencent"},
    [D_ALIBABA] = {"alibaba", "alibaba"}, [D_HEALTH] = {"healthz", "health"},
    [D_METRICS] = {"metrics", "metrics"}, [D_NONE] = {NULL, "none"},
};

enum { RES_OK, RES_4XX, RES_5XX, N_RESULTS };
static const char *const result_labels[N_RESULTS] = {"ok", "4xx", "5xx"};

/* One (dialect, action) pair. A slot is claimed once (action goes from NULL to a static
 * string) and never freed, so slots fill in order and a lookup never takes a lock. */
typedef struct action_slot {
    _Atomic(const char *) action;
    metrics_counter results[N_RESULTS];
} action_slot;

static action_slot slots[N_DIALECT_LABELS][MAX_ACTIONS];
static metrics_counter overflow[N_DIALECT_LABELS][N_RESULTS]; /* past MAX_ACTIONS: "unknown" */
static metrics_histogram latency[N_DIALECT_LABELS] = {
    [0 ... N_DIALECT_LABELS - 1] = {.bounds = metrics_latency_bounds,
                                    .n_bounds = METRICS_LATENCY_N}};
static metrics_counter scrapes_refused;

/* --- counting --- */

static int dialect_index(const api_dialect *d)
{
    for (int i = 0; d && i < D_NONE; i++)
        if (strcmp(d->name, dialect_labels[i].name) == 0)
            return i;
    return D_NONE;
}

static int result_index(unsigned status)
{
    return status >= 500 ? RES_5XX : status >= 400 ? RES_4XX : RES_OK;
}

/* The slot of action under dialect di, claimed if new; NULL when the table is full. */
static action_slot *find_slot(int di, const char *action)
{
    for (int i = 0; i < MAX_ACTIONS; i++) {
        action_slot *s = &slots[di][i];
        const char *have = atomic_load(&s->action);
        if (!have) {
            const char *expected = NULL;
            if (atomic_compare_exchange_strong(&s->action, &expected, action))
                return s;
            have = expected; /* another thread claimed it first */
        }
        if (strcmp(have, action) == 0)
            return s;
    }
    return NULL;
}

void api_metrics_note(const api_dialect *d, const char *action, unsigned status, int64_t us)
{
    int di = dialect_index(d), ri = result_index(status);
    action_slot *s = find_slot(di, action ? action : "unknown");
    metrics_counter_add(s ? &s->results[ri] : &overflow[di][ri], 1);
    metrics_histogram_observe_us(&latency[di], us);
}

/* --- the API's families --- */

static void write_request_row(metrics_buf *b, int di, const char *action, metrics_counter *c)
{
    for (int ri = 0; ri < N_RESULTS; ri++) {
        uint64_t v = metrics_counter_get(&c[ri]);
        if (v == 0)
            continue;
        metrics_label l[3] = {{"dialect", dialect_labels[di].label},
                              {"action", action},
                              {"result", result_labels[ri]}};
        metrics_sample_u64(b, "ferry_http_requests_total", l, 3, v);
    }
}

static void collect_requests(metrics_buf *b)
{
    metrics_family(b, "ferry_http_requests_total", "counter",
                   "API requests answered, by dialect, action (a cloud Action or a native route "
                   "pattern) and result (ok, 4xx, 5xx).");
    for (int di = 0; di < N_DIALECT_LABELS; di++) {
        for (int i = 0; i < MAX_ACTIONS; i++) {
            const char *a = atomic_load(&slots[di][i].action);
            if (!a)
                break;
            write_request_row(b, di, a, slots[di][i].results);
        }
        write_request_row(b, di, "unknown", overflow[di]);
    }
}

static void collect_latency(metrics_buf *b)
{
    const char *name = "ferry_http_request_duration_seconds";
    metrics_family(b, name, "histogram",
                   "Time from the first sight of a request to its answer, by dialect.");
    for (int di = 0; di < N_DIALECT_LABELS; di++) {
        metrics_label l = {"dialect", dialect_labels[di].label};
        metrics_histogram_write(b, name, &l, 1, &latency[di]);
    }
}

static void gauge(metrics_buf *b, const char *name, const char *help, double v)
{
    metrics_family(b, name, "gauge", help);
    metrics_sample(b, name, NULL, 0, v);
}

static void counter(metrics_buf *b, const char *name, const char *help, uint64_t v)
{
    metrics_family(b, name, "counter", help);
    metrics_sample_u64(b, name, NULL, 0, v);
}

static void collect_callbacks(metrics_buf *b)
{
    notify_stats n;
    notify_get_stats(&n);
    gauge(b, "ferry_callback_outbox_events", "Callback events in the outbox waiting for delivery.",
          n.pending);
    gauge(b, "ferry_callback_dead_events",
          "Callback events whose retries ran out, kept in the outbox now.", n.dead_kept);
    gauge(b, "ferry_callback_deliveries_in_flight", "Callback deliveries under way now.",
          n.in_flight);
    counter(b, "ferry_callbacks_delivered_total", "Callback events answered with a 2xx.",
            (uint64_t)n.delivered);
    counter(b, "ferry_callback_failed_attempts_total",
            "Callback tries that failed (non-2xx, no answer, refused).", (uint64_t)n.failed);
    counter(b, "ferry_callbacks_dead_total", "Callback events whose retries ran out.",
            (uint64_t)n.dead);
    counter(b, "ferry_metrics_scrapes_refused_total",
            "Requests for /metrics refused for a missing token or a remote address.",
            metrics_counter_get(&scrapes_refused));
}

/* --- the process (the names Prometheus' client libraries use) --- */

/* Fields 14, 15 (utime, stime), 22 (starttime) and 23 (vsize) of /proc/self/stat. */
static int read_proc_stat(double *cpu_s, double *start_ticks, double *vsize)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st, start, vs;
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                     "%*d %*d %llu %llu",
                     &ut, &st, &start, &vs) != 4)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(ut + st) / hz;
    *start_ticks = (double)start / hz;
    *vsize = (double)vs;
    return 0;
}

static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static double resident_bytes(void)
{
    unsigned long long size, rss;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return 0;
    int n = fscanf(f, "%llu %llu", &size, &rss);
    fclose(f);
    return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void collect_process(metrics_buf *b)
{
    double cpu, start, vsize;
    if (read_proc_stat(&cpu, &start, &vsize) == 0) {
        metrics_family(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.");
        metrics_sample(b, "process_cpu_seconds_total", NULL, 0, cpu);
        gauge(b, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", boot_time() + start);
        gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", vsize);
    }
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", resident_bytes());
    gauge(b, "process_open_fds", "Number of open file descriptors.", open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(b, "process_max_fds", "Maximum number of open file descriptors.",
              (double)rl.rlim_cur);
}

/* --- access --- */

static bool is_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

/* "Bearer <metrics_token>", compared in constant time. */
static bool token_ok(const api_request *req, const char *want)
{
    const char *h = api_header(req, "Authorization");
    if (!h)
        return false;
    h += strspn(h, " \t");
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return false;
    h += 6 + strspn(h + 6, " \t");
    size_t n = strcspn(h, " \t");
    if (n == 0 || n >= TOKEN_MAX || h[n + strspn(h + n, " \t")] != '\0')
        return false;
    char given[TOKEN_MAX] = {0}, expected[TOKEN_MAX] = {0};
    memcpy(given, h, n);
    snprintf(expected, sizeof(expected), "%s", want);
    bool same = CRYPTO_memcmp(given, expected, sizeof(given)) == 0;
    OPENSSL_cleanse(given, sizeof(given));
    return same;
}

/* With metrics_token set every scrape must present it; without, only loopback may scrape.
 * An address that keeps sending wrong tokens is refused before its token is checked, as on
 * the other front ends (auth_failures_per_ip). */
static bool may_scrape(const api_request *req, api_response *resp)
{
    const char *token = req->cfg->metrics_token;
    int rate = req->cfg->auth_failures_per_ip;
    if (token[0] && throttle_auth_blocked(req->client_ip, rate, time_mono_us())) {
        api_reply_error(resp, FERR_THROTTLED, NULL,
                        "Too many failed authentications from %s: try again in a second.",
                        req->client_ip);
        api_resp_header(resp, "Retry-After", "1");
        return false;
    }
    if (token[0] && !token_ok(req, token)) {
        throttle_auth_failed(req->client_ip, rate, time_mono_us());
        api_reply_error(resp, FERR_UNAUTHORIZED, NULL,
                        "Send the metrics token as 'Authorization: Bearer <token>'.");
        api_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"ferry-metrics\"");
        return false;
    }
    if (!token[0] && !is_loopback(req->client_ip)) {
        api_reply_json(resp, 403,
                       json_pack("{s:{s:s, s:s}}", "error", "code", "forbidden", "message",
                                 "Without metrics_token, /metrics answers loopback clients only."));
        return false;
    }
    return true;
}

/* --- the endpoint --- */

static void render(api_response *resp)
{
    metrics_buf b = {0};
    collect_requests(&b);
    collect_latency(&b);
    metrics_collect(&b); /* the engine, the store and the task service */
    collect_callbacks(&b);
    collect_process(&b);
    if (b.oom || !b.data) {
        metrics_buf_free(&b);
        api_reply_error(resp, FERR_INTERNAL, NULL, "Out of memory.");
        return;
    }
    resp->status = 200;
    resp->body = b.data; /* the response owns it now */
    resp->body_len = b.len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void metrics_handle(const api_request *req, api_response *resp)
{
    resp->action = "metrics";
    if (strcmp(req->path, "/metrics") != 0) {
        api_reply_error(resp, FERR_NOT_FOUND, NULL, "No such endpoint.");
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        api_reply_error(resp, API_ERR_METHOD, NULL, "Use GET on /metrics.");
        api_resp_header(resp, "Allow", "GET, HEAD");
        return;
    }
    if (!may_scrape(req, resp)) {
        metrics_counter_add(&scrapes_refused, 1);
        return;
    }
    render(resp);
}

const api_dialect api_metrics_dialect = {
    .name = "metrics",
    .prefix = "/metrics",
    .handle = metrics_handle,
};
