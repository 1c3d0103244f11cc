/* test_retry.c — the retry budget: a fresh failure retries at once, a flapping peer waits
 * and spends the same budget until it runs out, a stable run earns attempts back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/retry.h"

#define INTERVAL 60000

/* One flap: the reconnect succeeds and packets flow until fail_at. */
static void flap(retry_budget *b, int64_t up_at, int64_t fail_at)
{
    retry_attempt(b);
    retry_recovered(b, up_at);
    retry_failed(b, fail_at, INTERVAL);
}

static void test_first_failure_at_once(void **state)
{
    (void)state;
    retry_budget b = {0};
    retry_failed(&b, 5000, INTERVAL);
    assert_true(b.failing);
    assert_int_equal(b.next_ms, 5000);
    retry_attempt(&b);
    retry_failed(&b, 5100, INTERVAL); /* the retry failed: the next one an interval later */
    assert_true(b.next_ms > 5100 + INTERVAL * 9 / 10 - 1);
    assert_true(b.next_ms <= 5100 + INTERVAL);
}

static void test_flapping_spends_the_budget(void **state)
{
    (void)state;
    retry_budget b = {0};
    int64_t now = 1000;
    retry_failed(&b, now, INTERVAL);
    int reconnects = 0;
    while (!retry_exhausted(&b, 3)) {
        assert_true(reconnects < 3);
        int64_t at = b.next_ms;
        flap(&b, at + 5, at + 10); /* plays 5 ms, ends again */
        reconnects++;
        if (!retry_exhausted(&b, 3))
            assert_true(b.next_ms >= at + 10 + RETRY_FLAP_BASE_MS * 9 / 10);
    }
    assert_int_equal(reconnects, 3); /* before: at once, forever */
}

static void test_flap_waits_double_up_to_the_interval(void **state)
{
    (void)state;
    assert_int_equal(retry_flap_wait_ms(1, INTERVAL), 1000);
    assert_int_equal(retry_flap_wait_ms(2, INTERVAL), 2000);
    assert_int_equal(retry_flap_wait_ms(4, INTERVAL), 8000);
    assert_int_equal(retry_flap_wait_ms(10, INTERVAL), INTERVAL);
    assert_int_equal(retry_flap_wait_ms(3, 1500), 1500);
}

static void test_stable_run_earns_attempts_back(void **state)
{
    (void)state;
    retry_budget b = {0};
    retry_failed(&b, 0, INTERVAL);
    flap(&b, 10, 20);
    flap(&b, b.next_ms + 1, b.next_ms + 2);
    assert_int_equal(b.attempts, 2);
    retry_attempt(&b);
    retry_recovered(&b, 100000);
    /* 65 s of packets give back two of the three attempts: a flap again, one left */
    retry_failed(&b, 100000 + 2 * RETRY_REGAIN_MS + 5000, INTERVAL);
    assert_int_equal(b.attempts, 1);
    assert_true(b.next_ms > 100000 + 2 * RETRY_REGAIN_MS + 5000);
    retry_attempt(&b);
    retry_recovered(&b, 200000);
    /* a long stable run: a fresh start, at once */
    retry_failed(&b, 200000 + 10 * RETRY_REGAIN_MS, INTERVAL);
    assert_int_equal(b.attempts, 0);
    assert_int_equal(b.flaps, 0);
    assert_int_equal(b.next_ms, 200000 + 10 * RETRY_REGAIN_MS);
}

static void test_jitter_never_waits_longer(void **state)
{
    (void)state;
    retry_budget b = {0};
    int64_t lo = INT64_MAX, hi = 0;
    retry_failed(&b, 0, INTERVAL);
    for (int i = 0; i < 200; i++) {
        retry_failed(&b, 0, INTERVAL);
        lo = b.next_ms < lo ? b.next_ms : lo;
        hi = b.next_ms > hi ? b.next_ms : hi;
    }
    assert_true(hi <= INTERVAL);
    assert_true(lo >= INTERVAL * 9 / 10);
    assert_true(hi - lo > INTERVAL / 50); /* it does vary */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_failure_at_once),
        cmocka_unit_test(test_flapping_spends_the_budget),
        cmocka_unit_test(test_flap_waits_double_up_to_the_interval),
        cmocka_unit_test(test_stable_run_earns_attempts_back),
        cmocka_unit_test(test_jitter_never_waits_longer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
