/* retry.c — the retry budget of a source or destination: episodes, flaps, earned-back
 * attempts and jittered waits. See retry.h. */
#include "engine/retry.h"

static uint32_t retry_rand(retry_budget *b)
{
    uint32_t x = b->seed ? b->seed : 0x9e3779b9u ^ (uint32_t)(uintptr_t)b;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b->seed = x;
    return x;
}

/* wait less up to 10% of it */
static int64_t retry_jitter(retry_budget *b, int64_t wait_ms)
{
    return wait_ms - (int64_t)(retry_rand(b) % 1000) * (wait_ms / 10) / 1000;
}

int64_t retry_flap_wait_ms(int n, int64_t interval_ms)
{
    int64_t wait = RETRY_FLAP_BASE_MS;
    for (int i = 1; i < n && wait < interval_ms; i++)
        wait *= 2;
    return wait < interval_ms ? wait : interval_ms;
}

/* Attempts earned back by the run since the last recovery. */
static void retry_regain(retry_budget *b, int64_t now_ms)
{
    if (!b->up_since_ms)
        return;
    int64_t earned = (now_ms - b->up_since_ms) / RETRY_REGAIN_MS;
    b->attempts = earned >= b->attempts ? 0 : b->attempts - (int)earned;
    if (b->attempts == 0)
        b->flaps = 0;
}

void retry_failed(retry_budget *b, int64_t now_ms, int64_t interval_ms)
{
    if (b->failing) {
        b->next_ms = now_ms + retry_jitter(b, interval_ms);
        return;
    }
    b->failing = true;
    retry_regain(b, now_ms);
    if (b->attempts == 0) {
        b->next_ms = now_ms; /* a stable run failed: at once */
        return;
    }
    b->flaps++;
    b->next_ms = now_ms + retry_jitter(b, retry_flap_wait_ms(b->flaps, interval_ms));
}

void retry_attempt(retry_budget *b)
{
    b->attempts++;
}

bool retry_exhausted(const retry_budget *b, int limit)
{
    return b->attempts >= limit;
}

void retry_recovered(retry_budget *b, int64_t now_ms)
{
    b->failing = false;
    b->up_since_ms = now_ms;
}
