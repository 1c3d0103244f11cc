/* throttle.c — token buckets per (account, action) in one mutex-guarded hash table, then, in
 * a cluster, the count the nodes share. Keys come from configured accounts and the dialects'
 * action tables, so the table stays small. */
#include "api/throttle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task/task.h"

#define SLOTS 256

typedef struct bucket {
    struct bucket *next;
    char *key; /* "account\naction" */
    double tokens;
    int rate;
    int64_t last_us;
} bucket;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bucket *slots[SLOTS];

static unsigned fnv1a(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static unsigned hash(const char *s)
{
    return fnv1a(s) % SLOTS;
}

/* The bucket of key, made full on first use; NULL on OOM. Caller holds the lock. */
static bucket *find_or_add(const char *key, int rate, int64_t now_us)
{
    unsigned h = hash(key);
    for (bucket *b = slots[h]; b; b = b->next)
        if (strcmp(b->key, key) == 0)
            return b;
    bucket *b = calloc(1, sizeof(*b));
    if (!b || !(b->key = strdup(key))) {
        free(b);
        return NULL;
    }
    b->tokens = rate;
    b->rate = rate;
    b->last_us = now_us;
    b->next = slots[h];
    slots[h] = b;
    return b;
}

static bool take(bucket *b, int rate, int64_t now_us)
{
    if (rate != b->rate) { /* the config changed: keep the level, clamp to the new size */
        b->rate = rate;
        if (b->tokens > rate)
            b->tokens = rate;
    }
    if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) * rate / 1e6;
        if (b->tokens > rate)
            b->tokens = rate;
        b->last_us = now_us;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

/* ---------- failed authentications per address ---------- */

#define AUTH_SLOTS 4096

typedef struct auth_slot {
    char addr[64]; /* "" = free */
    double tokens;
    int64_t last_us;
} auth_slot;

static auth_slot auth_slots[AUTH_SLOTS];

static void refill(auth_slot *s, int cap, int rate, int64_t now_us)
{
    if (now_us > s->last_us) {
        s->tokens += (double)(now_us - s->last_us) * rate / 1e6;
        if (s->tokens > cap)
            s->tokens = cap;
        s->last_us = now_us;
    }
}

bool throttle_auth_blocked(const char *addr, int rate, int64_t now_us)
{
    if (rate <= 0)
        return false;
    pthread_mutex_lock(&lock);
    auth_slot *s = &auth_slots[fnv1a(addr) % AUTH_SLOTS];
    bool blocked = false;
    if (strcmp(s->addr, addr) == 0) {
        refill(s, 2 * rate, rate, now_us);
        blocked = s->tokens < 1.0;
    }
    pthread_mutex_unlock(&lock);
    return blocked;
}

void throttle_auth_failed(const char *addr, int rate, int64_t now_us)
{
    if (rate <= 0)
        return;
    pthread_mutex_lock(&lock);
    auth_slot *s = &auth_slots[fnv1a(addr) % AUTH_SLOTS];
    if (strcmp(s->addr, addr) != 0) {
        snprintf(s->addr, sizeof(s->addr), "%s", addr);
        s->tokens = 2 * rate;
        s->last_us = now_us;
    }
    refill(s, 2 * rate, rate, now_us);
    if (s->tokens >= 1.0)
        s->tokens -= 1.0;
    pthread_mutex_unlock(&lock);
}

/* The bucket of key at rate: true when it had a token. */
static bool take_local(const char *key, int rate, int64_t now_us)
{
    pthread_mutex_lock(&lock);
    bucket *b = find_or_add(key, rate, now_us);
    bool ok = b ? take(b, rate, now_us) : true; /* out of memory: do not refuse work */
    pthread_mutex_unlock(&lock);
    return ok;
}

/* The node's own bucket first (no round trip for what it refuses anyway), then the count
 * of the whole cluster; when the store does not answer, a bucket of this node's share. */
bool throttle_take(const char *account, const char *action, int rate, int64_t now_us)
{
    if (rate <= 0)
        return true;
    char key[256];
    if ((size_t)snprintf(key, sizeof(key), "%s\n%s", account, action) >= sizeof(key) - 16)
        return false; /* longer than any configured name: refuse rather than share a bucket */
    if (!take_local(key, rate, now_us))
        return false;
    int share;
    int shared = task_rate_admit(key, rate, &share);
    if (shared >= 0)
        return shared == 1;
    size_t len = strlen(key);
    snprintf(key + len, sizeof(key) - len, "\nshare");
    return take_local(key, share, now_us);
}

void throttle_reset(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++) {
        while (slots[i]) {
            bucket *b = slots[i];
            slots[i] = b->next;
            free(b->key);
            free(b);
        }
    }
    memset(auth_slots, 0, sizeof(auth_slots));
    pthread_mutex_unlock(&lock);
}
