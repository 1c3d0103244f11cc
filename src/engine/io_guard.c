/* io_guard.c — the interrupt guard that bounds every blocking libavformat call: a deadline
 * armed before the call, the worker's stop request with its grace, a cut from any thread. */
#include "engine/engine_internal.h"

#include "common/timeutil.h"

void io_guard_init(io_guard *g, const engine_worker *w, int64_t stop_grace_us)
{
    g->w = w;
    g->watch = NULL;
    g->over = false;
    g->deadline_us = INT64_MAX;
    g->stop_grace_us = stop_grace_us;
    g->expired = false;
    atomic_init(&g->cut, false);
}

void io_guard_arm(io_guard *g, int64_t timeout_us)
{
    g->deadline_us = time_mono_us() + timeout_us;
    g->expired = false;
    g->over = false;
    atomic_store(&g->cut, false);
}

void io_guard_cut(io_guard *g)
{
    atomic_store(&g->cut, true);
}

void io_guard_watch(io_guard *g, const AVIOContext *pb, int64_t max)
{
    g->watch = pb;
    g->watch_max = max;
    g->over = false;
}

void io_guard_unwatch(io_guard *g, const AVIOContext *pb)
{
    if (!pb || g->watch == pb)
        g->watch = NULL;
}

static bool watch_exceeded(io_guard *g)
{
    if (!g->watch || g->watch->bytes_read <= g->watch_max)
        return false;
    if (!g->over)
        av_log(NULL, AV_LOG_ERROR,
               "refused by the size policy: the playlist is larger than %lld KiB "
               "(playlist_max_kb)\n",
               (long long)(g->watch_max >> 10));
    g->over = true;
    return true;
}

static int io_guard_interrupt(void *opaque)
{
    io_guard *g = opaque;
    if (atomic_load(&g->cut) || watch_exceeded(g))
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

io_guard *io_guard_of(const AVIOInterruptCB *cb)
{
    return cb && cb->callback == io_guard_interrupt ? cb->opaque : NULL;
}
