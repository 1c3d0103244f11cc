/* tls_stream.h — the bytes of an event loop's RTMP connection, over plain TCP or over TLS
 * (rtmps://, OpenSSL's non-blocking API): the same recv/send either way (tls_stream.c). */
#ifndef FERRY_ENGINE_TLS_STREAM_H
#define FERRY_ENGINE_TLS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ssl_st SSL;

typedef struct tls_stream {
    int fd;          /* the connected socket (owned by the caller) */
    SSL *ssl;        /* NULL: plain TCP */
    bool shaking;    /* the TLS handshake is not over yet */
    bool want_write; /* TLS needs the socket writable before it can go on */
    char err[160];   /* why the last call failed, when TLS said (else strerror) */
} tls_stream;

/* A plain stream over fd. */
void tls_stream_plain(tls_stream *t, int fd);
/* Starts TLS over the connected fd, naming host (SNI, unless an address). 0, or -1 (t->err).
 * The server's certificate is not verified, as with FFmpeg's rtmps by default. */
int tls_stream_start(tls_stream *t, int fd, const char *host);
/* Goes on with the handshake: 1 done, 0 later (when readable, or writable if want_write),
 * -1 failed (t->err). */
int tls_stream_handshake(tls_stream *t);
/* As recv() and send() with MSG_DONTWAIT: >0 bytes, 0 the peer closed (recv), -1 with
 * errno (EAGAIN: later; EPROTO: TLS failed, t->err says why). */
ssize_t tls_stream_recv(tls_stream *t, void *buf, size_t n);
ssize_t tls_stream_send(tls_stream *t, const void *buf, size_t n);
/* TLS holds decrypted bytes that a read has not taken (epoll cannot see them). */
bool tls_stream_pending(const tls_stream *t);
/* Why a call failed with errno err. */
const char *tls_stream_why(const tls_stream *t, int err);
/* Ends TLS (no close_notify wait) and forgets fd; the caller closes the socket. */
void tls_stream_free(tls_stream *t);

#endif
