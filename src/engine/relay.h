/* relay.h — the relay loop's state, shared by its files: relay_worker.c (the thread, packets,
 * outputs, pre-roll), relay_source.c (the source side), the leaves of its composite source
 * (src_node.h): relay_leaf.c (a live task's) and relay_playlist.c, and relay_update.c. */
#ifndef FERRY_ENGINE_RELAY_H
#define FERRY_ENGINE_RELAY_H

#include "engine/engine_internal.h"
#include "engine/fallback.h"
#include "engine/gop_buffer.h"
#include "engine/ingest_meter.h"
#include "engine/output_queue.h"
#include "engine/read_ahead.h"
#include "engine/retry.h"
#include "engine/src_node.h"
#include "engine/timeline.h"

enum { RELAY_GO = 0, RELAY_END = 1 };

typedef struct relay_standby relay_standby;
typedef struct relay_live relay_live;
typedef struct relay_leaf relay_leaf;
typedef struct relay_playlist relay_playlist;

typedef struct relay_output {
    const char *url;
    output_queue *q;           /* its writer thread, from the first connect on */
    bool up;                   /* packets go to the queue: a session is open or opening */
    int64_t unstable_alarm_ms; /* the last queue-full alarm */
    int64_t dropped;           /* packets the queue dropped since that alarm */
    bool gave_up;              /* the second destination, abandoned after its retries */
    bool unpolled;             /* polls were skipped: the queue's count is stale */
    retry_budget retry;
    char error[ENGINE_ERR_MAX];
} relay_output;

typedef struct relay {
    engine_worker *w;
    const engine_job *job;
    /* The composite source: the failover wrapper over the main source, its backup and the pad
     * (which plays, the re-check, the standby, the retry budget), or over a playlist. Its
     * leaves open into src, the slot the pipeline reads. */
    src_node *in;
    relay_live *live;     /* live and picture: the leaves and their guards (relay_leaf.c) */
    relay_playlist *list; /* files: the playlist leaf (the wrapper owns it) */
    engine_source src;
    bool src_up;
    relay_output outs[ENGINE_OUTPUTS];
    int n_outs;
    timeline tl;
    int discontinuities_seen;
    int jumps_seen;
    /* What the output sessions carry, fixed by the first source; extradata follows the
     * latest source so a new session or a codec-header change sends the right headers. */
    output_shape shape;
    bool shaped;
    bool src_has_video; /* kept apart: outputs must not look at the source mid-read */
    bool announced_running;
    /* Pre-roll (engine.h, push_at_ms): the source is read, the outputs wait for push time;
     * reads go through a helper thread so the wait for a packet can end at push time. */
    bool preroll;
    int64_t push_mono_us; /* push_at_ms on the monotonic clock */
    gop_buffer gop;
    read_ahead ahead;
    bool ahead_unusable;    /* the read in flight is armed with the no-keyframe deadline */
    bool ahead_unavailable; /* no helper thread: pre-roll reads on the worker (less exact) */
    int64_t last_read_us;   /* watchdog: the last packet the source gave */
    int64_t last_pass_us;   /* watchdog: the last packet the timeline passed */
    io_guard *sg;    /* the source's guard: one of the live leaves', or the feed's (per entry) */
    bool flush_held; /* gop holds the standby's GOP, to push before the next read */
    bool paced;      /* the source playing is a file: packets leave at real-time pace */
    ingest_meter ingest; /* the source's bitrate against the account's max_ingest_kbps */
    /* Files: real-time pacing of the output DTS against the clock. */
    bool push_wait; /* files: the first entry is open; the push waits for push_at */
    bool pace_set;
    int64_t pace_wall_us; /* monotonic time at which ... */
    int64_t pace_dts_us;  /* ... this output DTS was due */
    AVPacket *pkt;
    int direct_rc;             /* what the packets the loop relayed while parked came to */
    int64_t direct_kbps;       /* ... and the bitrate, when they went over max_ingest_kbps */
    struct relay_marks *marks; /* watermarks: the transcode stage (relay_marks.c), or NULL */
    engine_event_type end;
    engine_failure end_failure;
    char end_error[ENGINE_ERR_MAX];
} relay;

/* Files and pictures are played at real-time pace from their timestamps (a live source sets
 * its own pace); so is a live task's file alternate while it plays. */
static inline bool relay_job_paced(const engine_job *j)
{
    return j->kind == TASK_SOURCE_FILES || j->kind == TASK_SOURCE_PICTURE;
}

/* relay_worker.c */
void relay_emit(relay *r, engine_event_type type, engine_failure failure, const char *error,
                const char *alarm);
int relay_stop(relay *r);
int relay_fail(relay *r, engine_failure failure, const char *error);
void relay_sync_discontinuities(relay *r);
/* Ends output i's session (with its trailer) and forgets its queue: the next service opens
 * a new one, to o->url. */
void relay_drop_output(relay *r, int i);

/* relay_source.c */
void relay_add_av_detail(char *why, size_t len);
source_open_args relay_open_args(const relay *r, const char *url, io_guard *g);
void relay_close_source(relay *r);
/* The source closes for a reason of ours: the timeline starts a new epoch; the next
 * connect opens what the composite source says (live) or the feed's current entry. */
void relay_close_for_switch(relay *r);
/* Checks a newly opened source against the output session and takes its codec headers. */
int relay_adopt_source(relay *r, char *why, size_t len);
void relay_log_source(relay *r, const char *url);
/* What the composite source gave (src_node.h): its event emitted, a packet relayed, FAILED
 * the task's end. Waits are the caller's. */
int relay_source_result(relay *r, src_status st, src_read *rd);
/* The live source failed outside the composite's read(): the next alternate plays at once,
 * or a failure episode opens (recovering), or the retries are spent. */
int relay_pull_failed(relay *r, const char *why);
/* A paced source played to its end outside the composite's read(): the playlist moves on,
 * or a file alternate plays again. */
int relay_source_ended(relay *r);
int relay_connect_source(relay *r);
/* One read through the composite source. */
int relay_read_source(relay *r);
int relay_wait_push(relay *r);
int relay_pace(relay *r, int64_t out_dts_us);
/* Between reads: the composite's main re-check (on an alternate). */
int relay_poll_source(relay *r);
const char *relay_source_url(const relay *r);
/* In a failure episode of the live source. */
bool relay_pull_failing(const relay *r);

/* relay_leaf.c: the live task's leaves and its composite source over them; freed after
 * r->in (relay_sources_free). */
int relay_sources_init(relay *r);
void relay_sources_free(relay *r);
/* From the job (at start and after a live modification): true when the alternate playing
 * is gone (the caller reopens). */
bool relay_sources_configure(relay *r);
const char *relay_live_url(const relay *r);
io_guard *relay_free_guard(relay *r);

/* relay_playlist.c: a files task's playlist leaf under its composite source. */
int relay_playlist_init(relay *r);
const char *relay_playlist_url(const relay_playlist *p);
/* A packet of the entry passed (source DTS): progress, the next entry opened ahead. */
void relay_playlist_note_packet(relay_playlist *p, int64_t dts_us);
/* A live modification of the task (old: the job before it). */
void relay_playlist_update(relay_playlist *p, const engine_job *old, bool list_changed);

/* Opens url into src, its context keeping g (on the worker or a helper thread). */
int relay_open_url(const relay *r, const char *url, engine_source *src, io_guard *g, char *why,
                   size_t len);
/* relay_worker.c: a packet's timeline view from its source stream; false without DTS. */
bool source_timeline_pkt(const engine_source *src, int kind, const AVPacket *pkt, int64_t now_us,
                         timeline_pkt *tp);
void relay_take_new_extradata(relay *r, int kind, const AVPacket *pkt);
/* Arms the source guard for one read; true when its deadline is the no-keyframe one. */
bool relay_arm_read(relay *r);
void relay_describe_read_error(const relay *r, int rc, bool unusable, char *why, size_t len);
/* The packet in r->pkt, read at at_us: metered, relayed or held, then unreferenced. */
int relay_take_source_pkt(relay *r, int kind, int64_t at_us);
/* relay_worker.c: maps pkt through the timeline to the outputs; with take its reference may
 * move to an output's queue, leaving pkt blank. */
int relay_forward(relay *r, AVPacket *pkt, const timeline_pkt *tp, bool take);

/* relay_standby.c: the live backup on standby, on a helper thread. */
relay_standby *relay_standby_start(relay *r, const char *url, io_guard *guard);
io_guard *relay_standby_guard(const relay_standby *s);
/* Ends it and frees s (NULL is fine). */
void relay_standby_stop(relay_standby *s);
/* Ends it and frees s: true with *src open and *gop holding the packets since its latest
 * keyframe, when it was flowing; false (nothing taken) otherwise. */
bool relay_standby_take(relay_standby *s, engine_source *src, gop_buffer *gop);

/* relay_marks.c: the watermarks of the job. relay_marks_update (at start and after a live
 * update) fetches their pictures and hands them to the stage; relay_marks_push relays a
 * mapped video packet through it (false: no stage, the packet goes as it is). */
void relay_marks_update(relay *r);
bool relay_marks_push(relay *r, const AVPacket *pkt, const output_ts *ts, int *rc);
/* No watermark drawn or on its way (none set, or cleared and copying again). */
bool relay_marks_idle(const relay *r);
void relay_marks_free(relay *r);
/* relay_worker.c: hands a mapped packet to every output's queue (with take, the last one
 * takes pkt's reference, leaving it blank). */
int relay_push(relay *r, int kind, AVPacket *pkt, bool take, const output_ts *ts);

/* relay_update.c: takes a live modification (engine_update) when one is pending. */
int relay_take_update(relay *r);

#endif
