/* engine.h — media: one worker thread per running task pulls a source, keeps the output
 * timeline continuous across every discontinuity and pushes to one or two destinations. */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "task/task_model.h"

/* What a worker runs: built by the task service from a task's spec. Strings are copied. */
typedef struct engine_job {
    char task_id[TASK_ID_MAX];
    char account[TASK_ACCOUNT_MAX]; /* its address allow lists add to the global ones */
    task_source_kind kind;
    int n_sources;
    const char *sources[TASK_MAX_SOURCES];
    const char *backup_source; /* live: played while the main source is down; NULL = none */
    bool backup_is_file;       /* the backup is a file (PullVodPushLive), played through */
    const char *pad_url;       /* live: a file played when the main and backup are down */
    bool backup_standby;       /* a live backup stays connected while the main one plays */
    const char *outputs[2];    /* [0] the destination, [1] the second one or NULL */
    int loop_count;            /* files: -1 forever, >= 1 total plays */
    int file_index;            /* files: first loop start entry */
    int offset_s;              /* files: first loop start offset */
    int retry_count;           /* reconnect attempts after a failure before giving up */
    int retry_interval_ms;     /* wait between attempts (the first one is immediate) */
    int stall_timeout_ms;      /* no packet for this long = failure */
    int failover_timeout_ms;   /* live, with a backup or pad: main silence that switches */
    int recheck_ms;            /* live, on a backup or pad: how often main is tried */
    int connect_timeout_ms;
    /* Pre-roll: when in the future (wall clock, Unix ms), the worker connects the source
     * at once but opens the destination only at this time, then pushes from the latest
     * keyframe it holds, so the first frame reaches the destination on time. 0 = at once. */
    int64_t push_at_ms;
    int vod_local_mode; /* files: 1 = play from the local download cache */
    /* files, on a live update (engine_update) that changes the list: true = the entry
     * playing finishes first (ContinueBreakPoint), false = the new list starts at once. */
    bool continue_breakpoint;
    const config *config; /* the process's config (outlives workers): the cache's place */
    /* Watermarks (transcode.h): with any, the video is re-encoded with them drawn on; a
     * live update changes them in place. picture_url strings are copied. */
    int n_watermarks;
    task_watermark watermarks[TASK_MAX_WATERMARKS];
} engine_job;

typedef enum {
    ENGINE_EV_RUNNING = 0, /* packets flow to the destination (first time or after recovery) */
    ENGINE_EV_RECOVERING,  /* a failure: retrying; error says why */
    ENGINE_EV_FAILED,      /* retries exhausted: the worker has ended */
    ENGINE_EV_FINISHED,    /* the playlist's loops are done: the worker has ended */
    ENGINE_EV_STOPPED,     /* ended because engine_stop asked (no state change implied) */
    ENGINE_EV_FILE_START,  /* a playlist entry started */
    ENGINE_EV_FILE_FINISH, /* a playlist entry ended */
    ENGINE_EV_ALARM,       /* something worth a warning; the relay goes on */
} engine_event_type;

typedef enum { ENGINE_FAIL_NONE = 0, ENGINE_FAIL_PULL, ENGINE_FAIL_PUSH } engine_failure;

typedef struct engine_event {
    engine_event_type type;
    engine_failure failure; /* RECOVERING / FAILED: which side failed */
    const char *error;      /* readable chain, e.g. "pull rtmp://...: read: timed out" */
    const char *url;        /* FILE_*: the file */
    int index;              /* FILE_*: 0-based playlist index */
    int64_t duration_ms;    /* FILE_*: file duration */
    int loops_done;         /* FILE_*: complete plays of the list before this entry */
    const char *alarm;      /* ALARM: PullFileFailed, PushStreamUnstable, ... */
    uint64_t generation;    /* the worker's generation (see engine_start) */
} engine_event;

/* Called on the worker's thread. Must not call engine_start/engine_stop for the same
 * task synchronously (queue that work instead); may read and write the store. */
typedef void (*engine_event_fn)(void *ctx, const char *task_id, const engine_event *ev);

int engine_init(engine_event_fn on_event, void *ctx);
/* Stops every worker and waits for them (at most about 3 s). */
void engine_shutdown(void);

/* Starts a worker for job->task_id. If one is still running for that id it is stopped
 * first (without waiting for its network I/O beyond the interrupt). Returns the new
 * worker's generation (> 0) or a negative ferr code. */
int64_t engine_start(const engine_job *job);
/* Asks the task's worker to stop; returns at once. The worker closes its outputs and
 * emits ENGINE_EV_STOPPED. Returns 0, or FERR_NOT_FOUND when none runs. */
int engine_stop(const char *task_id);
/* Hands the task's running worker a new job (a live modification); it applies it between
 * packets without a new destination session where it can: a new live source or playlist,
 * loops, retries, the backup and pad, VodLocalMode; only a changed destination opens a new
 * session on it. A new list starts at its first entry, or at job->file_index/offset_s when
 * those changed. Returns 0, or FERR_NOT_FOUND when no worker is relaying for the task
 * (start one instead). */
int engine_update(const engine_job *job);
bool engine_running(const char *task_id);
/* Copies the worker's latest progress snapshot; FERR_NOT_FOUND when none runs. */
int engine_progress(const char *task_id, task_progress *out);
/* The cluster's fence: from mono_us on (time_mono_us's clock) no output sends another
 * byte, and every push session fails: the node's leases may be another node's by then.
 * 0 (the default) = no fence, as on a single node. Any thread. */
void engine_set_fence(int64_t mono_us);

#endif
