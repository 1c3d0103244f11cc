/* mark_file.c — test tool: runs a media file's video through the watermark transcode stage
 * (src/engine/transcode.h) with the marks given, copies its audio, writes the result.
 * Usage: mark_file IN OUT LOGO X Y W H LOCATION [LOGO X Y W H LOCATION ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>

#include "engine/transcode.h"

static AVFrame *load_logo(const char *path)
{
    AVFormatContext *ic = NULL;
    if (avformat_open_input(&ic, path, NULL, NULL) < 0)
        return NULL;
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    const AVCodecParameters *par = ic->streams[0]->codecpar;
    const AVCodec *c = avcodec_find_decoder(par->codec_id);
    AVCodecContext *dc = c ? avcodec_alloc_context3(c) : NULL;
    int rc = dc && f && pkt ? avcodec_parameters_to_context(dc, par) : -1;
    if (rc >= 0)
        rc = avcodec_open2(dc, c, NULL);
    if (rc >= 0)
        rc = av_read_frame(ic, pkt);
    if (rc >= 0)
        rc = avcodec_send_packet(dc, pkt);
    if (rc >= 0)
        avcodec_send_packet(dc, NULL);
    if (rc >= 0)
        rc = avcodec_receive_frame(dc, f);
    av_packet_free(&pkt);
    avcodec_free_context(&dc);
    avformat_close_input(&ic);
    if (rc < 0)
        av_frame_free(&f);
    return f;
}

typedef struct job {
    AVFormatContext *ic, *oc;
    int vin;
    transcode *tc;
} job;

static int write_out(job *j, AVPacket *pkt, int in_index)
{
    AVStream *is = j->ic->streams[in_index], *os = j->oc->streams[in_index];
    pkt->stream_index = in_index;
    av_packet_rescale_ts(pkt, is->time_base, os->time_base);
    return av_interleaved_write_frame(j->oc, pkt);
}

/* The encoder re-opened (another frame size): its new header goes with the packet, as the
 * relay's outputs send it (the FLV muxer writes a new sequence header). */
static int attach_header(job *j, AVPacket *pkt)
{
    if (!transcode_take_new_extradata(j->tc))
        return 0;
    int size;
    const uint8_t *x = transcode_extradata(j->tc, &size);
    uint8_t *side = av_packet_new_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, (size_t)size);
    if (!side)
        return AVERROR(ENOMEM);
    memcpy(side, x, (size_t)size);
    return 0;
}

static int drain_stage(job *j, AVPacket *out)
{
    int rc;
    while ((rc = transcode_receive(j->tc, out)) >= 0)
        if ((rc = attach_header(j, out)) < 0 || (rc = write_out(j, out, j->vin)) < 0)
            return rc;
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ? 0 : rc;
}

static int open_output(job *j, const char *path)
{
    if (avformat_alloc_output_context2(&j->oc, NULL, NULL, path) < 0)
        return -1;
    for (unsigned i = 0; i < j->ic->nb_streams; i++) {
        AVStream *is = j->ic->streams[i], *os = avformat_new_stream(j->oc, NULL);
        avcodec_parameters_copy(os->codecpar, is->codecpar);
        os->codecpar->codec_tag = 0;
        os->time_base = is->time_base;
        if ((int)i != j->vin)
            continue;
        int size;
        const uint8_t *x = transcode_extradata(j->tc, &size);
        av_freep(&os->codecpar->extradata);
        os->codecpar->extradata = av_mallocz((size_t)size + AV_INPUT_BUFFER_PADDING_SIZE);
        memcpy(os->codecpar->extradata, x, (size_t)size);
        os->codecpar->extradata_size = size;
        os->codecpar->codec_id = AV_CODEC_ID_H264;
        transcode_size(j->tc, &os->codecpar->width, &os->codecpar->height);
    }
    if (avio_open(&j->oc->pb, path, AVIO_FLAG_WRITE) < 0)
        return -1;
    return avformat_write_header(j->oc, NULL);
}

static int run(job *j)
{
    AVPacket *pkt = av_packet_alloc(), *out = av_packet_alloc();
    int rc = 0;
    while (rc >= 0 && av_read_frame(j->ic, pkt) >= 0) {
        if (pkt->stream_index == j->vin) {
            rc = transcode_push(j->tc, pkt);
            if (rc >= 0)
                rc = drain_stage(j, out);
            av_packet_unref(pkt);
        } else {
            rc = write_out(j, pkt, pkt->stream_index);
        }
    }
    if (rc >= 0)
        rc = transcode_drain(j->tc);
    if (rc >= 0)
        rc = drain_stage(j, out);
    av_packet_free(&pkt);
    av_packet_free(&out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (argc - 3) % 6 != 0 || (argc - 3) / 6 > TASK_MAX_WATERMARKS) {
        fprintf(stderr, "usage: mark_file IN OUT [LOGO X Y W H LOCATION]...\n");
        return 2;
    }
    job j = {0};
    char err[256];
    if (avformat_open_input(&j.ic, argv[1], NULL, NULL) < 0 ||
        avformat_find_stream_info(j.ic, NULL) < 0)
        return fprintf(stderr, "cannot read %s\n", argv[1]), 1;
    j.vin = av_find_best_stream(j.ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (j.vin < 0)
        return fprintf(stderr, "no video in %s\n", argv[1]), 1;
    AVStream *vs = j.ic->streams[j.vin];
    if (transcode_open(&j.tc, vs->codecpar, vs->time_base, vs->avg_frame_rate, NULL, err,
                       sizeof(err)) < 0)
        return fprintf(stderr, "%s\n", err), 1;
    transcode_mark marks[TASK_MAX_WATERMARKS];
    int n = (argc - 3) / 6;
    for (int i = 0; i < n; i++) {
        char **a = argv + 3 + i * 6;
        marks[i] = (transcode_mark){load_logo(a[0]), atoi(a[1]), atoi(a[2]),
                                    atoi(a[3]),      atoi(a[4]), atoi(a[5])};
        if (!marks[i].image)
            return fprintf(stderr, "cannot read the logo %s\n", a[0]), 1;
    }
    transcode_set_marks(j.tc, marks, n);
    for (int i = 0; i < n; i++)
        av_frame_free((AVFrame **)&marks[i].image);
    int rc = open_output(&j, argv[2]);
    if (rc >= 0)
        rc = run(&j);
    if (rc >= 0)
        rc = av_write_trailer(j.oc);
    transcode_close(&j.tc);
    avformat_close_input(&j.ic);
    if (j.oc)
        avio_closep(&j.oc->pb);
    avformat_free_context(j.oc);
    if (rc < 0)
        fprintf(stderr, "mark_file: %s\n", av_err2str(rc));
    return rc < 0 ? 1 : 0;
}
