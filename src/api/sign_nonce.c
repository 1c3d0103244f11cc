/* sign_nonce.c — the replay guard of signed requests: every (key id, nonce) of a verified
 * request is kept for twice the clock-skew window in a fixed ring with a hash index. */
#include "api/ali.h"
#include "api/sign_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"

/* A signed time may lie up to ALI_MAX_SKEW_S ahead of the clock, and is accepted until
 * ALI_MAX_SKEW_S after itself: a nonce must be remembered for both. */
#define TTL_S (2 * ALI_MAX_SKEW_S)
#define CAPACITY (1 << 18) /* 262144 nonces, about 8 MB; the oldest go first when full */
#define BUCKETS (1 << 16)
#define NONE UINT32_MAX

typedef struct entry {
    unsigned char digest[16]; /* SHA-256 of "key\nnonce", truncated */
    int64_t seen_s;
    uint32_t next; /* chain of the bucket */
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *ring;        /* CAPACITY entries in arrival order */
static uint32_t *buckets;  /* BUCKETS chain heads */
static uint32_t head, len; /* the oldest entry and the count */
static bool warned;

static void digest_of(const char *key_id, const char *nonce, unsigned char out[16])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    memset(out, 0, 16);
    if (!ctx)
        return;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(ctx, key_id, strlen(key_id)) && EVP_DigestUpdate(ctx, "\n", 1) &&
        EVP_DigestUpdate(ctx, nonce, strlen(nonce)) && EVP_DigestFinal_ex(ctx, md, &n))
        memcpy(out, md, 16);
    EVP_MD_CTX_free(ctx);
}

static uint32_t bucket_of(const unsigned char d[16])
{
    return ((uint32_t)d[0] | (uint32_t)d[1] << 8) % BUCKETS;
}

static int setup(void)
{
    if (ring)
        return 0;
    ring = calloc(CAPACITY, sizeof(*ring));
    buckets = malloc(BUCKETS * sizeof(*buckets));
    if (!ring || !buckets) {
        free(ring);
        free(buckets);
        ring = NULL;
        buckets = NULL;
        return -1;
    }
    for (uint32_t i = 0; i < BUCKETS; i++)
        buckets[i] = NONE;
    return 0;
}

/* Drops the oldest entry from its chain and from the ring. */
static void drop_oldest(void)
{
    entry *e = &ring[head];
    uint32_t *link = &buckets[bucket_of(e->digest)];
    while (*link != NONE && *link != head)
        link = &ring[*link].next;
    if (*link == head)
        *link = e->next;
    head = (head + 1) % CAPACITY;
    len--;
}

static bool seen(const unsigned char d[16])
{
    for (uint32_t i = buckets[bucket_of(d)]; i != NONE; i = ring[i].next)
        if (memcmp(ring[i].digest, d, 16) == 0)
            return true;
    return false;
}

bool sign_nonce_fresh(const char *key_id, const char *nonce, int64_t now_s)
{
    unsigned char d[16];
    digest_of(key_id, nonce, d);
    pthread_mutex_lock(&lock);
    if (setup() != 0) {
        pthread_mutex_unlock(&lock);
        return true; /* out of memory: do not refuse work */
    }
    while (len && ring[head].seen_s + TTL_S < now_s)
        drop_oldest();
    bool fresh = !seen(d);
    if (fresh) {
        if (len == CAPACITY) {
            if (!warned)
                log_warn("api: more than %d signed requests in %d s: the oldest nonces are "
                         "forgotten early",
                         CAPACITY, TTL_S);
            warned = true;
            drop_oldest();
        }
        uint32_t i = (head + len) % CAPACITY;
        memcpy(ring[i].digest, d, 16);
        ring[i].seen_s = now_s;
        ring[i].next = buckets[bucket_of(d)];
        buckets[bucket_of(d)] = i;
        len++;
    }
    pthread_mutex_unlock(&lock);
    return fresh;
}

void sign_nonce_reset(void)
{
    pthread_mutex_lock(&lock);
    free(ring);
    free(buckets);
    ring = NULL;
    buckets = NULL;
    head = len = 0;
    warned = false;
    pthread_mutex_unlock(&lock);
}
