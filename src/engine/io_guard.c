/* io_guard.c — the interrupt guard that bounds every blocking libavformat call: a deadline
 * armed before the call, the worker's stop request with its grace, a cut from any thread. */
#include "engine/engine_internal.h"

#include "common/timeutil.h"

void io_guard_init(io_guard *g, const engine_worker *w, int64_t stop_grace_us)
{
    g->w = w;
    g->deadline_us = INT64_MAX;
    g->stop_grace_us = stop_grace_us;
    g->expired = false;
    atomic_init(&g->cut, false);
}

void io_guard_arm(io_guard *g, int64_t timeout_us)
{
    g->deadline_us = time_mono_us() + timeout_us;
    g->expired = false;
    atomic_store(&g->cut, false);
}

void io_guard_cut(io_guard *g)
{
    atomic_store(&g->cut, true);
}

static int io_guard_interrupt(void *opaque)
{
    io_guard *g = opaque;
    if (atomic_load(&g->cut))
        return 1;
    int64_t now = time_mono_us();
    int64_t stop_at = atomic_load(&g->w->stop_at_us);
    if (stop_at && now - stop_at >= g->stop_grace_us)
        return 1;
    if (now > g->deadline_us) {
        g->expired = true;
        return 1;
    }
    return 0;
}

AVIOInterruptCB io_guard_callback(io_guard *g)
{
    return (AVIOInterruptCB){.callback = io_guard_interrupt, .opaque = g};
}
