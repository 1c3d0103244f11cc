/* ctl_view.h — how ferryctl shows tasks to people: the ls table, one task's page, history
 * lines; URLs with their stream keys masked unless asked. */
#ifndef FERRY_CTL_VIEW_H
#define FERRY_CTL_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* The ls table of tasks (an array of tasks as GET /v1/tasks/{id} returns them, with or
 * without "progress"); now_ms is the time uptimes are counted to. */
void view_table(FILE *out, const json_t *tasks, bool show_keys, int64_t now_ms);
/* One task, a field a line. */
void view_task(FILE *out, const json_t *task, bool show_keys, int64_t now_ms);
/* History lines as a table (id NULL), or as an event stream with the task id first. */
void view_history(FILE *out, const json_t *entries, const char *id);
/* Audit lines (GET /v1/audit) as a table, newest first. */
void view_audit(FILE *out, const json_t *lines);
/* Nodes (GET /v1/nodes) as a table. */
void view_nodes(FILE *out, const json_t *nodes);
/* Prints doc as indented JSON (compact: one line) followed by a newline. */
void view_json(FILE *out, const json_t *doc, bool compact);

#endif
