/* output_tags.c — FLV tags made without the muxer: H.264 (avcC) and AAC packets of a looped
 * output become tag bodies handed straight to its RTMP session; the muxer keeps the rest. */
#include "engine/engine_internal.h"

#include <string.h>

#include <libavutil/intreadwrite.h>
#include <libavutil/mem.h>

#define FLV_AVC 7          /* video codec id */
#define FLV_AAC_FLAGS 0xaf /* AAC, and the 44 kHz 16-bit stereo that FLV requires with it */
#define AVC_HEADER 5       /* frame type and codec, AVC packet type, composition time */
#define AAC_HEADER 2       /* sound format and flags, AAC packet type */

/* Whether kind's headers (par's extradata) suit a tag of our own: avcC for H.264 (the
 * muxer converts Annex B), an AudioSpecificConfig for AAC. */
static bool tags_suit_headers(int kind, const AVCodecParameters *par)
{
    if (!par || par->extradata_size <= 0)
        return false;
    if (kind == MEDIA_VIDEO)
        return par->codec_id == AV_CODEC_ID_H264 && par->extradata[0] == 1;
    return par->codec_id == AV_CODEC_ID_AAC;
}

void output_tags_plan(output_rtmp *o, const output_shape *shape, output_tag_fn tag, void *ctx)
{
    o->tag = tag;
    o->tag_ctx = ctx;
    for (int k = 0; k < MEDIA_KINDS; k++)
        o->direct[k] = tag && o->stream_of[k] >= 0 && tags_suit_headers(k, shape->par[k]);
    o->eos_ours = o->direct[MEDIA_VIDEO];
}

/* The muxer's bytes so far leave first: tags keep their order in the session. */
static void tags_flush_muxer(output_rtmp *o)
{
    AVIOContext *pb = o->oc ? o->oc->pb : NULL;
    if (pb && pb->buf_ptr != pb->buffer)
        avio_flush(pb);
}

/* One tag: a header of hlen bytes (h) and a payload, handed over as they are (the payload
 * is the queued packet's own bytes: no copy here). */
static int tags_send(output_rtmp *o, int kind, int64_t dts, const uint8_t *h, size_t hlen,
                     const uint8_t *data, size_t len)
{
    tags_flush_muxer(o);
    return o->tag(o->tag_ctx, kind, (uint32_t)dts, h, hlen, data, len) < 0 ? AVERROR(EIO) : 0;
}

/* A sequence header (AVC decoder configuration, AAC AudioSpecificConfig) at dts. */
static int tags_send_headers(output_rtmp *o, int kind, int64_t dts, const uint8_t *x, int size)
{
    static const uint8_t avc[AVC_HEADER] = {0x10 | FLV_AVC, 0, 0, 0, 0};
    static const uint8_t aac[AAC_HEADER] = {FLV_AAC_FLAGS, 0};
    return kind == MEDIA_VIDEO ? tags_send(o, kind, dts, avc, sizeof(avc), x, (size_t)size)
                               : tags_send(o, kind, dts, aac, sizeof(aac), x, (size_t)size);
}

bool output_tags_take(output_rtmp *o, int kind, const AVPacket *in, const AVCodecParameters *par)
{
    if (!o->direct[kind])
        return false;
    bool headers_changed = par && par->extradata_size > 0 &&
                           (par->extradata_size != o->extradata_size[kind] ||
                            memcmp(par->extradata, o->extradata[kind], par->extradata_size) != 0);
    bool adts = kind == MEDIA_AUDIO && in->size >= 2 && (AV_RB16(in->data) & 0xfff0) == 0xfff0;
    if ((headers_changed && !tags_suit_headers(kind, par)) || adts)
        o->direct[kind] = false; /* the muxer takes this kind over for the session's rest */
    return o->direct[kind];
}

int output_tags_write(output_rtmp *o, int kind, const AVPacket *in, int64_t dts, int64_t pts,
                      const AVCodecParameters *par)
{
    int rc = 0;
    if (par && par->extradata_size > 0 &&
        (par->extradata_size != o->extradata_size[kind] ||
         memcmp(par->extradata, o->extradata[kind], par->extradata_size) != 0)) {
        rc = tags_send_headers(o, kind, dts, par->extradata, par->extradata_size);
        if (rc == 0)
            rc = output_rtmp_remember_extradata(o, kind, par->extradata, par->extradata_size);
        if (rc < 0)
            return rc;
    }
    if (kind == MEDIA_AUDIO) {
        static const uint8_t aac[AAC_HEADER] = {FLV_AAC_FLAGS, 1};
        return tags_send(o, kind, dts, aac, sizeof(aac), in->data, (size_t)in->size);
    }
    int32_t cts = (int32_t)(pts - dts);
    uint8_t h[AVC_HEADER] = {(uint8_t)(((in->flags & AV_PKT_FLAG_KEY) ? 0x10 : 0x20) | FLV_AVC), 1,
                             (uint8_t)(cts >> 16), (uint8_t)(cts >> 8), (uint8_t)cts};
    return tags_send(o, kind, dts, h, sizeof(h), in->data, (size_t)in->size);
}

int output_tags_end(output_rtmp *o)
{
    static const uint8_t eos[AVC_HEADER] = {0x10 | FLV_AVC, 2, 0, 0, 0};
    if (!o->eos_ours || o->last_dts[MEDIA_VIDEO] == AV_NOPTS_VALUE)
        return 0;
    return tags_send(o, MEDIA_VIDEO, o->last_dts[MEDIA_VIDEO], eos, sizeof(eos), NULL, 0);
}

void output_tags_free(output_rtmp *o)
{
    o->tag = NULL;
    o->direct[MEDIA_VIDEO] = o->direct[MEDIA_AUDIO] = o->eos_ours = false;
}
