/* conn_limit.c — counts of open API connections per client address and in total, kept by
 * libmicrohttpd's connection notifications in one mutex-guarded hash table. */
#include "api/conn_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

#define SLOTS 1024

typedef struct peer {
    struct peer *next;
    unsigned char addr[16]; /* IPv4 in the first 4 bytes */
    int family;
    unsigned open; /* connections open from this address; the entry goes at 0 */
} peer;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static peer *slots[SLOTS];
static unsigned open_total;

/* Twice the soft limit, so that a client a little over it gets its answer; past it the
 * connection is closed unread. */
unsigned conn_limit_hard_per_ip(unsigned per_ip)
{
    return per_ip ? per_ip * 2 : 0;
}

/* An eighth of the connections is kept for answering 503 to new requests. */
unsigned conn_limit_soft_total(unsigned hard_total)
{
    return hard_total - (hard_total / 8 > 4 ? hard_total / 8 : 4);
}

static int peer_key(const struct sockaddr *sa, unsigned char out[16])
{
    memset(out, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa && sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return AF_INET6;
    }
    return AF_UNSPEC;
}

static unsigned slot_of(const unsigned char key[16])
{
    unsigned h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % SLOTS;
}

/* The entry of key, added when absent; NULL on OOM. Caller holds the lock. */
static peer *find_or_add(int family, const unsigned char key[16])
{
    unsigned h = slot_of(key);
    for (peer *p = slots[h]; p; p = p->next)
        if (p->family == family && memcmp(p->addr, key, 16) == 0)
            return p;
    peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    memcpy(p->addr, key, 16);
    p->family = family;
    p->next = slots[h];
    slots[h] = p;
    return p;
}

void *conn_limit_opened(const struct sockaddr *sa)
{
    unsigned char key[16];
    int family = peer_key(sa, key);
    pthread_mutex_lock(&lock);
    peer *p = find_or_add(family, key);
    if (p) {
        p->open++;
        open_total++;
    }
    pthread_mutex_unlock(&lock);
    return p;
}

static void unlink_peer(peer *gone)
{
    for (peer **pp = &slots[slot_of(gone->addr)]; *pp; pp = &(*pp)->next) {
        if (*pp == gone) {
            *pp = gone->next;
            free(gone);
            return;
        }
    }
}

void conn_limit_closed(void *handle)
{
    peer *p = handle;
    if (!p)
        return;
    pthread_mutex_lock(&lock);
    open_total--;
    if (--p->open == 0)
        unlink_peer(p);
    pthread_mutex_unlock(&lock);
}

int conn_limit_check(const void *handle, const conn_limits *lim, unsigned *held)
{
    const peer *p = handle;
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (p && lim->per_ip && p->open > lim->per_ip) {
        *held = p->open;
        rc = FERR_THROTTLED;
    } else if (lim->total && open_total > lim->total) {
        *held = open_total;
        rc = API_ERR_BUSY;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
