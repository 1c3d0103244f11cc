/* throttle.h — request-rate limits per (account, action): token buckets that hold one
 * second's worth of requests and refill continuously. Shared by the cloud dialects. */
#ifndef FERRY_API_THROTTLE_H
#define FERRY_API_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* Takes one request from the bucket of (account, action), which allows rate requests per
 * second (rate <= 0: unlimited). now_us is a monotonic clock. True when the request may
 * go ahead. Thread-safe. Names are compared exactly; action names of the two clouds
 * differ, so the dialects share one table. In a cluster a request the bucket allows is
 * counted for every node too (task_rate_admit): at most rate per second of the database's
 * clock go ahead over all the nodes; with the store away, the node's share of rate. */
bool throttle_take(const char *account, const char *action, int rate, int64_t now_us);

/* Clients that keep failing authentication, by address. An address whose failures went
 * past rate per second (in bursts of up to 2 x rate) is refused before its credentials are
 * checked, until its bucket refills. The table is bounded: a new address takes the slot of
 * another one (which then starts afresh). rate <= 0: no limit. Thread-safe. */
bool throttle_auth_blocked(const char *addr, int rate, int64_t now_us);
void throttle_auth_failed(const char *addr, int rate, int64_t now_us);

/* Forgets every bucket (tests). */
void throttle_reset(void);

#endif
