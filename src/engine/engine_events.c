/* engine_events.c — the events workers send up: each stamped with its worker's generation,
 * logged with the task id, and handed to the callback that engine_init registered. */
#include "engine/engine_internal.h"

#include "common/log.h"

/* Set once by engine_init, before any worker runs; read by the worker threads. */
static engine_event_fn on_event;
static void *on_event_ctx;

void engine_events_set_handler(engine_event_fn fn, void *ctx)
{
    on_event = fn;
    on_event_ctx = ctx;
}

static const char *event_name(engine_event_type t)
{
    static const char *const names[] = {
        [ENGINE_EV_RUNNING] = "running",         [ENGINE_EV_RECOVERING] = "recovering",
        [ENGINE_EV_FAILED] = "failed",           [ENGINE_EV_FINISHED] = "finished",
        [ENGINE_EV_STOPPED] = "stopped",         [ENGINE_EV_FILE_START] = "file_start",
        [ENGINE_EV_FILE_FINISH] = "file_finish", [ENGINE_EV_ALARM] = "alarm",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void worker_log_event(const engine_worker *w, const engine_event *ev)
{
    const char *id = w->job.task_id;
    const char *err = ev->error ? ev->error : "";
    unsigned long long gen = (unsigned long long)w->generation;
    switch (ev->type) {
    case ENGINE_EV_RECOVERING:
    case ENGINE_EV_ALARM:
        tlog_warn(id, "engine: %s (gen %llu) %s%s%s", event_name(ev->type), gen,
                  ev->alarm ? ev->alarm : "", ev->alarm ? ": " : "", err);
        break;
    case ENGINE_EV_FAILED:
        tlog_error(id, "engine: failed (gen %llu): %s", gen, err);
        break;
    default:
        tlog_info(id, "engine: %s (gen %llu)", event_name(ev->type), gen);
    }
}

void worker_emit(engine_worker *w, engine_event *ev)
{
    ev->generation = w->generation;
    if (ev->type == ENGINE_EV_FAILED || ev->type == ENGINE_EV_FINISHED ||
        ev->type == ENGINE_EV_STOPPED)
        atomic_store(&w->finished, true);
    worker_log_event(w, ev);
    if (on_event)
        on_event(on_event_ctx, w->job.task_id, ev);
}
