/* metrics.c — the metrics primitives: histogram buckets, the Prometheus text writer (escaping,
 * number forms, cumulative buckets) and the collector registry. */
#include "common/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLLECTORS 16

const double metrics_latency_bounds[METRICS_LATENCY_N] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static metrics_collect_fn collectors[MAX_COLLECTORS];
static int n_collectors;

/* --- histograms --- */

void metrics_histogram_observe_us(metrics_histogram *h, int64_t us)
{
    if (us < 0)
        us = 0;
    double s = (double)us / 1e6;
    int i = 0;
    while (i < h->n_bounds && s > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}

/* --- the buffer --- */

void metrics_buf_free(metrics_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static bool reserve(metrics_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

static void vappend(metrics_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && reserve(b, (size_t)n))
        b->len += (size_t)vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
    va_end(again);
}

void metrics_printf(metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(b, fmt, ap);
    va_end(ap);
}

static void putc_buf(metrics_buf *b, char c)
{
    if (reserve(b, 1)) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
    }
}

/* Writes s with \\ and \n escaped, and " too when in a label value. */
static void put_escaped(metrics_buf *b, const char *s, bool quote)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            metrics_printf(b, "\\\\");
        else if (*s == '\n')
            metrics_printf(b, "\\n");
        else if (*s == '"' && quote)
            metrics_printf(b, "\\\"");
        else
            putc_buf(b, *s);
    }
}

/* --- lines --- */

void metrics_family(metrics_buf *b, const char *name, const char *type, const char *help)
{
    metrics_printf(b, "# HELP %s ", name);
    put_escaped(b, help, false);
    metrics_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void put_labels(metrics_buf *b, const metrics_label *l, int n, const char *le)
{
    if (n == 0 && !le)
        return;
    putc_buf(b, '{');
    for (int i = 0; i < n; i++) {
        metrics_printf(b, "%s%s=\"", i ? "," : "", l[i].name);
        put_escaped(b, l[i].value, true);
        putc_buf(b, '"');
    }
    if (le)
        metrics_printf(b, "%sle=\"%s\"", n ? "," : "", le);
    putc_buf(b, '}');
}

static void format_double(char *out, size_t len, double v)
{
    if (isnan(v))
        snprintf(out, len, "NaN");
    else if (isinf(v))
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else
        for (int digits = 15; digits <= 17; digits++) { /* the shortest form that reads back */
            snprintf(out, len, "%.*g", digits, v);
            if (strtod(out, NULL) == v)
                break;
        }
}

void metrics_sample(metrics_buf *b, const char *name, const metrics_label *l, int n, double v)
{
    char num[40];
    format_double(num, sizeof(num), v);
    metrics_printf(b, "%s", name);
    put_labels(b, l, n, NULL);
    metrics_printf(b, " %s\n", num);
}

void metrics_sample_u64(metrics_buf *b, const char *name, const metrics_label *l, int n, uint64_t v)
{
    metrics_printf(b, "%s", name);
    put_labels(b, l, n, NULL);
    metrics_printf(b, " %" PRIu64 "\n", v);
}

static void bucket_line(metrics_buf *b, const char *name, const metrics_label *l, int n,
                        const char *le, uint64_t v)
{
    metrics_printf(b, "%s_bucket", name);
    put_labels(b, l, n, le);
    metrics_printf(b, " %" PRIu64 "\n", v);
}

void metrics_histogram_write(metrics_buf *b, const char *name, const metrics_label *l, int n,
                             metrics_histogram *h)
{
    uint64_t cum = 0;
    char le[40];
    for (int i = 0; i < h->n_bounds; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        format_double(le, sizeof(le), h->bounds[i]);
        bucket_line(b, name, l, n, le, cum);
    }
    cum += atomic_load_explicit(&h->bucket[h->n_bounds], memory_order_relaxed);
    bucket_line(b, name, l, n, "+Inf", cum);
    char sname[128];
    snprintf(sname, sizeof(sname), "%s_sum", name);
    metrics_sample(b, sname, l, n,
                   (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
    snprintf(sname, sizeof(sname), "%s_count", name);
    metrics_sample_u64(b, sname, l, n, cum);
}

/* --- the registry --- */

int metrics_register(metrics_collect_fn fn)
{
    int rc = 0;
    pthread_mutex_lock(&registry_mu);
    int i = 0;
    while (i < n_collectors && collectors[i] != fn)
        i++;
    if (i == n_collectors) {
        if (n_collectors < MAX_COLLECTORS)
            collectors[n_collectors++] = fn;
        else
            rc = -1;
    }
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

void metrics_collect(metrics_buf *b)
{
    pthread_mutex_lock(&registry_mu);
    for (int i = 0; i < n_collectors; i++)
        collectors[i](b);
    pthread_mutex_unlock(&registry_mu);
}
