/* engine_internal.h — what the engine's own files share: the worker record and its stop
 * signal, events and progress, and the source and output interfaces. Not for other parts. */
#ifndef FERRY_ENGINE_INTERNAL_H
#define FERRY_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <libavformat/avformat.h>

#include "common/addr_policy.h"
#include "common/redact.h"
#include "engine/engine.h"
#include "engine/event_loop.h"
#include "engine/file_cache.h"
#include "engine/playlist.h"

/* Output tracks by media type: one video, one audio; other source streams are ignored. */
enum { MEDIA_VIDEO = 0, MEDIA_AUDIO = 1, MEDIA_KINDS = 2 };

#define ENGINE_OUTPUTS 2
#define ENGINE_ERR_MAX 512

/* ---- the worker record (worker.c owns its lifetime, engine.c its place in the registry,
 * progress.c its snapshot) ---- */

/* Bytes and frames per wall-clock second: the rates cover the last RATE_SLOTS - 1
 * complete seconds. */
#define RATE_SLOTS 6
typedef struct rate_window {
    /* added to without the lock (one writer: output 0); a slot is reset, and first_ms set,
     * under progress_lock, where the reader looks */
    _Atomic int64_t second[RATE_SLOTS];
    _Atomic int64_t bytes[RATE_SLOTS];
    _Atomic int64_t frames[RATE_SLOTS];
    int64_t first_ms; /* monotonic ms of the first packet, 0 = none */
} rate_window;

/* What the destination took, counted without progress_lock (progress_note_packet) and
 * copied into the snapshot on read. */
typedef struct sent_counts {
    _Atomic int64_t packets, bytes, frames;
    _Atomic int64_t last_mono_ms; /* progress.last_packet_ms on the monotonic clock, 0 = none:
                                     turned into wall time on read (no wall clock per packet) */
} sent_counts;

/* The address policy of one direction of a relay (common/addr_policy.h). */
typedef struct net_policy {
    char allow[2 * CONFIG_STR_MAX]; /* the global and the account's CIDRs */
    const char *key;                /* "source_allow" or "destination_allow", for errors */
    int64_t playlist_max;           /* bytes an HLS playlist may have; 0 = no limit */
} net_policy;

typedef struct engine_worker {
    struct engine_worker *next;        /* registry list, under the registry lock */
    struct engine_worker *predecessor; /* the worker this one replaced: joined first */
    pthread_t thread;
    bool exited;             /* registry lock: the thread has nothing left but to return */
    atomic_bool finished;    /* no longer relaying: the final event is due or sent */
    atomic_llong stop_at_us; /* 0, or the monotonic time engine_stop asked */
    uint64_t generation;
    engine_job job;       /* strings owned by the worker */
    net_policy policy[2]; /* [ADDR_SOURCE], [ADDR_DESTINATION] of the job's account */

    pthread_mutex_t wake_lock; /* interruptible waits between attempts */
    pthread_cond_t wake;
    engine_job *update; /* wake_lock: a live modification not yet taken (engine_update) */
    atomic_bool update_pending;
    atomic_bool poked;       /* wake_lock: worker_poke ended (or will end) worker_park */
    _Atomic(ev_loop *) loop; /* the event loop its RTMP connections share (worker_loop) */

    pthread_mutex_t progress_lock;
    task_progress progress; /* counters and strings; rates are derived on read */
    rate_window rate;
    sent_counts sent;
} engine_worker;

/* The relay loop (relay_worker.c): the thread's start routine. */
void *relay_worker_main(void *arg);

/* FFmpeg log lines from this thread name the task (NULL = none). */
void engine_log_bind_task(const char *task_id);
const char *engine_log_task(void);
/* FFmpeg's log callback, which engine_init installs (engine_log.c). */
void engine_av_log(void *avcl, int level, const char *fmt, va_list vl);

/* ---- a job as the engine holds it (engine_job.c) ---- */

/* 0, or the FERR_* code that start and update refuse the job with. */
int engine_job_check(const engine_job *job);
/* dst becomes a copy of src with strings of its own and the defaults filled in: 0, or
 * FERR_INTERNAL (what was copied is freed by engine_job_clear). */
int engine_job_copy(engine_job *dst, const engine_job *src);
/* A heap copy as engine_job_copy makes, or NULL. */
engine_job *engine_job_dup(const engine_job *job);
void engine_job_free(engine_job *j);
/* Frees the strings of a job held by value. */
void engine_job_clear(engine_job *j);

/* ---- a worker: its record, stop request, update slot and waits (worker.c) ---- */

/* A record for job (copied), its thread not started; NULL when out of memory. */
engine_worker *worker_new(const engine_job *job);
void worker_free(engine_worker *w);
/* Asks the thread to stop (the first request's time is kept) and ends its waits. */
void worker_request_stop(engine_worker *w);
bool worker_stop_requested(const engine_worker *w);
/* Hands job (owned from now on) to the thread, replacing an update not yet taken. */
void worker_post_update(engine_worker *w, engine_job *job);
/* Sleeps until the monotonic deadline or a stop request; true when stop was asked. */
bool worker_wait_until(engine_worker *w, int64_t deadline_ms);
/* The same, but an update (engine_update) ends the wait too; true when stop was asked. */
bool worker_wait_until_update(engine_worker *w, int64_t deadline_ms);
bool worker_update_pending(const engine_worker *w);
/* Sleeps until deadline_us (monotonic), a stop request, an update or a worker_poke (one that
 * came before the call ends it at once); the poke is spent on return. */
void worker_park(engine_worker *w, int64_t deadline_us);
/* Any thread: ends the worker's park at once (or the next one, when it is not parked). */
void worker_poke(engine_worker *w);
/* The event loop all of w's RTMP connections go on, picked at the first call, so that a
 * relay's source and outputs hand packets over without waking another thread. */
ev_loop *worker_loop(engine_worker *w);
/* The latest update, or NULL; the caller frees it with engine_job_free. */
engine_job *worker_take_update(engine_worker *w);
/* The first thing a worker thread does: waits for the worker it replaced and frees it, so
 * the destination never sees two publishers of one task. */
void worker_join_predecessor(engine_worker *w);
/* The last thing a worker thread does: lets the registry reap it (engine.c). */
void worker_exited(engine_worker *w);

/* ---- events (engine_events.c) ---- */

/* The callback of engine_init; set before any worker starts. */
void engine_events_set_handler(engine_event_fn fn, void *ctx);
/* Fills ev->generation, logs the event and calls the registered callback. */
void worker_emit(engine_worker *w, engine_event *ev);

/* ---- progress (progress.c): the worker writes, engine_progress reads ---- */

/* A copy of the snapshot with the bitrate and fps of the last seconds. */
void progress_read(engine_worker *w, task_progress *out);
void progress_set_source(engine_worker *w, const char *url, const char *role);
void progress_set_error(engine_worker *w, const char *error);
void progress_set_discontinuities(engine_worker *w, int n);
void progress_note_packet(engine_worker *w, int bytes, bool counts_as_frame);
/* Files: the entry now playing, and the next one ("" = none). */
void progress_set_file(engine_worker *w, const char *url, int index, int64_t duration_ms,
                       int loops_done, const char *next_url);
void progress_set_offset(engine_worker *w, int64_t offset_ms);

/* ---- bounded, interruptible libavformat I/O (io_guard.c) ---- */

/* The interrupt callback's state: a deadline armed before every blocking call, and the
 * worker's stop request. One thread at a time uses it: the worker, or during pre-roll the
 * reader thread for a read the worker armed (read_ahead.h); cut may come from any thread. */
typedef struct io_guard {
    const engine_worker *w;
    int64_t deadline_us;   /* monotonic; INT64_MAX = none */
    int64_t stop_grace_us; /* how long I/O may go on after a stop request */
    bool expired;          /* the deadline (not a stop) caused the last interrupt */
    atomic_bool cut;       /* the worker abandons the call in flight (on another thread) */
    /* An HLS playlist being read (net_guard.c): past watch_max bytes the read is cut. Set and
     * cleared on the thread that reads it, around the read. */
    const AVIOContext *watch;
    int64_t watch_max;
    bool over; /* the watch cut the last read: the playlist is too large */
} io_guard;

void io_guard_init(io_guard *g, const engine_worker *w, int64_t stop_grace_us);
void io_guard_arm(io_guard *g, int64_t timeout_us);
/* Ends the guarded call at once, from any thread; the next io_guard_arm clears it. */
void io_guard_cut(io_guard *g);
AVIOInterruptCB io_guard_callback(io_guard *g);
/* The guard behind an interrupt callback, NULL when it is another kind. */
io_guard *io_guard_of(const AVIOInterruptCB *cb);
/* Bounds the bytes read from pb to max (an HLS playlist); unwatch ends it when pb is the one
 * watched (NULL: whichever). */
void io_guard_watch(io_guard *g, const AVIOContext *pb, int64_t max);
void io_guard_unwatch(io_guard *g, const AVIOContext *pb);

/* ---- sources: one descriptor per kind (live now; playlist and backup later) ---- */

typedef struct engine_source {
    const struct source_ops *ops;
    AVFormatContext *ic;
    void *priv; /* the source kind's own state (source_rtmp.c), NULL for the others */
    int stream_of[MEDIA_KINDS]; /* input stream index per kind, -1 = none */
} engine_source;

typedef struct source_open_args {
    const char *url;
    AVIOInterruptCB interrupt;
    int64_t rw_timeout_us;      /* a read that gives nothing for this long fails */
    int64_t connect_timeout_us; /* for protocols with a connect timeout of their own */
    int64_t probe_us;           /* how much stream time may be read to find the streams */
    bool cached;                /* url is a local copy in the download cache */
    const net_policy *policy;   /* the addresses it may reach (net_guard.c) */
    int64_t max_bytes;          /* a picture larger than this is refused; 0 = no limit */
    engine_worker *w;           /* the relay's worker (its event loop), or NULL */
} source_open_args;

/* A picture (PNG, JPEG, the first frame of a GIF) fetched over http(s) with a's guard, address
 * policy and byte budget, decoded into out (source_picture.c; watermarks use it too). */
int picture_fetch(const source_open_args *a, AVFrame *out, char *err, size_t len);

/* ---- the address policy on every open (net_guard.c) ---- */

/* Checks the host of url against p; 0 (pinned: the URL to open, opts: what goes with it)
 * or -1 with why. NULL p allows everything. */
int net_guard_check(const net_policy *p, const char *url, char *pinned, size_t plen,
                    AVDictionary **opts, char *why, size_t len);
/* host checked against p (NULL: anything) and resolved once: 0 (an IP literal, or
 * "localhost" as 127.0.0.1) or 1 (a name, resolved) with ip the address to connect to, so
 * that no second lookup can go elsewhere; -1 with why (the policy's refusal or the lookup's
 * failure). */
int net_checked_address(const net_policy *p, const char *host, char *ip, size_t iplen, char *why,
                        size_t len);
/* ip (text) and port as a socket address; false when ip is not an address. */
bool net_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len);
/* Every URL ic opens (nested ones too) passes p, with no HTTP redirect followed; p must
 * outlive ic. */
void net_guard_install(AVFormatContext *ic, const net_policy *p);
/* After avformat_open_input, with the context's interrupt callback: the top-level playlist,
 * read (or freed with a failed context) by now, is no longer watched. */
void net_guard_done(const AVIOInterruptCB *cb);

/* What a direct take() did with a packet (source_ops.park): used it and wants more, used it
 * but wants the worker back, or left it (it is queued for read() and the worker is back). */
typedef enum { DIRECT_TAKEN = 0, DIRECT_YIELD, DIRECT_DECLINED } direct_verdict;
typedef struct source_direct {
    direct_verdict (*take)(void *ctx, AVPacket *pkt, int kind, int64_t at_us);
    void *ctx;
} source_direct;

typedef struct source_ops {
    const char *name;
    /* 0, or a negative AVERROR with err set to "step: reason". */
    int (*open)(engine_source *s, const source_open_args *a, char *err, size_t errlen);
    /* 0 with *kind = MEDIA_* or -1 for a stream the relay ignores, or a negative AVERROR. */
    int (*read)(engine_source *s, AVPacket *pkt, int *kind);
    void (*close)(engine_source *s);
    /* Optional, for sources read on an event loop: hands the packets that arrive straight to
     * take() on the loop's thread while the worker sleeps in worker_park(w, until_us). 0 when
     * it did not park (packets are queued, or the source is over: read() gives them), 1 when
     * it parked and the worker is back (take yielded, the source ended, a poke, stop, update
     * or until_us). take() runs as the worker would, with the worker asleep. */
    int (*park)(engine_source *s, const source_direct *d, engine_worker *w, int64_t until_us);
} source_ops;

extern const source_ops source_live_ops;
/* An rtmp:// live source on the event loops (source_rtmp.c): ferry's RTMP client. */
extern const source_ops source_rtmp_ops;
/* The ops for a live url: source_rtmp_ops for rtmp:// unless config chose FFmpeg. */
const source_ops *source_live_ops_for(const char *url, const config *c);
/* A still picture (source_picture.c): encoded as H.264 with silent AAC, never ending. */
extern const source_ops source_picture_ops;

/* ---- a source opened on a helper thread (source_opener.c) ---- */

/* Opens src with guard as its interrupt: 0, or a negative AVERROR with why set. */
typedef int (*source_open_fn)(void *ctx, engine_source *src, io_guard *guard, char *why,
                              size_t len);
typedef struct source_opener source_opener;

/* Runs fn(ctx, ...) on a helper thread; the context it opens keeps guard for its life.
 * NULL when no thread could start. */
source_opener *source_opener_start(source_open_fn fn, void *ctx, io_guard *guard,
                                   const char *task_id);
bool source_opener_done(const source_opener *o);
/* Waits for the helper and frees o: 0 with *src open, or the error with why set. FFmpeg's
 * first error line of the open becomes this thread's. */
int source_opener_take(source_opener *o, engine_source *src, char *why, size_t len);
/* Ends the open at once, closes what it opened, frees o. NULL is fine. */
void source_opener_drop(source_opener *o);

/* ---- the file playlist (source_playlist.c): entries opened one after another into the
 * relay's engine_source, the next one opened ahead on a helper thread ---- */

typedef struct file_prefetch file_prefetch;

/* A list of entries with its loops and the first loop's start (copied from a job). */
typedef struct feed_list {
    int n;
    char *urls[TASK_MAX_SOURCES];
    int loop_count, file_index, offset_s;
} feed_list;

typedef struct file_feed {
    engine_worker *w;
    playlist pl;
    feed_list list; /* the entries pl walks */
    feed_list next; /* ContinueBreakPoint: the list after the entry playing */
    bool next_pending;
    source_open_args base; /* interrupt, timeouts; url set per entry */
    int64_t connect_timeout_us;
    bool local; /* VodLocalMode: play from the download cache */
    file_cache_conf cache;
    char cache_dir[512];
    int64_t start_us;    /* the entry's first timestamp (its start_time) */
    int64_t duration_ms; /* 0 = unknown */
    int64_t position_ms; /* of the latest packet passed */
    bool played;         /* the entry has passed a packet */
    file_prefetch *pre;  /* the next entry, opening or open; NULL = none */
    /* An entry's contexts keep the interrupt guard they were opened with: the current
     * entry uses guards[cur], the one opened next the other. */
    io_guard guards[2];
    int cur;
} file_feed;

/* base: the interrupt, timeouts and probe of the worker's own opens. 0 or AVERROR(ENOMEM). */
int file_feed_init(file_feed *f, engine_worker *w, const source_open_args *base);
void file_feed_free(file_feed *f);
/* Opens the current entry into src: the one opened ahead, or now (from the cache in local
 * mode), at the first loop's offset. 0, or a negative AVERROR with why set. */
int file_feed_open(file_feed *f, engine_source *src, char *why, size_t len);
/* The interrupt guard of the entry file_feed_open opened last. */
io_guard *file_feed_guard(file_feed *f);
/* The entry opened (src holds it): its start time and duration. */
void file_feed_opened(file_feed *f, const engine_source *src);
/* The entry opened and fits the output: FILE_START, progress. */
void file_feed_started(file_feed *f);
/* A packet of the entry passed (source DTS): progress, and the next entry opens ahead
 * once the entry's end is near. */
void file_feed_note_packet(file_feed *f, int64_t dts_us);
/* The current entry is over: played to its end (why NULL), failed to open or fit (played
 * false), or cut short. Emits FILE_FINISH or an alarm and moves on. False when nothing
 * follows: the loops are done or every entry failed (file_feed_all_failed). */
bool file_feed_next(file_feed *f, const char *why);
bool file_feed_all_failed(const file_feed *f);
/* A live modification gives the job's list (sources, loops; its start when start_changed,
 * else the first entry). now: it replaces the entry playing at once (that entry finishes
 * here; the caller closes its source and opens the current entry again); else it follows
 * the entry playing, whose list entries not yet played are dropped. 0 or AVERROR(ENOMEM). */
int file_feed_replace(file_feed *f, const engine_job *job, bool now, bool start_changed);
/* A live modification of the loops (the list unchanged) or of VodLocalMode. */
void file_feed_set_loops(file_feed *f, int loop_count);
void file_feed_set_local(file_feed *f, bool local);

static inline const AVStream *source_stream(const engine_source *s, int kind)
{
    return s->stream_of[kind] < 0 ? NULL : s->ic->streams[s->stream_of[kind]];
}

/* ---- output: FLV over an RTMP push ---- */

typedef struct output_rtmp {
    AVFormatContext *oc;
    AVPacket *pkt;              /* scratch: a reference to the packet being written */
    int stream_of[MEDIA_KINDS]; /* output stream index per kind, -1 = none */
    int64_t last_dts[MEDIA_KINDS];
    int64_t first_dts; /* AV_NOPTS_VALUE until the session's first packet */
    bool need_key;     /* a new session starts on a video keyframe */
    bool header_written;
    bool sink; /* the bytes go to a function (output_rtmp_open_sink), not to a URL */
    uint8_t *extradata[MEDIA_KINDS]; /* codec headers the muxer has sent */
    int extradata_size[MEDIA_KINDS];
    /* Tags of our own (output_tags.c), for a sink with a tag function. */
    int (*tag)(void *ctx, int kind, uint32_t ts_ms, const uint8_t *head, size_t hlen,
               const uint8_t *body, size_t len);
    void *tag_ctx;
    bool direct[MEDIA_KINDS]; /* kind's packets become tags here, not in the muxer */
    bool eos_ours;            /* the muxer leaves the AVC end-of-sequence tag to us */
} output_rtmp;

/* t in time base tb to microseconds and back: exactly av_rescale_q's answer (round to
 * nearest, halves away from zero), without its general path when tb is 1/n with n dividing
 * a million (FLV's 1/1000: every packet of the direct path). */
#define ENGINE_US_PER_S 1000000
static inline int64_t engine_ts_to_us(int64_t t, AVRational tb)
{
    if (tb.num == 1 && tb.den > 0 && ENGINE_US_PER_S % tb.den == 0) {
        int64_t f = ENGINE_US_PER_S / tb.den;
        if (t > -INT64_MAX / f && t < INT64_MAX / f)
            return t * f;
    }
    return av_rescale_q(t, tb, AV_TIME_BASE_Q);
}

static inline int64_t engine_us_to_ts(int64_t us, AVRational tb)
{
    if (tb.num == 1 && tb.den > 0 && ENGINE_US_PER_S % tb.den == 0 && us > -INT64_MAX / 2 &&
        us < INT64_MAX / 2) {
        int64_t c = ENGINE_US_PER_S / tb.den;
        return us >= 0 ? (us + c / 2) / c : -((-us + c / 2) / c);
    }
    return av_rescale_q(us, AV_TIME_BASE_Q, tb);
}

/* The mapped timestamps of one packet, microseconds. */
typedef struct output_ts {
    int64_t dts_us, pts_us, dur_us;
} output_ts;

/* What an output session carries: fixed by the task's first source. */
typedef struct output_shape {
    AVCodecParameters *par[MEDIA_KINDS]; /* per kind, NULL = no such track */
    AVRational frame_rate;               /* video, for the FLV metadata; 0/1 = unknown */
} output_shape;

int output_rtmp_open(output_rtmp *o, const char *url, const output_shape *shape,
                     AVIOInterruptCB interrupt, int64_t rw_timeout_us, char *err, size_t errlen);
/* The muxer without I/O: the FLV bytes (header, then tags) go to sink as they are made,
 * flushed after every packet. With tag (else NULL), H.264 and AAC packets skip the muxer:
 * their tag bodies (and kind, timestamp) go to tag in the same order (output_tags.c), as a
 * few header bytes (head) and the packet's payload (body), never joined in a copy. */
typedef int (*output_sink_fn)(void *ctx, uint8_t *buf, int len);
typedef int (*output_tag_fn)(void *ctx, int kind, uint32_t ts_ms, const uint8_t *head, size_t hlen,
                             const uint8_t *body, size_t len);
int output_rtmp_open_sink(output_rtmp *o, const output_shape *shape, output_sink_fn sink,
                          output_tag_fn tag, void *ctx, char *err, size_t errlen);
int output_rtmp_remember_extradata(output_rtmp *o, int kind, const uint8_t *data, int size);
/* output_tags.c: which kinds skip the muxer (after the streams are added); whether a packet
 * of kind does (false for good once its headers or framing no longer suit); writing it with
 * a new sequence header first when par's changed; the end-of-sequence tag; freeing. */
void output_tags_plan(output_rtmp *o, const output_shape *shape, output_tag_fn tag, void *ctx);
bool output_tags_take(output_rtmp *o, int kind, const AVPacket *in, const AVCodecParameters *par);
int output_tags_write(output_rtmp *o, int kind, const AVPacket *in, int64_t dts, int64_t pts,
                      const AVCodecParameters *par);
int output_tags_end(output_rtmp *o);
void output_tags_free(output_rtmp *o);
/* Writes in (payload and flags) with ts; attaches par's extradata as NEW_EXTRADATA side data
 * when it differs from what the muxer sent. Returns 1 written, 0 skipped, or AVERROR. */
int output_rtmp_write(output_rtmp *o, int kind, const AVPacket *in, const output_ts *ts,
                      const AVCodecParameters *par, char *err, size_t errlen);
/* Ends the session: the trailer when write_trailer, then closes the connection. */
void output_rtmp_close(output_rtmp *o, bool write_trailer);
/* Whether FLV can carry a codec (stream copy only). */
bool output_rtmp_can_carry(enum AVCodecID id);

/* The first FFmpeg error line logged on this thread since the last clear ("" = none). */
void engine_av_error_clear(void);
const char *engine_av_error_last(void);
/* Makes line this thread's first error line (a read done on a helper thread). */
void engine_av_error_set(const char *line);

/* "Connection refused" for an AVERROR, the text of av_strerror. */
const char *engine_averror(int averror, char *buf, size_t len);

/* True once the cluster's fence (engine_set_fence) has passed: outputs must not send. */
bool engine_fenced(void);

#endif
