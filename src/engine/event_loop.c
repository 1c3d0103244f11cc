/* event_loop.c — the epoll loops: one thread each, a lock-free post list with an eventfd
 * that is written only while the loop sleeps, and a tick list. See event_loop.h. */
#include "engine/event_loop.h"

#include <errno.h>
#include <string.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define MAX_LOOPS 64
#define EVENTS_AT_ONCE 256

struct ev_loop {
    int epfd, wakefd;
    pthread_t thread;
    /* Other threads' posts: a list they push onto, which the loop takes whole. The loop sets
     * sleeping before it looks at the list a last time, a poster pushes before it clears
     * sleeping (both sequentially consistent): one of them sees the other, so a post either
     * is taken or writes the eventfd. No lock either way. */
    _Atomic(ev_handler *) posts;
    atomic_bool sleeping;
    ev_handler *own_posts; /* posted by the loop's own thread: no lock */
    ev_handler *ticks;     /* the loop's own: no lock */
    int64_t next_tick_us;
};

static struct {
    pthread_once_t once;
    int wanted, n;
    ev_loop *loops[MAX_LOOPS];
    atomic_uint next;
} pool = {.once = PTHREAD_ONCE_INIT};

void ev_pool_configure(int n)
{
    pool.wanted = n;
}

static _Thread_local ev_loop *loop_self;  /* the loop this thread runs, if any */
static _Thread_local int64_t loop_now_us; /* its clock, read once per wake-up */

int64_t ev_now_us(void)
{
    return loop_self ? loop_now_us : time_mono_us();
}

/* The posts waiting (the other threads' and the loop's own); with none and sleep, the loop
 * is marked asleep (*slept). */
static ev_handler *take_posts(ev_loop *l, bool sleep, bool *slept)
{
    ev_handler *own = l->own_posts;
    l->own_posts = NULL;
    ev_handler *list = atomic_exchange(&l->posts, NULL);
    *slept = sleep && !list && !own;
    if (*slept) {
        atomic_store(&l->sleeping, true);
        list = atomic_exchange(&l->posts, NULL); /* one that came meanwhile */
        if (list) {
            atomic_store(&l->sleeping, false);
            *slept = false;
        }
    }
    if (!own)
        return list;
    ev_handler *last = own;
    while (last->next_post)
        last = last->next_post;
    last->next_post = list;
    return own;
}

static void run_posts(ev_handler *list)
{
    /* reversed: the list is pushed at its head; order does not matter between handlers */
    while (list) {
        ev_handler *h = list;
        list = h->next_post;
        h->next_post = NULL;
        atomic_store(&h->posted, false);
        h->on_post(h);
    }
}

static void run_ticks(ev_loop *l)
{
    int64_t now = loop_now_us;
    if (now < l->next_tick_us)
        return;
    l->next_tick_us = now + EV_TICK_MS * 1000;
    for (ev_handler *h = l->ticks, *next; h; h = next) {
        next = h->next_tick; /* a handler may leave the list in its tick */
        h->on_tick(h, now);
    }
}

static void drain_wakefd(ev_loop *l)
{
    uint64_t v;
    while (read(l->wakefd, &v, sizeof(v)) > 0) {
    }
}

/* How long the loop may sleep: until its next tick, or for good without ticking handlers. */
static int wait_ms(const ev_loop *l)
{
    if (!l->ticks)
        return -1;
    int64_t left = (l->next_tick_us - time_mono_us()) / 1000;
    return left < 0 ? 0 : (int)left + 1;
}

static void *loop_main(void *arg)
{
    ev_loop *l = arg;
    struct epoll_event evs[EVENTS_AT_ONCE];
    loop_self = l;
    loop_now_us = time_mono_us();
    for (;;) {
        /* with no post waiting the loop is marked asleep: a post then writes the eventfd */
        bool slept;
        ev_handler *posts = take_posts(l, true, &slept);
        run_posts(posts);
        int n = epoll_wait(l->epfd, evs, EVENTS_AT_ONCE, posts ? 0 : wait_ms(l));
        /* a post that still sees it asleep only writes the eventfd once more */
        if (slept)
            atomic_store(&l->sleeping, false);
        loop_now_us = time_mono_us();
        for (int i = 0; i < n; i++) {
            ev_handler *h = evs[i].data.ptr;
            if (!h)
                drain_wakefd(l);
            else
                h->on_io(h, evs[i].events);
        }
        if (n < 0 && errno != EINTR)
            log_error("engine: epoll_wait: %s", strerror(errno));
        run_ticks(l);
    }
    return NULL;
}

static ev_loop *loop_new(void)
{
    ev_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0 ||
        pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
        free(l);
        return NULL;
    }
    pthread_detach(l->thread); /* the loops live as long as the process */
    return l;
}

static void pool_start(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = pool.wanted > 0 ? pool.wanted : cores > 0 ? (int)cores : 1;
    n = n > MAX_LOOPS ? MAX_LOOPS : n;
    for (int i = 0; i < n; i++) {
        ev_loop *l = loop_new();
        if (!l)
            break;
        pool.loops[pool.n++] = l;
    }
    log_info("engine: %d event loop(s) for RTMP connections", pool.n);
}

ev_loop *ev_pool_pick(void)
{
    pthread_once(&pool.once, pool_start);
    if (pool.n == 0)
        return NULL;
    return pool.loops[atomic_fetch_add(&pool.next, 1) % (unsigned)pool.n];
}

void ev_handler_attach(ev_handler *h, ev_loop *l)
{
    h->loop = l;
    h->next_post = h->prev_tick = h->next_tick = NULL;
    atomic_init(&h->posted, false);
    h->ticking = false;
    h->watching = 0;
}

void ev_post(ev_handler *h)
{
    if (atomic_exchange(&h->posted, true))
        return; /* already on the list */
    ev_loop *l = h->loop;
    if (l == loop_self) { /* from a handler of this loop: it runs before the loop sleeps */
        h->next_post = l->own_posts;
        l->own_posts = h;
        return;
    }
    ev_handler *head = atomic_load(&l->posts);
    do
        h->next_post = head;
    while (!atomic_compare_exchange_weak(&l->posts, &head, h));
    bool wake = atomic_exchange(&l->sleeping, false);
    if (wake) {
        uint64_t one = 1;
        if (write(l->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_error("engine: eventfd: %s", strerror(errno));
    }
}

int ev_watch(ev_handler *h, int fd, uint32_t events)
{
    if (events == h->watching)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = h};
    int op = !events ? EPOLL_CTL_DEL : h->watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(h->loop->epfd, op, fd, &ev);
    if (rc == 0)
        h->watching = events;
    return rc;
}

void ev_ticks(ev_handler *h, bool on)
{
    ev_loop *l = h->loop;
    if (on == h->ticking)
        return;
    if (on) {
        h->prev_tick = NULL;
        h->next_tick = l->ticks;
        if (l->ticks)
            l->ticks->prev_tick = h;
        l->ticks = h;
    } else {
        if (h->prev_tick)
            h->prev_tick->next_tick = h->next_tick;
        else
            l->ticks = h->next_tick;
        if (h->next_tick)
            h->next_tick->prev_tick = h->prev_tick;
        h->prev_tick = h->next_tick = NULL;
    }
    h->ticking = on;
}
