/* tls_stream.c — plain or TLS bytes for the event loops' RTMP connections: one process-wide
 * client context, a non-blocking handshake driven by the loop, reads and writes as recv/send. */
#include "engine/tls_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *client_ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_make(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c)
        return;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF); /* a close without close_notify */
#endif
    /* a retried write may come from a moved buffer (rtmp_buf), and may be taken in part */
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    client_ctx = c;
}

static void tls_fail(tls_stream *t, const char *what)
{
    unsigned long e = ERR_get_error();
    char lib[120] = "";
    if (e)
        ERR_error_string_n(e, lib, sizeof(lib));
    snprintf(t->err, sizeof(t->err), "TLS %s%s%s", what, lib[0] ? ": " : "", lib);
    ERR_clear_error();
}

void tls_stream_plain(tls_stream *t, int fd)
{
    memset(t, 0, sizeof(*t));
    t->fd = fd;
}

static bool is_address(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

int tls_stream_start(tls_stream *t, int fd, const char *host)
{
    tls_stream_plain(t, fd);
    pthread_once(&ctx_once, ctx_make);
    if (!client_ctx || !(t->ssl = SSL_new(client_ctx))) {
        tls_fail(t, "setup failed");
        return -1;
    }
    if (SSL_set_fd(t->ssl, fd) != 1 ||
        (host[0] && !is_address(host) && SSL_set_tlsext_host_name(t->ssl, host) != 1)) {
        tls_fail(t, "setup failed");
        tls_stream_free(t);
        return -1;
    }
    SSL_set_connect_state(t->ssl);
    t->shaking = true;
    return 0;
}

/* What an SSL call that returned rc means: 1 go on later (EAGAIN), 0 closed, -1 failed. */
static int tls_outcome(tls_stream *t, int rc, const char *what)
{
    int e = SSL_get_error(t->ssl, rc);
    t->want_write = e == SSL_ERROR_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return 1;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0 && !ERR_peek_error()))
        return 0;
    if (e == SSL_ERROR_SYSCALL && errno != 0) {
        snprintf(t->err, sizeof(t->err), "%s", strerror(errno));
        ERR_clear_error();
        return -1;
    }
    tls_fail(t, what);
    errno = EPROTO;
    return -1;
}

int tls_stream_handshake(tls_stream *t)
{
    if (!t->ssl || !t->shaking)
        return 1;
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->shaking = false;
        t->want_write = false;
        return 1;
    }
    int o = tls_outcome(t, rc, "handshake failed");
    if (o == 1)
        return 0;
    if (o == 0)
        snprintf(t->err, sizeof(t->err), "TLS handshake: the server closed the connection");
    return -1;
}

ssize_t tls_stream_recv(tls_stream *t, void *buf, size_t n)
{
    if (!t->ssl)
        return recv(t->fd, buf, n, MSG_DONTWAIT);
    size_t got = 0;
    while (got < n) {
        ERR_clear_error();
        int chunk = n - got > (size_t)1 << 30 ? 1 << 30 : (int)(n - got);
        int rc = SSL_read(t->ssl, (char *)buf + got, chunk);
        if (rc > 0) {
            got += (size_t)rc;
            t->want_write = false;
            continue;
        }
        int o = tls_outcome(t, rc, "read failed");
        if (got)
            return (ssize_t)got; /* what came before the end or the error first */
        return o == 0 ? 0 : -1;
    }
    return (ssize_t)got;
}

ssize_t tls_stream_send(tls_stream *t, const void *buf, size_t n)
{
    if (!t->ssl)
        return send(t->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 0)
        return 0;
    ERR_clear_error();
    int rc = SSL_write(t->ssl, buf, n > (size_t)1 << 30 ? 1 << 30 : (int)n);
    if (rc > 0)
        return rc;
    int o = tls_outcome(t, rc, "write failed");
    t->want_write = false; /* a write waiting for room: the caller's own bytes left say so */
    if (o == 0)
        errno = EPIPE;
    return -1;
}

bool tls_stream_pending(const tls_stream *t)
{
    return t->ssl && !t->shaking && SSL_pending(t->ssl) > 0;
}

const char *tls_stream_why(const tls_stream *t, int err)
{
    return t->ssl && t->err[0] ? t->err : strerror(err);
}

void tls_stream_free(tls_stream *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    t->ssl = NULL;
    t->shaking = t->want_write = false;
}
