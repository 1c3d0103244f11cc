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

/* All calls are scoped to an account; another account's task is FERR_NOT_FOUND. */
int task_create(const char *account, task_dialect dialect, const task_spec *spec,
                const char *want_id, task *out, ferr *err);
int task_get(const char *account, const char *id, task *out, ferr *err);
/* Lists newest-updated first. filter may be NULL (task_filter: task_model.h). */
int task_list(const char *account, const task_filter *filter, int offset, int limit, task **out,
              int *n_out, int *total, ferr *err);
/* Replaces the spec with new_spec (validated) and applies the difference to the running
 * relay: window changes reschedule, paused toggles pause/resume, source or destination
 * changes restart the worker. */
int task_modify(const char *account, const char *id, const task_spec *new_spec, task *out,
                ferr *err);
int task_delete(const char *account, const char *id, ferr *err);
/* Stops the relay now and goes offline (reason TriggerByUser). */
int task_stop(const char *account, const char *id, ferr *err);
/* Ends the task now as finished with reason (Alibaba's Delete: TriggerByUser): the relay
 * stops, and the task stays readable for history_retention seconds, then goes. */
int task_retire(const char *account, const char *id, const char *reason, ferr *err);
/* Restarts the relay with the latest spec (running, recovering, offline). */
int task_restart(const char *account, const char *id, ferr *err);
int task_get_progress(const char *account, const char *id, task_progress *out, ferr *err);
int task_get_history(const char *account, const char *id, task_history_entry **out, int *n,
                     ferr *err);
int task_count(const char *account);

#endif
