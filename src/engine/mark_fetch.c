/* mark_fetch.c — a helper thread that fetches the pictures of a set of watermarks one after
 * another (mark_fetch.h); the worker polls it between packets and takes them when done. */
#include "engine/mark_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mark_fetch {
    pthread_t thread;
    io_guard guard;
    source_open_args args;
    int64_t timeout_us;
    const char *task_id;
    int n;
    char *urls[TASK_MAX_WATERMARKS];
    AVFrame *images[TASK_MAX_WATERMARKS];
    char errs[TASK_MAX_WATERMARKS][ENGINE_ERR_MAX];
    atomic_bool dropped;
    atomic_bool done;
};

static void fetch_one(mark_fetch *f, int i)
{
    if (!f->urls[i])
        return;
    io_guard_arm(&f->guard, f->timeout_us);
    if (atomic_load(&f->dropped))
        return; /* dropped before the arm, which cleared the cut */
    f->args.url = f->urls[i];
    AVFrame *img = av_frame_alloc();
    if (!img) {
        snprintf(f->errs[i], sizeof(f->errs[i]), "out of memory");
        return;
    }
    if (picture_fetch(&f->args, img, f->errs[i], sizeof(f->errs[i])) == 0)
        f->images[i] = img;
    else
        av_frame_free(&img);
}

static void *fetch_main(void *arg)
{
    mark_fetch *f = arg;
    engine_log_bind_task(f->task_id);
    for (int i = 0; i < f->n && !atomic_load(&f->dropped); i++)
        fetch_one(f, i);
    engine_log_bind_task(NULL);
    atomic_store(&f->done, true);
    return NULL;
}

static void fetch_free(mark_fetch *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->urls[i]);
        av_frame_free(&f->images[i]);
    }
    free(f);
}

mark_fetch *mark_fetch_start(char *const *urls, int n, const source_open_args *base,
                             const engine_worker *w, int64_t timeout_us, const char *task_id)
{
    mark_fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->n = n < TASK_MAX_WATERMARKS ? n : TASK_MAX_WATERMARKS;
    bool oom = false;
    for (int i = 0; i < f->n; i++) {
        f->urls[i] = urls[i] ? strdup(urls[i]) : NULL;
        oom |= urls[i] && !f->urls[i];
    }
    io_guard_init(&f->guard, w, 0);
    f->args = *base;
    f->args.interrupt = io_guard_callback(&f->guard);
    f->timeout_us = timeout_us;
    f->task_id = task_id;
    atomic_init(&f->dropped, false);
    atomic_init(&f->done, false);
    if (oom || pthread_create(&f->thread, NULL, fetch_main, f) != 0) {
        fetch_free(f);
        return NULL;
    }
    return f;
}

bool mark_fetch_done(const mark_fetch *f)
{
    return atomic_load(&f->done);
}

void mark_fetch_take(mark_fetch *f, AVFrame **images, char (*errs)[ENGINE_ERR_MAX])
{
    pthread_join(f->thread, NULL);
    for (int i = 0; i < f->n; i++) {
        images[i] = f->images[i];
        f->images[i] = NULL;
        snprintf(errs[i], ENGINE_ERR_MAX, "%s", f->errs[i][0] ? f->errs[i] : "not fetched");
    }
    fetch_free(f);
}

void mark_fetch_drop(mark_fetch *f)
{
    if (!f)
        return;
    atomic_store(&f->dropped, true);
    io_guard_cut(&f->guard);
    pthread_join(f->thread, NULL);
    fetch_free(f);
}
