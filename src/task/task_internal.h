/* task_internal.h — what the task service's files share: the service context, the work
 * queue of its runner thread, and the helper that writes one state transition. */
#ifndef FERRY_TASK_INTERNAL_H
#define FERRY_TASK_INTERNAL_H

#include <pthread.h>

#include "engine/engine.h"
#include "sched/sched.h"
#include "store/store.h"
#include "task/task.h"

typedef struct task_service {
    const config *cfg;
    store *st;
    pthread_mutex_t lock; /* serialises read-modify-write of a task in the store */
} task_service;

extern task_service svc;

/* Work for the runner thread: the only thread that starts and stops workers. */
typedef enum {
    WORK_SCHEDULE, /* (re)compute what the task should be doing now */
    WORK_START,    /* StartTime reached */
    WORK_END,      /* EndTime reached */
    WORK_RESTART,  /* restart the worker with the latest spec */
    WORK_UPDATE,   /* hand the running worker the latest spec (a live modification) */
    WORK_RESUME,   /* ferryd restarted while the task was live: as SCHEDULE, from its checkpoint */
    WORK_HALT,     /* stop the worker (stop, pause, delete) */
    WORK_EVENT,    /* an engine event */
    WORK_PURGE,    /* a finished task's retention ran out */
    WORK_ADOPT,    /* this node claimed the task's lease: run it (a live one from its checkpoint) */
    WORK_HAND_OFF, /* the node drains: stop the relay, save the checkpoint, give up the lease */
    WORK_DRAIN,    /* a signal only (never the runner's): a node's drain flag changed */
} work_type;

/* Starts the runner; resume: resume every stored task now (a single node holds them all;
 * in a cluster each comes with its lease as WORK_ADOPT). */
int runner_start(bool resume);
void runner_stop(void);
void runner_post(work_type type, const char *task_id);
void runner_post_event(const char *task_id, const engine_event *ev);
/* Saves how far the task's playlist has played into its entry, through st (a live task has
 * no offset and no checkpoint: nothing is written). */
void runner_save_offset(store *st, const char *id);
int runner_live(void); /* workers started and not known to have ended (any thread) */

/* ---------- the cluster (task_cluster.c); a single node holds every task ---------- */

/* Starts the node's heartbeat and lease thread when the store is shared; 0 or -1. */
int cluster_start(const config *cfg, store *st);
void cluster_stop_renewing(void); /* joins the thread: no renewal, no claim from now on */
void cluster_release(void);       /* after the relays stopped: gives up every lease */
bool cluster_on(void);
const char *cluster_node(void);
/* True when this node holds the task's lease (always on a single node); *epoch (may be
 * NULL) is the lease's epoch, 0 on a single node: state writes carry it (task.lease_epoch). */
bool cluster_holds(const char *id, int64_t *epoch);
/* Tells the other nodes of a change (NOTIFY): the task's owner does type, others claim. */
void cluster_tell(work_type type, const char *id);
/* A lease this node holds whose task could not be taken up (the store did not answer): it
 * is adopted again at the next renewal, so a held task is never left without its relay. */
void cluster_adopt_later(const char *id);
/* The relay of a task being handed over has stopped: its lease goes (epoch kept, expired)
 * and the other nodes are told to claim it now. */
void cluster_handed_off(const char *id);
/* Tells every node that a drain flag changed (they read their own row again). */
void cluster_drain_changed(void);

/* Moves t to state `to` (if allowed), stamps times, writes the task and a history line in
 * one transaction. Caller holds svc.lock. Returns 0 or a ferr code. */
int task_transition(task *t, task_state to, const char *reason, const char *detail);
/* Records why t, in its present state, is not doing what it should: its reason, and a
 * history line with the detail; nothing is written when the reason is already this one.
 * Caller holds svc.lock. */
int task_wait_reason(task *t, const char *reason, const char *detail);
/* Loads the task; caller holds svc.lock. */
int task_load(const char *id, task *t);

#endif
