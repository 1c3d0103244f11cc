/* notify.h — task event callbacks: an event becomes an outbox row inside the store write
 * of the change that caused it, and the notifier thread delivers the rows, with retries. */
#ifndef FERRY_NOTIFY_H
#define FERRY_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/config.h"
#include "store/store.h"
#include "task/task_model.h"

/* What happened, in ferry's terms; each dialect's formatter names it its own way. */
typedef enum {
    NOTIFY_TASK_START = 0, /* the relay began pushing (not after a recovery) */
    NOTIFY_TASK_EXIT,      /* the relay ended: offline, finished, paused or deleted while live */
    NOTIFY_TASK_STATE,     /* any other state change: recovering, recovered, paused, ... */
    NOTIFY_FILE_START,     /* a playlist entry started */
    NOTIFY_FILE_FINISH,    /* a playlist entry ended */
    NOTIFY_RESET_CONFIG,   /* a modify was applied */
    NOTIFY_ALARM,          /* the engine warns; the relay goes on */
    NOTIFY_KINDS,
} notify_kind;

typedef struct notify_event {
    notify_kind kind;
    char id[40];         /* unique event id; notify_event_rows fills it */
    int64_t at_ms;       /* when it happened */
    task_state from, to; /* equal for events that are not transitions */
    const char *reason;  /* OverEndTime, PullStreamFailed, TriggerByUser, ... ("" none) */
    const char *detail;  /* readable detail ("" none) */
    bool deleted;        /* TASK_EXIT because the task was deleted */
    const char *url;     /* FILE_*: the file */
    int index;           /* FILE_*: 0-based position in the playlist */
    int64_t duration_ms; /* FILE_*: the file's length, 0 unknown */
    const char *alarm;   /* ALARM: PullFileUnstable, PushStreamFailed, ... */
} notify_event;

/* A dialect's payload: a new JSON object, or NULL when the dialect sends nothing for ev.
 * t is the task after the change; acct its account (may be NULL). */
typedef json_t *(*notify_format_fn)(const task *t, const notify_event *ev,
                                    const config_account *acct);

/* Chooses the formatter of tasks created through dialect d. Without one the native
 * format is used. Call before notify_start and before any task changes. */
void notify_register_format(task_dialect d, notify_format_fn f);

/* The kind of event a transition is, or -1 when it is none (same state). */
int notify_transition_kind(task_state from, task_state to);
/* The TASK_EV_* bit that selects kind in a task's callback_events; 0 for TASK_STATE. */
unsigned notify_kind_bit(notify_kind kind);
/* The generic name of a kind: TaskStart, TaskExit, TaskState, VodSourceFileStart, ... */
const char *notify_kind_name(notify_kind kind);

/* The outbox rows of ev for task t (a list to hand to the store in the same transaction,
 * freed with store_event_free), or NULL when nothing is to be sent: no callback_url, an
 * event the task's callback_events leave out, or one its dialect does not send. */
store_event *notify_event_rows(const config *cfg, const task *t, notify_event *ev);

/* The native payload (docs/api.md); also the fallback of dialects without a formatter. */
json_t *notify_native_format(const task *t, const notify_event *ev, const config_account *acct);

/* --- delivery policy (notify_policy.c): pure functions; the addresses a callback may
 * reach are common/addr_policy.h's (callback_allow) --- */
/* After the try number `attempts` (1 = the first) failed at now_ms: when to try again, or
 * *dead when the retries (cfg->callback_retry_count after the first try) are used up. */
int64_t notify_retry_at(const config *cfg, int attempts, int64_t now_ms, bool *dead);
/* "sha256=" and the lowercase hex HMAC-SHA256 of body under secret (out: 72 bytes). */
void notify_sign(const char *secret, const char *body, size_t len, char out[72]);

/* --- the notifier thread (notify_deliver.c) --- */
int notify_start(const config *cfg, store *st);
/* Stops the thread; undelivered events stay in the outbox for the next start. */
void notify_stop(void);
/* Wakes the notifier after events were committed. Safe from any thread, any time. */
void notify_kick(void);

typedef struct notify_stats {
    long delivered; /* 2xx answers since start */
    long failed;    /* failed tries since start */
    long dead;      /* events whose retries ran out since start */
    long purged;    /* dead events removed after callback_dead_retention since start */
    int in_flight;  /* deliveries under way */
    int pending;    /* events in the outbox waiting for delivery (store) */
    int dead_kept;  /* dead events in the outbox (store) */
} notify_stats;
/* The counters; pending and dead_kept are read from the store (0 before notify_start). */
void notify_get_stats(notify_stats *out);

#endif
