/* relay_update.c — a live modification taken by the running worker between packets: a new
 * live source or playlist, loops, retries, backup and pad, the destinations; one session. */
#include "engine/relay.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Strings that did not change keep the pointer the worker already handed out (an output's
 * writer holds its URL): the old job then holds the new duplicate, freed with it. */
static void keep_unchanged(engine_job *now, engine_job *old)
{
    const char **pairs[][2] = {
        {&now->outputs[0], &old->outputs[0]},
        {&now->outputs[1], &old->outputs[1]},
        {&now->backup_source, &old->backup_source},
        {&now->pad_url, &old->pad_url},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        if (same(*pairs[i][0], *pairs[i][1])) {
            const char *t = *pairs[i][0];
            *pairs[i][0] = *pairs[i][1];
            *pairs[i][1] = t;
        }
    }
}

static bool list_changed(const engine_job *a, const engine_job *b)
{
    if (a->n_sources != b->n_sources)
        return true;
    for (int i = 0; i < a->n_sources; i++)
        if (!same(a->sources[i], b->sources[i]))
            return true;
    return false;
}

/* A changed destination gets a new session; a second one comes, goes or moves. */
static void update_outputs(relay *r, const engine_job *old)
{
    const engine_job *j = r->job;
    for (int i = 0; i < ENGINE_OUTPUTS; i++) {
        if (same(old->outputs[i], j->outputs[i]))
            continue;
        if (i < r->n_outs)
            relay_drop_output(r, i);
        memset(&r->outs[i], 0, sizeof(r->outs[i]));
        r->outs[i].url = j->outputs[i];
        tlog_info(j->task_id, "engine: output %d is now %s", i,
                  j->outputs[i] ? REDACT_URL(j->outputs[i]) : "(none)");
    }
    r->n_outs = j->outputs[1] ? 2 : 1;
}

static void update_live(relay *r, const engine_job *old)
{
    const engine_job *j = r->job;
    bool main_moved = !same(old->sources[0], j->sources[0]);
    bool alternates_moved = !same(old->backup_source, j->backup_source) ||
                            old->backup_is_file != j->backup_is_file ||
                            !same(old->pad_url, j->pad_url);
    bool gone = relay_sources_configure(r);
    bool reopen = gone || main_moved || (alternates_moved && src_failover_on_alternate(r->in));
    if (!reopen)
        return;
    src_failover_restart(r->in); /* a new source: a fresh start, at once */
    relay_close_for_switch(r);
    tlog_info(j->task_id, "engine: the source changes to %s; the output session goes on",
              REDACT_URL(j->sources[0]));
}

int relay_take_update(relay *r)
{
    engine_job *next = worker_take_update(r->w);
    if (!next)
        return RELAY_GO;
    src_failover_side_stop(r->in); /* the re-check and the standby read the job */
    engine_job old = r->w->job;
    keep_unchanged(next, &old);
    r->w->job = *next;
    free(next); /* its strings now belong to the worker's job */
    update_outputs(r, &old);
    if (r->list)
        relay_playlist_update(r->list, &old, list_changed(&old, r->job));
    else
        update_live(r, &old);
    engine_job_clear(&old);
    relay_marks_update(r);
    src_failover_side_resume(r->in);
    tlog_info(r->job->task_id, "engine: live modification applied");
    return worker_stop_requested(r->w) ? relay_stop(r) : RELAY_GO;
}
