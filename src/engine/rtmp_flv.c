/* rtmp_flv.c — FLV tag bodies (what RTMP audio and video messages carry) to packets and back:
 * the video header (frame type, codec, AVC packet type, composition time) and the audio one. */
#include "engine/rtmp.h"

#include <stdio.h>
#include <string.h>

#define FLV_AAC_DEFAULT_FLAGS 0x0f /* 44 kHz, 16 bits, stereo: what FLV says for any AAC */

static int flv_fail(char *err, size_t errlen, const char *what, size_t len)
{
    snprintf(err, errlen, "%s tag body of %zu bytes is too short", what, len);
    return RTMP_ERR_MALFORMED;
}

static int flv_parse_video(const uint8_t *b, size_t len, rtmp_flv_tag *t, char *err, size_t errlen)
{
    if (len < 1)
        return flv_fail(err, errlen, "video", len);
    t->keyframe = (b[0] >> 4) == 1;
    t->codec = b[0] & 0x0f;
    if (t->codec != FLV_CODEC_AVC) {
        t->payload = b + 1;
        t->len = len - 1;
        return 0;
    }
    if (len < 5)
        return flv_fail(err, errlen, "AVC video", len);
    t->seq_header = b[1] == 0;
    t->end_of_seq = b[1] == 2;
    uint32_t c = (uint32_t)b[2] << 16 | b[3] << 8 | b[4];
    t->cts = (int32_t)(c ^ 0x800000) - 0x800000; /* sign-extend 24 bits */
    t->payload = b + 5;
    t->len = len - 5;
    return 0;
}

static int flv_parse_audio(const uint8_t *b, size_t len, rtmp_flv_tag *t, char *err, size_t errlen)
{
    if (len < 1)
        return flv_fail(err, errlen, "audio", len);
    t->codec = b[0] >> 4;
    t->audio_flags = b[0] & 0x0f;
    t->keyframe = true;
    size_t skip = 1;
    if (t->codec == FLV_SOUND_AAC) {
        if (len < 2)
            return flv_fail(err, errlen, "AAC audio", len);
        t->seq_header = b[1] == 0;
        skip = 2;
    }
    t->payload = b + skip;
    t->len = len - skip;
    return 0;
}

int rtmp_flv_parse(uint8_t type, const uint8_t *body, size_t len, rtmp_flv_tag *tag, char *err,
                   size_t errlen)
{
    memset(tag, 0, sizeof(*tag));
    tag->type = type;
    if (type == RTMP_MSG_VIDEO)
        return flv_parse_video(body, len, tag, err, errlen);
    if (type == RTMP_MSG_AUDIO)
        return flv_parse_audio(body, len, tag, err, errlen);
    snprintf(err, errlen, "message type %u is not audio or video", type);
    return RTMP_ERR_MALFORMED;
}

int rtmp_flv_build(rtmp_buf *out, const rtmp_flv_tag *t)
{
    uint8_t h[5];
    size_t k = 1;
    if (t->type == RTMP_MSG_VIDEO) {
        h[0] = (uint8_t)((t->keyframe ? 1 : 2) << 4 | (t->codec & 0x0f));
        if (t->codec == FLV_CODEC_AVC) {
            h[1] = t->seq_header ? 0 : t->end_of_seq ? 2 : 1;
            uint32_t c = (uint32_t)t->cts & 0xffffff;
            h[2] = (uint8_t)(c >> 16);
            h[3] = (uint8_t)(c >> 8);
            h[4] = (uint8_t)c;
            k = 5;
        }
    } else if (t->type == RTMP_MSG_AUDIO) {
        uint8_t flags = t->audio_flags ? t->audio_flags : FLV_AAC_DEFAULT_FLAGS;
        h[0] = (uint8_t)((t->codec & 0x0f) << 4 | (flags & 0x0f));
        if (t->codec == FLV_SOUND_AAC)
            h[k++] = t->seq_header ? 0 : 1;
    } else {
        return RTMP_ERR_STATE;
    }
    int rc = rtmp_buf_append(out, h, k);
    return rc ? rc : rtmp_buf_append(out, t->payload, t->len);
}
