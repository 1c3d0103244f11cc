/* rtmp_pull.h — one RTMP play connection on an event loop (rtmp_pull.c), shared by the loop
 * that reads it and the worker whose rtmp source (source_rtmp.c) takes its packets. */
#ifndef FERRY_ENGINE_RTMP_PULL_H
#define FERRY_ENGINE_RTMP_PULL_H

#include "engine/engine_internal.h"
#include "engine/event_loop.h"
#include "engine/flv_tracks.h"
#include "engine/rtmp.h"
#include "engine/tls_stream.h"

typedef enum { PULL_IDLE = 0, PULL_CONNECTING, PULL_TLS, PULL_TALKING, PULL_OVER } pull_state;

typedef struct pull_item {
    struct pull_item *next;
    AVPacket *pkt;
    int kind;
} pull_item;

typedef struct rtmp_pull {
    ev_handler h;
    char *url;
    char task_id[64];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int64_t connect_timeout_us, rw_timeout_us;
    AVIOInterruptCB interrupt;
    engine_worker *w; /* the relay's worker: its loop, and its park (source_ops.park) */
    bool attached;
    int64_t opened_us; /* when the worker asked for the source */

    /* the loop's */
    pull_state state;
    int fd;
    tls_stream io; /* the socket's bytes, plain or TLS (rtmps://) */
    rtmp_session s;
    bool s_init;
    uint8_t *in; /* bytes received, in[in_off..in_len) not parsed yet */
    size_t in_off, in_len;
    int64_t deadline_us; /* until READY */
    AVPacket *spare;     /* the next packet to fill */

    /* shared, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    flv_tracks ft;
    pull_item *head, *tail;
    int count;
    int64_t bytes;
    bool ready, paused, resume_asked, quit, done, waiting;
    bool tls_waiting;          /* the TLS handshake is under way */
    source_direct direct;      /* take != NULL: the worker is parked, packets go to take() */
    engine_source *direct_src; /* the source parked on: its stream indexes */
    bool over;
    int over_rc;
    char over_why[ENGINE_ERR_MAX];
} rtmp_pull;
/* A connection to a->url's server, not started; NULL without memory. */
rtmp_pull *rtmp_pull_new(const source_open_args *a);
/* Hands p to an event loop, which connects to p->addr; false when no loop runs. */
bool rtmp_pull_attach(rtmp_pull *p);
/* The loop lets go of p (it closes the socket), then p is freed. */
void rtmp_pull_release(rtmp_pull *p);
/* The worker's interrupt callback says stop (a deadline, a stop request, a cut). */
bool rtmp_pull_interrupted(const rtmp_pull *p);
/* Under lock: sleeps until the loop signals, a short step passes or until_us. */
void rtmp_pull_wait(rtmp_pull *p, int64_t until_us);
/* Under lock, with a packet queued: it moves to pkt (*kind: 0 video, 1 audio). True when
 * the loop must be posted to read again (ev_post(&p->h), after the unlock). */
bool rtmp_pull_pop(rtmp_pull *p, AVPacket *pkt, int *kind);

#endif
