/* test_metrics.c — unit tests of the metrics primitives: counters and gauges, histogram
 * buckets, the text writer's escaping and number forms, and the collector registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "common/metrics.h"

static const double bounds[] = {0.001, 0.01, 0.1, 1};

static void test_counter_and_gauge(void **state)
{
    metrics_counter c = {0};
    metrics_gauge g = {0};
    metrics_counter_add(&c, 3);
    metrics_counter_add(&c, 4);
    assert_int_equal(metrics_counter_get(&c), 7);
    metrics_gauge_add(&g, 2);
    metrics_gauge_add(&g, -5);
    assert_int_equal(metrics_gauge_get(&g), -3);
}

#define THREADS 4
#define ADDS 100000

static void *adder(void *arg)
{
    for (int i = 0; i < ADDS; i++)
        metrics_counter_add(arg, 1);
    return NULL;
}

static void test_counter_from_threads(void **state)
{
    metrics_counter c = {0};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, adder, &c);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(metrics_counter_get(&c), (uint64_t)THREADS * ADDS);
}

static void test_family_and_samples(void **state)
{
    metrics_buf b = {0};
    metrics_family(&b, "ferry_x_total", "counter", "Line one\nwith a back\\slash.");
    metrics_label l[2] = {{"action", "GET /v1/tasks/{id}"}, {"q", "a\"b\\c\nd"}};
    metrics_sample_u64(&b, "ferry_x_total", l, 2, 18446744073709551615ull);
    metrics_sample(&b, "ferry_g", NULL, 0, 0.1);
    metrics_sample(&b, "ferry_g", NULL, 0, 2.0);
    metrics_sample(&b, "ferry_g", NULL, 0, 1.0 / 3.0);
    assert_false(b.oom);
    assert_string_equal(b.data,
                        "# HELP ferry_x_total Line one\\nwith a back\\\\slash.\n"
                        "# TYPE ferry_x_total counter\n"
                        "ferry_x_total{action=\"GET /v1/tasks/{id}\",q=\"a\\\"b\\\\c\\nd\"} "
                        "18446744073709551615\n"
                        "ferry_g 0.1\n"
                        "ferry_g 2\n"
                        "ferry_g 0.3333333333333333\n");
    assert_int_equal(b.len, strlen(b.data));
    metrics_buf_free(&b);
    assert_null(b.data);
}

static void test_histogram_buckets(void **state)
{
    metrics_histogram h = {.bounds = bounds, .n_bounds = 4};
    metrics_histogram_observe_us(&h, 500);     /* 0.0005 s: first bucket */
    metrics_histogram_observe_us(&h, 1000);    /* exactly on a bound: that bucket (le) */
    metrics_histogram_observe_us(&h, 50000);   /* 0.05 s */
    metrics_histogram_observe_us(&h, 3000000); /* 3 s: only +Inf */
    metrics_histogram_observe_us(&h, -7);      /* a clock step back counts as 0 */
    metrics_buf b = {0};
    metrics_label l = {"dialect", "native"};
    metrics_histogram_write(&b, "ferry_d_seconds", &l, 1, &h);
    assert_string_equal(b.data, "ferry_d_seconds_bucket{dialect=\"native\",le=\"0.001\"} 3\n"
                                "ferry_d_seconds_bucket{dialect=\"native\",le=\"0.01\"} 3\n"
                                "ferry_d_seconds_bucket{dialect=\"native\",le=\"0.1\"} 4\n"
                                "ferry_d_seconds_bucket{dialect=\"native\",le=\"1\"} 4\n"
                                "ferry_d_seconds_bucket{dialect=\"native\",le=\"+Inf\"} 5\n"
                                "ferry_d_seconds_sum{dialect=\"native\"} 3.0515\n"
                                "ferry_d_seconds_count{dialect=\"native\"} 5\n");
    metrics_buf_free(&b);
}

static void test_histogram_without_labels(void **state)
{
    metrics_histogram h = {.bounds = metrics_latency_bounds, .n_bounds = METRICS_LATENCY_N};
    metrics_buf b = {0};
    metrics_histogram_write(&b, "ferry_e_seconds", NULL, 0, &h);
    assert_non_null(strstr(b.data, "ferry_e_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(b.data, "ferry_e_seconds_bucket{le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(b.data, "ferry_e_seconds_sum 0\nferry_e_seconds_count 0\n"));
    metrics_buf_free(&b);
}

static void test_large_output_grows(void **state)
{
    metrics_buf b = {0};
    for (int i = 0; i < 5000; i++)
        metrics_printf(&b, "line %d\n", i);
    assert_false(b.oom);
    assert_true(b.len > 5000 * 7);
    assert_int_equal(b.len, strlen(b.data));
    assert_non_null(strstr(b.data, "line 4999\n"));
    metrics_buf_free(&b);
}

static int calls_a, calls_b;

static void collect_a(metrics_buf *b)
{
    calls_a++;
    metrics_printf(b, "a\n");
}

static void collect_b(metrics_buf *b)
{
    calls_b++;
    metrics_printf(b, "b\n");
}

static void test_registry(void **state)
{
    assert_int_equal(metrics_register(collect_a), 0);
    assert_int_equal(metrics_register(collect_b), 0);
    assert_int_equal(metrics_register(collect_a), 0); /* once only */
    metrics_buf b = {0};
    metrics_collect(&b);
    assert_string_equal(b.data, "a\nb\n");
    assert_int_equal(calls_a, 1);
    assert_int_equal(calls_b, 1);
    metrics_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_counter_from_threads),
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_histogram_without_labels),
        cmocka_unit_test(test_large_output_grows),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
