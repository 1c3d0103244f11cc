/* test_sched.c — the scheduler thread on the real clock: order and punctuality of deadlines,
 * replace, cancel, past deadlines, callbacks that reschedule, and 10,000 tasks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timeutil.h"
#include "sched/sched.h"

#define LATE_MS 50 /* how late a deadline may fire */
#define MAX_FIRES 4096

typedef struct fired {
    char id[64];
    sched_kind kind;
    int64_t at_ms; /* wall clock when the callback ran */
} fired;

/* What the callback saw, plus what a test asks it to do. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    fired ev[MAX_FIRES];
    int n;
    int reschedules;            /* "again" re-arms itself this many times */
    const char *cancel_on_fire; /* task cancelled from inside the first callback */
    int bad_ctx;
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_fire(void *ctx, const char *task_id, sched_kind kind)
{
    int64_t now = time_now_ms();
    pthread_mutex_lock(&rec.mu);
    rec.bad_ctx += ctx != &rec; /* cmocka asserts belong to the test thread */
    if (rec.n < MAX_FIRES) {
        fired *f = &rec.ev[rec.n++];
        snprintf(f->id, sizeof(f->id), "%s", task_id);
        f->kind = kind;
        f->at_ms = now;
    }
    int again = strcmp(task_id, "again") == 0 && rec.reschedules-- > 0;
    const char *victim = rec.cancel_on_fire;
    rec.cancel_on_fire = NULL;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
    /* Both run without the scheduler's lock held; a deadlock would hang the test. */
    if (again)
        sched_set("again", SCHED_RETRY, now + 30);
    if (victim)
        sched_cancel(victim, -1);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    (void)state;
    pthread_mutex_lock(&rec.mu);
    rec.n = 0;
    rec.reschedules = 0;
    rec.cancel_on_fire = NULL;
    rec.bad_ctx = 0;
    pthread_mutex_unlock(&rec.mu);
    int rc = sched_start(on_fire, &rec);
    sleep_ms(20); /* let the thread go idle: a set must wake it */
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    sched_stop();
    return rec.bad_ctx == 0 ? 0 : -1;
}

/* Waits until n callbacks ran or timeout_ms passed; returns the count. */
static int wait_fires(int n, int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rec.mu);
    while (rec.n < n && pthread_cond_timedwait(&rec.cond, &rec.mu, &ts) == 0)
        ;
    int got = rec.n;
    pthread_mutex_unlock(&rec.mu);
    return got;
}

static void assert_fired(int i, const char *id, sched_kind kind, int64_t due_ms)
{
    pthread_mutex_lock(&rec.mu);
    fired f = rec.ev[i];
    pthread_mutex_unlock(&rec.mu);
    assert_string_equal(f.id, id);
    assert_int_equal(f.kind, kind);
    if (f.at_ms < due_ms || f.at_ms > due_ms + LATE_MS)
        fail_msg("%s fired at %+lld ms of its deadline", id, (long long)(f.at_ms - due_ms));
}

static void test_fire_in_order(void **state)
{
    (void)state;
    int64_t now = time_now_ms();
    sched_set("c", SCHED_START, now + 300);
    sleep_ms(20); /* the thread now sleeps towards c; a must wake it earlier */
    sched_set("a", SCHED_STOP, now + 100);
    sched_set("b", SCHED_RETRY, now + 200);
    sched_set("d", SCHED_PURGE, now + 200);
    assert_int_equal(wait_fires(4, 2000), 4);
    assert_fired(0, "a", SCHED_STOP, now + 100);
    assert_fired(1, "b", SCHED_RETRY, now + 200); /* equal deadlines: the order of setting */
    assert_fired(2, "d", SCHED_PURGE, now + 200);
    assert_fired(3, "c", SCHED_START, now + 300);
    assert_int_equal(sched_get("a", SCHED_STOP), -1);
}

static void test_kinds_are_independent(void **state)
{
    (void)state;
    int64_t now = time_now_ms();
    sched_set("k", SCHED_START, now + 60);
    sched_set("k", SCHED_STOP, now + 120);
    assert_int_equal(sched_get("k", SCHED_START), now + 60);
    assert_int_equal(sched_get("k", SCHED_STOP), now + 120);
    assert_int_equal(sched_get("k", SCHED_RETRY), -1);
    assert_int_equal(sched_get("unknown", SCHED_START), -1);
    assert_int_equal(wait_fires(2, 2000), 2);
    assert_fired(0, "k", SCHED_START, now + 60);
    assert_fired(1, "k", SCHED_STOP, now + 120);
}

static void test_replace_moves(void **state)
{
    (void)state;
    int64_t now = time_now_ms();
    sched_set("early", SCHED_START, now + 600);
    sched_set("late", SCHED_START, now + 60);
    sched_set("early", SCHED_START, now + 80); /* moved earlier */
    sched_set("late", SCHED_START, now + 250); /* moved later */
    assert_int_equal(sched_get("early", SCHED_START), now + 80);
    assert_int_equal(wait_fires(2, 2000), 2);
    assert_fired(0, "early", SCHED_START, now + 80);
    assert_fired(1, "late", SCHED_START, now + 250);
    /* Neither old deadline fires any more. */
    sleep_ms((int)(now + 700 - time_now_ms()));
    assert_int_equal(wait_fires(3, 0), 2);
}

static void test_cancel(void **state)
{
    (void)state;
    int64_t now = time_now_ms();
    sched_set("x", SCHED_START, now + 50);
    sched_set("x", SCHED_STOP, now + 80);
    sched_set("y", SCHED_START, now + 60);
    sched_set("y", SCHED_STOP, now + 70);
    sched_set("y", SCHED_RETRY, now + 75);
    sched_cancel("x", SCHED_START);
    sched_cancel("y", -1);
    sched_cancel("nobody", -1);
    assert_int_equal(sched_get("x", SCHED_START), -1);
    assert_int_equal(sched_get("y", SCHED_STOP), -1);
    assert_int_equal(wait_fires(1, 2000), 1);
    assert_fired(0, "x", SCHED_STOP, now + 80);
    sleep_ms(200);
    assert_int_equal(wait_fires(2, 0), 1);
}

static void test_past_fires_at_once(void **state)
{
    (void)state;
    int64_t now = time_now_ms();
    sched_set("past", SCHED_STOP, now - 3600 * 1000);
    assert_int_equal(wait_fires(1, 1000), 1);
    assert_fired(0, "past", SCHED_STOP, now); /* due now, not an hour ago */
}

static void test_callback_reschedules(void **state)
{
    (void)state;
    pthread_mutex_lock(&rec.mu);
    rec.reschedules = 2;
    rec.cancel_on_fire = "victim";
    pthread_mutex_unlock(&rec.mu);
    int64_t now = time_now_ms();
    sched_set("again", SCHED_RETRY, now + 20);
    sched_set("victim", SCHED_START, now + 150);
    assert_int_equal(wait_fires(3, 2000), 3);
    pthread_mutex_lock(&rec.mu);
    fired f[3];
    memcpy(f, rec.ev, sizeof(f));
    pthread_mutex_unlock(&rec.mu);
    for (int i = 0; i < 3; i++)
        assert_string_equal(f[i].id, "again");
    assert_fired(1, "again", SCHED_RETRY, f[0].at_ms + 30);
    assert_fired(2, "again", SCHED_RETRY, f[1].at_ms + 30);
    sleep_ms((int)(now + 300 - time_now_ms()));
    assert_int_equal(wait_fires(4, 0), 3); /* victim was cancelled from the callback */
}

/* 10,000 tasks: set, move and cancel stay cheap, and a burst fires in deadline order. */
static void test_many_tasks(void **state)
{
    (void)state;
    enum { N = 10000, BURST = 2000 };
    char id[32];
    int64_t now = time_now_ms(), t0 = time_mono_ms();
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "task-%d", i);
        sched_set(id, SCHED_START, now + 3600000 + i);
        sched_set(id, SCHED_STOP, now + 7200000 - i);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(id, sizeof(id), "task-%d", i);
        sched_set(id, SCHED_START, now + 1800000 + (N - i));
    }
    assert_int_equal(sched_get("task-4", SCHED_START), now + 1800000 + N - 4);
    assert_int_equal(sched_get("task-5", SCHED_START), now + 3600000 + 5);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "task-%d", i);
        sched_cancel(id, i % 3 == 0 ? -1 : SCHED_STOP);
    }
    assert_int_equal(sched_get("task-3", SCHED_START), -1);
    assert_int_equal(sched_get("task-4", SCHED_STOP), -1);
    int64_t spent = time_mono_ms() - t0;
    if (spent > 1000)
        fail_msg("50,000 operations on 10,000 tasks took %lld ms", (long long)spent);

    static int64_t due[BURST];
    srand(7);
    now = time_now_ms();
    for (int i = 0; i < BURST; i++) {
        snprintf(id, sizeof(id), "burst-%d", i);
        due[i] = now + 50 + rand() % 100;
        sched_set(id, SCHED_RETRY, due[i]);
    }
    assert_int_equal(wait_fires(BURST, 3000), BURST);
    int64_t prev_due = 0;
    for (int i = 0; i < BURST; i++) {
        pthread_mutex_lock(&rec.mu);
        fired f = rec.ev[i];
        pthread_mutex_unlock(&rec.mu);
        int64_t d = due[atoi(f.id + strlen("burst-"))];
        assert_fired(i, f.id, SCHED_RETRY, d);
        assert_true(d >= prev_due); /* fired in deadline order */
        prev_due = d;
    }
    assert_int_equal(wait_fires(BURST + 1, 0), BURST); /* the 10,000 far ones stay put */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fire_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_are_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_past_fires_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_reschedules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tasks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
