/* sched.c — the scheduler thread: a min-heap of (wall-clock deadline, task, kind) with a
 * hash index of tasks for O(log n) set and cancel, and a monotonic condvar to wake early. */
#include "sched/sched.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"

/* Deadlines are wall-clock times but the wait runs on the monotonic clock: sleeping at
 * most this long bounds how late a deadline fires after the wall clock is stepped. */
#define SCHED_MAX_SLEEP_MS 1000
#define SCHED_MIN_BUCKETS 64

/* A task with at least one deadline set; freed when its last deadline goes. */
typedef struct sched_task {
    struct sched_task *next; /* hash chain */
    int slot[SCHED_KINDS];   /* heap position of each kind's deadline, -1 = none */
    int n_set;
    char id[];
} sched_task;

typedef struct deadline {
    int64_t at_ms;
    uint64_t seq; /* keeps equal deadlines in the order they were set */
    sched_task *task;
    int kind;
} deadline;

static struct {
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t wake;
    pthread_t thread;
    bool running;
    unsigned gen; /* bumped by sched_stop: the thread of an older generation exits */
    sched_fire_fn fire;
    void *ctx;
    deadline *heap;
    int n, cap;
    sched_task **buckets;
    size_t n_buckets, n_tasks;
    uint64_t seq;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&S.wake, &attr);
    pthread_condattr_destroy(&attr);
}

static void lock(void)
{
    pthread_once(&init_once, init_cond);
    pthread_mutex_lock(&S.mu);
}

static void unlock(void)
{
    pthread_mutex_unlock(&S.mu);
}

/* --- the task index: a chained hash table keyed by task id --- */

static size_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)id; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (size_t)h;
}

static sched_task *task_find(const char *id)
{
    if (!S.buckets)
        return NULL;
    sched_task *t = S.buckets[hash_id(id) & (S.n_buckets - 1)];
    while (t && strcmp(t->id, id) != 0)
        t = t->next;
    return t;
}

static int index_grow(void)
{
    size_t n = S.n_buckets ? S.n_buckets * 2 : SCHED_MIN_BUCKETS;
    sched_task **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < S.n_buckets; i++) {
        for (sched_task *t = S.buckets[i], *next; t; t = next) {
            next = t->next;
            size_t h = hash_id(t->id) & (n - 1);
            t->next = b[h];
            b[h] = t;
        }
    }
    free(S.buckets);
    S.buckets = b;
    S.n_buckets = n;
    return 0;
}

static sched_task *task_add(const char *id)
{
    if (S.n_tasks >= S.n_buckets && index_grow() != 0)
        return NULL;
    size_t len = strlen(id) + 1;
    sched_task *t = malloc(sizeof(*t) + len);
    if (!t)
        return NULL;
    memcpy(t->id, id, len);
    for (int k = 0; k < SCHED_KINDS; k++)
        t->slot[k] = -1;
    t->n_set = 0;
    size_t h = hash_id(id) & (S.n_buckets - 1);
    t->next = S.buckets[h];
    S.buckets[h] = t;
    S.n_tasks++;
    return t;
}

static void task_remove(sched_task *t)
{
    sched_task **p = &S.buckets[hash_id(t->id) & (S.n_buckets - 1)];
    while (*p != t)
        p = &(*p)->next;
    *p = t->next;
    S.n_tasks--;
    free(t);
}

/* --- the heap of deadlines --- */

static bool earlier(const deadline *a, const deadline *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void heap_put(int i, deadline d)
{
    S.heap[i] = d;
    d.task->slot[d.kind] = i;
}

static void sift_up(int i)
{
    deadline d = S.heap[i];
    while (i > 0 && earlier(&d, &S.heap[(i - 1) / 2])) {
        heap_put(i, S.heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_put(i, d);
}

static void sift_down(int i)
{
    deadline d = S.heap[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= S.n)
            break;
        if (c + 1 < S.n && earlier(&S.heap[c + 1], &S.heap[c]))
            c++;
        if (!earlier(&S.heap[c], &d))
            break;
        heap_put(i, S.heap[c]);
        i = c;
    }
    heap_put(i, d);
}

/* Restores the heap order after the deadline at i changed. */
static void heap_fix(int i)
{
    if (i > 0 && earlier(&S.heap[i], &S.heap[(i - 1) / 2]))
        sift_up(i);
    else
        sift_down(i);
}

static int heap_push(sched_task *t, int kind, int64_t at_ms)
{
    if (S.n == S.cap) {
        int cap = S.cap ? S.cap * 2 : 256;
        deadline *h = realloc(S.heap, (size_t)cap * sizeof(*h));
        if (!h)
            return -1;
        S.heap = h;
        S.cap = cap;
    }
    heap_put(S.n, (deadline){.at_ms = at_ms, .seq = S.seq++, .task = t, .kind = kind});
    t->n_set++;
    sift_up(S.n++);
    return 0;
}

/* Removes the deadline at heap position i, and its task once it has none left. */
static void heap_remove(int i)
{
    sched_task *t = S.heap[i].task;
    t->slot[S.heap[i].kind] = -1;
    if (--S.n > i) {
        heap_put(i, S.heap[S.n]);
        heap_fix(i);
    }
    if (--t->n_set == 0)
        task_remove(t);
}

static void clear_all(void)
{
    for (size_t i = 0; i < S.n_buckets; i++) {
        for (sched_task *t = S.buckets[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
    }
    free(S.buckets);
    free(S.heap);
    S.buckets = NULL;
    S.heap = NULL;
    S.n_buckets = S.n_tasks = 0;
    S.n = S.cap = 0;
}

/* --- the thread --- */

static void wait_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&S.wake, &S.mu, &ts);
}

/* Pops the earliest deadline and calls back without the lock, so the callback may set or
 * cancel deadlines itself. Called and returns with the lock held. */
static void fire_top(void)
{
    deadline d = S.heap[0];
    char *id = strdup(d.task->id);
    heap_remove(0);
    if (!id) {
        log_error("sched: out of memory, deadline %d dropped", d.kind);
        return;
    }
    sched_fire_fn fire = S.fire;
    void *ctx = S.ctx;
    unlock();
    fire(ctx, id, (sched_kind)d.kind);
    lock();
    free(id);
}

static void *sched_main(void *arg)
{
    unsigned gen = (unsigned)(uintptr_t)arg;
    lock();
    while (S.gen == gen) {
        if (S.n == 0) {
            pthread_cond_wait(&S.wake, &S.mu);
            continue;
        }
        int64_t now = time_now_ms(), at = S.heap[0].at_ms;
        if (at <= now)
            fire_top();
        else
            wait_ms(at - now < SCHED_MAX_SLEEP_MS ? at - now : SCHED_MAX_SLEEP_MS);
    }
    unlock();
    return NULL;
}

/* --- the interface --- */

int sched_start(sched_fire_fn fire, void *ctx)
{
    if (!fire)
        return -1;
    lock();
    int rc = -1;
    if (!S.running) {
        S.fire = fire;
        S.ctx = ctx;
        rc = pthread_create(&S.thread, NULL, sched_main, (void *)(uintptr_t)S.gen) == 0 ? 0 : -1;
        S.running = rc == 0;
    }
    unlock();
    if (rc != 0)
        log_error("sched: cannot start the scheduler thread");
    return rc;
}

/* From a callback (the scheduler thread itself) the thread is detached instead of joined:
 * it leaves its loop as soon as the callback returns. */
void sched_stop(void)
{
    lock();
    bool was_running = S.running;
    pthread_t th = S.thread;
    S.gen++;
    S.running = false;
    pthread_cond_broadcast(&S.wake);
    unlock();
    if (was_running) {
        if (pthread_equal(th, pthread_self()))
            pthread_detach(th);
        else
            pthread_join(th, NULL);
    }
    lock();
    clear_all();
    unlock();
}

static bool kind_ok(const char *task_id, int kind)
{
    if (task_id && kind >= 0 && kind < SCHED_KINDS)
        return true;
    log_error("sched: bad deadline (task %s, kind %d)", task_id ? task_id : "(null)", kind);
    return false;
}

void sched_set(const char *task_id, sched_kind kind, int64_t at_ms)
{
    if (!kind_ok(task_id, (int)kind))
        return;
    lock();
    sched_task *t = task_find(task_id);
    if (!t)
        t = task_add(task_id);
    int i = t ? t->slot[kind] : -1;
    if (i >= 0) {
        S.heap[i].at_ms = at_ms;
        S.heap[i].seq = S.seq++;
        heap_fix(i);
    } else if (!t || heap_push(t, (int)kind, at_ms) != 0) {
        if (t && t->n_set == 0)
            task_remove(t);
        t = NULL;
        log_error("sched: out of memory, task %s deadline %d not set", task_id, (int)kind);
    }
    /* Wake the thread only when this deadline is now the first one due. */
    if (t && t->slot[kind] == 0)
        pthread_cond_signal(&S.wake);
    unlock();
}

void sched_cancel(const char *task_id, int kind)
{
    if (!task_id || kind >= SCHED_KINDS)
        return;
    lock();
    sched_task *t = task_find(task_id);
    for (int k = 0; t && k < SCHED_KINDS; k++) {
        if ((kind < 0 || k == kind) && t->slot[k] >= 0) {
            bool last = t->n_set == 1;
            heap_remove(t->slot[k]);
            if (last)
                break; /* t is freed */
        }
    }
    unlock();
}

int64_t sched_get(const char *task_id, sched_kind kind)
{
    if (!task_id || (int)kind < 0 || kind >= SCHED_KINDS)
        return -1;
    lock();
    sched_task *t = task_find(task_id);
    int64_t at = t && t->slot[kind] >= 0 ? S.heap[t->slot[kind]].at_ms : -1;
    unlock();
    return at;
}
