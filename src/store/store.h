/* store.h — durable tasks and task history behind one interface (SQLite in WAL mode).
 * Every call is thread-safe; every write the API acknowledges is committed synchronously. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include "common/ferr.h"
#include "task/task.h"

typedef struct store store;

/* Opens (creating if needed) DATA_DIR/ferry.db, applies pending schema migrations. */
int store_open(const char *data_dir, store **out, ferr *err);
void store_close(store *st);
int store_schema_version(store *st); /* the migration level now in force */

/* Inserts a new task and, when h is not NULL, its first history line, in one
 * transaction. A task id already present gives FERR_EXISTS. */
int store_task_insert(store *st, const task *t, const task_history_entry *h, ferr *err);
/* Rewrites an existing task (spec and runtime state) and appends h when not NULL, in one
 * transaction. FERR_NOT_FOUND when the id is absent. */
int store_task_update(store *st, const task *t, const task_history_entry *h, ferr *err);
/* Deletes a task and its history. FERR_NOT_FOUND when absent. */
int store_task_delete(store *st, const char *id, ferr *err);
/* Reads one task by id (any account; the service checks ownership). */
int store_task_get(store *st, const char *id, task *out, ferr *err);
/* One page of an account's tasks, newest updated_ms first (then id). total counts every
 * match. The caller frees with task_list_free. */
int store_task_list(store *st, const char *account, const task_filter *f, int offset,
                    int limit, task **out, int *n_out, int *total, ferr *err);
/* Every task of every account (start-up recovery). */
int store_task_all(store *st, task **out, int *n_out, ferr *err);
int store_task_count(store *st, const char *account);

/* Appends a history line on its own (progress notes that change no state). */
int store_history_add(store *st, const char *id, const task_history_entry *h, ferr *err);
/* The task's history, oldest first (caller frees *out with free()). */
int store_history_list(store *st, const char *id, task_history_entry **out, int *n, ferr *err);

#endif
