/* rtmp_handshake.c — the client side of the plain RTMP handshake over buffers: C0+C1 out,
 * S0+S1+S2 in (S0 must say version 3), C2 (an echo of S1) out. */
#include "engine/rtmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RTMP_VERSION 3

enum { HS_IDLE, HS_SENT, HS_DONE };

int rtmp_handshake_start(rtmp_handshake *h, rtmp_buf *out)
{
    memset(h, 0, sizeof(*h));
    uint8_t c[1 + RTMP_HANDSHAKE_SIZE];
    c[0] = RTMP_VERSION;
    uint32_t now = (uint32_t)time(NULL);
    for (int i = 0; i < 4; i++)
        c[1 + i] = (uint8_t)(now >> (24 - 8 * i));
    memset(c + 5, 0, 4); /* zero version: the plain handshake, no digest */
    uint32_t x = now ^ (uint32_t)(uintptr_t)h;
    for (size_t i = 9; i < sizeof(c); i++) {
        x = x * 1103515245u + 12345u; /* filler only: the plain handshake needs no secrecy */
        c[i] = (uint8_t)(x >> 16);
    }
    h->state = HS_SENT;
    return rtmp_buf_append(out, c, sizeof(c));
}

int rtmp_handshake_feed(rtmp_handshake *h, const uint8_t *p, size_t n, size_t *used, rtmp_buf *out,
                        char *err, size_t errlen)
{
    *used = 0;
    if (h->state != HS_SENT) {
        snprintf(err, errlen, "handshake: not waiting for the server");
        return RTMP_ERR_STATE;
    }
    const size_t total = 1 + 2 * RTMP_HANDSHAKE_SIZE;
    while (*used < n && h->got < total) {
        uint8_t c = p[(*used)++];
        if (h->got == 0 && c != RTMP_VERSION) {
            snprintf(err, errlen,
                     "handshake: the server answered version %u, not RTMP version 3 (is it an "
                     "RTMP server?)",
                     c);
            h->state = HS_IDLE;
            return RTMP_ERR_MALFORMED;
        }
        if (h->got >= 1 && h->got <= RTMP_HANDSHAKE_SIZE)
            h->s1[h->got - 1] = c;
        h->got++;
    }
    if (h->got < total)
        return 0;
    h->state = HS_DONE;
    return rtmp_buf_append(out, h->s1, RTMP_HANDSHAKE_SIZE) == 0 ? 1 : RTMP_ERR_NOMEM;
}
