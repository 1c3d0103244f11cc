/* progress.c — a worker's progress snapshot: strings under its lock, the sent counters and the
 * per-second rate window added to without it (one writer), and the copy the API reads. */
#include "engine/engine_internal.h"

#include <stdio.h>

#include "common/timeutil.h"
#include "engine/event_loop.h"

#define RELAXED memory_order_relaxed

/* Lock-free but when the second moves on to a slot of an older one (once a second). */
static void rate_add(engine_worker *w, int64_t now_ms, int bytes, bool frame)
{
    rate_window *r = &w->rate;
    int64_t sec = now_ms / 1000;
    int i = (int)(sec % RATE_SLOTS);
    if (atomic_load_explicit(&r->second[i], RELAXED) != sec) {
        pthread_mutex_lock(&w->progress_lock);
        if (atomic_load_explicit(&r->second[i], RELAXED) != sec) {
            atomic_store_explicit(&r->bytes[i], 0, RELAXED);
            atomic_store_explicit(&r->frames[i], 0, RELAXED);
            atomic_store_explicit(&r->second[i], sec, RELAXED);
        }
        if (!r->first_ms)
            r->first_ms = now_ms;
        pthread_mutex_unlock(&w->progress_lock);
    }
    atomic_fetch_add_explicit(&r->bytes[i], bytes, RELAXED);
    atomic_fetch_add_explicit(&r->frames[i], frame, RELAXED);
}

/* Over the last complete seconds (bursty sources such as HLS would make a partial second
 * swing); until one second is complete, over the time since the first packet. */
static void rate_read(const rate_window *r, int64_t now_ms, double *kbps, double *fps)
{
    *kbps = *fps = 0.0;
    if (!r->first_ms)
        return;
    int64_t sec = now_ms / 1000;
    int64_t lo = sec - (RATE_SLOTS - 1), hi = sec - 1;
    if (r->first_ms / 1000 >= sec)
        lo = hi = sec;
    int64_t bytes = 0, frames = 0;
    for (int i = 0; i < RATE_SLOTS; i++) {
        int64_t second = atomic_load_explicit(&r->second[i], RELAXED);
        if (second >= lo && second <= hi) {
            bytes += atomic_load_explicit(&r->bytes[i], RELAXED);
            frames += atomic_load_explicit(&r->frames[i], RELAXED);
        }
    }
    int64_t from_ms = lo * 1000 > r->first_ms ? lo * 1000 : r->first_ms;
    int64_t to_ms = hi == sec ? now_ms : (hi + 1) * 1000;
    int64_t span_ms = to_ms - from_ms < 1000 ? 1000 : to_ms - from_ms;
    *kbps = (double)bytes * 8.0 / (double)span_ms;
    *fps = (double)frames * 1000.0 / (double)span_ms;
}

void progress_set_source(engine_worker *w, const char *url, const char *role)
{
    pthread_mutex_lock(&w->progress_lock);
    snprintf(w->progress.source_url, sizeof(w->progress.source_url), "%s", url);
    snprintf(w->progress.source_role, sizeof(w->progress.source_role), "%s", role);
    pthread_mutex_unlock(&w->progress_lock);
}

void progress_set_error(engine_worker *w, const char *error)
{
    pthread_mutex_lock(&w->progress_lock);
    text_redact(error, w->progress.last_error, sizeof(w->progress.last_error));
    pthread_mutex_unlock(&w->progress_lock);
}

void progress_set_discontinuities(engine_worker *w, int n)
{
    pthread_mutex_lock(&w->progress_lock);
    w->progress.discontinuities = n;
    pthread_mutex_unlock(&w->progress_lock);
}

void progress_set_file(engine_worker *w, const char *url, int index, int64_t duration_ms,
                       int loops_done, const char *next_url)
{
    pthread_mutex_lock(&w->progress_lock);
    task_progress *p = &w->progress;
    snprintf(p->source_url, sizeof(p->source_url), "%s", url);
    snprintf(p->next_url, sizeof(p->next_url), "%s", next_url);
    p->file_index = index;
    p->file_duration_ms = duration_ms;
    p->loops_done = loops_done;
    p->offset_ms = 0;
    pthread_mutex_unlock(&w->progress_lock);
}

void progress_set_offset(engine_worker *w, int64_t offset_ms)
{
    pthread_mutex_lock(&w->progress_lock);
    w->progress.offset_ms = offset_ms;
    pthread_mutex_unlock(&w->progress_lock);
}

void progress_note_packet(engine_worker *w, int bytes, bool counts_as_frame)
{
    int64_t mono = ev_now_us() / 1000;
    sent_counts *c = &w->sent;
    atomic_fetch_add_explicit(&c->packets, 1, RELAXED);
    atomic_fetch_add_explicit(&c->bytes, bytes, RELAXED);
    atomic_fetch_add_explicit(&c->frames, counts_as_frame, RELAXED);
    atomic_store_explicit(&c->last_mono_ms, mono, RELAXED);
    rate_add(w, mono, bytes, counts_as_frame);
}

void progress_read(engine_worker *w, task_progress *out)
{
    int64_t mono = time_mono_ms();
    pthread_mutex_lock(&w->progress_lock);
    *out = w->progress;
    const sent_counts *c = &w->sent;
    out->packets = atomic_load_explicit(&c->packets, RELAXED);
    out->bytes = atomic_load_explicit(&c->bytes, RELAXED);
    out->frames = atomic_load_explicit(&c->frames, RELAXED);
    int64_t last = atomic_load_explicit(&c->last_mono_ms, RELAXED);
    if (last)
        out->last_packet_ms = time_now_ms() - (mono - last);
    rate_read(&w->rate, mono, &out->bitrate_kbps, &out->fps);
    pthread_mutex_unlock(&w->progress_lock);
}
