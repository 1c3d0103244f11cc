/* task.h — the task service that applies every change to a task: persist, schedule, run,
 * notify; and its runner. The model it works on is task_model.h, included here. */
#ifndef FERRY_TASK_H
#define FERRY_TASK_H

#include "common/config.h"
#include "common/ferr.h"
#include "task/task_model.h"

/* --- service (task_service.c) --- */
typedef struct store store;

/* Starts the service: loads tasks from the store, reschedules and resumes them. */
int task_service_start(const config *cfg, store *st);
void task_service_stop(void); /* stops every worker (SIGTERM path) */

/* Who asks for a change, for the audit trail: the account (every call is scoped to it;
 * another account's task is FERR_NOT_FOUND), the API it came through and from where. */
typedef struct task_caller {
    const char *account;
    task_dialect dialect;
    const char *address;    /* the client's IP address, "" when unknown */
    const char *request_id; /* the call's X-Request-Id, "" when none */
} task_caller;

/* The changes below each leave a line in the audit trail (task_audit). */
int task_create(const task_caller *who, const task_spec *spec, const char *want_id, task *out,
                ferr *err);
int task_get(const char *account, const char *id, task *out, ferr *err);
/* Lists newest-updated first. filter may be NULL (task_filter: task_model.h). */
int task_list(const char *account, const task_filter *filter, int offset, int limit, task **out,
              int *n_out, int *total, ferr *err);
/* Replaces the spec with new_spec (validated) and applies the difference to the running
 * relay: window changes reschedule, paused toggles pause/resume, source or destination
 * changes restart the worker. */
int task_modify(const task_caller *who, const char *id, const task_spec *new_spec, task *out,
                ferr *err);
int task_delete(const task_caller *who, const char *id, ferr *err);
/* Stops the relay now and goes offline (reason TriggerByUser). */
int task_stop(const task_caller *who, const char *id, ferr *err);
/* Ends the task now as finished with reason (Alibaba's Delete: TriggerByUser): the relay
 * stops, and the task stays readable for history_retention seconds, then goes. */
int task_retire(const task_caller *who, const char *id, const char *reason, ferr *err);
/* Restarts the relay with the latest spec (running, recovering, offline). */
int task_restart(const task_caller *who, const char *id, ferr *err);
int task_get_progress(const char *account, const char *id, task_progress *out, ferr *err);
int task_get_history(const char *account, const char *id, task_history_entry **out, int *n,
                     ferr *err);
/* The task's callback events still in the outbox (pending or dead), newest first, at most
 * TASK_CALLBACKS_MAX (caller frees *out with free()). */
#define TASK_CALLBACKS_MAX 100
int task_get_callbacks(const char *account, const char *id, task_callback_line **out, int *n,
                       ferr *err);
int task_count(const char *account);
/* One page of the account's audit trail, newest first; of one task when task_id is set
 * (a deleted task's lines stay). The caller frees *out with free(). */
int task_audit(const char *account, const char *task_id, int offset, int limit,
               task_audit_line **out, int *n, int *total, ferr *err);

/* --- the nodes (task_cluster.c) --- */

/* A node of the cluster as its heartbeat shows it (a single node: itself). */
typedef struct task_node {
    char id[64];
    char labels[256];
    char state[16]; /* live, gone (no heartbeat for a lease time), stopped (left cleanly) */
    int running;    /* relays running */
    int64_t bitrate_kbps;
    int max_running; /* its max_running_tasks, 0 = no limit */
    int tasks;       /* tasks whose lease it holds */
    int64_t started_ms, heartbeat_ms;
    bool draining; /* hands its tasks to other nodes and takes none */
} task_node;

/* Every node, by id (caller frees *out with free()). */
int task_nodes(task_node **out, int *n, ferr *err);
/* Drains a node (on) or lets it take tasks again: a draining node takes no new task and
 * hands each of its tasks to the node placement picks. FERR_NOT_FOUND for an unknown node,
 * FERR_STATE on a single node (the embedded store: there is nowhere to move to). */
int task_node_drain(const char *node, bool on, ferr *err);

/* A request limit across the cluster: counts one request of key (an account and an action)
 * in the database's current second for all the nodes. 1: admitted (a single node: always),
 * 0: the nodes took rate requests of key in this second already, -1: the store did not
 * answer, and *share is this node's part of rate (rate over the live nodes, at least 1). */
int task_rate_admit(const char *key, int rate, int *share);

#endif
