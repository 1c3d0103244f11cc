/* metrics_api.h — GET /metrics (the Prometheus text format) and the API's own figures:
 * requests by dialect, action and result, and their latency by dialect. */
#ifndef FERRY_METRICS_API_H
#define FERRY_METRICS_API_H

#include <stdint.h>

#include "api/api_internal.h"

extern const api_dialect api_metrics_dialect;

/* Counts one answered request. d is the dialect that answered (NULL: none matched),
 * action a static string or NULL, status what the outcome means, us the time it took. */
void api_metrics_note(const api_dialect *d, const char *action, unsigned status, int64_t us);

#endif
