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
    SRC_DISCONTINUITY, /* a source opened (the first, another, a new pass): a new epoch */
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
    int attempt;      /* SRC_RETRY: reconnect number attempt of the episode opens next (0: none) */
    bool failed;      /* a source failed in this call (the wrapper's error says why) */
    src_event ev;
} src_read;

typedef struct src_node src_node;

typedef struct src_node_ops {
    const char *name;
    /* 0: open and ready to read; AVERROR(EAGAIN): opening on the side, call again later;
     * another negative AVERROR with why set ("step: reason"). */
    int (*open)(src_node *n, char *why, size_t len);
    /* A leaf cut short by the worker's stop request gives SRC_RETRY (until_ms 0): the caller
     * decides. */
    src_status (*read)(src_node *n, src_read *rd);
    /* Closes what is open or opening; the node may be opened again. */
    void (*close)(src_node *n);
    /* Frees priv (after close). */
    void (*free)(src_node *n);
    /* Optional: on, the node keeps connected on the side while another one plays, so that its
     * next open() takes over at once (a live backup on standby); off ends that. */
    void (*standby)(src_node *n, bool on);
    /* Optional, for a node with items (a playlist): the caller found the item playing over
     * outside read() (why NULL: played to its end, else broken); the node moves on as its
     * read() would have (DISCONTINUITY, RETRY, END or FAILED). Without it the node itself
     * ended or failed. */
    src_status (*cut)(src_node *n, const char *why, src_read *rd);
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
 * leaf's packets and a playlist's (a main leaf that is_file) discontinuities, waits and END;
 * a playlist that FAILED is given up at once (its entries were its retries); a leaf that
 * fails or, live, ends switches to the next alternate (a
 * DISCONTINUITY with the BackupSourceActive alarm) or opens a failure episode (RETRY with
 * RECOVERING, at last FAILED with the pull error); on an alternate the main leaf is opened
 * again every recheck_ms (and after each pass of a file alternate) and replaces it when it
 * opens (a DISCONTINUITY with MainSourceRestored). */
src_node *src_failover_new(src_node *main, src_node *backup, src_node *pad,
                           const src_failover_conf *conf);
/* The slot playing (fallback.h: FB_MAIN, FB_BACKUP, FB_PAD), or -1 when none is open. */
int src_failover_playing(const src_node *n);
/* The slot playing or to open next. */
int src_failover_slot(const src_node *n);
/* The pull error of the latest failure ("pull URL: why"), "" = none yet. */
const char *src_failover_error(const src_node *n);
/* Which leaves take part (a NULL leaf never does) and conf's retries, re-check and standby
 * (not its clock); on an alternate that is gone the main leaf opens next and the result is
 * true (the caller reopens: src_failover_restart). */
bool src_failover_configure(src_node *n, bool backup, bool backup_is_file, bool pad,
                            const src_failover_conf *conf);
/* A new main source: the leaf playing closes, the main leaf opens next, with a fresh retry
 * budget. */
void src_failover_restart(src_node *n);
/* The caller found the playing leaf broken outside read() (a read of its own, a bitrate
 * over the limit): as when a leaf fails in read(); a leaf with cut() moves on to its next
 * item instead. */
src_status src_failover_fail(src_node *n, const char *why, src_read *rd);
/* The same for a leaf that played to its end outside read() (cut() with why NULL). */
src_status src_failover_ended(src_node *n, src_read *rd);
/* Between reads the caller does itself: the main re-check runs; true with *st (a
 * DISCONTINUITY) when the main leaf took over. */
bool src_failover_poll(src_node *n, src_read *rd, src_status *st);
/* Whether file alternates may play (not while the output waits: they are paced). */
void src_failover_allow_files(src_node *n, bool ok);
/* The main leaf plays and there is an alternate to go to. */
bool src_failover_can_switch(const src_node *n);
bool src_failover_on_alternate(const src_node *n);
/* In a failure episode (nothing flowing since a failure of every source). */
bool src_failover_failing(const src_node *n);
/* Packets flow again (the caller's judgement: they pass its timeline): -1 when no episode
 * was open, else the attempts it spent. */
int src_failover_recovered(src_node *n);
/* The re-check in flight ends and the standby stops (the job they read is changing) ... */
void src_failover_side_stop(src_node *n);
/* ... and the standby starts again when the main leaf plays. */
void src_failover_side_resume(src_node *n);

#endif
