/* probe.c — the benchmarks' viewer: reads RTMP (or any libavformat URL) streams at once,
 * one thread per URL, and notes for every packet its arrival time and a hash of its
 * payload. Built by the bench scripts (see probe_binary() in benchlib.py).
 *
 *   probe latency SECONDS SRC DST   JSON: arrival at DST - arrival at SRC of the same payload
 *   probe watch SECONDS URL...      one line per packet: url t_unix kind dts key session size
 *                                   pts hash (pts in ms, -1 when none; hash in hex)
 *
 * Packets are matched by a 64-bit FNV-1a hash of their coded payload, never by timestamp,
 * so a relay that rewrites timestamps cannot fool the probe. `watch` reconnects at once
 * whenever a session ends, so one run sees a stream through publisher restarts. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/log.h>

#define MAX_URLS 8

typedef struct {
    int64_t t_ns; /* CLOCK_MONOTONIC */
    uint64_t hash;
} arrival;

typedef struct {
    const char *url;
    int index;
    int watch; /* print every packet instead of keeping arrivals */
    arrival *a;
    size_t n, cap;
    int sessions;
} reader;

static int64_t deadline_ns;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int past_deadline(void *opaque)
{
    (void)opaque;
    return now_ns(CLOCK_MONOTONIC) >= deadline_ns;
}

static uint64_t fnv1a(const uint8_t *p, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void keep(reader *r, int64_t t, uint64_t h)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        arrival *a = realloc(r->a, cap * sizeof(*a));
        if (!a) {
            fprintf(stderr, "probe: out of memory\n");
            exit(2);
        }
        r->a = a;
        r->cap = cap;
    }
    r->a[r->n++] = (arrival){t, h};
}

/* One session: open, read until the stream ends or the deadline. */
static void read_session(reader *r)
{
    AVFormatContext *ic = avformat_alloc_context();
    if (!ic)
        return;
    ic->interrupt_callback.callback = past_deadline;
    ic->flags |= AVFMT_FLAG_NOPARSE | AVFMT_FLAG_NOFILLIN | AVFMT_FLAG_NOBUFFER;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "rtmp_live", "live", 0);
    av_dict_set(&opts, "tcp_nodelay", "1", 0);
    const AVInputFormat *fmt = strncmp(r->url, "rtmp", 4) == 0 ? av_find_input_format("flv")
                                                                : NULL;
    int rc = avformat_open_input(&ic, r->url, fmt, &opts);
    av_dict_free(&opts);
    if (rc < 0)
        return; /* avformat_open_input frees ic on failure */
    r->sessions++;
    AVPacket *pkt = av_packet_alloc();
    while (pkt && av_read_frame(ic, pkt) >= 0) {
        int64_t t = now_ns(CLOCK_MONOTONIC);
        AVStream *st = ic->streams[pkt->stream_index];
        enum AVMediaType type = st->codecpar->codec_type;
        if (type != AVMEDIA_TYPE_VIDEO && type != AVMEDIA_TYPE_AUDIO) {
            av_packet_unref(pkt);
            continue;
        }
        uint64_t h = fnv1a(pkt->data, pkt->size);
        if (r->watch) {
            int64_t dts_ms = pkt->dts == AV_NOPTS_VALUE
                                 ? -1
                                 : av_rescale_q(pkt->dts, st->time_base, (AVRational){1, 1000});
            int64_t pts_ms = pkt->pts == AV_NOPTS_VALUE
                                 ? -1
                                 : av_rescale_q(pkt->pts, st->time_base, (AVRational){1, 1000});
            pthread_mutex_lock(&out_lock);
            printf("%d %.6f %c %" PRId64 " %d %d %d %" PRId64 " %016" PRIx64 "\n", r->index,
                   now_ns(CLOCK_REALTIME) / 1e9, type == AVMEDIA_TYPE_VIDEO ? 'v' : 'a', dts_ms,
                   (pkt->flags & AV_PKT_FLAG_KEY) ? 1 : 0, r->sessions, pkt->size, pts_ms, h);
            pthread_mutex_unlock(&out_lock);
        } else {
            keep(r, t, h);
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    while (!past_deadline(NULL)) {
        read_session(r);
        if (!r->watch && r->sessions > 0)
            break; /* latency: one session is the measurement */
        usleep(20000);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = ((const arrival *)a)->hash, y = ((const arrival *)b)->hash;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.5);
    k = k == 0 ? 0 : k - 1;
    if (k >= n)
        k = n - 1;
    return v[k] / 1e6;
}

static int run_latency(reader *src, reader *dst)
{
    qsort(src->a, src->n, sizeof(arrival), cmp_u64);
    int64_t *lat = malloc((dst->n + 1) * sizeof(int64_t));
    size_t m = 0, unmatched = 0;
    double sum = 0;
    for (size_t i = 0; i < dst->n; i++) {
        arrival key = dst->a[i];
        arrival *hit = bsearch(&key, src->a, src->n, sizeof(arrival), cmp_u64);
        if (!hit) {
            unmatched++;
            continue;
        }
        lat[m] = dst->a[i].t_ns - hit->t_ns;
        sum += lat[m];
        m++;
    }
    qsort(lat, m, sizeof(int64_t), cmp_i64);
    printf("{\"src_packets\": %zu, \"dst_packets\": %zu, \"matched\": %zu, \"unmatched\": %zu, "
           "\"min_ms\": %.3f, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"max_ms\": %.3f, \"mean_ms\": %.3f}\n",
           src->n, dst->n, m, unmatched, pct(lat, m, 0), pct(lat, m, 50), pct(lat, m, 90),
           pct(lat, m, 99), pct(lat, m, 100), m ? sum / m / 1e6 : -1.0);
    free(lat);
    return m > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "latency") && strcmp(argv[1], "watch"))) {
        fprintf(stderr, "usage: probe latency SECONDS SRC DST | probe watch SECONDS URL...\n");
        return 2;
    }
    int watch = strcmp(argv[1], "watch") == 0;
    int nurls = argc - 3;
    if ((!watch && nurls != 2) || nurls > MAX_URLS) {
        fprintf(stderr, "probe: wrong number of URLs\n");
        return 2;
    }
    av_log_set_level(AV_LOG_QUIET);
    avformat_network_init();
    deadline_ns = now_ns(CLOCK_MONOTONIC) + (int64_t)(atof(argv[2]) * 1e9);
    reader r[MAX_URLS];
    pthread_t th[MAX_URLS];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < nurls; i++) {
        r[i].url = argv[3 + i];
        r[i].index = i;
        r[i].watch = watch;
        pthread_create(&th[i], NULL, reader_main, &r[i]);
    }
    for (int i = 0; i < nurls; i++)
        pthread_join(th[i], NULL);
    fflush(stdout);
    int rc = watch ? 0 : run_latency(&r[0], &r[1]);
    for (int i = 0; i < nurls; i++)
        free(r[i].a);
    avformat_network_deinit();
    return rc;
}
