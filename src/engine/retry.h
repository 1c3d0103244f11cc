/* retry.h — a source's or destination's retry budget: when the next reconnect may start and
 * how many are left, so that a flapping peer can neither reset it forever nor spin. No I/O. */
#ifndef FERRY_ENGINE_RETRY_H
#define FERRY_ENGINE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* Packets flowing this long give back one attempt of the budget. */
#define RETRY_REGAIN_MS 30000
/* The first wait after a short-lived recovery; it doubles on each flap in a row. */
#define RETRY_FLAP_BASE_MS 1000

/* One failure episode runs from a failure until packets flow again. The attempts it spends
 * stay spent after it: a peer that recovers and fails again at once (a flap) goes on where
 * it was, and its first reconnect waits (1 s, doubling, up to the retry interval). Only
 * packets flowing without a break earn attempts back, one per RETRY_REGAIN_MS. */
typedef struct retry_budget {
    bool failing;        /* in an episode */
    int attempts;        /* reconnects spent and not yet earned back */
    int flaps;           /* episodes in a row that began soon after a recovery */
    int64_t next_ms;     /* monotonic time the next attempt may start */
    int64_t up_since_ms; /* when packets last flowed again after an episode; 0 = none */
    uint32_t seed;       /* jitter */
} retry_budget;

/* A failure: opens an episode (the first reconnect at once after a stable run, later after
 * a flap) or, inside one, schedules the next reconnect interval_ms later. Waits get up to
 * 10% taken off at random so that many tasks hit by one outage do not retry in step. */
void retry_failed(retry_budget *b, int64_t now_ms, int64_t interval_ms);
/* A reconnect starts: it is charged to the budget. */
void retry_attempt(retry_budget *b);
/* Whether limit attempts are spent: the peer is given up. */
bool retry_exhausted(const retry_budget *b, int limit);
/* Packets flow again: the episode ends (the attempts stay spent until earned back). */
void retry_recovered(retry_budget *b, int64_t now_ms);
/* The wait before the first reconnect of flap number n (1-based), before jitter. */
int64_t retry_flap_wait_ms(int n, int64_t interval_ms);

#endif
