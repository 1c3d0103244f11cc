/* output_queue.h — one output's writer thread and its bounded packet queue: the worker hands
 * packets over in microseconds; a slow or dead destination stalls only its own thread. */
#ifndef FERRY_ENGINE_OUTPUT_QUEUE_H
#define FERRY_ENGINE_OUTPUT_QUEUE_H

#include "engine/engine_internal.h"

/* The bound: packets waiting longer than OUTPUT_QUEUE_MAX_AGE_US (the destination takes less
 * than real time) or more than OUTPUT_QUEUE_MAX_BYTES in all. When either is passed the
 * oldest GOP is dropped (up to the next video keyframe, so the destination resumes on one);
 * the output keeps its session, the worker raises PushStreamUnstable. A destination that
 * takes nothing at all fails its write after rw_timeout and reconnects. Age, not media span:
 * bursty sources (HLS hands a segment at once) must not count as a slow destination. */
#define OUTPUT_QUEUE_MAX_AGE_US 4000000
#define OUTPUT_QUEUE_MAX_BYTES (16 * 1024 * 1024)

typedef struct output_queue output_queue;

typedef struct output_queue_args {
    engine_worker *w; /* its stop request ends I/O; output 0's writes feed its progress */
    const char *url;
    int index;                 /* 0 = the destination, 1 = the second one */
    const output_shape *shape; /* copied */
    int64_t connect_timeout_us;
    int64_t rw_timeout_us;
} output_queue_args;

/* What happened since the last poll. */
typedef struct output_report {
    int64_t written; /* packets the destination took */
    bool failed;     /* the session ended: error says why; nothing is written until a connect */
    char error[ENGINE_ERR_MAX];
} output_report;

/* Starts the writer thread, with no session yet. 0 or a negative AVERROR. */
int output_queue_start(output_queue **q, const output_queue_args *a);
/* Asks the writer to open a session; returns at once. Packets pushed from now on are queued;
 * when the session opens it starts from the newest video keyframe held (when video is
 * expected: the session waits for one). */
void output_queue_connect(output_queue *q, bool expect_video);
/* The source has no video (false): a session need not wait for a keyframe. */
void output_queue_expect_video(output_queue *q, bool expect_video);
/* Queues a reference to pkt with its mapped timestamps and kind's current codec headers:
 * pkt's own reference when take (pkt is left blank), else a new one. Returns how many
 * packets the bound dropped (>= 0), or a negative AVERROR. */
int output_queue_push(output_queue *q, int kind, AVPacket *pkt, bool take, const output_ts *ts,
                      const AVCodecParameters *par);
void output_queue_poll(output_queue *q, output_report *out);
/* Without the lock: true when a poll would find no failure, only packets written, so a
 * caller that has no use for the count may skip the poll (the count goes on adding up). */
bool output_queue_all_well(output_queue *q);
/* Ends the session (its trailer when trailer, bounded by about half a second), stops the
 * thread and frees q. NULL is fine. */
void output_queue_stop(output_queue *q, bool trailer);

#endif
