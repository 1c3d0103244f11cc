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
    pthread_t thread;
    file_feed *feed;
    int index;
    engine_source src;
    io_guard *guard; /* the feed's spare guard */
    int rc;
    char why[ENGINE_ERR_MAX];
    char av_error[256];
};

static const char *feed_url(const file_feed *f, int index)
{
    return index >= 0 && index < f->w->job.n_sources ? f->w->job.sources[index] : "";
}

/* ---------- opening one entry ---------- */

static bool feed_cancelled(void *ctx)
{
    return worker_stop_requested(ctx);
}

/* VodLocalMode: the path of a complete local copy, or the URL itself when the download
 * fails (an alarm says why) or the entry is an HLS playlist. */
static const char *feed_local_copy(file_feed *f, const char *url, char *path, size_t len)
{
    if (!f->local || !file_cache_accepts(url))
        return url;
    char err[ENGINE_ERR_MAX];
    if (file_cache_get(&f->cache, url, feed_cancelled, f->w, path, len, err, sizeof(err)) == 0) {
        tlog_info(f->w->job.task_id, "engine: playing %s from the cache", url);
        return path;
    }
    if (!worker_stop_requested(f->w))
        tlog_warn(f->w->job.task_id, "engine: %s: %s; streaming it instead", url, err);
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

static int feed_open_entry(file_feed *f, int index, int64_t offset_ms, engine_source *src,
                           io_guard *guard, char *why, size_t len)
{
    char path[1024];
    const char *url = feed_local_copy(f, feed_url(f, index), path, sizeof(path));
    source_open_args a = f->base;
    a.url = url;
    a.interrupt = io_guard_callback(guard);
    io_guard_arm(guard, f->connect_timeout_us);
    src->ops = &source_live_ops;
    int rc = source_live_ops.open(src, &a, why, len);
    if (rc < 0 && guard->expired)
        snprintf(why, len, "open: timed out after %lld ms", (long long)f->connect_timeout_us / 1000);
    if (rc == 0 && offset_ms > 0)
        rc = feed_seek(src, offset_ms, why, len);
    return rc;
}

/* ---------- the entry after the current one, opened ahead ---------- */

static void *feed_prefetch_main(void *arg)
{
    file_prefetch *p = arg;
    engine_log_bind_task(p->feed->w->job.task_id);
    engine_av_error_clear();
    p->src.stream_of[MEDIA_VIDEO] = p->src.stream_of[MEDIA_AUDIO] = -1;
    p->rc = feed_open_entry(p->feed, p->index, 0, &p->src, p->guard, p->why, sizeof(p->why));
    snprintf(p->av_error, sizeof(p->av_error), "%s", engine_av_error_last());
    engine_log_bind_task(NULL);
    return NULL;
}

static void feed_prefetch_start(file_feed *f)
{
    int next = playlist_peek_next(&f->pl);
    if (f->pre || next < 0 || worker_stop_requested(f->w))
        return;
    file_prefetch *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->feed = f;
    p->index = next;
    p->guard = &f->guards[1 - f->cur];
    if (pthread_create(&p->thread, NULL, feed_prefetch_main, p) != 0) {
        free(p);
        return; /* the entry opens on the worker when its turn comes */
    }
    f->pre = p;
}

/* Waits for the helper and takes what it opened; NULL when nothing was opened ahead. */
static file_prefetch *feed_prefetch_take(file_feed *f)
{
    file_prefetch *p = f->pre;
    if (!p)
        return NULL;
    pthread_join(p->thread, NULL);
    f->pre = NULL;
    return p;
}

static void feed_prefetch_drop(file_feed *f)
{
    file_prefetch *p = feed_prefetch_take(f);
    if (p && p->rc == 0)
        source_live_ops.close(&p->src);
    free(p);
}

/* ---------- the feed ---------- */

static void feed_cache_conf(file_feed *f)
{
    const config *c = f->w->job.config;
    if (c && c->file_cache_dir[0])
        snprintf(f->cache_dir, sizeof(f->cache_dir), "%s", c->file_cache_dir);
    else
        snprintf(f->cache_dir, sizeof(f->cache_dir), "%s/%s", c ? c->data_dir : ".",
                 CACHE_SUBDIR);
    f->cache.dir = f->cache_dir;
    f->cache.max_bytes = (int64_t)(c ? c->file_cache_max_mb : 2048) * 1024 * 1024;
}

void file_feed_init(file_feed *f, engine_worker *w, const source_open_args *base)
{
    memset(f, 0, sizeof(*f));
    f->w = w;
    f->base = *base;
    f->connect_timeout_us = (int64_t)w->job.connect_timeout_ms * 1000;
    f->local = w->job.vod_local_mode == 1;
    io_guard_init(&f->guards[0], w, 0);
    io_guard_init(&f->guards[1], w, 0);
    playlist_init(&f->pl, w->job.n_sources, w->job.loop_count, w->job.file_index,
                  w->job.offset_s);
    feed_cache_conf(f);
}

void file_feed_free(file_feed *f)
{
    feed_prefetch_drop(f);
}

int file_feed_open(file_feed *f, engine_source *src, char *why, size_t len)
{
    f->played = false;
    f->position_ms = 0;
    file_prefetch *p = feed_prefetch_take(f);
    int rc;
    if (p && p->index == f->pl.index && playlist_offset_ms(&f->pl) == 0) {
        rc = p->rc;
        if (rc == 0)
            *src = p->src;
        else
            snprintf(why, len, "%s", p->why);
        engine_av_error_set(p->av_error);
    } else {
        if (p && p->rc == 0)
            source_live_ops.close(&p->src);
        engine_av_error_clear();
        rc = feed_open_entry(f, f->pl.index, playlist_offset_ms(&f->pl), src,
                             &f->guards[1 - f->cur], why, len);
    }
    free(p);
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

void file_feed_started(file_feed *f)
{
    /* the relay calls this with its source open: read what it needs from the worker */
    const char *url = feed_url(f, f->pl.index);
    int next = playlist_peek_next(&f->pl);
    progress_set_file(f->w, url, f->pl.index, f->duration_ms, f->pl.loops_done,
                      next >= 0 ? feed_url(f, next) : "");
    engine_event ev = {.type = ENGINE_EV_FILE_START, .url = url, .index = f->pl.index,
                       .duration_ms = f->duration_ms};
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
    char detail[ENGINE_ERR_MAX + 64];
    snprintf(detail, sizeof(detail), "file %d %s: %s", f->pl.index, feed_url(f, f->pl.index),
             why);
    engine_event ev = {.type = ENGINE_EV_ALARM, .failure = ENGINE_FAIL_PULL, .error = detail,
                       .alarm = type, .url = feed_url(f, f->pl.index), .index = f->pl.index};
    worker_emit(f->w, &ev);
}

bool file_feed_next(file_feed *f, const char *why)
{
    if (f->played) {
        if (why)
            feed_alarm(f, "FileEndEarly", why);
        engine_event ev = {.type = ENGINE_EV_FILE_FINISH, .url = feed_url(f, f->pl.index),
                           .index = f->pl.index, .duration_ms = f->duration_ms};
        worker_emit(f->w, &ev);
    } else {
        feed_alarm(f, "PullFileFailed", why ? why : "no packet");
    }
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
