/* output_queue_impl.h — what output_queue.c (the queue, the writer thread) and
 * output_push.c (a session on an event loop) share: the queue's insides. */
#ifndef FERRY_ENGINE_OUTPUT_QUEUE_IMPL_H
#define FERRY_ENGINE_OUTPUT_QUEUE_IMPL_H

#include <sys/socket.h>

#include "engine/event_loop.h"
#include "engine/output_queue.h"
#include "engine/rtmp.h"
#include "engine/tls_stream.h"

/* The loop's side of an rtmp:// output: the socket, the RTMP session, the muxer into it. */
typedef enum {
    PUSH_IDLE = 0,
    PUSH_CONNECTING,
    PUSH_TLS, /* rtmps://: the TLS handshake */
    PUSH_HANDSHAKE,
    PUSH_LIVE,
    PUSH_CLOSING
} push_state;

typedef struct push_conn {
    push_state state;
    int fd;
    tls_stream io;                /* the socket's bytes, plain or TLS */
    struct sockaddr_storage addr; /* lock: the checked address output_queue_connect found */
    socklen_t addr_len;
    bool addr_set;
    rtmp_session s;
    bool s_init;
    rtmp_buf flv;        /* the muxer's bytes not yet cut into tags */
    size_t flv_skip;     /* FLV file header bytes still to drop */
    int64_t deadline_us; /* connecting or closing: when it is given up */
    int64_t stalled_us;  /* bytes wait to be sent since then (0 = none wait) */
    bool failed_in_sink;
    char sink_error[RTMP_ERR_LEN];
} push_conn;

/* One kind's codec headers (extradata) as queued: shared by the entries queued under them,
 * counted by hand (an AVBufferRef would cost an allocation per packet). */
typedef struct queue_headers {
    atomic_int refs;
    int size;
    uint8_t data[];
} queue_headers;

/* Entries are kept for reuse (QUEUE_SPARE_MAX per queue), each with its AVPacket: queueing a
 * packet allocates nothing but what a packet reference needs. */
#define QUEUE_SPARE_MAX 256

typedef struct queue_entry {
    struct queue_entry *next;
    AVPacket *pkt; /* allocated once; blank while the entry is spare */
    int kind;
    output_ts ts;
    queue_headers *headers; /* kind's codec headers when it was queued; NULL = none */
    int64_t queued_us;
} queue_entry;

struct output_queue {
    engine_worker *w;
    const char *url; /* the job's strings: they outlive the queue */
    const char *task_id;
    int index;
    int64_t connect_timeout_us, rw_timeout_us;
    pthread_t thread;
    atomic_bool abandon; /* the worker gave up waiting: interrupt whatever is in flight */

    pthread_mutex_t lock; /* guards the fields down to report */
    pthread_cond_t cond;
    queue_entry *head, *tail;
    queue_entry *spare; /* entries for reuse */
    int n_spare;
    int64_t bytes;
    bool accepting;     /* a session is open or asked for: pushes are queued */
    bool connect_asked; /* for the writer: open a session */
    bool session_up;
    bool skip_to_key; /* a drop emptied the queue mid-GOP: wait for a keyframe */
    bool expect_video;
    bool quit, trailer;
    output_report report;
    atomic_bool failed_news; /* report.failed, also readable without the lock */

    queue_headers *headers[MEDIA_KINDS]; /* the worker's side: the headers last queued */

    /* rtmp:// destinations: the session lives on an event loop (output_push.c), with no
     * thread of its own; other ones have the writer thread. */
    bool looped;
    ev_handler h;
    push_conn push;        /* the loop's side */
    pthread_cond_t closed; /* looped: signalled when the loop let go of the queue */
    bool done;             /* lock: the loop let go */

    /* the writer's side */
    output_rtmp out;
    output_shape shape;                  /* a copy; its extradata follows the queued headers */
    queue_headers *applied[MEDIA_KINDS]; /* the headers now in shape */
    io_guard guard;
};

/* output_queue.c, under q->lock */
queue_entry *queue_pop(output_queue *q);
/* e (popped) is done with: its packet and headers let go, the entry kept for reuse. */
void entry_recycle(output_queue *q, queue_entry *e);
void queue_skip_to_newest_entry_point(output_queue *q);
/* output_queue.c: the session is gone (takes the lock) */
void writer_failed(output_queue *q, const char *why);
/* output_queue.c: the entry's codec headers become the session's */
void writer_apply_headers(output_queue *q, const queue_entry *e);
/* output_queue.c: the destination took e (the report and output 0's progress count it) */
void writer_count(output_queue *q, const queue_entry *e);
/* The same but for the report's count, which the caller adds under the lock. */
void writer_note_sent(output_queue *q, const queue_entry *e);

/* output_push.c: whether url goes on an event loop; attaches q to one. */
bool push_attach(output_queue *q);
/* output_push.c, from the worker: a session is asked for (finds and checks the address;
 * false with q->report failed when it cannot be had). */
bool push_prepare(output_queue *q, char *why, size_t len);

#endif
