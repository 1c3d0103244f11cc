/* flv_tracks.c — FLV tag bodies of an RTMP play session to AVPackets and codec parameters:
 * sequence headers (a new one mid-stream rides on the next packet), metadata, timestamps. */
#include "engine/flv_tracks.h"

#include <stdio.h>
#include <string.h>

#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>

#include "engine/packet_pool.h"
#include "engine/rtmp.h"

enum { T_VIDEO = 0, T_AUDIO = 1 };

void flv_tracks_init(flv_tracks *ft)
{
    memset(ft, 0, sizeof(*ft));
}

void flv_tracks_free(flv_tracks *ft)
{
    for (int k = 0; k < FLV_TRACKS; k++)
        av_freep(&ft->t[k].extradata);
    flv_tracks_init(ft);
}

/* ---------- codec parameters ---------- */

typedef struct bits {
    const uint8_t *p;
    size_t n, pos; /* in bits */
} bits;

static unsigned get_bits(bits *b, int k)
{
    unsigned v = 0;
    for (int i = 0; i < k; i++, b->pos++)
        v = v << 1 | (b->pos < b->n ? (b->p[b->pos / 8] >> (7 - b->pos % 8)) & 1 : 0);
    return v;
}

/* The sample rate and channels an AudioSpecificConfig names (ISO 14496-3, 1.6.2.1). */
static void aac_config(flv_track *t)
{
    static const int rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                  22050, 16000, 12000, 11025, 8000,  7350};
    bits b = {t->extradata, (size_t)t->extradata_size * 8, 0};
    if (get_bits(&b, 5) == 31)
        get_bits(&b, 6);
    unsigned idx = get_bits(&b, 4);
    unsigned rate = idx == 15 ? get_bits(&b, 24) : idx < 13 ? (unsigned)rates[idx] : 0;
    unsigned ch = get_bits(&b, 4);
    if (rate > 0 && rate <= 384000)
        t->sample_rate = (int)rate;
    if (ch >= 1 && ch <= 7)
        t->channels = ch == 7 ? 8 : (int)ch;
}

/* The coded size of an H.264 keyframe, by libavcodec's parser with the stream's headers. */
static void h264_size(flv_track *t, const AVPacket *pkt)
{
    AVCodecParserContext *pc = av_parser_init(AV_CODEC_ID_H264);
    AVCodecContext *cx = avcodec_alloc_context3(NULL);
    if (pc && cx && t->extradata_size > 0) {
        cx->codec_type = AVMEDIA_TYPE_VIDEO;
        cx->codec_id = AV_CODEC_ID_H264;
        cx->extradata = av_mallocz((size_t)t->extradata_size + AV_INPUT_BUFFER_PADDING_SIZE);
        if (cx->extradata) {
            memcpy(cx->extradata, t->extradata, (size_t)t->extradata_size);
            cx->extradata_size = t->extradata_size;
            pc->flags |= PARSER_FLAG_COMPLETE_FRAMES;
            uint8_t *out;
            int out_size;
            av_parser_parse2(pc, cx, &out, &out_size, pkt->data, pkt->size, AV_NOPTS_VALUE,
                             AV_NOPTS_VALUE, 0);
            if (pc->width > 0 && pc->height > 0) {
                t->width = pc->width;
                t->height = pc->height;
            }
        }
    }
    av_parser_close(pc);
    avcodec_free_context(&cx);
}

static enum AVCodecID video_codec(int flv_id)
{
    return flv_id == FLV_CODEC_AVC ? AV_CODEC_ID_H264
           : flv_id == 2           ? AV_CODEC_ID_FLV1
                                   : AV_CODEC_ID_NONE;
}

static enum AVCodecID audio_codec(int flv_id)
{
    return flv_id == FLV_SOUND_AAC ? AV_CODEC_ID_AAC
           : flv_id == 2           ? AV_CODEC_ID_MP3
                                   : AV_CODEC_ID_NONE;
}

/* A sequence header: the track's headers; a different one after the first rides on the
 * next packet (AV_PKT_DATA_NEW_EXTRADATA), as libavformat's FLV demuxer does. */
static int take_headers(flv_track *t, const rtmp_flv_tag *tag, char *err, size_t errlen)
{
    if (tag->len == 0 || tag->len > FLV_MAX_EXTRADATA) {
        snprintf(err, errlen, "a sequence header of %zu bytes", tag->len);
        return AVERROR_INVALIDDATA;
    }
    if (t->extradata && (size_t)t->extradata_size == tag->len &&
        memcmp(t->extradata, tag->payload, tag->len) == 0)
        return 0; /* the same headers again (a server repeats them to each player) */
    uint8_t *copy = av_mallocz(tag->len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!copy)
        return AVERROR(ENOMEM);
    memcpy(copy, tag->payload, tag->len);
    t->changed = t->extradata != NULL;
    av_free(t->extradata);
    t->extradata = copy;
    t->extradata_size = (int)tag->len;
    if (t->codec == AV_CODEC_ID_AAC)
        aac_config(t);
    if (t->changed && t->codec == AV_CODEC_ID_H264)
        t->keyed = false; /* its size is that of the next keyframe */
    return 0;
}

/* ---------- metadata ---------- */

static double meta_num(const amf_value *obj, const char *key)
{
    const amf_value *v = amf_get(obj, key);
    return v && v->type == AMF_NUMBER && v->num > 0 && v->num < 100000 ? v->num : 0;
}

/* A codec id member that names a codec (nginx-rtmp writes 0 for a track it has not seen). */
static bool meta_codec(const amf_value *obj, const char *key)
{
    const amf_value *v = amf_get(obj, key);
    return v && ((v->type == AMF_NUMBER && v->num > 0) || (v->type == AMF_STRING && v->len > 0));
}

/* onMetaData: which tracks the stream has, the picture size and frame rate. A body that
 * does not decode is ignored (metadata is advisory). */
static void take_metadata(flv_tracks *ft, const uint8_t *body, size_t len)
{
    amf_value args;
    char why[128];
    if (amf_decode_all(body, len, &args, why, sizeof(why)) != 0)
        return;
    const amf_value *name = amf_item(&args, 0, AMF_STRING);
    const amf_value *obj = args.n > 1 ? &args.items[1] : NULL;
    if (name && strcmp(name->str, "onMetaData") == 0 && obj &&
        (obj->type == AMF_OBJECT || obj->type == AMF_ECMA_ARRAY)) {
        ft->meta = true;
        ft->meta_has[T_VIDEO] = meta_codec(obj, "videocodecid");
        ft->meta_has[T_AUDIO] = meta_codec(obj, "audiocodecid");
        ft->meta_width = (int)meta_num(obj, "width");
        ft->meta_height = (int)meta_num(obj, "height");
        ft->meta_fps = meta_num(obj, "framerate");
    }
    amf_free(&args);
}

/* ---------- packets ---------- */

static int64_t unwrap(flv_tracks *ft, uint32_t ts)
{
    if (!ft->ts_set)
        ft->ts = ts;
    else
        ft->ts += (int32_t)(ts - (uint32_t)ft->ts);
    ft->ts_set = true;
    return ft->ts;
}

/* The payload by reference when it ends where its message's pooled buffer does (zeroed
 * padding follows), else copied into a pooled buffer. */
static int packet_payload(AVPacket *pkt, const rtmp_flv_tag *tag, AVBufferRef **ref,
                          const uint8_t *end)
{
    if (ref && *ref && tag->payload >= (*ref)->data && tag->payload + tag->len == end) {
        pkt->buf = *ref;
        *ref = NULL;
        pkt->data = (uint8_t *)tag->payload;
        pkt->size = (int)tag->len;
        return 0;
    }
    int rc = packet_pool_new(pkt, (int)tag->len);
    if (rc < 0)
        return rc;
    memcpy(pkt->data, tag->payload, tag->len);
    return 0;
}

static int make_packet(flv_tracks *ft, flv_track *t, const rtmp_flv_tag *tag, uint32_t ts,
                       const flv_body *body, AVPacket *pkt)
{
    int rc = packet_payload(pkt, tag, body->ref, body->data + body->len);
    if (rc < 0)
        return rc;
    pkt->dts = unwrap(ft, ts);
    pkt->pts = pkt->dts + tag->cts;
    if (tag->keyframe)
        pkt->flags |= AV_PKT_FLAG_KEY;
    if (t->changed) {
        uint8_t *sd =
            av_packet_new_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, (size_t)t->extradata_size);
        if (!sd) {
            av_packet_unref(pkt);
            return AVERROR(ENOMEM);
        }
        memcpy(sd, t->extradata, (size_t)t->extradata_size);
        t->changed = false;
    }
    return 1;
}

static void audio_from_flags(flv_track *t, const rtmp_flv_tag *tag)
{
    static const int rates[4] = {5512, 11025, 22050, 44100};
    if (t->codec == AV_CODEC_ID_AAC)
        return; /* its config says */
    t->sample_rate = rates[(tag->audio_flags >> 2) & 3];
    t->channels = (tag->audio_flags & 1) + 1;
}

static int take_media(flv_tracks *ft, const rtmp_flv_tag *tag, uint32_t ts, const flv_body *body,
                      AVPacket *pkt, int *kind, char *err, size_t errlen)
{
    int k = tag->type == RTMP_MSG_VIDEO ? T_VIDEO : T_AUDIO;
    flv_track *t = &ft->t[k];
    enum AVCodecID id = k == T_VIDEO ? video_codec(tag->codec) : audio_codec(tag->codec);
    t->seen = true;
    if (id == AV_CODEC_ID_NONE || (t->codec != AV_CODEC_ID_NONE && t->codec != id))
        return 0; /* a codec FLV-to-packet mapping does not cover, or a second one */
    t->codec = id;
    if (tag->seq_header)
        return take_headers(t, tag, err, errlen);
    if (tag->end_of_seq || tag->len == 0)
        return 0;
    if (k == T_AUDIO)
        audio_from_flags(t, tag);
    int rc = make_packet(ft, t, tag, ts, body, pkt);
    if (rc < 0)
        return rc;
    if (k == T_VIDEO && tag->keyframe && !t->keyed) {
        t->keyed = true;
        if (id == AV_CODEC_ID_H264)
            h264_size(t, pkt);
    }
    *kind = k;
    return 1;
}

int flv_tracks_take(flv_tracks *ft, uint8_t type, uint32_t ts, const uint8_t *body, size_t len,
                    AVPacket *pkt, int *kind, char *err, size_t errlen)
{
    flv_body b = {.data = body, .len = len};
    return flv_tracks_take_body(ft, type, ts, &b, pkt, kind, err, errlen);
}

int flv_tracks_take_body(flv_tracks *ft, uint8_t type, uint32_t ts, const flv_body *b,
                         AVPacket *pkt, int *kind, char *err, size_t errlen)
{
    const uint8_t *body = b->data;
    size_t len = b->len;
    if (type == RTMP_MSG_DATA) {
        take_metadata(ft, body, len);
        return 0;
    }
    if (type != RTMP_MSG_AUDIO && type != RTMP_MSG_VIDEO)
        return 0;
    if (len == 0)
        return 0; /* an empty tag: some servers send them as markers */
    rtmp_flv_tag tag;
    if (rtmp_flv_parse(type, body, len, &tag, err, errlen) != 0)
        return AVERROR_INVALIDDATA;
    return take_media(ft, &tag, ts, b, pkt, kind, err, errlen);
}

/* ---------- streams ---------- */

static bool needs_headers(enum AVCodecID id)
{
    return id == AV_CODEC_ID_H264 || id == AV_CODEC_ID_AAC;
}

bool flv_track_known(const flv_tracks *ft, int kind)
{
    const flv_track *t = &ft->t[kind];
    return t->codec != AV_CODEC_ID_NONE && (!needs_headers(t->codec) || t->extradata);
}

bool flv_track_usable(const flv_tracks *ft, int kind)
{
    const flv_track *t = &ft->t[kind];
    if (!flv_track_known(ft, kind))
        return false;
    if (kind == T_VIDEO)
        return t->keyed || (ft->meta_width > 0 && ft->meta_height > 0);
    return true;
}

bool flv_tracks_complete(const flv_tracks *ft)
{
    bool any = false;
    for (int k = 0; k < FLV_TRACKS; k++) {
        bool announced = ft->t[k].seen || ft->meta_has[k];
        if (announced && !flv_track_usable(ft, k))
            return false;
        any = any || announced;
    }
    return any;
}

int flv_tracks_fill(const flv_tracks *ft, int kind, AVStream *st)
{
    const flv_track *t = &ft->t[kind];
    AVCodecParameters *par = st->codecpar;
    par->codec_type = kind == T_VIDEO ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO;
    par->codec_id = t->codec;
    st->time_base = (AVRational){1, 1000};
    if (t->extradata) {
        par->extradata = av_mallocz((size_t)t->extradata_size + AV_INPUT_BUFFER_PADDING_SIZE);
        if (!par->extradata)
            return AVERROR(ENOMEM);
        memcpy(par->extradata, t->extradata, (size_t)t->extradata_size);
        par->extradata_size = t->extradata_size;
    }
    if (kind == T_VIDEO) {
        par->width = t->width > 0 ? t->width : ft->meta_width;
        par->height = t->height > 0 ? t->height : ft->meta_height;
        if (ft->meta_fps > 0)
            st->avg_frame_rate = av_d2q(ft->meta_fps, 1001000);
        return 0;
    }
    par->sample_rate = t->sample_rate > 0 ? t->sample_rate : 44100;
    av_channel_layout_default(&par->ch_layout, t->channels > 0 ? t->channels : 2);
    return 0;
}
