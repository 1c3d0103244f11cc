/* progress.c — a worker's progress snapshot: the counters and strings the worker writes under
 * its lock, the per-second window of the bitrate and fps, and the copy the API reads. */
#include "engine/engine_internal.h"

#include <stdio.h>

#include "common/timeutil.h"
#include "engine/event_loop.h"

static void rate_add(rate_window *r, int64_t now_ms, int bytes, bool frame)
{
    int64_t sec = now_ms / 1000;
    int i = (int)(sec % RATE_SLOTS);
    if (r->second[i] != sec) {
        r->second[i] = sec;
        r->bytes[i] = 0;
        r->frames[i] = 0;
    }
    r->bytes[i] += bytes;
    r->frames[i] += frame;
    if (!r->first_ms)
        r->first_ms = now_ms;
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
        if (r->second[i] >= lo && r->second[i] <= hi) {
            bytes += r->bytes[i];
            frames += r->frames[i];
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
    pthread_mutex_lock(&w->progress_lock);
    w->progress.packets++;
    w->progress.bytes += bytes;
    w->progress.frames += counts_as_frame;
    w->last_packet_mono_ms = mono;
    rate_add(&w->rate, mono, bytes, counts_as_frame);
    pthread_mutex_unlock(&w->progress_lock);
}

void progress_read(engine_worker *w, task_progress *out)
{
    int64_t mono = time_mono_ms();
    pthread_mutex_lock(&w->progress_lock);
    *out = w->progress;
    if (w->last_packet_mono_ms)
        out->last_packet_ms = time_now_ms() - (mono - w->last_packet_mono_ms);
    rate_read(&w->rate, mono, &out->bitrate_kbps, &out->fps);
    pthread_mutex_unlock(&w->progress_lock);
}
