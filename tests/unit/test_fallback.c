/* test_fallback.c — the main / backup / pad choice of a live task: the order alternates are
 * tried in, when the main source is checked again, and live changes of the alternates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/fallback.h"

static void test_no_alternates(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, false, false, false, 60000);
    assert_false(fallback_has_alternates(&f));
    assert_false(fallback_failed(&f, 1000)); /* straight into a failure episode */
    assert_int_equal(f.cur, FB_MAIN);
    assert_false(fallback_check_due(&f, 1000000, true));
}

static void test_order_main_backup_pad(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, true, false, true, 5000);
    assert_true(fallback_failed(&f, 1000));
    assert_int_equal(f.cur, FB_BACKUP);
    assert_true(fallback_on_alternate(&f));
    assert_true(fallback_failed(&f, 1100)); /* the backup fails too: the pad */
    assert_int_equal(f.cur, FB_PAD);
    assert_false(fallback_failed(&f, 1200)); /* nothing left: back to main, an episode */
    assert_int_equal(f.cur, FB_MAIN);
    assert_int_equal(f.next_check_ms, 0);
}

static void test_pad_only(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, false, false, true, 5000);
    assert_true(fallback_failed(&f, 0));
    assert_int_equal(f.cur, FB_PAD);
    assert_true(f.is_file[FB_PAD]);
}

static void test_live_backup_rechecks_on_interval(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, true, false, false, 5000);
    assert_true(fallback_failed(&f, 10000));
    fallback_opened(&f, 10200);
    assert_false(fallback_check_due(&f, 14999, false));
    assert_false(fallback_check_due(&f, 14999, true)); /* a live backup has no passes */
    assert_true(fallback_check_due(&f, 15000, false));
    fallback_check_failed(&f, 15300);
    assert_false(fallback_check_due(&f, 20299, false));
    assert_true(fallback_check_due(&f, 20300, false));
    fallback_main_back(&f);
    assert_false(fallback_on_alternate(&f));
    assert_false(fallback_check_due(&f, 99999, true));
}

static void test_file_backup_rechecks_after_each_pass(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, true, true, false, 60000);
    assert_true(fallback_failed(&f, 0));
    fallback_opened(&f, 0);
    assert_false(fallback_check_due(&f, 3000, false));
    assert_true(fallback_check_due(&f, 3000, true)); /* the file played through */
}

static void test_pass_rechecks_at_most_once_a_second(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, false, false, true, 60000);
    assert_true(fallback_failed(&f, 100000));
    fallback_opened(&f, 100000);
    assert_true(fallback_check_due(&f, 100040, true)); /* a 40 ms pad played through */
    fallback_check_started(&f, 100040);
    fallback_check_failed(&f, 100050);
    assert_false(fallback_check_due(&f, 100080, true)); /* and again: not yet */
    assert_false(fallback_check_due(&f, 101039, true));
    assert_true(fallback_check_due(&f, 101040, true));
}

static void test_flapping_main_is_rechecked_less_often(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, true, false, false, 2000);
    int64_t now = 1000000;
    assert_true(fallback_failed(&f, now));
    assert_int_equal(f.next_check_ms, now + 2000);
    int64_t wait = 2000;
    for (int i = 1; i <= 7; i++) {
        now = f.next_check_ms;
        fallback_main_returned(&f, now); /* the try found it back ... */
        now += 500;
        assert_true(fallback_failed(&f, now)); /* ... and it failed again at once */
        wait = wait < 2000 * 32 ? wait * 2 : wait;
        assert_int_equal(f.next_check_ms, now + wait);
    }
    fallback_main_returned(&f, now);
    assert_true(fallback_failed(&f, now + FALLBACK_STABLE_MS)); /* it held: not a flap */
    assert_int_equal(f.next_check_ms, now + FALLBACK_STABLE_MS + 2000);
}

static void test_recheck_floor(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, true, false, false, 0);
    assert_int_equal(f.recheck_ms, 1000);
}

static void test_configure_removes_playing_alternate(void **state)
{
    (void)state;
    fallback f;
    fallback_init(&f, true, false, true, 5000);
    assert_true(fallback_failed(&f, 0));
    assert_int_equal(f.cur, FB_BACKUP);
    assert_false(fallback_configure(&f, true, false, false)); /* the pad goes: no matter */
    assert_int_equal(f.cur, FB_BACKUP);
    assert_true(fallback_configure(&f, false, false, false)); /* the backup goes: main again */
    assert_int_equal(f.cur, FB_MAIN);
    assert_false(fallback_has_alternates(&f));
}

static void test_slot_names(void **state)
{
    (void)state;
    assert_string_equal(fallback_slot_name(FB_MAIN), "main");
    assert_string_equal(fallback_slot_name(FB_BACKUP), "backup");
    assert_string_equal(fallback_slot_name(FB_PAD), "pad");
    assert_string_equal(fallback_slot_name((fb_slot)7), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_alternates),
        cmocka_unit_test(test_order_main_backup_pad),
        cmocka_unit_test(test_pad_only),
        cmocka_unit_test(test_live_backup_rechecks_on_interval),
        cmocka_unit_test(test_file_backup_rechecks_after_each_pass),
        cmocka_unit_test(test_pass_rechecks_at_most_once_a_second),
        cmocka_unit_test(test_flapping_main_is_rechecked_less_often),
        cmocka_unit_test(test_recheck_floor),
        cmocka_unit_test(test_configure_removes_playing_alternate),
        cmocka_unit_test(test_slot_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
