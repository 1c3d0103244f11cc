/* output_rtmp.c — one output session: the FLV muxer over an RTMP push connection, stream copy,
 * per-stream monotonic DTS, codec headers re-sent when the source's extradata changes. */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/mem.h>

bool output_rtmp_can_carry(enum AVCodecID id)
{
    const AVOutputFormat *flv = av_guess_format("flv", NULL, NULL);
    return flv && avformat_query_codec(flv, id, FF_COMPLIANCE_NORMAL) == 1;
}

static int output_rtmp_fail(output_rtmp *o, const char *step, int rc, char *err, size_t errlen)
{
    char why[256];
    snprintf(err, errlen, "%s: %s", step, engine_averror(rc, why, sizeof(why)));
    output_rtmp_close(o, false);
    return rc;
}

int output_rtmp_remember_extradata(output_rtmp *o, int kind, const uint8_t *data, int size)
{
    av_freep(&o->extradata[kind]);
    o->extradata_size[kind] = 0;
    if (size <= 0)
        return 0;
    o->extradata[kind] = av_memdup(data, (size_t)size);
    if (!o->extradata[kind])
        return AVERROR(ENOMEM);
    o->extradata_size[kind] = size;
    return 0;
}

static int output_rtmp_add_streams(output_rtmp *o, const output_shape *shape)
{
    for (int k = 0; k < MEDIA_KINDS; k++) {
        const AVCodecParameters *par = shape->par[k];
        o->stream_of[k] = -1;
        o->last_dts[k] = AV_NOPTS_VALUE;
        if (!par)
            continue;
        AVStream *st = avformat_new_stream(o->oc, NULL);
        if (!st)
            return AVERROR(ENOMEM);
        int rc = avcodec_parameters_copy(st->codecpar, par);
        if (rc < 0)
            return rc;
        st->codecpar->codec_tag = 0;
        st->time_base = (AVRational){1, 1000};
        if (k == MEDIA_VIDEO)
            st->avg_frame_rate = shape->frame_rate; /* players read it from the metadata */
        o->stream_of[k] = st->index;
        rc = output_rtmp_remember_extradata(o, k, par->extradata, par->extradata_size);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The FLV muxer with the shape's streams, no I/O yet: 0 or an AVERROR with err set. */
static int output_rtmp_begin(output_rtmp *o, const output_shape *shape, const char *url, char *err,
                             size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->first_dts = AV_NOPTS_VALUE;
    o->need_key = shape->par[MEDIA_VIDEO] != NULL;
    int rc = avformat_alloc_output_context2(&o->oc, NULL, "flv", url);
    if (rc < 0)
        return output_rtmp_fail(o, "muxer", rc, err, errlen);
    o->oc->flags |= AVFMT_FLAG_FLUSH_PACKETS; /* every packet leaves at once */
    o->pkt = av_packet_alloc();
    if (!o->pkt)
        return output_rtmp_fail(o, "muxer", AVERROR(ENOMEM), err, errlen);
    rc = output_rtmp_add_streams(o, shape);
    return rc < 0 ? output_rtmp_fail(o, "muxer", rc, err, errlen) : 0;
}

/* The FLV header and metadata, once o->oc->pb is there. */
static int output_rtmp_header(output_rtmp *o, char *err, size_t errlen)
{
    AVDictionary *mux_opts = NULL;
    av_dict_set(&mux_opts, "flvflags",
                o->eos_ours ? "no_duration_filesize+no_sequence_end" : "no_duration_filesize", 0);
    int rc = avformat_write_header(o->oc, &mux_opts);
    av_dict_free(&mux_opts);
    if (rc < 0)
        return output_rtmp_fail(o, "header", rc, err, errlen);
    o->header_written = true;
    return 0;
}

/* The muxer's bytes go to sink, through a small buffer flushed after every packet. */
#define SINK_BUFFER 65536

int output_rtmp_open_sink(output_rtmp *o, const output_shape *shape, output_sink_fn sink,
                          output_tag_fn tag, void *ctx, char *err, size_t errlen)
{
    int rc = output_rtmp_begin(o, shape, NULL, err, errlen);
    if (rc < 0)
        return rc;
    output_tags_plan(o, shape, tag, ctx);
    uint8_t *buf = av_malloc(SINK_BUFFER);
    o->oc->pb = buf ? avio_alloc_context(buf, SINK_BUFFER, 1, ctx, NULL, sink, NULL) : NULL;
    if (!o->oc->pb) {
        av_free(buf);
        return output_rtmp_fail(o, "muxer", AVERROR(ENOMEM), err, errlen);
    }
    o->sink = true;
    o->oc->pb->seekable = 0;
    return output_rtmp_header(o, err, errlen);
}

int output_rtmp_open(output_rtmp *o, const char *url, const output_shape *shape,
                     AVIOInterruptCB interrupt, int64_t rw_timeout_us, char *err, size_t errlen)
{
    int rc = output_rtmp_begin(o, shape, url, err, errlen);
    if (rc < 0)
        return rc;
    o->oc->interrupt_callback = interrupt;
    AVDictionary *io_opts = NULL;
    if (rw_timeout_us > 0)
        av_dict_set_int(&io_opts, "rw_timeout", rw_timeout_us, 0);
    av_dict_set(&io_opts, "tcp_nodelay", "1", 0); /* Nagle would hold small audio packets */
    av_dict_set(&io_opts, "protocol_whitelist", "rtmp,rtmps,tcp,tls", 0); /* never a file */
    rc = avio_open2(&o->oc->pb, url, AVIO_FLAG_WRITE, &o->oc->interrupt_callback, &io_opts);
    av_dict_free(&io_opts);
    if (rc < 0)
        return output_rtmp_fail(o, "connect", rc, err, errlen);
    return output_rtmp_header(o, err, errlen);
}

/* Side data the muxer understands: new codec headers, only when they changed. */
static int output_rtmp_attach_extradata(output_rtmp *o, int kind, const AVCodecParameters *par)
{
    av_packet_free_side_data(o->pkt);
    if (!par || par->extradata_size <= 0)
        return 0;
    if (par->extradata_size == o->extradata_size[kind] &&
        memcmp(par->extradata, o->extradata[kind], (size_t)par->extradata_size) == 0)
        return 0;
    uint8_t *side =
        av_packet_new_side_data(o->pkt, AV_PKT_DATA_NEW_EXTRADATA, (size_t)par->extradata_size);
    if (!side)
        return AVERROR(ENOMEM);
    memcpy(side, par->extradata, (size_t)par->extradata_size);
    return output_rtmp_remember_extradata(o, kind, par->extradata, par->extradata_size);
}

/* Whether a session that has not started yet may start with this packet. */
static bool output_rtmp_session_accepts(output_rtmp *o, int kind, const AVPacket *in, int64_t dts)
{
    if (o->need_key) {
        if (kind != MEDIA_VIDEO || !(in->flags & AV_PKT_FLAG_KEY))
            return false;
        o->need_key = false;
    }
    if (o->first_dts == AV_NOPTS_VALUE)
        o->first_dts = dts;
    return dts >= o->first_dts; /* FLV refuses DTS below the session's first one */
}

int output_rtmp_write(output_rtmp *o, int kind, const AVPacket *in, const output_ts *ts,
                      const AVCodecParameters *par, char *err, size_t errlen)
{
    int si = o->stream_of[kind];
    if (si < 0)
        return 0;
    if (engine_fenced()) {
        snprintf(err, errlen, "write: this node's lease ran out: it must not push");
        return AVERROR(EPERM);
    }
    AVRational tb = o->oc->streams[si]->time_base;
    int64_t dts = engine_us_to_ts(ts->dts_us, tb);
    int64_t pts = engine_us_to_ts(ts->pts_us, tb);
    if (!output_rtmp_session_accepts(o, kind, in, dts))
        return 0;
    if (o->last_dts[kind] != AV_NOPTS_VALUE && dts <= o->last_dts[kind]) {
        pts += o->last_dts[kind] + 1 - dts; /* rounding collided: keep DTS strictly rising */
        dts = o->last_dts[kind] + 1;
    }
    if (output_tags_take(o, kind, in, par)) {
        int rc = output_tags_write(o, kind, in, dts, pts < dts ? dts : pts, par);
        if (rc < 0) {
            char why[256];
            snprintf(err, errlen, "write: %s", engine_averror(rc, why, sizeof(why)));
            return rc;
        }
        o->last_dts[kind] = dts;
        return 1;
    }
    int rc = av_packet_ref(o->pkt, in);
    if (rc >= 0)
        rc = output_rtmp_attach_extradata(o, kind, par);
    if (rc < 0) {
        av_packet_unref(o->pkt);
        char why[256];
        snprintf(err, errlen, "packet: %s", engine_averror(rc, why, sizeof(why)));
        return rc;
    }
    o->pkt->stream_index = si;
    o->pkt->dts = dts;
    o->pkt->pts = pts < dts ? dts : pts;
    o->pkt->duration = av_rescale_q(ts->dur_us, AV_TIME_BASE_Q, tb);
    o->pkt->pos = -1;
    rc = av_write_frame(o->oc, o->pkt);
    av_packet_unref(o->pkt);
    if (rc < 0) {
        char why[256];
        snprintf(err, errlen, "write: %s", engine_averror(rc, why, sizeof(why)));
        return rc;
    }
    o->last_dts[kind] = dts;
    return 1;
}

void output_rtmp_close(output_rtmp *o, bool write_trailer)
{
    if (o->oc) {
        if (write_trailer && o->header_written && o->oc->pb && !o->oc->pb->error &&
            output_tags_end(o) == 0)
            av_write_trailer(o->oc);
        if (o->oc->pb && o->sink) {
            avio_flush(o->oc->pb);
            av_freep(&o->oc->pb->buffer);
            avio_context_free(&o->oc->pb);
        } else if (o->oc->pb) {
            avio_closep(&o->oc->pb);
        }
        avformat_free_context(o->oc);
        o->oc = NULL;
    }
    av_packet_free(&o->pkt);
    for (int k = 0; k < MEDIA_KINDS; k++)
        av_freep(&o->extradata[k]);
    output_tags_free(o);
    o->header_written = false;
}
