/* fuzz_rtmp.c — libFuzzer target for ferry's RTMP core: what a hostile server can send.
 *
 * The first byte picks the target (low two bits) and how the rest is split into reads (the
 * other bits seed the split sizes):
 *   0: the chunk reader, then the AMF decoder on every command or data message it yields,
 *      and the FLV track mapping (flv_tracks.h) on every audio, video or data message;
 *   1: the AMF decoder on the bytes as they are, with an encode/decode round trip check;
 *   2, 3: a play (2) or publish (3) session fed the bytes as a server's answer after a
 *         valid handshake, so mutations reach the commands, onStatus and user control; a
 *         play session's media messages go through the FLV track mapping too.
 * Seeds in corpus_rtmp/ are written by make_corpus_rtmp.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/flv_tracks.h"
#include "engine/rtmp.h"

static uint32_t split_state;

static size_t next_piece(size_t left)
{
    split_state = split_state * 1103515245u + 12345u;
    size_t k = 1 + (split_state >> 16) % 512;
    return k < left ? k : left;
}

/* decode -> encode -> decode must give the same bytes again. */
static void amf_check(const uint8_t *p, size_t n)
{
    amf_value v, w;
    char err[RTMP_ERR_LEN];
    if (amf_decode_all(p, n, &v, err, sizeof(err)) != 0)
        return;
    rtmp_buf a = {0}, b = {0};
    for (size_t i = 0; i < v.n; i++)
        amf_encode(&a, &v.items[i]);
    if (amf_decode_all(a.data, a.len, &w, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_rtmp: re-encoded AMF does not decode: %s\n", err);
        abort();
    }
    for (size_t i = 0; i < w.n; i++)
        amf_encode(&b, &w.items[i]);
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) {
        fprintf(stderr, "fuzz_rtmp: AMF round trip changed the bytes\n");
        abort();
    }
    amf_free(&v);
    amf_free(&w);
    rtmp_buf_free(&a);
    rtmp_buf_free(&b);
}

/* A media message through the FLV track mapping, as the rtmp source does it. */
static void tracks_take(flv_tracks *ft, const rtmp_msg *m)
{
    if (m->type != RTMP_MSG_AUDIO && m->type != RTMP_MSG_VIDEO && m->type != RTMP_MSG_DATA)
        return;
    AVPacket *pkt = av_packet_alloc();
    char err[RTMP_ERR_LEN];
    int kind = -1;
    if (!pkt)
        abort();
    flv_body body = {.data = m->data, .len = m->len, .ref = m->ref};
    int rc = flv_tracks_take_body(ft, m->type, m->timestamp, &body, pkt, &kind, err, sizeof(err));
    if (rc == 1 && (kind < 0 || kind >= FLV_TRACKS || (pkt->size != 0 && !pkt->data))) {
        fprintf(stderr, "fuzz_rtmp: a packet of kind %d\n", kind);
        abort();
    }
    av_packet_free(&pkt);
}

/* The streams the source would build from what the tracks know, then the tracks go. */
static void tracks_done(flv_tracks *ft)
{
    (void)flv_tracks_complete(ft);
    for (int k = 0; k < FLV_TRACKS; k++) {
        if (!flv_track_known(ft, k))
            continue;
        AVFormatContext *ic = avformat_alloc_context();
        AVStream *st = ic ? avformat_new_stream(ic, NULL) : NULL;
        if (st)
            flv_tracks_fill(ft, k, st);
        avformat_free_context(ic);
    }
    flv_tracks_free(ft);
}

static void fuzz_reader(const uint8_t *p, size_t n)
{
    rtmp_reader r;
    flv_tracks ft;
    rtmp_reader_init(&r);
    flv_tracks_init(&ft);
    for (size_t off = 0; off < n;) {
        size_t k = next_piece(n - off), used;
        rtmp_msg m;
        int rc = rtmp_reader_feed(&r, p + off, k, &used, &m);
        if (rc < 0)
            break;
        if (used == 0 && rc == 0) {
            fprintf(stderr, "fuzz_rtmp: the reader took nothing\n");
            abort();
        }
        off += used;
        if (rc == 1 && (m.type == RTMP_MSG_COMMAND || m.type == RTMP_MSG_DATA))
            amf_check(m.data, m.len);
        if (rc == 1)
            tracks_take(&ft, &m);
        uint32_t seq;
        (void)rtmp_reader_ack_due(&r, &seq);
    }
    rtmp_reader_free(&r);
    tracks_done(&ft);
}

static void fuzz_session(const uint8_t *p, size_t n, rtmp_role role)
{
    rtmp_session s;
    flv_tracks ft;
    flv_tracks_init(&ft);
    if (rtmp_session_init(&s, role, "rtmp://127.0.0.1/app/stream") != 0)
        abort();
    static uint8_t hs[1 + 2 * RTMP_HANDSHAKE_SIZE] = {3};
    size_t used;
    rtmp_event ev;
    if (rtmp_session_feed(&s, hs, sizeof(hs), &used, &ev) != 0 || used != sizeof(hs))
        abort();
    bool over = false;
    for (size_t off = 0; off < n && !over;) {
        size_t k = next_piece(n - off), pos = 0;
        while (!over) { /* until 0, even with no bytes left (aggregates) */
            int rc = rtmp_session_feed(&s, p + off + pos, k - pos, &used, &ev);
            pos += used;
            over = rc < 0;
            if (rc == 1 && ev.type == RTMP_EV_READY && role == RTMP_ROLE_PUBLISH)
                rtmp_session_send(&s, RTMP_MSG_VIDEO, 1000, p, n < 300 ? n : 300);
            if (rc == 1 && ev.type == RTMP_EV_MEDIA)
                tracks_take(&ft, &ev.msg);
            if (rc == 0)
                break;
        }
        off += k;
        rtmp_buf_consume(&s.out, rtmp_buf_size(&s.out)); /* as if sent */
    }
    rtmp_session_close(&s);
    rtmp_session_free(&s);
    tracks_done(&ft);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    av_log_set_level(AV_LOG_QUIET); /* libavcodec's parser talks about every broken header */
    split_state = data[0] >> 2;
    switch (data[0] & 3) {
    case 0:
        fuzz_reader(data + 1, size - 1);
        break;
    case 1:
        amf_check(data + 1, size - 1);
        break;
    default:
        fuzz_session(data + 1, size - 1, (data[0] & 3) == 2 ? RTMP_ROLE_PLAY : RTMP_ROLE_PUBLISH);
        break;
    }
    return 0;
}
