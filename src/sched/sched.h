/* sched.h — the scheduler: one thread, a min-heap of per-task deadlines, a condition
 * variable to wake early. It fires callbacks; it never does media or store work itself. */
#ifndef FERRY_SCHED_H
#define FERRY_SCHED_H

#include <stdint.h>

typedef enum {
    SCHED_START = 0, /* StartTime reached */
    SCHED_STOP = 1,  /* EndTime reached */
    SCHED_RETRY = 2, /* a retry back-off elapsed */
    SCHED_PURGE = 3, /* the retention of a finished task ran out */
    SCHED_KINDS = 4,
} sched_kind;

/* Called on the scheduler thread when a deadline is reached; must not block for long. */
typedef void (*sched_fire_fn)(void *ctx, const char *task_id, sched_kind kind);

int sched_start(sched_fire_fn fire, void *ctx);
void sched_stop(void); /* joins the thread; pending deadlines are dropped */
/* Sets (or moves) the deadline of kind for the task to at_ms (wall clock, Unix ms).
 * A deadline in the past fires at once. */
void sched_set(const char *task_id, sched_kind kind, int64_t at_ms);
/* Removes the task's deadline of that kind; kind < 0 removes all of the task's. */
void sched_cancel(const char *task_id, int kind);
/* Deadline now set, or -1 (for tests and status). */
int64_t sched_get(const char *task_id, sched_kind kind);

#endif
