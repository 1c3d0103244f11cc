/* source_opener.c — opens a source on a helper thread (the next playlist entry, the main
 * source while an alternate plays) so the worker keeps relaying meanwhile. */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>

struct source_opener {
    pthread_t thread;
    source_open_fn fn;
    void *ctx;
    io_guard *guard; /* the guard the opened context keeps */
    const char *task_id;
    engine_source src;
    atomic_bool done;
    int rc;
    char why[ENGINE_ERR_MAX];
    char av_error[256];
};

static void *opener_main(void *arg)
{
    source_opener *o = arg;
    engine_log_bind_task(o->task_id);
    engine_av_error_clear();
    o->src.stream_of[MEDIA_VIDEO] = o->src.stream_of[MEDIA_AUDIO] = -1;
    o->rc = o->fn(o->ctx, &o->src, o->guard, o->why, sizeof(o->why));
    snprintf(o->av_error, sizeof(o->av_error), "%s", engine_av_error_last());
    engine_log_bind_task(NULL);
    atomic_store(&o->done, true);
    return NULL;
}

source_opener *source_opener_start(source_open_fn fn, void *ctx, io_guard *guard,
                                   const char *task_id)
{
    source_opener *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    *o = (source_opener){.fn = fn, .ctx = ctx, .guard = guard, .task_id = task_id};
    atomic_init(&o->done, false);
    if (pthread_create(&o->thread, NULL, opener_main, o) != 0) {
        free(o);
        return NULL;
    }
    return o;
}

bool source_opener_done(const source_opener *o)
{
    return atomic_load(&o->done);
}

int source_opener_take(source_opener *o, engine_source *src, char *why, size_t len)
{
    pthread_join(o->thread, NULL);
    int rc = o->rc;
    if (rc == 0)
        *src = o->src;
    else
        snprintf(why, len, "%s", o->why);
    engine_av_error_set(o->av_error);
    free(o);
    return rc;
}

void source_opener_drop(source_opener *o)
{
    if (!o)
        return;
    io_guard_cut(o->guard);
    engine_source src;
    char why[8];
    if (source_opener_take(o, &src, why, sizeof(why)) == 0)
        src.ops->close(&src);
}
