/* transcode.h — the video transcode stage of a relay with watermarks: H.264 packets in,
 * decoded, the marks blended on, re-encoded with libx264, H.264 packets out (audio is not its). */
#ifndef FERRY_ENGINE_TRANSCODE_H
#define FERRY_ENGINE_TRANSCODE_H

#include <stdbool.h>
#include <stddef.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include "task/task_model.h"

typedef struct transcode transcode;

/* One mark: its decoded picture (any pixel format; the stage keeps its own reference) and
 * Tencent's placement (watermark_place.h). */
typedef struct transcode_mark {
    const AVFrame *image;
    int x_pct, y_pct, w_pct, h_pct, location;
} transcode_mark;

/* The encoder's settings (per deployment). */
typedef struct transcode_settings {
    const char *preset; /* libx264 preset; NULL = "veryfast" */
    int bitrate_kbps;   /* 0 = the source's bit rate when known, else CRF 23 */
    int gop_frames;     /* longest keyframe interval; 0 = 2 s (a source keyframe makes one) */
} transcode_settings;

/* par: the source's video stream; tb: the time base of the packets pushed (and of the
 * packets out); fps: the source's frame rate ({0,1} = unknown: 25). */
int transcode_open(transcode **out, const AVCodecParameters *par, AVRational tb, AVRational fps,
                   const transcode_settings *s, char *err, size_t len);
void transcode_close(transcode **t);

/* Replaces the marks (n <= TASK_MAX_WATERMARKS; 0 = none: frames pass re-encoded as they
 * are). Takes effect at the next frame decoded. */
int transcode_set_marks(transcode *t, const transcode_mark *marks, int n);

/* Hands a video packet (pts/dts in tb) to the stage. Then take what it made with
 * transcode_receive until it says AVERROR(EAGAIN). */
int transcode_push(transcode *t, const AVPacket *pkt);
/* The next encoded packet (pts/dts in tb, DTS monotonic across the session); AVERROR(EAGAIN)
 * when none is ready. */
int transcode_receive(transcode *t, AVPacket *out);
/* At the end of the stream: the frames held are encoded; then transcode_receive until EOF. */
int transcode_drain(transcode *t);
/* At a discontinuity (new source, failover, new codec parameters): the decoder starts over
 * with par (NULL = the same). The encoder stays open; it re-opens only when a frame of
 * another size arrives, and then transcode_take_new_extradata says so. */
int transcode_reset(transcode *t, const AVCodecParameters *par);

/* The encoder's sequence header (SPS/PPS, avcC) and its size. */
const uint8_t *transcode_extradata(const transcode *t, int *size);
/* True once after the encoder re-opened with a new sequence header. */
bool transcode_take_new_extradata(transcode *t);
/* The output's size. */
void transcode_size(const transcode *t, int *w, int *h);

#endif
