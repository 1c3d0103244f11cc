/* source_picture.c — a still picture as a source: the image (PNG, JPEG, the first frame of a
 * GIF) fetched once over http(s), encoded as H.264 with a silent AAC track; paced by the relay. */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "common/log.h"

#define PIC_FPS 25
#define PIC_GOP_S 2    /* a keyframe every 2 s: a player joins within that */
#define PIC_MAX_W 1920 /* larger pictures are scaled down, keeping their shape */
#define PIC_MAX_H 1080
#define PIC_VIDEO_KBPS 1000  /* a ceiling: a still picture costs little after its keyframe */
#define PIC_AUDIO_RATE 44100 /* silence, for destinations that want an audio track */
#define PIC_AUDIO_KBPS 64
/* The largest picture decoded: its frames are held whole in memory (a 730 KB PNG may declare
 * 16000x16000 and need 1 GB); about 8K x 4K. */
#define PIC_MAX_PIXELS (8192 * 4320)
/* Only image formats, over http(s) only (nothing nested: see source_live.c). */
#define PIC_PROTOCOLS "http,https,tcp,tls"
#define PIC_FORMATS "png_pipe,jpeg_pipe,gif,webp_pipe,bmp_pipe,image2"

typedef struct picture {
    AVCodecContext *enc[MEDIA_KINDS];
    AVFrame *frame[MEDIA_KINDS]; /* the picture (YUV 4:2:0), a frame of silence */
    int64_t next_pts[MEDIA_KINDS];
} picture;

static int pic_fail(const char *step, int rc, char *err, size_t len)
{
    char msg[128];
    snprintf(err, len, "%s: %s", step, engine_averror(rc, msg, sizeof(msg)));
    return rc;
}

/* ---------- the image: fetched, decoded ---------- */

static int pic_decode_first(AVFormatContext *ic, AVFrame *out, char *err, size_t len)
{
    const AVCodecParameters *par = ic->streams[0]->codecpar;
    const AVCodec *dec = avcodec_find_decoder(par->codec_id);
    if (!dec) {
        snprintf(err, len, "decode: no decoder for %s", avcodec_get_name(par->codec_id));
        return AVERROR_DECODER_NOT_FOUND;
    }
    if ((int64_t)par->width * par->height > PIC_MAX_PIXELS) {
        snprintf(err, len, "decode: the picture is %dx%d, larger than %d pixels", par->width,
                 par->height, PIC_MAX_PIXELS);
        return AVERROR(EFBIG);
    }
    AVCodecContext *dc = avcodec_alloc_context3(dec);
    AVPacket *pkt = av_packet_alloc();
    int rc = dc && pkt ? avcodec_parameters_to_context(dc, par) : AVERROR(ENOMEM);
    AVDictionary *opts = NULL;
    av_dict_set_int(&opts, "max_pixels", PIC_MAX_PIXELS, 0); /* sizes found only while decoding */
    if (rc >= 0)
        rc = avcodec_open2(dc, dec, &opts);
    av_dict_free(&opts);
    if (rc >= 0)
        rc = av_read_frame(ic, pkt);
    if (rc >= 0)
        rc = avcodec_send_packet(dc, pkt);
    if (rc >= 0)
        avcodec_send_packet(dc, NULL); /* a one-frame stream: drain it */
    if (rc >= 0)
        rc = avcodec_receive_frame(dc, out);
    av_packet_free(&pkt);
    avcodec_free_context(&dc);
    return rc < 0 ? pic_fail("decode", rc, err, len) : 0;
}

/* The fetch's interrupt: the relay's, and the picture's byte budget (checked before every
 * read of the network, so a 100 MB "picture" stops at the limit, not at its end). */
typedef struct pic_budget {
    AVIOInterruptCB relay;
    const AVFormatContext *ic;
    int64_t max_bytes;
    bool over;
} pic_budget;

static int pic_interrupt(void *opaque)
{
    pic_budget *b = opaque;
    if (b->max_bytes > 0 && b->ic->pb && b->ic->pb->bytes_read > b->max_bytes) {
        b->over = true;
        return 1;
    }
    return b->relay.callback ? b->relay.callback(b->relay.opaque) : 0;
}

/* A picture whose size is known (Content-Length) and too large is refused before a read. */
static int pic_check_size(AVFormatContext *ic, pic_budget *b, int rc, char *err, size_t len)
{
    int64_t size = rc >= 0 && ic->pb ? avio_size(ic->pb) : -1;
    if (b->over || (b->max_bytes > 0 && size > b->max_bytes)) {
        snprintf(err, len, "open: the picture is larger than %lld MiB (picture_max_mb)",
                 (long long)(b->max_bytes >> 20));
        return AVERROR(EFBIG);
    }
    return rc < 0 ? pic_fail("open", rc, err, len) : 0;
}

static int pic_fetch(const source_open_args *a, AVFrame *out, char *err, size_t len)
{
    AVFormatContext *ic = avformat_alloc_context();
    if (!ic)
        return pic_fail("open", AVERROR(ENOMEM), err, len);
    pic_budget budget = {.relay = a->interrupt, .ic = ic, .max_bytes = a->max_bytes};
    ic->interrupt_callback = (AVIOInterruptCB){pic_interrupt, &budget};
    AVDictionary *opts = NULL;
    if (a->rw_timeout_us > 0)
        av_dict_set_int(&opts, "rw_timeout", a->rw_timeout_us, 0);
    av_dict_set(&opts, "protocol_whitelist", PIC_PROTOCOLS, 0);
    av_dict_set(&opts, "format_whitelist", PIC_FORMATS, 0);
    net_guard_install(ic, a->policy);
    int rc = avformat_open_input(&ic, a->url, NULL, &opts);
    av_dict_free(&opts);
    if ((rc = pic_check_size(ic, &budget, rc, err, len)) < 0) {
        avformat_close_input(&ic);
        return rc;
    }
    if (ic->nb_streams < 1 || ic->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
        avformat_close_input(&ic);
        snprintf(err, len, "open: not a picture");
        return AVERROR_INVALIDDATA;
    }
    rc = pic_decode_first(ic, out, err, len);
    if (budget.over)
        rc = pic_check_size(ic, &budget, rc, err, len);
    avformat_close_input(&ic);
    return rc;
}

int picture_fetch(const source_open_args *a, AVFrame *out, char *err, size_t len)
{
    return pic_fetch(a, out, err, len);
}

/* The output size: the picture's, scaled down into PIC_MAX_W x PIC_MAX_H, even sides. */
static void pic_size(int w, int h, int *ow, int *oh)
{
    double k = 1.0;
    if (w > PIC_MAX_W)
        k = (double)PIC_MAX_W / w;
    if (h * k > PIC_MAX_H)
        k = (double)PIC_MAX_H / h;
    *ow = (int)(w * k) & ~1;
    *oh = (int)(h * k) & ~1;
    if (*ow < 16)
        *ow = 16;
    if (*oh < 16)
        *oh = 16;
}

static int pic_to_yuv(const AVFrame *in, AVFrame *out, char *err, size_t len)
{
    pic_size(in->width, in->height, &out->width, &out->height);
    out->format = AV_PIX_FMT_YUV420P;
    int rc = av_frame_get_buffer(out, 0);
    if (rc < 0)
        return pic_fail("scale", rc, err, len);
    struct SwsContext *sws =
        sws_getContext(in->width, in->height, in->format, out->width, out->height,
                       AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) {
        snprintf(err, len, "scale: cannot convert %s", av_get_pix_fmt_name(in->format));
        return AVERROR(EINVAL);
    }
    sws_scale(sws, (const uint8_t *const *)in->data, in->linesize, 0, in->height, out->data,
              out->linesize);
    sws_freeContext(sws);
    return 0;
}

/* ---------- the encoders ---------- */

static int pic_open_video(picture *p, char *err, size_t len)
{
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    if (!c)
        c = avcodec_find_encoder(AV_CODEC_ID_H264);
    AVCodecContext *e = c ? avcodec_alloc_context3(c) : NULL;
    if (!e) {
        snprintf(err, len, "encode: no H.264 encoder in this FFmpeg");
        return AVERROR_ENCODER_NOT_FOUND;
    }
    p->enc[MEDIA_VIDEO] = e;
    e->width = p->frame[MEDIA_VIDEO]->width;
    e->height = p->frame[MEDIA_VIDEO]->height;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){1, PIC_FPS};
    e->framerate = (AVRational){PIC_FPS, 1};
    e->gop_size = PIC_FPS * PIC_GOP_S;
    e->max_b_frames = 0;
    e->rc_max_rate = PIC_VIDEO_KBPS * 1000;
    e->rc_buffer_size = PIC_VIDEO_KBPS * 1000;
    e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* FLV sends SPS/PPS as its sequence header */
    av_opt_set(e->priv_data, "preset", "veryfast", 0);
    av_opt_set(e->priv_data, "tune", "stillimage,zerolatency", 0);
    int rc = avcodec_open2(e, c, NULL);
    return rc < 0 ? pic_fail("encode: H.264", rc, err, len) : 0;
}

static int pic_open_audio(picture *p, char *err, size_t len)
{
    const AVCodec *c = avcodec_find_encoder(AV_CODEC_ID_AAC);
    AVCodecContext *e = c ? avcodec_alloc_context3(c) : NULL;
    if (!e) {
        snprintf(err, len, "encode: no AAC encoder in this FFmpeg");
        return AVERROR_ENCODER_NOT_FOUND;
    }
    p->enc[MEDIA_AUDIO] = e;
    e->sample_rate = PIC_AUDIO_RATE;
    e->sample_fmt = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_default(&e->ch_layout, 2);
    e->bit_rate = PIC_AUDIO_KBPS * 1000;
    e->time_base = (AVRational){1, PIC_AUDIO_RATE};
    e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int rc = avcodec_open2(e, c, NULL);
    if (rc < 0)
        return pic_fail("encode: AAC", rc, err, len);
    AVFrame *f = av_frame_alloc();
    if (!f)
        return pic_fail("encode: AAC", AVERROR(ENOMEM), err, len);
    p->frame[MEDIA_AUDIO] = f;
    f->format = e->sample_fmt;
    f->nb_samples = e->frame_size;
    f->sample_rate = e->sample_rate;
    rc = av_channel_layout_copy(&f->ch_layout, &e->ch_layout);
    if (rc >= 0)
        rc = av_frame_get_buffer(f, 0);
    if (rc >= 0)
        rc = av_samples_set_silence(f->extended_data, 0, f->nb_samples, f->ch_layout.nb_channels,
                                    f->format);
    return rc < 0 ? pic_fail("encode: AAC", rc, err, len) : 0;
}

/* What the relay sees of the source: an AVFormatContext with one stream per encoder. */
static int pic_streams(engine_source *s, picture *p)
{
    s->ic = avformat_alloc_context();
    if (!s->ic)
        return AVERROR(ENOMEM);
    for (int k = 0; k < MEDIA_KINDS; k++) {
        AVStream *st = avformat_new_stream(s->ic, NULL);
        if (!st)
            return AVERROR(ENOMEM);
        int rc = avcodec_parameters_from_context(st->codecpar, p->enc[k]);
        if (rc < 0)
            return rc;
        st->time_base = p->enc[k]->time_base;
        if (k == MEDIA_VIDEO)
            st->avg_frame_rate = st->r_frame_rate = (AVRational){PIC_FPS, 1};
        s->stream_of[k] = st->index;
    }
    return 0;
}

static void pic_free(picture *p)
{
    if (!p)
        return;
    for (int k = 0; k < MEDIA_KINDS; k++) {
        avcodec_free_context(&p->enc[k]);
        av_frame_free(&p->frame[k]);
    }
    free(p);
}

/* ---------- the source ---------- */

/* The picture sources keep their state here: engine_source has no slot of its own, and the
 * AVFormatContext it carries is a shell whose opaque field is ours. */
static picture *pic_of(const engine_source *s)
{
    return s->ic ? s->ic->opaque : NULL;
}

static void pic_close(engine_source *s)
{
    pic_free(pic_of(s));
    avformat_free_context(s->ic);
    s->ic = NULL;
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
}

static int pic_prepare(picture *p, const source_open_args *a, char *err, size_t len)
{
    AVFrame *image = av_frame_alloc();
    p->frame[MEDIA_VIDEO] = av_frame_alloc();
    if (!image || !p->frame[MEDIA_VIDEO]) {
        av_frame_free(&image);
        return pic_fail("open", AVERROR(ENOMEM), err, len);
    }
    int rc = pic_fetch(a, image, err, len);
    if (rc == 0)
        rc = pic_to_yuv(image, p->frame[MEDIA_VIDEO], err, len);
    av_frame_free(&image);
    if (rc == 0)
        rc = pic_open_video(p, err, len);
    if (rc == 0)
        rc = pic_open_audio(p, err, len);
    return rc;
}

static int pic_open(engine_source *s, const source_open_args *a, char *err, size_t len)
{
    s->stream_of[MEDIA_VIDEO] = s->stream_of[MEDIA_AUDIO] = -1;
    picture *p = calloc(1, sizeof(*p));
    if (!p)
        return pic_fail("open", AVERROR(ENOMEM), err, len);
    int rc = pic_prepare(p, a, err, len);
    if (rc == 0 && (rc = pic_streams(s, p)) < 0)
        pic_fail("open", rc, err, len);
    if (rc < 0) {
        pic_free(p);
        avformat_free_context(s->ic);
        s->ic = NULL;
        return rc;
    }
    s->ic->opaque = p;
    tlog_info(engine_log_task(), "engine: picture %s: %dx%d, H.264 at %d fps with silent AAC",
              REDACT_URL(a->url), p->enc[MEDIA_VIDEO]->width, p->enc[MEDIA_VIDEO]->height, PIC_FPS);
    return 0;
}

/* The next packet in time order: the track whose next frame comes first is encoded. */
static int pic_read(engine_source *s, AVPacket *pkt, int *kind)
{
    picture *p = pic_of(s);
    int64_t v_us =
        av_rescale_q(p->next_pts[MEDIA_VIDEO], p->enc[MEDIA_VIDEO]->time_base, AV_TIME_BASE_Q);
    int64_t a_us =
        av_rescale_q(p->next_pts[MEDIA_AUDIO], p->enc[MEDIA_AUDIO]->time_base, AV_TIME_BASE_Q);
    int k = v_us <= a_us ? MEDIA_VIDEO : MEDIA_AUDIO;
    for (;;) {
        int rc = avcodec_receive_packet(p->enc[k], pkt);
        if (rc == 0) {
            pkt->stream_index = s->stream_of[k];
            *kind = k;
            return 0;
        }
        if (rc != AVERROR(EAGAIN))
            return rc;
        AVFrame *f = p->frame[k];
        f->pts = p->next_pts[k];
        p->next_pts[k] += k == MEDIA_VIDEO ? 1 : f->nb_samples;
        if (k == MEDIA_VIDEO)
            f->pict_type =
                f->pts % p->enc[k]->gop_size == 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
        rc = avcodec_send_frame(p->enc[k], f);
        if (rc < 0)
            return rc;
    }
}

const source_ops source_picture_ops = {
    .name = "picture",
    .open = pic_open,
    .read = pic_read,
    .close = pic_close,
};
