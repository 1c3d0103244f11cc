/* src_node.h — the source side as one composite source: a node descriptor (open / read /
 * close over a priv pointer, as FFmpeg's), what read() returns, and the failover wrapper. */
#ifndef FERRY_ENGINE_SRC_NODE_H
#define FERRY_ENGINE_SRC_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/packet.h>

#include "engine/engine.h"

#define SRC_ERR_MAX 512

/* What one read() gives. A leaf gives PACKET, END (played out) or FAILED (with the reason);
 * the failover wrapper turns failures into switches, waits and, at last, FAILED. */
typedef enum {
    SRC_PACKET = 0,    /* rd->pkt holds a packet of stream rd->kind (MEDIA_*, -1 = ignored) */
    SRC_DISCONTINUITY, /* another source (or a new pass) plays from here: a new epoch */
    SRC_RETRY,         /* nothing plays before rd->until_ms (monotonic): read again then */
    SRC_END,           /* over: a playlist's loops are done, or a file played through */
    SRC_FAILED,        /* given up: rd->ev says why (a leaf: this source broke) */
} src_status;

/* An event for the task that a read() brings along (ev.set): the relay emits it as it is. */
typedef struct src_event {
    bool set;
    engine_event_type type;
    engine_failure failure;
    const char *alarm; /* for ENGINE_EV_ALARM: the alarm's name */
    char error[SRC_ERR_MAX];
} src_event;

typedef struct src_read {
    AVPacket *pkt; /* the caller's; filled on SRC_PACKET */
    int kind;
    int64_t until_ms; /* SRC_RETRY */
    src_event ev;
} src_read;

typedef struct src_node src_node;

typedef struct src_node_ops {
    const char *name;
    /* 0: open and ready to read; AVERROR(EAGAIN): opening on the side, call again later;
     * another negative AVERROR with why set ("step: reason"). */
    int (*open)(src_node *n, char *why, size_t len);
    src_status (*read)(src_node *n, src_read *rd);
    /* Closes what is open or opening; the node may be opened again. */
    void (*close)(src_node *n);
    /* Frees priv (after close). */
    void (*free)(src_node *n);
    /* Optional: on, the node keeps connected on the side while another one plays, so that its
     * next open() takes over at once (a live backup on standby); off ends that. */
    void (*standby)(src_node *n, bool on);
} src_node_ops;

struct src_node {
    const src_node_ops *ops;
    void *priv;
    const char *url; /* what it plays, for messages (redacted when shown) */
    bool is_file;    /* played through at real-time pace, then again (an alternate) */
};

/* src_node_read and friends: the calls through ops, with rd cleared first. */
int src_node_open(src_node *n, char *why, size_t len);
src_status src_node_read(src_node *n, src_read *rd);
void src_node_close(src_node *n);
/* Closes n, frees its priv and n itself (nodes live on the heap); NULL is fine. */
void src_node_free(src_node *n);

/* ---- the failover wrapper: a node over a main leaf, its backup and the pad ---- */

typedef struct src_failover_conf {
    int retry_count;              /* reconnects of a failure episode before FAILED */
    int64_t retry_interval_ms;    /* between them */
    int64_t recheck_ms;           /* on an alternate: how often the main source is tried */
    bool standby;                 /* keep the backup connected while the main source plays */
    int64_t (*now_ms)(void *ctx); /* the monotonic clock; NULL = time_mono_ms */
    void *clock_ctx;
} src_failover_conf;

/* A new wrapper owning main, backup and pad (each but main may be NULL; they are freed with
 * it). NULL when out of memory (the leaves are freed then too). Its read() gives the playing
 * leaf's packets; a leaf that fails or, live, ends switches to the next alternate (a
 * DISCONTINUITY with the BackupSourceActive alarm) or opens a failure episode (RETRY with
 * RECOVERING, at last FAILED with the pull error); on an alternate the main leaf is opened
 * again every recheck_ms (and after each pass of a file alternate) and replaces it when it
 * opens (a DISCONTINUITY with MainSourceRestored). */
src_node *src_failover_new(src_node *main, src_node *backup, src_node *pad,
                           const src_failover_conf *conf);
/* The slot playing (fallback.h: FB_MAIN, FB_BACKUP, FB_PAD), or -1 when none is open. */
int src_failover_playing(const src_node *n);
/* The pull error of the latest failure ("pull URL: why"), "" = none yet. */
const char *src_failover_error(const src_node *n);

#endif
