/* relay_leaf.c — a live task's main source, backup and pad as leaves of its composite source
 * (src_node.h), opened into the relay's source slot; the main re-check and the standby. */
#include "engine/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

#define LIVE_GUARDS 3

/* What the live leaves share: each other, and the guards their sources are opened with. */
struct relay_live {
    relay_leaf *leaf[FB_SLOTS];
    /* An opened context keeps the guard it was opened with, so each open takes one that
     * neither the source playing, the main source's re-check nor the standby holds. */
    io_guard guards[LIVE_GUARDS];
};

struct relay_leaf {
    relay *r;
    fb_slot slot;
    src_node *node; /* the wrapper owns it */
    bool installed; /* its source is the relay's */
    /* main: the re-check, opening on a helper thread, then held until its first read */
    source_opener *check;
    io_guard *check_guard; /* the check's guard, then the held source's */
    char *check_url;
    bool held;
    engine_source held_src;
    relay_standby *standby; /* backup: kept connected while the main source plays */
};

static const char *leaf_url(const relay_leaf *l)
{
    const engine_job *j = l->r->job;
    return l->slot == FB_BACKUP ? j->backup_source : l->slot == FB_PAD ? j->pad_url : j->sources[0];
}

static bool leaf_is_file(const relay_leaf *l)
{
    return l->slot == FB_PAD || (l->slot == FB_BACKUP && l->r->job->backup_is_file);
}

/* A guard that neither the source playing, the main source's re-check nor the standby
 * holds. */
io_guard *relay_free_guard(relay *r)
{
    relay_live *live = r->live;
    const relay_leaf *m = live->leaf[FB_MAIN], *b = live->leaf[FB_BACKUP];
    const io_guard *check = m ? m->check_guard : NULL;
    const io_guard *standby = b && b->standby ? relay_standby_guard(b->standby) : NULL;
    for (int i = 0; i < LIVE_GUARDS; i++) {
        io_guard *g = &live->guards[i];
        if (g != r->sg && g != check && g != standby)
            return g;
    }
    return &live->guards[2]; /* not reached: on main no re-check runs, on a backup no standby */
}

const char *relay_live_url(const relay *r)
{
    return leaf_url(r->live->leaf[src_failover_slot(r->in)]);
}

/* src is open with guard g: checked against the output session, it becomes the relay's. */
static int leaf_install(relay_leaf *l, engine_source *src, io_guard *g, char *why, size_t len)
{
    relay *r = l->r;
    r->src = *src;
    r->src_up = true;
    r->sg = g;
    int rc = relay_adopt_source(r, why, len);
    if (rc < 0) {
        relay_close_source(r);
        return rc;
    }
    l->installed = true;
    relay_log_source(r, leaf_url(l));
    r->last_read_us = r->last_pass_us = time_mono_us();
    bool was_paced = r->paced;
    r->paced = relay_job_paced(r->job) || leaf_is_file(l);
    if (r->paced && !was_paced)
        r->pace_set = false;
    progress_set_source(r->w, leaf_url(l), fallback_slot_name(l->slot));
    return 0;
}

/* The standby backup takes over: its source plays and what it holds since its latest
 * keyframe goes out first (or, in pre-roll, becomes the pre-roll's buffer). */
static int leaf_take_standby(relay_leaf *l, char *why, size_t len)
{
    relay *r = l->r;
    relay_standby *sb = l->standby;
    l->standby = NULL;
    io_guard *g = relay_standby_guard(sb);
    engine_source s;
    gop_buffer held;
    if (!relay_standby_take(sb, &s, &held))
        return AVERROR(EAGAIN); /* not flowing: open it the usual way */
    int rc = leaf_install(l, &s, g, why, len);
    if (rc == 0) {
        gop_buffer_free(&r->gop);
        r->gop = held;
        r->flush_held = !r->preroll;
        tlog_info(r->job->task_id, "engine: the standby backup takes over with %d held packet(s)",
                  r->gop.count);
    } else {
        gop_buffer_free(&held);
    }
    return rc;
}

/* ---------- the main source's re-check, on a helper thread ---------- */

static int leaf_check_open(void *ctx, engine_source *src, io_guard *g, char *why, size_t len)
{
    relay_leaf *l = ctx;
    return relay_open_url(l->r, l->check_url, src, g, why, len);
}

static void leaf_forget_check(relay_leaf *l)
{
    l->check = NULL;
    free(l->check_url);
    l->check_url = NULL;
    if (!l->held)
        l->check_guard = NULL;
}

/* Waits for the re-check's open and takes what it gives. */
static int leaf_take_check(relay_leaf *l, engine_source *src, char *why, size_t len)
{
    int rc = source_opener_take(l->check, src, why, len);
    leaf_forget_check(l);
    return rc;
}

/* An alternate plays: the main source opens on the side; 0 when it did (held until its
 * first read), AVERROR(EAGAIN) while it opens. */
static int leaf_recheck(relay_leaf *l, char *why, size_t len)
{
    relay *r = l->r;
    if (l->held)
        return 0;
    if (!l->check) {
        l->check_url = strdup(r->job->sources[0]);
        l->check_guard = relay_free_guard(r);
        if (l->check_url)
            l->check = source_opener_start(leaf_check_open, l, l->check_guard, r->job->task_id);
        if (!l->check) {
            leaf_forget_check(l);
            snprintf(why, len, "re-check: no helper thread");
            return AVERROR(ENOMEM);
        }
        return AVERROR(EAGAIN);
    }
    if (!source_opener_done(l->check))
        return AVERROR(EAGAIN);
    io_guard *g = l->check_guard;
    int rc = leaf_take_check(l, &l->held_src, why, len);
    if (rc < 0) {
        tlog_info(r->job->task_id, "engine: the main source is still down: %s", why);
        return rc;
    }
    l->held = true;
    l->check_guard = g;
    return 0;
}

/* ---------- the leaf ---------- */

static int leaf_open(src_node *n, char *why, size_t len)
{
    relay_leaf *l = n->priv;
    relay *r = l->r;
    if (l->slot == FB_MAIN && src_failover_on_alternate(r->in))
        return leaf_recheck(l, why, len); /* the wrapper tries the main one on the side */
    if (l->standby && leaf_take_standby(l, why, len) == 0)
        return 0;
    engine_source s;
    memset(&s, 0, sizeof(s));
    io_guard *g;
    int rc;
    if (l->held) { /* the re-check's source, found before the alternate closed */
        s = l->held_src;
        g = l->check_guard;
        l->held = false;
        l->check_guard = NULL;
        rc = 0;
    } else if (l->check) {
        g = l->check_guard;
        rc = leaf_take_check(l, &s, why, len);
    } else {
        g = relay_free_guard(r);
        engine_av_error_clear();
        rc = relay_open_url(r, leaf_url(l), &s, g, why, len);
    }
    return rc < 0 ? rc : leaf_install(l, &s, g, why, len);
}

static src_status leaf_read(src_node *n, src_read *rd)
{
    relay_leaf *l = n->priv;
    relay *r = l->r;
    if (l->held) { /* the re-check's source takes over now that the alternate is closed */
        io_guard *g = l->check_guard;
        engine_source s = l->held_src;
        l->held = false;
        l->check_guard = NULL;
        if (leaf_install(l, &s, g, rd->ev.error, sizeof(rd->ev.error)) < 0)
            return SRC_FAILED;
    }
    bool unusable = relay_arm_read(r);
    int rc = r->src.ops->read(&r->src, rd->pkt, &rd->kind);
    if (rc >= 0)
        return SRC_PACKET;
    if (worker_stop_requested(r->w))
        return SRC_RETRY;
    if (r->paced && rc == AVERROR_EOF)
        return SRC_END;
    relay_describe_read_error(r, rc, unusable, rd->ev.error, sizeof(rd->ev.error));
    return SRC_FAILED;
}

static void leaf_close(src_node *n)
{
    relay_leaf *l = n->priv;
    relay *r = l->r;
    if (l->check) {
        source_opener_drop(l->check);
        leaf_forget_check(l);
    }
    if (l->held) {
        l->held_src.ops->close(&l->held_src);
        l->held = false;
        l->check_guard = NULL;
    }
    relay_standby_stop(l->standby);
    l->standby = NULL;
    if (l->installed && r->src_up)
        relay_close_for_switch(r);
    l->installed = false;
}

static void leaf_standby(src_node *n, bool on)
{
    relay_leaf *l = n->priv;
    relay *r = l->r;
    const engine_job *j = r->job;
    if (!on) {
        relay_standby_stop(l->standby);
        l->standby = NULL;
        return;
    }
    /* the wrapper asks while the main source plays (or is about to: a re-check found it) */
    bool want =
        j->kind == TASK_SOURCE_LIVE && j->backup_source && !j->backup_is_file && j->backup_standby;
    if (want && !l->standby)
        l->standby = relay_standby_start(r, j->backup_source, relay_free_guard(r));
}

static void leaf_free(src_node *n)
{
    relay_leaf *l = n->priv;
    l->r->live->leaf[l->slot] = NULL;
    free(l);
    n->priv = NULL;
}

static const src_node_ops relay_leaf_ops = {
    .name = "live",
    .open = leaf_open,
    .read = leaf_read,
    .close = leaf_close,
    .free = leaf_free,
    .standby = leaf_standby,
};

static src_node *leaf_new(relay *r, fb_slot slot)
{
    src_node *n = calloc(1, sizeof(*n));
    relay_leaf *l = calloc(1, sizeof(*l));
    if (!n || !l) {
        free(n);
        free(l);
        return NULL;
    }
    *l = (relay_leaf){.r = r, .slot = slot, .node = n};
    *n = (src_node){.ops = &relay_leaf_ops, .priv = l, .url = leaf_url(l)};
    r->live->leaf[slot] = l;
    return n;
}

static src_failover_conf leaf_conf(const engine_job *j)
{
    return (src_failover_conf){
        .retry_count = j->retry_count,
        .retry_interval_ms = j->retry_interval_ms,
        .recheck_ms = j->recheck_ms,
        .standby = j->backup_standby,
    };
}

bool relay_sources_configure(relay *r)
{
    const engine_job *j = r->job;
    bool live = j->kind == TASK_SOURCE_LIVE; /* the alternates stand in for a live source */
    for (int s = 0; s < FB_SLOTS; s++)
        r->live->leaf[s]->node->url = leaf_url(r->live->leaf[s]);
    src_failover_conf conf = leaf_conf(j);
    return src_failover_configure(r->in, live && j->backup_source, j->backup_is_file,
                                  live && j->pad_url, &conf);
}

void relay_sources_free(relay *r)
{
    free(r->live);
    r->live = NULL;
}

int relay_sources_init(relay *r)
{
    if (!(r->live = calloc(1, sizeof(*r->live))))
        return -1;
    for (int i = 0; i < LIVE_GUARDS; i++)
        io_guard_init(&r->live->guards[i], r->w, 0);
    r->sg = &r->live->guards[0];
    src_failover_conf conf = leaf_conf(r->job);
    src_node *main = leaf_new(r, FB_MAIN);
    src_node *backup = leaf_new(r, FB_BACKUP);
    src_node *pad = leaf_new(r, FB_PAD);
    if (!main || !backup || !pad) {
        src_node_free(main);
        src_node_free(backup);
        src_node_free(pad);
        return -1;
    }
    r->in = src_failover_new(main, backup, pad, &conf);
    if (!r->in)
        return -1;
    relay_sources_configure(r);
    return 0;
}
