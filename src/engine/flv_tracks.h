/* flv_tracks.h — the tracks of an RTMP play session: FLV tag bodies become AVPackets (one copy)
 * and codec parameters (sequence headers, onMetaData, AAC config, H.264 size). No I/O. */
#ifndef FERRY_ENGINE_FLV_TRACKS_H
#define FERRY_ENGINE_FLV_TRACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#define FLV_TRACKS 2 /* 0 video, 1 audio (MEDIA_VIDEO, MEDIA_AUDIO) */
#define FLV_MAX_EXTRADATA (64 * 1024)

typedef struct flv_track {
    enum AVCodecID codec; /* AV_CODEC_ID_NONE: not known (yet), or not one ferry maps */
    uint8_t *extradata;   /* the latest sequence header (AVCDecoderConfigurationRecord, ASC) */
    int extradata_size;
    bool changed; /* a new sequence header goes out with the next packet as side data */
    bool seen;    /* a tag of this kind came */
    bool keyed;   /* video: a keyframe came (its size is known) */
    int width, height;
    int sample_rate, channels;
} flv_track;

typedef struct flv_tracks {
    flv_track t[FLV_TRACKS];
    bool meta;                 /* onMetaData came */
    bool meta_has[FLV_TRACKS]; /* it names a video or an audio codec */
    int meta_width, meta_height;
    double meta_fps;
    bool ts_set;
    int64_t ts; /* the latest timestamp, unwrapped to 64 bits (ms) */
} flv_tracks;

void flv_tracks_init(flv_tracks *ft);
void flv_tracks_free(flv_tracks *ft);
/* One audio (8), video (9) or data (18) message body with its 32-bit timestamp: 1 with
 * *pkt filled (*kind = 0 video, 1 audio), 0 when it gives no packet (headers, metadata,
 * codecs ferry does not map), or a negative AVERROR with err set. */
int flv_tracks_take(flv_tracks *ft, uint8_t type, uint32_t ts, const uint8_t *body, size_t len,
                    AVPacket *pkt, int *kind, char *err, size_t errlen);
/* The same for a body that may sit in a pooled buffer (*ref, or ref NULL): a packet whose
 * payload ends the body takes that buffer (*ref becomes NULL) instead of copying it. */
typedef struct flv_body {
    const uint8_t *data;
    size_t len;
    AVBufferRef **ref;
} flv_body;
int flv_tracks_take_body(flv_tracks *ft, uint8_t type, uint32_t ts, const flv_body *body,
                         AVPacket *pkt, int *kind, char *err, size_t errlen);
/* Whether a track's codec and (where the codec needs them) its headers are known. */
bool flv_track_known(const flv_tracks *ft, int kind);
/* Whether a track is known well enough to build its stream: its codec, its headers and
 * (video) its size. */
bool flv_track_usable(const flv_tracks *ft, int kind);
/* Whether every track the stream announces (by metadata or by a tag) is usable. */
bool flv_tracks_complete(const flv_tracks *ft);
/* Fills a new stream's codec parameters, time base (1/1000) and frame rate. */
int flv_tracks_fill(const flv_tracks *ft, int kind, AVStream *st);

#endif
