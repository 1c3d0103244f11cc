/* relay_playlist.c — a file playlist task's source as a leaf of its composite source
 * (src_node.h): the feed's entries opened into the relay's source slot, one epoch each. */
#include "engine/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

struct relay_playlist {
    relay *r;
    src_node *node;  /* the wrapper owns it */
    io_guard before; /* the relay's source guard until the first entry opens */
    file_feed feed;
};

/* Opens the current entry and checks it against the output session. */
static int pl_open_entry(relay_playlist *p, char *why, size_t len)
{
    relay *r = p->r;
    int rc = file_feed_open(&p->feed, &r->src, why, len);
    if (rc < 0) {
        relay_add_av_detail(why, len);
        return rc;
    }
    r->src_up = true;
    r->sg = file_feed_guard(&p->feed);
    file_feed_opened(&p->feed, &r->src);
    rc = relay_adopt_source(r, why, len);
    if (rc < 0)
        relay_close_source(r);
    return rc;
}

/* The current entry is over (why NULL: played to its end): true when another one follows,
 * else *st is END (the loops are done) or FAILED (every entry failed). */
static bool pl_move_on(relay_playlist *p, const char *why, src_read *rd, src_status *st)
{
    relay_close_for_switch(p->r);
    if (file_feed_next(&p->feed, why))
        return true;
    *st = SRC_END;
    if (file_feed_all_failed(&p->feed)) {
        snprintf(rd->ev.error, sizeof(rd->ev.error),
                 "playlist: every file failed (the last: %.400s)", why ? why : "no packet");
        *st = SRC_FAILED;
    }
    return false;
}

/* Opens the current entry, a new epoch; an entry that fails is skipped with an alarm. A stop
 * gives RETRY (the caller decides). */
static src_status pl_connect(relay_playlist *p, src_read *rd)
{
    relay *r = p->r;
    for (;;) {
        if (worker_stop_requested(r->w))
            return SRC_RETRY;
        char why[ENGINE_ERR_MAX];
        if (pl_open_entry(p, why, sizeof(why)) == 0)
            break;
        if (worker_stop_requested(r->w))
            return SRC_RETRY;
        src_status st;
        if (!pl_move_on(p, why, rd, &st))
            return st;
    }
    relay_log_source(r, relay_playlist_url(p));
    r->last_read_us = r->last_pass_us = time_mono_us();
    file_feed_started(&p->feed);
    return SRC_DISCONTINUITY;
}

/* The current entry is over: the next one opens at once, or the list is over. */
static src_status pl_entry_over(relay_playlist *p, const char *why, src_read *rd)
{
    src_status st;
    return pl_move_on(p, why, rd, &st) ? pl_connect(p, rd) : st;
}

/* The list is open from the start: its first read opens the current entry. */
static int pl_open(src_node *n, char *why, size_t len)
{
    (void)n;
    (void)why;
    (void)len;
    return 0;
}

static src_status pl_read(src_node *n, src_read *rd)
{
    relay_playlist *p = n->priv;
    relay *r = p->r;
    if (!r->src_up) /* the first entry, or the one a live modification put in place */
        return pl_connect(p, rd);
    bool unusable = relay_arm_read(r);
    int rc = r->src.ops->read(&r->src, rd->pkt, &rd->kind);
    if (rc >= 0)
        return SRC_PACKET;
    if (worker_stop_requested(r->w))
        return SRC_RETRY;
    if (rc == AVERROR_EOF)
        return pl_entry_over(p, NULL, rd);
    char why[ENGINE_ERR_MAX];
    relay_describe_read_error(r, rc, unusable, why, sizeof(why));
    return pl_entry_over(p, why, rd);
}

static src_status pl_cut(src_node *n, const char *why, src_read *rd)
{
    return pl_entry_over(n->priv, why, rd);
}

static void pl_close(src_node *n)
{
    relay_playlist *p = n->priv;
    if (p->r->src_up)
        relay_close_source(p->r);
}

static void pl_free(src_node *n)
{
    relay_playlist *p = n->priv;
    if (p->r->list == p)
        p->r->list = NULL;
    file_feed_free(&p->feed);
    free(p);
    n->priv = NULL;
}

static const src_node_ops relay_playlist_ops = {
    .name = "playlist",
    .open = pl_open,
    .read = pl_read,
    .close = pl_close,
    .free = pl_free,
    .cut = pl_cut,
};

const char *relay_playlist_url(const relay_playlist *p)
{
    return p->feed.list.urls[p->feed.pl.index];
}

void relay_playlist_note_packet(relay_playlist *p, int64_t dts_us)
{
    file_feed_note_packet(&p->feed, dts_us);
}

/* A live modification: the loops or VodLocalMode change in place; a new list replaces the
 * entry playing at once (a new epoch at the next read) or follows it. */
void relay_playlist_update(relay_playlist *p, const engine_job *old, bool list_changed)
{
    relay *r = p->r;
    const engine_job *j = r->job;
    bool start_moved = old->file_index != j->file_index || old->offset_s != j->offset_s;
    if (old->vod_local_mode != j->vod_local_mode)
        file_feed_set_local(&p->feed, j->vod_local_mode == 1);
    if (!list_changed && !start_moved) {
        if (old->loop_count != j->loop_count)
            file_feed_set_loops(&p->feed, j->loop_count);
        return;
    }
    p->node->url = j->sources[0];
    bool now = !j->continue_breakpoint;
    if (now)
        relay_close_for_switch(r); /* the feed tells the entry's end, then opens the new one */
    if (file_feed_replace(&p->feed, j, now, start_moved) < 0) {
        tlog_warn(j->task_id, "engine: out of memory: the playlist stays as it was");
        return;
    }
    tlog_info(j->task_id, "engine: new playlist of %d file(s): %s", j->n_sources,
              now ? "starts now" : "starts after the file playing");
}

/* The leaf's priv with its feed; NULL when out of memory. */
static relay_playlist *pl_new(relay *r)
{
    relay_playlist *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->r = r;
    io_guard_init(&p->before, r->w, 0);
    r->sg = &p->before;
    source_open_args base = relay_open_args(r, r->job->sources[0], r->sg);
    if (file_feed_init(&p->feed, r->w, &base) < 0) {
        file_feed_free(&p->feed);
        free(p);
        return NULL;
    }
    return p;
}

/* The playlist leaf under a failover wrapper without alternates: its entries are its own
 * retries, and it plays at real-time pace. */
int relay_playlist_init(relay *r)
{
    src_node *n = calloc(1, sizeof(*n));
    relay_playlist *p = n ? pl_new(r) : NULL;
    if (!p) {
        free(n);
        return -1;
    }
    p->node = n;
    *n = (src_node){
        .ops = &relay_playlist_ops, .priv = p, .url = r->job->sources[0], .is_file = true};
    r->list = p;
    src_failover_conf conf = {.retry_count = 0};
    r->in = src_failover_new(n, NULL, NULL, &conf);
    return r->in ? 0 : -1;
}
