/* source_playlist.c — a file playlist as the relay's source: opens entries in order (from the
 * download cache in VodLocalMode), the next one ahead on a helper thread, emits file events. */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define PREFETCH_LEAD_MS 2000 /* the next entry opens when the current one has this left */
#define CACHE_SUBDIR "cache"

struct file_prefetch {
    source_opener *op;
    file_feed *feed;
    int index;
    char *url; /* its own copy: a live modification may replace the list meanwhile */
};

static const char *feed_url(const file_feed *f, int index)
{
    return index >= 0 && index < f->list.n ? f->list.urls[index] : "";
}

static void feed_list_free(feed_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->urls[i]);
    memset(l, 0, sizeof(*l));
}

/* The job's list; its start only when start (else the first entry from the beginning). */
static int feed_list_from(feed_list *l, const engine_job *job, bool start)
{
    memset(l, 0, sizeof(*l));
    l->loop_count = job->loop_count;
    l->file_index = start ? job->file_index : 0;
    l->offset_s = start ? job->offset_s : 0;
    for (int i = 0; i < job->n_sources && i < TASK_MAX_SOURCES; i++) {
        l->urls[i] = strdup(job->sources[i] ? job->sources[i] : "");
        l->n = i + 1;
        if (!l->urls[i]) {
            feed_list_free(l);
            return AVERROR(ENOMEM);
        }
    }
    return 0;
}

/* ---------- opening one entry ---------- */

static bool feed_cancelled(void *ctx)
{
    return worker_stop_requested(ctx);
}

/* An alarm about entry index (url): from the worker, or from the thread opening the next
 * entry (the alarm names that entry, not the one playing). */
static void feed_alarm_at(file_feed *f, int index, const char *url, const char *type,
                          const char *why)
{
    char detail[ENGINE_ERR_MAX + 64];
    snprintf(detail, sizeof(detail), "file %d %s: %s", index, REDACT_URL(url), why);
    engine_event ev = {.type = ENGINE_EV_ALARM,
                       .failure = ENGINE_FAIL_PULL,
                       .error = detail,
                       .alarm = type,
                       .url = url,
                       .index = index};
    worker_emit(f->w, &ev);
}

/* VodLocalMode: the path of a complete local copy, or the URL itself when the download
 * fails (a PullFileUnstable alarm says why) or the entry is an HLS playlist. */
static const char *feed_local_copy(file_feed *f, int index, const char *url, char *path, size_t len,
                                   char *why, size_t whylen)
{
    if (!f->local || !file_cache_accepts(url))
        return url;
    char err[ENGINE_ERR_MAX];
    int rc = file_cache_get(&f->cache, url, feed_cancelled, f->w, path, len, err, sizeof(err));
    if (rc == 0) {
        tlog_info(f->w->job.task_id, "engine: playing %s from the cache", REDACT_URL(url));
        return path;
    }
    if (rc == FILE_CACHE_TOO_BIG) { /* streaming it would only move the cost */
        snprintf(why, whylen, "%s", err);
        return NULL;
    }
    if (!worker_stop_requested(f->w)) {
        char alarm[ENGINE_ERR_MAX + 32];
        snprintf(alarm, sizeof(alarm), "%s; streaming it instead", err);
        feed_alarm_at(f, index, url, "PullFileUnstable", alarm);
    }
    return url;
}

/* The keyframe at or before offset_ms into the file. */
static int feed_seek(engine_source *src, int64_t offset_ms, char *why, size_t len)
{
    int64_t start = src->ic->start_time != AV_NOPTS_VALUE ? src->ic->start_time : 0;
    int64_t ts = start + offset_ms * 1000;
    int rc = avformat_seek_file(src->ic, -1, INT64_MIN, ts, ts, AVSEEK_FLAG_BACKWARD);
    if (rc < 0) {
        char msg[128];
        snprintf(why, len, "seek to %lld ms: %s", (long long)offset_ms,
                 engine_averror(rc, msg, sizeof(msg)));
        source_live_ops.close(src);
    }
    return rc;
}

static int feed_open_entry(file_feed *f, int index, const char *entry, int64_t offset_ms,
                           engine_source *src, io_guard *guard, char *why, size_t len)
{
    char path[1024];
    const char *url = feed_local_copy(f, index, entry, path, sizeof(path), why, len);
    if (!url)
        return AVERROR(EFBIG);
    source_open_args a = f->base;
    a.url = url;
    a.cached = url == path;
    a.interrupt = io_guard_callback(guard);
    io_guard_arm(guard, f->connect_timeout_us);
    src->ops = &source_live_ops;
    int rc = source_live_ops.open(src, &a, why, len);
    if (rc < 0 && guard->expired)
        snprintf(why, len, "open: timed out after %lld ms",
                 (long long)f->connect_timeout_us / 1000);
    if (rc == 0 && offset_ms > 0)
        rc = feed_seek(src, offset_ms, why, len);
    return rc;
}

/* ---------- the entry after the current one, opened ahead ---------- */

static int feed_prefetch_open(void *ctx, engine_source *src, io_guard *guard, char *why, size_t len)
{
    file_prefetch *p = ctx;
    return feed_open_entry(p->feed, p->index, p->url, 0, src, guard, why, len);
}

static void feed_prefetch_free(file_prefetch *p)
{
    if (p)
        free(p->url);
    free(p);
}

static void feed_prefetch_start(file_feed *f)
{
    int next = playlist_peek_next(&f->pl);
    if (f->pre || next < 0 || f->next_pending || worker_stop_requested(f->w))
        return;
    file_prefetch *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->feed = f;
    p->index = next;
    p->url = strdup(feed_url(f, next));
    if (p->url)
        p->op =
            source_opener_start(feed_prefetch_open, p, &f->guards[1 - f->cur], f->w->job.task_id);
    if (!p->op) {
        feed_prefetch_free(p);
        return; /* the entry opens on the worker when its turn comes */
    }
    f->pre = p;
}

/* A prefetch no longer wanted: an open in flight is cut when cut. */
static void feed_prefetch_drop(file_feed *f)
{
    file_prefetch *p = f->pre;
    f->pre = NULL;
    if (p)
        source_opener_drop(p->op);
    feed_prefetch_free(p);
}

/* ---------- the feed ---------- */

static void feed_cache_conf(file_feed *f)
{
    const config *c = f->w->job.config;
    if (c && c->file_cache_dir[0])
        snprintf(f->cache_dir, sizeof(f->cache_dir), "%s", c->file_cache_dir);
    else
        snprintf(f->cache_dir, sizeof(f->cache_dir), "%s/%s", c ? c->data_dir : ".", CACHE_SUBDIR);
    f->cache.dir = f->cache_dir;
    f->cache.allow = f->w->policy[ADDR_SOURCE].allow;
    f->cache.account = f->w->job.account;
    f->cache.max_bytes = (int64_t)(c ? c->file_cache_max_mb : 2048) * 1024 * 1024;
    f->cache.file_max =
        c ? config_account_download_max_bytes(c, config_find_account(c, f->w->job.account)) : 0;
}

int file_feed_init(file_feed *f, engine_worker *w, const source_open_args *base)
{
    memset(f, 0, sizeof(*f));
    f->w = w;
    if (feed_list_from(&f->list, &w->job, true) < 0)
        return AVERROR(ENOMEM);
    f->base = *base;
    f->connect_timeout_us = (int64_t)w->job.connect_timeout_ms * 1000;
    f->local = w->job.vod_local_mode == 1;
    io_guard_init(&f->guards[0], w, 0);
    io_guard_init(&f->guards[1], w, 0);
    playlist_init(&f->pl, f->list.n, f->list.loop_count, f->list.file_index, f->list.offset_s);
    feed_cache_conf(f);
    return 0;
}

void file_feed_free(file_feed *f)
{
    feed_prefetch_drop(f);
    feed_list_free(&f->list);
    feed_list_free(&f->next);
}

int file_feed_open(file_feed *f, engine_source *src, char *why, size_t len)
{
    f->played = false;
    f->position_ms = 0;
    file_prefetch *p = f->pre;
    const char *url = feed_url(f, f->pl.index);
    int rc;
    if (p && p->index == f->pl.index && strcmp(p->url, url) == 0 &&
        playlist_offset_ms(&f->pl) == 0) {
        f->pre = NULL;
        rc = source_opener_take(p->op, src, why, len);
        feed_prefetch_free(p);
    } else {
        feed_prefetch_drop(f);
        engine_av_error_clear();
        rc = feed_open_entry(f, f->pl.index, url, playlist_offset_ms(&f->pl), src,
                             &f->guards[1 - f->cur], why, len);
    }
    if (rc == 0)
        f->cur = 1 - f->cur;
    return rc;
}

io_guard *file_feed_guard(file_feed *f)
{
    return &f->guards[f->cur];
}

static int64_t feed_duration_ms(const AVFormatContext *ic)
{
    return ic->duration > 0 ? ic->duration / 1000 : 0;
}

/* The next entry: of the list after a pending change, else of this one ("" = none). */
static const char *feed_next_url(const file_feed *f)
{
    if (f->next_pending) {
        int i = f->next.file_index >= 0 && f->next.file_index < f->next.n ? f->next.file_index : 0;
        return f->next.urls[i];
    }
    int next = playlist_peek_next(&f->pl);
    return next >= 0 ? feed_url(f, next) : "";
}

static void feed_show_progress(const file_feed *f)
{
    progress_set_file(f->w, feed_url(f, f->pl.index), f->pl.index, f->duration_ms, f->pl.loops_done,
                      feed_next_url(f));
}

void file_feed_started(file_feed *f)
{
    /* the relay calls this with its source open: read what it needs from the worker */
    const char *url = feed_url(f, f->pl.index);
    feed_show_progress(f);
    engine_event ev = {.type = ENGINE_EV_FILE_START,
                       .url = url,
                       .index = f->pl.index,
                       .duration_ms = f->duration_ms,
                       .loops_done = f->pl.loops_done};
    worker_emit(f->w, &ev);
    if (f->local || f->duration_ms <= PREFETCH_LEAD_MS)
        feed_prefetch_start(f); /* a download takes long; a short entry ends soon */
}

/* Called by the relay right after file_feed_open succeeded (the format is known). */
void file_feed_opened(file_feed *f, const engine_source *src)
{
    int64_t st = src->ic->start_time;
    f->start_us = st != AV_NOPTS_VALUE ? st : 0;
    f->duration_ms = feed_duration_ms(src->ic);
}

void file_feed_note_packet(file_feed *f, int64_t dts_us)
{
    int64_t pos = (dts_us - f->start_us) / 1000;
    f->played = true;
    if (pos > f->position_ms) {
        f->position_ms = pos;
        progress_set_offset(f->w, pos);
    }
    if (!f->pre && (f->duration_ms <= 0 || f->duration_ms - pos < PREFETCH_LEAD_MS))
        feed_prefetch_start(f);
}

static void feed_alarm(file_feed *f, const char *type, const char *why)
{
    feed_alarm_at(f, f->pl.index, feed_url(f, f->pl.index), type, why);
}

/* The pending list becomes the one playing, from its start. */
static bool feed_take_next(file_feed *f)
{
    feed_prefetch_drop(f);
    feed_list_free(&f->list);
    f->list = f->next;
    memset(&f->next, 0, sizeof(f->next));
    f->next_pending = false;
    playlist_init(&f->pl, f->list.n, f->list.loop_count, f->list.file_index, f->list.offset_s);
    f->played = false;
    f->duration_ms = 0;
    tlog_info(f->w->job.task_id, "engine: the new playlist (%d file(s)) starts", f->list.n);
    return true;
}

bool file_feed_next(file_feed *f, const char *why)
{
    if (f->played) {
        if (why)
            feed_alarm(f, "FileEndEarly", why);
        engine_event ev = {.type = ENGINE_EV_FILE_FINISH,
                           .url = feed_url(f, f->pl.index),
                           .index = f->pl.index,
                           .duration_ms = f->duration_ms};
        worker_emit(f->w, &ev);
    } else {
        feed_alarm(f, "PullFileFailed", why ? why : "no packet");
    }
    if (f->next_pending)
        return feed_take_next(f);
    bool more = playlist_advance(&f->pl, f->played);
    f->played = false;
    f->duration_ms = 0;
    if (!more || playlist_all_failed(&f->pl)) {
        feed_prefetch_drop(f);
        return false;
    }
    return true;
}

bool file_feed_all_failed(const file_feed *f)
{
    return playlist_all_failed(&f->pl);
}

int file_feed_replace(file_feed *f, const engine_job *job, bool now, bool start_changed)
{
    feed_list next;
    if (feed_list_from(&next, job, start_changed) < 0)
        return AVERROR(ENOMEM);
    feed_list_free(&f->next);
    f->next = next;
    f->next_pending = true;
    feed_prefetch_drop(f); /* it opened the old list's next entry */
    if (now) {
        if (f->played) {
            engine_event ev = {.type = ENGINE_EV_FILE_FINISH,
                               .url = feed_url(f, f->pl.index),
                               .index = f->pl.index,
                               .duration_ms = f->duration_ms};
            worker_emit(f->w, &ev);
        }
        feed_take_next(f);
    }
    feed_show_progress(f);
    return 0;
}

void file_feed_set_loops(file_feed *f, int loop_count)
{
    if (f->next_pending)
        f->next.loop_count = loop_count;
    f->list.loop_count = loop_count;
    f->pl.loop_count = loop_count == -1 || loop_count >= 1 ? loop_count : 1;
    if (f->pre && f->pre->index != playlist_peek_next(&f->pl))
        feed_prefetch_drop(f);
    feed_show_progress(f);
}

void file_feed_set_local(file_feed *f, bool local)
{
    f->local = local;
}
