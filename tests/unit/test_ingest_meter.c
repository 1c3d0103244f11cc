/* test_ingest_meter.c — unit tests of a relay's source bitrate limit: windows of 5 s, a
 * burst inside a window that stays under, a flood over it, no limit, a reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/ingest_meter.h"

#define S 1000000LL

/* bytes_per_s for seconds s, in 10 packets a second from t0; returns the first over rate */
static int64_t feed(ingest_meter *m, int64_t t0, int seconds, int64_t bytes_per_s)
{
    int64_t kbps = 0;
    for (int i = 0; i <= seconds * 10; i++)
        if (ingest_meter_add(m, bytes_per_s / 10, t0 + i * S / 10, &kbps))
            return kbps;
    return 0;
}

static void test_under_the_limit_passes(void **state)
{
    ingest_meter m;
    ingest_meter_init(&m, 8000); /* 8 Mb/s = 1 MB/s */
    assert_int_equal(feed(&m, 0, 30, 900000), 0);
}

static void test_a_connect_burst_inside_a_window_passes(void **state)
{
    ingest_meter m;
    ingest_meter_init(&m, 8000);
    int64_t kbps = 0;
    /* a 2 MB GOP at once (16 Mb in one instant), then 0.5 MB/s */
    assert_false(ingest_meter_add(&m, 2000000, 0, &kbps));
    assert_int_equal(feed(&m, S / 10, 20, 500000), 0);
}

static void test_a_flood_is_caught_at_the_window_end(void **state)
{
    ingest_meter m;
    ingest_meter_init(&m, 8000);
    int64_t kbps = feed(&m, 0, 10, 10000000); /* 80 Mb/s */
    assert_in_range(kbps, 78000, 82000);
}

static void test_no_limit_and_reset(void **state)
{
    ingest_meter m;
    ingest_meter_init(&m, 0);
    assert_int_equal(feed(&m, 0, 10, 100000000), 0);
    ingest_meter_init(&m, 8000);
    int64_t kbps = 0;
    assert_false(ingest_meter_add(&m, 4000000, 0, &kbps)); /* 4 MB in the window so far */
    ingest_meter_reset(&m);                                /* a new source */
    assert_int_equal(feed(&m, 4 * S, 10, 500000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_under_the_limit_passes),
        cmocka_unit_test(test_a_connect_burst_inside_a_window_passes),
        cmocka_unit_test(test_a_flood_is_caught_at_the_window_end),
        cmocka_unit_test(test_no_limit_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
