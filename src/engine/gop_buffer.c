/* gop_buffer.c — a ring of packet references that keeps one GOP (or half a second of audio)
 * within byte and packet bounds. No I/O; the worker decides when to hold and when to flush. */
#include "engine/gop_buffer.h"

#include <string.h>

#include <libavutil/error.h>
#include <libavutil/mem.h>

#define GOP_RING_MIN 64

void gop_buffer_init(gop_buffer *b, int max_packets, int64_t max_bytes, int64_t audio_window_us)
{
    memset(b, 0, sizeof(*b));
    b->max_packets = max_packets > 0 ? max_packets : 1;
    b->max_bytes = max_bytes;
    b->audio_window_us = audio_window_us;
}

static gop_entry *gop_at(const gop_buffer *b, int i)
{
    return &b->ring[(b->head + i) % b->cap];
}

void gop_buffer_pop(gop_buffer *b)
{
    if (b->count == 0)
        return;
    gop_entry *e = gop_at(b, 0);
    b->bytes -= e->pkt->size;
    av_packet_unref(e->pkt);
    b->head = (b->head + 1) % b->cap;
    if (--b->count == 0)
        b->head = 0;
}

void gop_buffer_reset(gop_buffer *b, bool has_video)
{
    while (b->count > 0)
        gop_buffer_pop(b);
    b->bytes = 0;
    b->has_video = has_video;
}

/* Doubles the full ring (up to max_packets), keeping the entries in order from slot 0. */
static int gop_grow(gop_buffer *b)
{
    int cap = b->cap ? b->cap * 2 : GOP_RING_MIN;
    if (cap > b->max_packets)
        cap = b->max_packets;
    gop_entry *ring = av_calloc((size_t)cap, sizeof(*ring));
    if (!ring)
        return AVERROR(ENOMEM);
    for (int i = 0; i < b->cap; i++)
        ring[i] = *gop_at(b, i);
    av_free(b->ring);
    b->ring = ring;
    b->cap = cap;
    b->head = 0;
    return 0;
}

static int gop_append(gop_buffer *b, AVPacket *pkt, const timeline_pkt *tp)
{
    if (b->count == b->cap) {
        int rc = gop_grow(b);
        if (rc < 0)
            return rc;
    }
    gop_entry *e = gop_at(b, b->count);
    if (!e->pkt && !(e->pkt = av_packet_alloc()))
        return AVERROR(ENOMEM);
    av_packet_move_ref(e->pkt, pkt);
    e->tp = *tp;
    b->count++;
    b->bytes += e->pkt->size;
    return GOP_KEPT;
}

static bool gop_would_overflow(const gop_buffer *b, const AVPacket *pkt)
{
    return b->count + 1 > b->max_packets || b->bytes + pkt->size > b->max_bytes;
}

/* Video: everything before the newest keyframe goes; a GOP too large goes whole. */
static int gop_push_video(gop_buffer *b, AVPacket *pkt, const timeline_pkt *tp)
{
    if (tp->is_video && tp->is_key)
        gop_buffer_reset(b, true);
    else if (b->count == 0)
        return GOP_SKIPPED;
    if (gop_would_overflow(b, pkt)) {
        gop_buffer_reset(b, true);
        return GOP_OVERFLOW;
    }
    return gop_append(b, pkt, tp);
}

/* Audio only: the oldest packets go to fit the bounds and the window. */
static int gop_push_audio(gop_buffer *b, AVPacket *pkt, const timeline_pkt *tp)
{
    if (pkt->size > b->max_bytes)
        return GOP_OVERFLOW;
    while (b->count > 0 && gop_would_overflow(b, pkt))
        gop_buffer_pop(b);
    int rc = gop_append(b, pkt, tp);
    if (rc < 0)
        return rc;
    /* too old, or from before a step backwards (a new clock) */
    while (b->count > 1) {
        int64_t age = tp->dts_us - gop_at(b, 0)->tp.dts_us;
        if (age <= b->audio_window_us && age >= 0)
            break;
        gop_buffer_pop(b);
    }
    return rc;
}

int gop_buffer_push(gop_buffer *b, AVPacket *pkt, const timeline_pkt *tp)
{
    return b->has_video ? gop_push_video(b, pkt, tp) : gop_push_audio(b, pkt, tp);
}

bool gop_buffer_ready(const gop_buffer *b)
{
    return !b->has_video || b->count > 0;
}

gop_entry *gop_buffer_front(gop_buffer *b)
{
    return b->count > 0 ? gop_at(b, 0) : NULL;
}

int64_t gop_buffer_span_us(const gop_buffer *b)
{
    if (b->count == 0)
        return 0;
    return gop_at(b, b->count - 1)->tp.dts_us - gop_at(b, 0)->tp.dts_us;
}

void gop_buffer_free(gop_buffer *b)
{
    gop_buffer_reset(b, b->has_video);
    for (int i = 0; i < b->cap; i++)
        av_packet_free(&b->ring[i].pkt);
    av_freep(&b->ring);
    b->cap = 0;
}
