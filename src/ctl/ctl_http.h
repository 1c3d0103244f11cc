/* ctl_http.h — ferryctl's HTTP client of the native API (libcurl, one connection kept
 * alive): a request and its JSON answer, or an error printed with the field at fault and
 * mapped to an exit code. */
#ifndef FERRY_CTL_HTTP_H
#define FERRY_CTL_HTTP_H

#include <jansson.h>

#include "ctl/ctl.h"
#include "ctl/ctl_conf.h"

typedef struct ctl_client ctl_client;

/* A client of the API at t; NULL when libcurl cannot start. */
ctl_client *ctl_client_new(const ctl_target *t);
void ctl_client_free(ctl_client *c);

/* Sends METHOD base+path with body (NULL: none). On a 2xx returns CTL_OK and sets *out to
 * the answer (NULL for an empty one; the caller owns it). Otherwise prints
 * "ferryctl: <field>: <message>" on stderr and returns the exit code of the failure.
 * subject is the task id of the request: a 404 without a field then names "id". */
int ctl_call(ctl_client *c, const char *method, const char *path, json_t *body, const char *subject,
             json_t **out);

/* Like ctl_call, but an answer of HTTP status `silent` is not reported: the caller
 * handles it (its exit code is still returned). */
int ctl_call_unless(ctl_client *c, const char *method, const char *path, long silent, json_t **out);

/* Resolves a's address and token and opens a client; returns CTL_OK or the exit code. */
int ctl_connect(const ctl_args *a, ctl_client **c);

/* s escaped for a query string into buf; "" when it does not fit. */
const char *ctl_query_escape(const char *s, char *buf, size_t len);

/* The path of a task ("/v1/tasks/ID" plus suffix), the id escaped; "" when too long. */
const char *ctl_task_path(char *buf, size_t len, const char *id, const char *suffix);

#endif
