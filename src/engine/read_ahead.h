/* read_ahead.h — during pre-roll a helper thread does the worker's source reads, one at a
 * time on request, so the worker can wait for a packet with a deadline (the push time). */
#ifndef FERRY_ENGINE_READ_AHEAD_H
#define FERRY_ENGINE_READ_AHEAD_H

#include "engine/engine_internal.h"

/* Why a thread and not the interrupt callback: an interrupt that lands inside an RTMP message
 * (it is polled before every socket read, and a wait for the next packet ends with its first
 * byte) loses the chunk framing; the reads after it fail ("RTMP packet size mismatch"). */

typedef struct read_result {
    int rc;             /* what source_ops.read returned */
    int kind;           /* its MEDIA_* or -1 */
    int64_t at_us;      /* monotonic time the read returned */
    char av_error[256]; /* FFmpeg's first error line during the read, "" = none */
} read_result;

typedef struct read_ahead {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool started;
    bool asked; /* a read is requested or in flight */
    bool done;  /* its result waits for the worker */
    bool quit;
    engine_source *src; /* touched by the helper only while asked */
    AVPacket *pkt;      /* where the read puts its packet */
    const char *task_id;
    read_result res;
} read_ahead;

/* Starts the helper thread; 0 or a negative AVERROR (the caller then reads by itself). */
int read_ahead_start(read_ahead *ra, engine_source *src, AVPacket *pkt, const char *task_id);
/* Asks for one read; the caller arms the source's io_guard first and leaves src and pkt
 * alone until the result is taken. */
void read_ahead_ask(read_ahead *ra);
/* A read was asked and its result not yet taken. */
bool read_ahead_pending(read_ahead *ra);
/* Waits for the result until deadline_us (monotonic; INT64_MAX = none). True with *out set;
 * false when the deadline came first (the read goes on). Never returns before the deadline
 * without a result. */
bool read_ahead_wait(read_ahead *ra, int64_t deadline_us, read_result *out);
/* Ends the thread after the read in flight returns (cut it first to abandon it); a result
 * not taken is dropped. Does nothing when not started. */
void read_ahead_stop(read_ahead *ra);

#endif
