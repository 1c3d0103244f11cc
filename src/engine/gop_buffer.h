/* gop_buffer.h — the pre-roll buffer: what a relay holds of its source before it may push,
 * the packets since the latest video keyframe (audio only: the last half second), bounded. */
#ifndef FERRY_ENGINE_GOP_BUFFER_H
#define FERRY_ENGINE_GOP_BUFFER_H

#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/packet.h>

#include "engine/timeline.h"

/* The bounds. A GOP that outgrows them is dropped whole, keyframe and all (what follows a
 * keyframe is undecodable without it), and the buffer starts again at the next keyframe: the
 * push then waits for that keyframe, as it would without pre-roll. Audio only: the oldest
 * packets go first (every audio packet is a starting point). */
#define GOP_MAX_BYTES (8 * 1024 * 1024)
#define GOP_MAX_PACKETS 2000
#define GOP_AUDIO_WINDOW_US 500000

typedef struct gop_entry {
    AVPacket *pkt;   /* owned by the buffer; slots keep theirs for reuse */
    timeline_pkt tp; /* its timestamps and read time; video + key = a GOP start */
} gop_entry;

typedef struct gop_buffer {
    gop_entry *ring;
    int cap, head, count;
    int64_t bytes; /* payload bytes held */
    int max_packets;
    int64_t max_bytes;
    int64_t audio_window_us;
    bool has_video; /* hold from a video keyframe on; else the last audio_window_us */
} gop_buffer;

typedef enum {
    GOP_KEPT = 0, /* the packet is held */
    GOP_SKIPPED,  /* not held: no keyframe yet to start from */
    GOP_OVERFLOW, /* not held: its GOP outgrew the bounds and was dropped */
} gop_verdict;

/* Allocates nothing until the first packet is held. */
void gop_buffer_init(gop_buffer *b, int max_packets, int64_t max_bytes, int64_t audio_window_us);
/* Empties the buffer; has_video: the source's shape (a new source connected). */
void gop_buffer_reset(gop_buffer *b, bool has_video);
/* Offers a packet with its timeline view. GOP_KEPT takes pkt's reference (pkt is left blank);
 * otherwise pkt is untouched. AVERROR(ENOMEM) when the ring cannot grow. */
int gop_buffer_push(gop_buffer *b, AVPacket *pkt, const timeline_pkt *tp);
/* Whether a session can start from what is held: a video keyframe (audio only: always). */
bool gop_buffer_ready(const gop_buffer *b);
/* The oldest entry (NULL when empty), valid until the next push, pop or reset. */
gop_entry *gop_buffer_front(gop_buffer *b);
void gop_buffer_pop(gop_buffer *b);
/* Media time from the oldest to the newest held packet, microseconds. */
int64_t gop_buffer_span_us(const gop_buffer *b);
void gop_buffer_free(gop_buffer *b);

#endif
