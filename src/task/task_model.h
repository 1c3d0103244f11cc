/* task_model.h — the one task model (a superset of both clouds' fields): its types, its JSON
 * form, its validation rules and its state machine. Store, engine and notify see only this. */
#ifndef FERRY_TASK_MODEL_H
#define FERRY_TASK_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/config.h"
#include "common/ferr.h"

#define TASK_ID_MAX 64
#define TASK_ACCOUNT_MAX 64
#define TASK_MAX_SOURCES 30
#define TASK_MAX_WATERMARKS 4
#define TASK_URL_MAX 2000
#define TASK_COMMENT_MAX 512
/* The reason of a stored task whose row cannot be read (the store's quarantine): it is
 * offline, may be read and deleted, and refuses every other change. */
#define TASK_REASON_QUARANTINED "Quarantined"
/* The reason of a task due to run that waits for a relay slot (max_running_tasks). */
#define TASK_REASON_NO_SLOT "WaitingForSlot"

/* Which front end created the task: decides the callback format later on. */
typedef enum { TASK_DIALECT_NATIVE = 0, TASK_DIALECT_TENCENT, TASK_DIALECT_ALIBABA } task_dialect;

/* What the task pulls. */
typedef enum {
    TASK_SOURCE_LIVE = 0, /* one live URL: rtmp, rtmps, srt, http(s)-flv, hls, rtsp */
    TASK_SOURCE_FILES,    /* a playlist of 1..30 files: mp4, flv, hls vod over http(s) */
    TASK_SOURCE_PICTURE,  /* a still picture pushed as video */
} task_source_kind;

/* Runtime state. idle -> running <-> recovering -> offline | finished; paused from any
 * non-terminal state. Every transition is written to the task history. */
typedef enum {
    TASK_IDLE = 0,       /* waiting for StartTime */
    TASK_RUNNING = 1,    /* pulling and pushing */
    TASK_RECOVERING = 2, /* a failure happened; retrying */
    TASK_OFFLINE = 3,    /* retries exhausted or stopped through the API */
    TASK_FINISHED = 4,   /* EndTime passed or the playlist's loops are done */
    TASK_PAUSED = 5,     /* paused by the user; resumable */
} task_state;

typedef struct task_watermark {
    char *picture_url;
    int x, y;          /* percent offsets */
    int width, height; /* percent of the frame; 0 = the image's own size */
    int location;      /* 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left */
} task_watermark;

/* Callback event bits (Tencent names; the notify part maps them per dialect). */
enum {
    TASK_EV_TASK_START = 1 << 0,
    TASK_EV_TASK_EXIT = 1 << 1,
    TASK_EV_FILE_START = 1 << 2,
    TASK_EV_FILE_FINISH = 1 << 3,
    TASK_EV_RESET_CONFIG = 1 << 4,
    TASK_EV_ALARM = 1 << 5,
    TASK_EV_ALL = (1 << 6) - 1,
};

/* What the user asked for. Strings are heap-owned by the spec (task_spec_free). */
typedef struct task_spec {
    char *name;
    task_source_kind source_kind;
    char *source_protocol; /* "" = derive from URL; rtmp, srt, http-flv, hls, ... */
    int n_sources;
    char *source_urls[TASK_MAX_SOURCES];
    char *dst_url;        /* full push URL */
    char *backup_dst_url; /* second destination pushed at the same time; "" = none */
    task_source_kind backup_source_kind;
    char *backup_source_url;  /* used when the main live source fails; "" = none */
    char *pad_url;            /* filler file played while the main source is down */
    int64_t start_ms, end_ms; /* Unix ms */
    int loop_count;           /* total plays of the playlist: -1 = until EndTime, >= 1 */
    int file_index;           /* 0-based start file, first loop only */
    int offset_s;             /* seconds into the start file, first loop only */
    int retry_count;          /* retries before offline; -1 = the configured default */
    int retry_interval_s;     /* seconds between retries; -1 = the configured default */
    char *callback_url;
    unsigned callback_events; /* TASK_EV_* bits; 0 = all */
    bool paused;              /* user asked to pause (Tencent Status=pause, Stop) */
    char *comment;
    char *created_by, *updated_by; /* operator names */
    char *region;
    char *vod_refresh_type; /* ImmediateNewSource | ContinueBreakPoint */
    int vod_local_mode;
    int n_watermarks;
    task_watermark watermarks[TASK_MAX_WATERMARKS];
    char *dialect_extra; /* JSON object text the dialect keeps opaque to the model ("{}") */
} task_spec;

/* A stored task: spec plus runtime state. */
typedef struct task {
    char id[TASK_ID_MAX];
    char account[TASK_ACCOUNT_MAX];
    task_dialect dialect;
    task_spec spec;
    task_state state;
    char *reason;     /* why the last transition happened: PullStreamFailed, OverEndTime, ... */
    char *last_error; /* readable causal chain of the last failure, "" when none */
    int64_t created_ms, updated_ms;
    int64_t started_ms; /* last time it entered running, 0 = never */
    int64_t exit_ms;    /* time it became offline/finished, 0 = not */
    /* Not stored: the epoch of this node's lease on the task when the runner writes it (a
     * cluster store refuses the write when the lease moved on); 0 = an unfenced write. */
    int64_t lease_epoch;
    /* Not stored: with lease_epoch, the updated_ms the write replaces (the row as the runner
     * read it): a change made meanwhile through another node is never overwritten. */
    int64_t fence_updated_ms;
} task;

/* Live progress read from the engine without blocking it. */
typedef struct task_progress {
    bool active; /* a worker is running for the task */
    char source_url[TASK_URL_MAX + 1];
    char source_role[8]; /* live: main, backup or pad (the one playing) */
    int file_index;      /* current playlist entry, 0-based */
    int64_t offset_ms;   /* position in the current file */
    int64_t file_duration_ms;
    int loops_done;
    char next_url[TASK_URL_MAX + 1];
    int64_t frames; /* video frames (or audio packets when audio-only) pushed */
    int64_t packets;
    int64_t bytes;
    double bitrate_kbps; /* over the last seconds */
    double fps;
    int64_t last_packet_ms; /* wall clock of the last pushed packet, 0 = none */
    int64_t report_ms;      /* when this snapshot was taken */
    int discontinuities;    /* source restarts absorbed by the timeline */
    char last_error[512];
} task_progress;

/* One line of a task's history. */
typedef struct task_history_entry {
    int64_t at_ms;
    task_state from, to;
    char reason[64];
    char detail[512];
} task_history_entry;

/* One line of the audit trail: a change made through an API. */
typedef struct task_audit_line {
    int64_t seq; /* its place in the trail, set by the store */
    int64_t at_ms;
    char account[TASK_ACCOUNT_MAX];
    char dialect[16];    /* native, tencent, alibaba */
    char address[64];    /* the caller's IP address */
    char request_id[24]; /* the X-Request-Id of the call */
    char action[16];     /* create, modify, pause, resume, stop, restart, delete */
    char task_id[TASK_ID_MAX];
    char fields[512]; /* the native names of the fields set or changed, comma-separated */
} task_audit_line;

/* One callback event of a task as the outbox holds it: waiting for delivery (pending) or
 * out of retries (dead). A delivered event leaves the outbox. */
typedef struct task_callback_line {
    char id[40];   /* the event id (UUID) */
    char type[32]; /* TaskStart, LivePullToPushExit, task_state, ... */
    int64_t created_ms;
    int64_t next_ms; /* pending: the next try; dead: when it died */
    int attempts;    /* deliveries tried so far */
    bool dead;
    char last_error[256]; /* why the last try failed, "" before any */
} task_callback_line;

/* Which tasks a list shows (task_list, store_task_list). The *_like fields are substrings
 * that must all match (AND); any_like matches the id, the name or the destination. */
typedef struct task_filter {
    const char *id_like, *name_like, *dst_like;
    const char *any_like;
    const char *id_exact;
    int dialect; /* -1 any */
} task_filter;

/* --- model (task_model.c) --- */
void task_spec_init(task_spec *s); /* strings "", loop -1, retries -1 (default), events 0 */
void task_spec_free(task_spec *s);
int task_spec_copy(task_spec *dst, const task_spec *src); /* deep copy; 0 or -1 on OOM */
void task_free(task *t);                                  /* frees the spec and strings */
int task_copy(task *dst, const task *src);
void task_list_free(task *list, int n); /* a list from task_list or store_task_list */
/* Replaces *field with a copy of value (NULL means ""). Returns 0 or -1 on OOM. */
int task_str_set(char **field, const char *value);

const char *task_state_name(task_state s); /* "idle", "running", ... */
int task_state_parse(const char *name, task_state *out);
const char *task_source_kind_name(task_source_kind k); /* "live", "files", "picture" */
int task_source_kind_parse(const char *name, task_source_kind *out);

/* --- validation (task_validate.c) --- */
/* Validates a complete spec against the rules and the config's limits, at time now_ms.
 * is_create: creation also demands EndTime > now. Returns FERR_OK or a typed error. */
int task_validate(const task_spec *s, const config *cfg, int64_t now_ms, bool is_create, ferr *err);
/* The address policy where it is known without a lookup: a source or destination whose host
 * is an IP literal or localhost in a special range (loopback, private, link-local, ...) not
 * allow-listed for account is refused, naming the field and the rule. Names are checked
 * when opened; callbacks when delivered. */
int task_validate_addresses(const task_spec *s, const config *cfg, const char *account, ferr *err);
/* URL scheme checks the dialects share. */
bool task_url_is_push(const char *url); /* rtmp:// or rtmps:// with a host */
bool task_url_is_source(const char *url, task_source_kind kind);

/* --- state machine (task_state.c) --- */
bool task_transition_allowed(task_state from, task_state to);
bool task_state_is_terminal(task_state s); /* offline or finished */

/* --- JSON (task_json.c): the model's own JSON form. It is the storage form of the spec
 * and, unchanged, the native API's task body (field names in docs/api.md). --- */
/* The spec as a JSON object (new reference). */
json_t *task_spec_json(const task_spec *s);
/* Applies the fields present in obj onto s (a merge: absent fields keep their value).
 * Strict: unknown fields and wrong JSON types give FERR_INVALID naming the field. */
int task_spec_apply_json(task_spec *s, const json_t *obj, ferr *err);
/* Serialises the spec as JSON text (caller frees). */
char *task_spec_to_json(const task_spec *s);
/* The names of the fields whose values differ between a and b, comma-separated into out
 * (cut at len); with a NULL, the fields b sets to something. */
void task_spec_changed_fields(const task_spec *a, const task_spec *b, char *out, size_t len);
/* task_spec_init + task_spec_apply_json of the text. Returns 0 or -1. */
int task_spec_from_json(task_spec *s, const char *json);
/* The whole task as the native API shows it: spec fields, id, state, reason, last_error,
 * times (ISO), and "progress" when p is not NULL (new reference). */
json_t *task_json(const task *t, const task_progress *p);
json_t *task_history_json(const task_history_entry *h, int n);
/* Lines of the audit trail as an array; fields become an array of names. */
json_t *task_audit_json(const task_audit_line *l, int n);
/* A task's callback events as an array, each with its state "pending" or "dead". */
json_t *task_callbacks_json(const task_callback_line *l, int n);

#endif
