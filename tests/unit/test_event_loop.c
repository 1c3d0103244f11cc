/* test_event_loop.c — unit tests of the event loops' posts: many threads posting to handlers
 * of one sleeping loop, each post answered (none lost), and the clock a loop gives handlers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/timeutil.h"
#include "engine/event_loop.h"

enum { POSTERS = 4, ROUNDS = 2000 };
#define WAIT_US 5000000 /* a post not answered in 5 s is lost: the loop slept through it */

typedef struct {
    ev_handler h; /* first: the callback's handler is the struct */
    atomic_int asked, seen;
    _Atomic int64_t now_in_handler;
} counter;

static void on_post(ev_handler *h)
{
    counter *c = (counter *)h;
    atomic_store(&c->now_in_handler, ev_now_us());
    atomic_store(&c->seen, atomic_load(&c->asked));
}

static ev_loop *loop;

static void counter_init(counter *c)
{
    *c = (counter){.h = {.on_post = on_post}};
    ev_handler_attach(&c->h, loop);
}

/* Posts ROUNDS times, each time waiting until the handler has seen that round. */
static void *poster(void *arg)
{
    counter *c = arg;
    for (int i = 1; i <= ROUNDS; i++) {
        atomic_store(&c->asked, i);
        ev_post(&c->h);
        int64_t until = time_mono_us() + WAIT_US;
        while (atomic_load(&c->seen) < i) {
            if (time_mono_us() > until)
                return (void *)(intptr_t)i; /* the round that was lost */
            sched_yield();
        }
    }
    return NULL;
}

static void test_no_post_is_lost(void **state)
{
    (void)state;
    counter cs[POSTERS];
    pthread_t ts[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        counter_init(&cs[i]);
        assert_int_equal(pthread_create(&ts[i], NULL, poster, &cs[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++) {
        void *lost = NULL;
        pthread_join(ts[i], &lost);
        assert_null(lost);
        assert_int_equal(atomic_load(&cs[i].seen), ROUNDS);
    }
}

/* Within a handler, ev_now_us is the loop's clock of its last wake-up: not before the post
 * was made, not after the handler ran; elsewhere it is the monotonic clock. */
static void test_the_loop_clock(void **state)
{
    (void)state;
    counter c;
    counter_init(&c);
    usleep(20000); /* the loop is asleep: the post wakes it, and it reads the clock then */
    int64_t before = time_mono_us();
    atomic_store(&c.asked, 1);
    ev_post(&c.h);
    while (atomic_load(&c.seen) < 1)
        sched_yield();
    int64_t after = time_mono_us();
    int64_t in_handler = atomic_load(&c.now_in_handler);
    assert_true(in_handler >= before && in_handler <= after);
    int64_t a = ev_now_us(), b = time_mono_us();
    assert_true(a <= b && b - a < 1000000);
}

static int setup(void **state)
{
    (void)state;
    ev_pool_configure(1);
    loop = ev_pool_pick();
    return loop ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_post_is_lost),
        cmocka_unit_test(test_the_loop_clock),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
