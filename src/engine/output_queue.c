/* output_queue.c — one output's writer thread: opens, writes and closes its RTMP session
 * from a bounded queue the worker fills, and reports writes and failures back to it. */
#include "engine/output_queue_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "engine/engine_metrics.h"
#include "engine/packet_pool.h"

#define WRITE_STOP_GRACE_US 500000 /* a write in flight may finish after a stop request */
#define CLOSE_US 500000            /* trailer and unpublish on the way out */
#define STOP_JOIN_MS 1200          /* then a write or connect still in flight is abandoned */
#define LOOP_STOP_MS 5000          /* an event loop answers a stop within this long */

/* ---------- the queue (under lock) ---------- */

static queue_headers *headers_ref(queue_headers *h)
{
    if (h)
        atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
    return h;
}

static void headers_unref(queue_headers **h)
{
    if (*h && atomic_fetch_sub_explicit(&(*h)->refs, 1, memory_order_acq_rel) == 1)
        free(*h);
    *h = NULL;
}

static void entry_free(queue_entry *e)
{
    if (!e)
        return;
    av_packet_free(&e->pkt);
    headers_unref(&e->headers);
    free(e);
}

void entry_recycle(output_queue *q, queue_entry *e)
{
    if (!e)
        return;
    if (q->n_spare >= QUEUE_SPARE_MAX) {
        entry_free(e);
        return;
    }
    packet_pool_unref(e->pkt);
    headers_unref(&e->headers);
    e->next = q->spare;
    q->spare = e;
    q->n_spare++;
}

/* A blank entry: a spare one, or a new one. */
static queue_entry *entry_get(output_queue *q)
{
    queue_entry *e = q->spare;
    if (e) {
        q->spare = e->next;
        q->n_spare--;
        e->next = NULL;
        return e;
    }
    e = calloc(1, sizeof(*e));
    if (e && !(e->pkt = av_packet_alloc())) {
        free(e);
        return NULL;
    }
    return e;
}

queue_entry *queue_pop(output_queue *q)
{
    queue_entry *e = q->head;
    if (!e)
        return NULL;
    q->head = e->next;
    if (!q->head)
        q->tail = NULL;
    q->bytes -= e->pkt->size;
    e->next = NULL;
    return e;
}

static void queue_clear(output_queue *q)
{
    queue_entry *e;
    while ((e = queue_pop(q)))
        entry_recycle(q, e);
    q->skip_to_key = false;
}

static bool queue_has_video(const output_queue *q)
{
    return q->expect_video && q->shape.par[MEDIA_VIDEO];
}

/* Where a session (or a queue cut by a drop) may resume: a video keyframe, or anything when
 * there is no video. */
static bool queue_entry_point(const output_queue *q, const queue_entry *e)
{
    return !queue_has_video(q) || (e->kind == MEDIA_VIDEO && (e->pkt->flags & AV_PKT_FLAG_KEY));
}

/* Drops the oldest packet and the rest of its GOP. */
static int queue_drop_gop(output_queue *q)
{
    int n = 0;
    do {
        entry_recycle(q, queue_pop(q));
        n++;
    } while (q->head && !queue_entry_point(q, q->head));
    if (!q->head && queue_has_video(q))
        q->skip_to_key = true;
    return n;
}

static int queue_enforce_bound(output_queue *q, int64_t now_us)
{
    int dropped = 0;
    while (q->head && (q->bytes > OUTPUT_QUEUE_MAX_BYTES ||
                       now_us - q->head->queued_us > OUTPUT_QUEUE_MAX_AGE_US))
        dropped += queue_drop_gop(q);
    return dropped;
}

/* A new session starts from the newest entry point held: older media would only add delay. */
void queue_skip_to_newest_entry_point(output_queue *q)
{
    queue_entry *newest = NULL;
    for (queue_entry *e = q->head; e; e = e->next)
        if (queue_entry_point(q, e))
            newest = e;
    while (newest && q->head != newest)
        entry_recycle(q, queue_pop(q));
}

/* ---------- the writer's errors ---------- */

/* "step: Immediate exit requested" becomes "step: timed out after N ms" when the deadline
 * caused it; else FFmpeg's own first error line is added when it says more. */
static void writer_explain(const output_queue *q, char *why, size_t len, int64_t timeout_us)
{
    const char *colon = strstr(why, ": ");
    int keep = colon ? (int)(colon - why) : 0;
    if (q->guard.expired) {
        char step[64];
        snprintf(step, sizeof(step), "%.*s", keep, why);
        snprintf(why, len, "%s: timed out after %lld ms", step, (long long)timeout_us / 1000);
        return;
    }
    const char *detail = engine_av_error_last();
    const char *reason = colon ? colon + 2 : why;
    size_t n = strlen(why);
    if (detail[0] && !strstr(detail, reason) && !strstr(why, detail) && n + 4 < len)
        snprintf(why + n, len - n, " (%s)", detail);
}

/* The session is gone: nothing more is queued until the worker asks for a new one. */
void writer_failed(output_queue *q, const char *why)
{
    pthread_mutex_lock(&q->lock);
    q->session_up = false;
    q->accepting = false;
    queue_clear(q);
    q->report.failed = true;
    atomic_store(&q->failed_news, true);
    snprintf(q->report.error, sizeof(q->report.error), "%s", why);
    pthread_mutex_unlock(&q->lock);
}

static int writer_interrupt(void *opaque)
{
    output_queue *q = opaque;
    if (atomic_load(&q->abandon))
        return 1;
    AVIOInterruptCB cb = io_guard_callback(&q->guard);
    return cb.callback(cb.opaque);
}

static void writer_arm(output_queue *q, int64_t timeout_us, int64_t stop_grace_us)
{
    q->guard.stop_grace_us = stop_grace_us;
    io_guard_arm(&q->guard, timeout_us);
    engine_av_error_clear();
}

/* ---------- the writer thread ---------- */

/* The destination's host passes the address policy of the task's account. */
static int writer_check_address(output_queue *q, char *why, size_t len)
{
    char pinned[TASK_URL_MAX + 64], reason[256];
    AVDictionary *unused = NULL;
    int rc = net_guard_check(&q->w->policy[ADDR_DESTINATION], q->url, pinned, sizeof(pinned),
                             &unused, reason, sizeof(reason));
    av_dict_free(&unused);
    if (rc != 0)
        snprintf(why, len, "connect: %s", reason);
    return rc;
}

static void writer_open(output_queue *q, bool expect_video)
{
    char why[ENGINE_ERR_MAX];
    if (writer_check_address(q, why, sizeof(why)) != 0) {
        writer_failed(q, why);
        return;
    }
    writer_arm(q, q->connect_timeout_us, 0);
    AVIOInterruptCB cb = {.callback = writer_interrupt, .opaque = q};
    int rc = output_rtmp_open(&q->out, q->url, &q->shape, cb, q->rw_timeout_us, why, sizeof(why));
    if (rc < 0) {
        writer_explain(q, why, sizeof(why), q->connect_timeout_us);
        writer_failed(q, why);
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->session_up = true;
    q->out.need_key = q->out.need_key && expect_video;
    queue_skip_to_newest_entry_point(q);
    pthread_mutex_unlock(&q->lock);
    tlog_info(q->task_id, "engine: output %d connected: %s", q->index, REDACT_URL(q->url));
}

/* The queued headers become the shape's: a reconnect sends the latest ones. */
void writer_apply_headers(output_queue *q, const queue_entry *e)
{
    AVCodecParameters *par = q->shape.par[e->kind];
    if (!e->headers || !par || q->applied[e->kind] == e->headers)
        return;
    uint8_t *copy = av_mallocz((size_t)e->headers->size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!copy)
        return;
    memcpy(copy, e->headers->data, (size_t)e->headers->size);
    av_free(par->extradata);
    par->extradata = copy;
    par->extradata_size = e->headers->size;
    headers_unref(&q->applied[e->kind]);
    q->applied[e->kind] = headers_ref(e->headers);
}

static void writer_write(output_queue *q, queue_entry *e, bool expect_video)
{
    char why[ENGINE_ERR_MAX];
    if (!expect_video)
        q->out.need_key = false;
    writer_apply_headers(q, e);
    writer_arm(q, q->rw_timeout_us, WRITE_STOP_GRACE_US);
    int rc = output_rtmp_write(&q->out, e->kind, e->pkt, &e->ts, q->shape.par[e->kind], why,
                               sizeof(why));
    if (rc < 0) {
        writer_explain(q, why, sizeof(why), q->rw_timeout_us);
        output_rtmp_close(&q->out, false);
        writer_failed(q, why);
        return;
    }
    if (rc > 0)
        writer_count(q, e);
}

void writer_count(output_queue *q, const queue_entry *e)
{
    pthread_mutex_lock(&q->lock);
    q->report.written++;
    pthread_mutex_unlock(&q->lock);
    writer_note_sent(q, e);
}

void writer_note_sent(output_queue *q, const queue_entry *e)
{
    engine_metrics_packet_out(e->pkt->size);
    if (q->index == 0) /* progress is what the destination got */
        progress_note_packet(q->w, e->pkt->size,
                             e->kind == MEDIA_VIDEO || !q->shape.par[MEDIA_VIDEO]);
}

static void writer_close(output_queue *q)
{
    writer_arm(q, CLOSE_US, INT64_MAX);
    output_rtmp_close(&q->out, q->trailer && q->session_up);
    q->session_up = false;
}

/* Under lock: waits for work; false when asked to quit. */
static bool writer_wait(output_queue *q)
{
    while (!q->quit && !q->connect_asked && !(q->session_up && q->head))
        pthread_cond_wait(&q->cond, &q->lock);
    return !q->quit;
}

static void *writer_main(void *arg)
{
    output_queue *q = arg;
    engine_log_bind_task(q->task_id);
    pthread_mutex_lock(&q->lock);
    while (writer_wait(q)) {
        bool video = q->expect_video;
        queue_entry *e = NULL;
        bool open = q->connect_asked && !q->session_up;
        q->connect_asked = false;
        if (!open)
            e = queue_pop(q);
        pthread_mutex_unlock(&q->lock);
        if (open)
            writer_open(q, video);
        else if (e)
            writer_write(q, e, video);
        pthread_mutex_lock(&q->lock);
        entry_recycle(q, e);
    }
    pthread_mutex_unlock(&q->lock);
    writer_close(q);
    engine_log_bind_task(NULL);
    return NULL;
}

/* ---------- the worker's side ---------- */

static void queue_free(output_queue *q)
{
    queue_clear(q);
    while (q->spare) {
        queue_entry *e = q->spare;
        q->spare = e->next;
        entry_free(e);
    }
    for (int k = 0; k < MEDIA_KINDS; k++) {
        avcodec_parameters_free(&q->shape.par[k]);
        headers_unref(&q->headers[k]);
        headers_unref(&q->applied[k]);
    }
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}

static int queue_copy_shape(output_queue *q, const output_shape *shape)
{
    q->shape.frame_rate = shape->frame_rate;
    for (int k = 0; k < MEDIA_KINDS; k++) {
        if (!shape->par[k])
            continue;
        q->shape.par[k] = avcodec_parameters_alloc();
        if (!q->shape.par[k] || avcodec_parameters_copy(q->shape.par[k], shape->par[k]) < 0)
            return AVERROR(ENOMEM);
    }
    return 0;
}

int output_queue_start(output_queue **out, const output_queue_args *a)
{
    output_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return AVERROR(ENOMEM);
    *q = (output_queue){.w = a->w,
                        .url = a->url,
                        .task_id = a->w->job.task_id,
                        .index = a->index,
                        .connect_timeout_us = a->connect_timeout_us,
                        .rw_timeout_us = a->rw_timeout_us,
                        .expect_video = true};
    atomic_init(&q->abandon, false);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    io_guard_init(&q->guard, a->w, WRITE_STOP_GRACE_US);
    int rc = queue_copy_shape(q, a->shape);
    if (rc == 0 && !push_attach(q) && pthread_create(&q->thread, NULL, writer_main, q) != 0)
        rc = AVERROR(EAGAIN);
    if (rc < 0) {
        queue_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

void output_queue_connect(output_queue *q, bool expect_video)
{
    char why[ENGINE_ERR_MAX];
    if (q->looped && !push_prepare(q, why, sizeof(why))) {
        writer_failed(q, why); /* the relay sees it at its next poll */
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->expect_video = expect_video;
    q->accepting = true;
    q->connect_asked = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    if (q->looped)
        ev_post(&q->h);
}

void output_queue_expect_video(output_queue *q, bool expect_video)
{
    pthread_mutex_lock(&q->lock);
    q->expect_video = expect_video;
    pthread_mutex_unlock(&q->lock);
}

/* The headers to queue with a packet of kind: the last ones, or a new copy when par's
 * changed (a republish): a count per packet, a copy per change. */
static queue_headers *queue_headers_for(output_queue *q, int kind, const AVCodecParameters *par)
{
    queue_headers *last = q->headers[kind];
    if (!par || par->extradata_size <= 0)
        return NULL;
    bool same = last && last->size == par->extradata_size &&
                memcmp(last->data, par->extradata, (size_t)last->size) == 0;
    if (!same) {
        queue_headers *fresh = malloc(sizeof(*fresh) + (size_t)par->extradata_size);
        if (!fresh)
            return NULL;
        atomic_init(&fresh->refs, 1);
        fresh->size = par->extradata_size;
        memcpy(fresh->data, par->extradata, (size_t)par->extradata_size);
        headers_unref(&q->headers[kind]);
        q->headers[kind] = fresh;
    }
    return headers_ref(q->headers[kind]);
}

/* Under lock: an entry for pkt; its reference moves from pkt when take (pkt is left blank),
 * else a new reference is made. */
static queue_entry *entry_new(output_queue *q, int kind, AVPacket *pkt, bool take,
                              const output_ts *ts, const AVCodecParameters *par)
{
    queue_entry *e = entry_get(q);
    if (!e)
        return NULL;
    if (take)
        av_packet_move_ref(e->pkt, pkt);
    else if (av_packet_ref(e->pkt, pkt) < 0) {
        entry_recycle(q, e);
        return NULL;
    }
    e->kind = kind;
    e->ts = *ts;
    e->queued_us = ev_now_us();
    e->headers = queue_headers_for(q, kind, par);
    return e;
}

/* Under lock: appends e, or drops it while the queue waits for a keyframe. */
static int queue_append(output_queue *q, queue_entry *e)
{
    if (q->skip_to_key && !queue_entry_point(q, e)) {
        entry_recycle(q, e);
        return 1;
    }
    q->skip_to_key = false;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->bytes += e->pkt->size;
    pthread_cond_signal(&q->cond);
    return queue_enforce_bound(q, e->queued_us);
}

int output_queue_push(output_queue *q, int kind, AVPacket *pkt, bool take, const output_ts *ts,
                      const AVCodecParameters *par)
{
    pthread_mutex_lock(&q->lock);
    if (!q->accepting) {
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    queue_entry *e = entry_new(q, kind, pkt, take, ts, par);
    int dropped = e ? queue_append(q, e) : AVERROR(ENOMEM);
    bool wake = e && q->looped && q->session_up;
    pthread_mutex_unlock(&q->lock);
    if (wake)
        ev_post(&q->h);
    return dropped;
}

void output_queue_poll(output_queue *q, output_report *out)
{
    pthread_mutex_lock(&q->lock);
    out->written = q->report.written;
    out->failed = q->report.failed;
    out->error[0] = '\0';
    if (q->report.failed) /* the error text is copied only when there is one */
        snprintf(out->error, sizeof(out->error), "%s", q->report.error);
    q->report.written = 0;
    q->report.failed = false;
    atomic_store(&q->failed_news, false);
    q->report.error[0] = '\0';
    pthread_mutex_unlock(&q->lock);
}

bool output_queue_all_well(output_queue *q)
{
    return !atomic_load(&q->failed_news);
}

static struct timespec realtime_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    return ts;
}

/* Waits for the loop to let go of q (it never blocks: at most the trailer's half second),
 * then frees it. A loop that does not answer leaves q allocated rather than freed under it. */
static void stop_looped(output_queue *q)
{
    ev_post(&q->h);
    pthread_mutex_lock(&q->lock);
    struct timespec deadline = realtime_after_ms(LOOP_STOP_MS);
    int rc = 0;
    while (!q->done && rc == 0)
        rc = pthread_cond_timedwait(&q->closed, &q->lock, &deadline);
    bool done = q->done;
    pthread_mutex_unlock(&q->lock);
    if (!done) {
        tlog_error(q->task_id, "engine: output %d: its event loop did not let go in %d ms",
                   q->index, LOOP_STOP_MS);
        return;
    }
    pthread_cond_destroy(&q->closed);
    queue_free(q);
}

void output_queue_stop(output_queue *q, bool trailer)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->quit = true;
    q->trailer = trailer;
    q->accepting = false;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    if (q->looped) {
        stop_looped(q);
        return;
    }
    struct timespec deadline = realtime_after_ms(STOP_JOIN_MS);
    if (pthread_timedjoin_np(q->thread, NULL, &deadline) != 0) {
        tlog_warn(q->task_id, "engine: output %d: abandoning a write in flight", q->index);
        atomic_store(&q->abandon, true);
        pthread_join(q->thread, NULL);
    }
    queue_free(q);
}
