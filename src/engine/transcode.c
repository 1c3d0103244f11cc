/* transcode.c — the watermark transcode stage (transcode.h): a libavcodec decoder, the marks
 * scaled once per frame size with libswscale and alpha-blended on YUV 4:2:0, libx264. */
#include "engine/transcode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "engine/watermark_place.h"

#define TC_PENDING 32 /* packets an encoder left when it re-opened */

typedef struct tc_mark {
    AVFrame *image;  /* the picture as given */
    AVFrame *scaled; /* YUVA 4:2:0 at rect's size, for the frame size it was made for */
    int for_w, for_h;
    mark_rect rect;
    transcode_mark spec;
} tc_mark;

struct transcode {
    AVCodecContext *dec, *enc;
    AVRational tb, fps;
    transcode_settings set;
    int64_t src_bit_rate;
    tc_mark marks[TASK_MAX_WATERMARKS];
    int n_marks;
    AVFrame *frame;
    int64_t last_pts;
    bool new_extradata;
    AVPacket *pending[TC_PENDING];
    int n_pending;
};

/* ---------- the decoder ---------- */

static int tc_open_decoder(transcode *t, const AVCodecParameters *par)
{
    const AVCodec *c = avcodec_find_decoder(par->codec_id);
    if (!c)
        return AVERROR_DECODER_NOT_FOUND;
    avcodec_free_context(&t->dec);
    t->dec = avcodec_alloc_context3(c);
    if (!t->dec)
        return AVERROR(ENOMEM);
    int rc = avcodec_parameters_to_context(t->dec, par);
    if (rc < 0)
        return rc;
    t->dec->pkt_timebase = t->tb;
    t->dec->thread_count = 1; /* no frame-thread delay: the stage adds no latency */
    return avcodec_open2(t->dec, c, NULL);
}

/* ---------- the encoder ---------- */

static void tc_rate(transcode *t, AVCodecContext *e)
{
    int64_t bps = t->set.bitrate_kbps > 0 ? (int64_t)t->set.bitrate_kbps * 1000 : t->src_bit_rate;
    if (bps > 0) {
        e->bit_rate = bps;
        e->rc_max_rate = bps * 3 / 2;
        e->rc_buffer_size = (int)(bps * 2);
    } else {
        av_opt_set(e->priv_data, "crf", "23", 0);
    }
}

static int tc_open_encoder(transcode *t, int w, int h)
{
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    if (!c)
        return AVERROR_ENCODER_NOT_FOUND;
    AVCodecContext *e = avcodec_alloc_context3(c);
    if (!e)
        return AVERROR(ENOMEM);
    e->width = w;
    e->height = h;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = t->tb;
    e->framerate = t->fps;
    e->gop_size = t->set.gop_frames > 0 ? t->set.gop_frames : 2 * t->fps.num / t->fps.den;
    e->max_b_frames = 0;
    e->thread_count = 1;
    e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* FLV sends SPS/PPS as its sequence header */
    av_opt_set(e->priv_data, "preset", t->set.preset ? t->set.preset : "veryfast", 0);
    av_opt_set(e->priv_data, "tune", "zerolatency", 0);
    av_opt_set(e->priv_data, "forced-idr", "1", 0);
    tc_rate(t, e);
    int rc = avcodec_open2(e, c, NULL);
    if (rc < 0) {
        avcodec_free_context(&e);
        return rc;
    }
    t->enc = e;
    return 0;
}

/* The old encoder's last packets wait in pending; a new one with a new header follows. */
static int tc_reopen_encoder(transcode *t, int w, int h)
{
    AVCodecContext *old = t->enc;
    if (old && avcodec_send_frame(old, NULL) >= 0) {
        AVPacket *p = av_packet_alloc();
        while (p && avcodec_receive_packet(old, p) >= 0) {
            if (t->n_pending < TC_PENDING) {
                t->pending[t->n_pending++] = p;
                p = av_packet_alloc();
            } else {
                av_packet_unref(p);
            }
        }
        av_packet_free(&p);
    }
    avcodec_free_context(&t->enc);
    int rc = tc_open_encoder(t, w, h);
    t->new_extradata = rc >= 0 && old != NULL;
    return rc;
}

/* ---------- the marks ---------- */

static int tc_scale_mark(tc_mark *m, int fw, int fh)
{
    const AVFrame *img = m->image;
    m->rect = mark_place(fw, fh, img->width, img->height, m->spec.x_pct, m->spec.y_pct,
                         m->spec.w_pct, m->spec.h_pct, m->spec.location);
    m->for_w = fw;
    m->for_h = fh;
    av_frame_free(&m->scaled);
    if (m->rect.w <= 0 || m->rect.h <= 0)
        return 0;
    AVFrame *s = av_frame_alloc();
    if (!s)
        return AVERROR(ENOMEM);
    s->width = m->rect.w;
    s->height = m->rect.h;
    s->format = AV_PIX_FMT_YUVA420P;
    int rc = av_frame_get_buffer(s, 0);
    struct SwsContext *sws =
        rc < 0 ? NULL
               : sws_getContext(img->width, img->height, img->format, s->width, s->height,
                                AV_PIX_FMT_YUVA420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) {
        av_frame_free(&s);
        return rc < 0 ? rc : AVERROR(EINVAL);
    }
    sws_scale(sws, (const uint8_t *const *)img->data, img->linesize, 0, img->height, s->data,
              s->linesize);
    sws_freeContext(sws);
    if (!av_pix_fmt_desc_get(img->format) ||
        !(av_pix_fmt_desc_get(img->format)->flags & AV_PIX_FMT_FLAG_ALPHA))
        memset(s->data[3], 255, (size_t)s->linesize[3] * s->height); /* opaque */
    m->scaled = s;
    return 0;
}

static inline uint8_t mix(int d, int s, int a)
{
    return (uint8_t)((s * a + d * (255 - a) + 127) / 255);
}

/* One plane: dst at (x0, y0) (plane pixels), src w x h; alpha sampled every `step` pixels. */
static void tc_blend_plane(uint8_t *dst, int dls, int dw, int dh, const uint8_t *src, int sls,
                           const uint8_t *alpha, int als, int step, int x0, int y0, int w, int h)
{
    for (int y = y0 < 0 ? -y0 : 0; y < h && y0 + y < dh; y++) {
        uint8_t *d = dst + (size_t)(y0 + y) * dls;
        const uint8_t *s = src + (size_t)y * sls;
        const uint8_t *a = alpha + (size_t)y * step * als;
        for (int x = x0 < 0 ? -x0 : 0; x < w && x0 + x < dw; x++) {
            int av = a[x * step];
            if (av)
                d[x0 + x] = mix(d[x0 + x], s[x], av);
        }
    }
}

static void tc_blend(AVFrame *f, const tc_mark *m)
{
    const AVFrame *s = m->scaled;
    const mark_rect *r = &m->rect;
    tc_blend_plane(f->data[0], f->linesize[0], f->width, f->height, s->data[0], s->linesize[0],
                   s->data[3], s->linesize[3], 1, r->x, r->y, r->w, r->h);
    for (int p = 1; p <= 2; p++)
        tc_blend_plane(f->data[p], f->linesize[p], (f->width + 1) / 2, (f->height + 1) / 2,
                       s->data[p], s->linesize[p], s->data[3], s->linesize[3], 2, r->x / 2,
                       r->y / 2, r->w / 2, r->h / 2);
}

static int tc_apply_marks(transcode *t, AVFrame *f)
{
    if (t->n_marks == 0)
        return 0;
    int rc = av_frame_make_writable(f);
    for (int i = 0; rc >= 0 && i < t->n_marks; i++) {
        tc_mark *m = &t->marks[i];
        if (m->for_w != f->width || m->for_h != f->height)
            rc = tc_scale_mark(m, f->width, f->height);
        if (rc >= 0 && m->scaled)
            tc_blend(f, m);
    }
    return rc;
}

static void tc_clear_marks(transcode *t)
{
    for (int i = 0; i < t->n_marks; i++) {
        av_frame_free(&t->marks[i].image);
        av_frame_free(&t->marks[i].scaled);
    }
    t->n_marks = 0;
}

int transcode_set_marks(transcode *t, const transcode_mark *marks, int n)
{
    tc_clear_marks(t);
    for (int i = 0; i < n && i < TASK_MAX_WATERMARKS; i++) {
        tc_mark *m = &t->marks[t->n_marks];
        memset(m, 0, sizeof(*m));
        m->spec = marks[i];
        m->image = av_frame_clone(marks[i].image);
        if (!m->image)
            return AVERROR(ENOMEM);
        t->n_marks++;
    }
    return 0;
}

/* ---------- packets ---------- */

static int tc_encode(transcode *t, AVFrame *f)
{
    int rc = 0;
    if (f->width != t->enc->width || f->height != t->enc->height)
        rc = tc_reopen_encoder(t, f->width, f->height);
    if (rc >= 0)
        rc = tc_apply_marks(t, f);
    if (rc < 0)
        return rc;
    int64_t pts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    if (pts == AV_NOPTS_VALUE || (t->last_pts != AV_NOPTS_VALUE && pts <= t->last_pts))
        pts = t->last_pts == AV_NOPTS_VALUE ? 0 : t->last_pts + 1;
    t->last_pts = pts;
    f->pts = pts;
    f->pict_type = f->key_frame ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE; /* the source's GOP */
    return avcodec_send_frame(t->enc, f);
}

static int tc_decode_all(transcode *t)
{
    int rc;
    while ((rc = avcodec_receive_frame(t->dec, t->frame)) >= 0) {
        if (t->frame->format != AV_PIX_FMT_YUV420P && t->frame->format != AV_PIX_FMT_YUVJ420P) {
            av_frame_unref(t->frame);
            return AVERROR_PATCHWELCOME; /* 4:2:2 / 4:4:4 / 10-bit sources: not yet */
        }
        rc = tc_encode(t, t->frame);
        av_frame_unref(t->frame);
        if (rc < 0)
            return rc;
    }
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

int transcode_push(transcode *t, const AVPacket *pkt)
{
    int rc = avcodec_send_packet(t->dec, pkt);
    if (rc == AVERROR_INVALIDDATA)
        return 0; /* a damaged packet: the decoder resynchronises at the next one */
    if (rc < 0 && rc != AVERROR(EAGAIN))
        return rc;
    return tc_decode_all(t);
}

int transcode_receive(transcode *t, AVPacket *out)
{
    if (t->n_pending > 0) {
        av_packet_move_ref(out, t->pending[0]);
        av_packet_free(&t->pending[0]);
        memmove(t->pending, t->pending + 1, sizeof(t->pending[0]) * (size_t)--t->n_pending);
        return 0;
    }
    int rc = avcodec_receive_packet(t->enc, out);
    if (rc >= 0 && out->dts == AV_NOPTS_VALUE)
        out->dts = out->pts;
    return rc;
}

int transcode_drain(transcode *t)
{
    int rc = avcodec_send_packet(t->dec, NULL);
    if (rc >= 0 || rc == AVERROR_EOF)
        rc = tc_decode_all(t);
    if (rc >= 0)
        rc = avcodec_send_frame(t->enc, NULL);
    return rc == AVERROR_EOF ? 0 : rc;
}

int transcode_reset(transcode *t, const AVCodecParameters *par)
{
    if (!par) {
        avcodec_flush_buffers(t->dec);
        return 0;
    }
    return tc_open_decoder(t, par);
}

/* ---------- the stage ---------- */

int transcode_open(transcode **out, const AVCodecParameters *par, AVRational tb, AVRational fps,
                   const transcode_settings *s, char *err, size_t len)
{
    transcode *t = av_mallocz(sizeof(*t));
    if (!t) {
        snprintf(err, len, "transcode: out of memory");
        return AVERROR(ENOMEM);
    }
    t->tb = tb;
    t->fps = fps.num > 0 && fps.den > 0 ? fps : (AVRational){25, 1};
    t->set = s ? *s : (transcode_settings){0};
    t->src_bit_rate = par->bit_rate;
    t->last_pts = AV_NOPTS_VALUE;
    t->frame = av_frame_alloc();
    int rc = t->frame ? tc_open_decoder(t, par) : AVERROR(ENOMEM);
    const char *step = "decoder";
    if (rc >= 0) {
        step = "libx264";
        rc = tc_open_encoder(t, par->width, par->height);
    }
    if (rc < 0) {
        char msg[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(rc, msg, sizeof(msg));
        snprintf(err, len, "transcode: %s: %s", step, msg);
        transcode_close(&t);
        return rc;
    }
    *out = t;
    return 0;
}

void transcode_close(transcode **tp)
{
    transcode *t = *tp;
    if (!t)
        return;
    tc_clear_marks(t);
    for (int i = 0; i < t->n_pending; i++)
        av_packet_free(&t->pending[i]);
    avcodec_free_context(&t->dec);
    avcodec_free_context(&t->enc);
    av_frame_free(&t->frame);
    av_freep(tp);
}

const uint8_t *transcode_extradata(const transcode *t, int *size)
{
    *size = t->enc->extradata_size;
    return t->enc->extradata;
}

bool transcode_take_new_extradata(transcode *t)
{
    bool v = t->new_extradata;
    t->new_extradata = false;
    return v;
}

void transcode_size(const transcode *t, int *w, int *h)
{
    *w = t->enc->width;
    *h = t->enc->height;
}
