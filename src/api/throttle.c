/* throttle.c — token buckets per (account, action) in one mutex-guarded hash table. Keys
 * come from configured accounts and the dialects' action tables, so the table stays small. */
#include "api/throttle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % SLOTS;
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

bool throttle_take(const char *account, const char *action, int rate, int64_t now_us)
{
    if (rate <= 0)
        return true;
    char key[256];
    if ((size_t)snprintf(key, sizeof(key), "%s\n%s", account, action) >= sizeof(key))
        return false; /* longer than any configured name: refuse rather than share a bucket */
    pthread_mutex_lock(&lock);
    bucket *b = find_or_add(key, rate, now_us);
    bool ok = b ? take(b, rate, now_us) : true; /* out of memory: do not refuse work */
    pthread_mutex_unlock(&lock);
    return ok;
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
    pthread_mutex_unlock(&lock);
}
