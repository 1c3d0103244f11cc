/* event_loop.h — a small fixed pool of epoll loops, one thread each, many connections on
 * each: a handler is woken by its socket, by another thread's post, and by a tick. */
#ifndef FERRY_ENGINE_EVENT_LOOP_H
#define FERRY_ENGINE_EVENT_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define EV_TICK_MS 50 /* how often ticking handlers are called */

typedef struct ev_loop ev_loop;
typedef struct ev_handler ev_handler;

struct ev_handler {
    void (*on_io)(ev_handler *h, uint32_t events); /* its socket is ready (EPOLL* bits) */
    void (*on_post)(ev_handler *h);                /* another thread posted to it */
    void (*on_tick)(ev_handler *h, int64_t now_us);
    /* the loop's */
    ev_loop *loop;
    ev_handler *next_post, *prev_tick, *next_tick;
    atomic_bool posted;
    bool ticking;
    uint32_t watching; /* the epoll events asked for; 0 = not in the set */
};

/* The pool: started at the first pick with n loops (0 = one per core). */
void ev_pool_configure(int n);
/* The next loop, round robin; NULL when no loop could start. */
ev_loop *ev_pool_pick(void);

/* Any thread: h belongs to l from now on (before its first post). */
void ev_handler_attach(ev_handler *h, ev_loop *l);
/* Any thread: h->on_post runs soon on its loop (once, however many posts come first). */
void ev_post(ev_handler *h);

/* time_mono_us() as the calling loop read it when it last woke (handlers run for far less
 * than a tick), so a packet's path reads no clock; any other thread reads the clock. */
int64_t ev_now_us(void);

/* The loop's thread only. */
int ev_watch(ev_handler *h, int fd, uint32_t events); /* add, change or (0) remove */
void ev_ticks(ev_handler *h, bool on);

#endif
