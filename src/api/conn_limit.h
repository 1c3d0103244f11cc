/* conn_limit.h — the open API connections, counted per client address and in total, so that
 * a request over a limit gets a clear 429 or 503 instead of a silent close. */
#ifndef FERRY_API_CONN_LIMIT_H
#define FERRY_API_CONN_LIMIT_H

#include <sys/socket.h>

/* The limits a request is judged against. per_ip <= 0: no limit per address. */
typedef struct conn_limits {
    unsigned per_ip; /* connections one address may hold and still be served */
    unsigned total;  /* connections of all clients at which new requests are refused */
} conn_limits;

/* What the server hands to libmicrohttpd: the hard limits, past which a connection is
 * closed at once because it cannot even be answered. */
unsigned conn_limit_hard_per_ip(unsigned per_ip);
unsigned conn_limit_soft_total(unsigned hard_total);

/* A connection opened (returns its handle, NULL when out of memory: it is then not counted)
 * and closed. Thread-safe. */
void *conn_limit_opened(const struct sockaddr *sa);
void conn_limit_closed(void *handle);

/* 0 when a request on the connection of handle may be served; otherwise FERR_THROTTLED (its
 * address holds more than per_ip connections) or API_ERR_BUSY (all clients together hold more
 * than total), with *held the count that is over. */
int conn_limit_check(const void *handle, const conn_limits *lim, unsigned *held);

#endif
