/* metrics.h — Prometheus metrics primitives: lock-free counters, gauges and histograms
 * (C11 atomics), the text exposition writer, and the registry of collectors /metrics runs. */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A counter only goes up. Safe from any thread; costs one relaxed atomic add. */
typedef struct metrics_counter {
    atomic_uint_least64_t v;
} metrics_counter;

static inline void metrics_counter_add(metrics_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline uint64_t metrics_counter_get(metrics_counter *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

/* A gauge goes up and down. */
typedef struct metrics_gauge {
    atomic_int_least64_t v;
} metrics_gauge;

static inline void metrics_gauge_add(metrics_gauge *g, int64_t n)
{
    atomic_fetch_add_explicit(&g->v, n, memory_order_relaxed);
}

static inline int64_t metrics_gauge_get(metrics_gauge *g)
{
    return atomic_load_explicit(&g->v, memory_order_relaxed);
}

#define METRICS_MAX_BUCKETS 16

/* A histogram of durations. bounds are the bucket upper limits in seconds, ascending; the
 * +Inf bucket is implicit. Initialise statically: {.bounds = B, .n_bounds = N}. */
typedef struct metrics_histogram {
    const double *bounds;
    int n_bounds;                                          /* at most METRICS_MAX_BUCKETS */
    atomic_uint_least64_t bucket[METRICS_MAX_BUCKETS + 1]; /* not cumulative; last is +Inf */
    atomic_uint_least64_t sum_us;
} metrics_histogram;

/* Upper bounds for request and transaction latencies, 1 ms .. 10 s. */
extern const double metrics_latency_bounds[];
#define METRICS_LATENCY_N 14

void metrics_histogram_observe_us(metrics_histogram *h, int64_t us);

/* --- the text exposition format (version 0.0.4) --- */

typedef struct metrics_buf {
    char *data; /* NUL-terminated; NULL until something is written */
    size_t len, cap;
    bool oom; /* a write failed for lack of memory: the text is incomplete */
} metrics_buf;

typedef struct metrics_label {
    const char *name;
    const char *value; /* escaped by the writer */
} metrics_label;

void metrics_buf_free(metrics_buf *b);
void metrics_printf(metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The HELP and TYPE lines of a family; type is "counter", "gauge" or "histogram". */
void metrics_family(metrics_buf *b, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. */
void metrics_sample(metrics_buf *b, const char *name, const metrics_label *l, int n, double v);
void metrics_sample_u64(metrics_buf *b, const char *name, const metrics_label *l, int n,
                        uint64_t v);
/* The _bucket (cumulative, +Inf last), _sum and _count lines of h; +Inf equals _count. */
void metrics_histogram_write(metrics_buf *b, const char *name, const metrics_label *l, int n,
                             metrics_histogram *h);

/* --- the registry --- */

/* A part's collector writes its families (each family once, all its samples together). */
typedef void (*metrics_collect_fn)(metrics_buf *b);
/* Adds fn once (a second call with the same fn does nothing). Returns 0, -1 when full. */
int metrics_register(metrics_collect_fn fn);
/* Runs every registered collector, in the order they were added. */
void metrics_collect(metrics_buf *b);

#endif
