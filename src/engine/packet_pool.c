/* packet_pool.c — size-class pools of packet buffers (FFmpeg's AVBufferPool, thread-safe),
 * with a small per-thread stash of whole references in front. See packet_pool.h. */
#include "engine/packet_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>

#define POOL_MIN_SHIFT 11 /* 2 KiB */
#define POOL_CLASSES 8    /* ... to 256 KiB; larger payloads (big keyframes) use malloc */
#define STASH_BYTES ((size_t)128 << 10) /* per class and thread: 64 x 2 KiB ... 2 x 256 KiB */
#define STASH_MIN 2
#define STASH_MAX 64

static struct {
    pthread_once_t once;
    pthread_key_t stash_key; /* its destructor empties a thread's stash when it ends */
    AVBufferPool *by_class[POOL_CLASSES];
} pools = {.once = PTHREAD_ONCE_INIT};

/* Whole references (AVBufferRef and buffer, neither shared) of each class that this thread
 * released: the next buffer of that class is one of them, so a packet's payload costs
 * neither the pool's lock nor FFmpeg's allocation of a reference. */
typedef struct {
    AVBufferRef *refs[POOL_CLASSES][STASH_MAX];
    int n[POOL_CLASSES];
    bool keyed;
    bool allocates; /* this thread takes pooled buffers: only then is a stash of use */
} stash;

static _Thread_local stash tls_stash;

static size_t class_size(int c)
{
    return (size_t)1 << (POOL_MIN_SHIFT + c);
}

static int stash_cap(int c)
{
    size_t n = STASH_BYTES >> (POOL_MIN_SHIFT + c);
    return n < STASH_MIN ? STASH_MIN : n > STASH_MAX ? STASH_MAX : (int)n;
}

static void stash_empty(void *arg)
{
    stash *s = arg;
    for (int c = 0; c < POOL_CLASSES; c++)
        while (s->n[c] > 0)
            av_buffer_unref(&s->refs[c][--s->n[c]]);
}

static void pools_init(void)
{
    pthread_key_create(&pools.stash_key, stash_empty);
    for (int c = 0; c < POOL_CLASSES; c++)
        pools.by_class[c] = av_buffer_pool_init(class_size(c), NULL);
}

/* The smallest class holding n bytes, or -1. */
static int pool_class(size_t n)
{
    for (int c = 0; c < POOL_CLASSES; c++)
        if (n <= class_size(c))
            return c;
    return -1;
}

/* The class whose size a reference has exactly, or -1. */
static int ref_class(const AVBufferRef *ref)
{
    size_t n = ref->size;
    if (n < class_size(0) || n > class_size(POOL_CLASSES - 1) || (n & (n - 1)) != 0)
        return -1;
    return __builtin_ctzll((unsigned long long)n) - POOL_MIN_SHIFT;
}

AVBufferRef *packet_pool_buffer(size_t size)
{
    if (size > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
        return NULL;
    pthread_once(&pools.once, pools_init);
    int c = pool_class(size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (c < 0)
        return NULL;
    stash *s = &tls_stash;
    s->allocates = true;
    AVBufferRef *buf = s->n[c] > 0         ? s->refs[c][--s->n[c]]
                       : pools.by_class[c] ? av_buffer_pool_get(pools.by_class[c])
                                           : NULL;
    if (buf)
        memset(buf->data + size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    return buf;
}

/* Keeps *ref in this thread's stash when the thread takes pooled buffers (a thread that only
 * releases them, such as a writer, would hoard them), nobody else holds its buffer and its
 * size is a class's: any such buffer is plain memory of that size, whoever allocated it. */
static bool stash_put(AVBufferRef **ref)
{
    stash *s = &tls_stash;
    int c = ref_class(*ref);
    if (!s->allocates || c < 0 || !av_buffer_is_writable(*ref))
        return false;
    if (s->n[c] >= stash_cap(c))
        return false;
    if (!s->keyed) {
        pthread_once(&pools.once, pools_init);
        pthread_setspecific(pools.stash_key, s);
        s->keyed = true;
    }
    s->refs[c][s->n[c]++] = *ref;
    *ref = NULL;
    return true;
}

/* A packet that holds no reference of any kind any more: blank it as av_packet_unref
 * would, without its calls. */
static bool holds_nothing(const AVPacket *pkt)
{
    return !pkt->buf && !pkt->side_data && pkt->side_data_elems == 0 && !pkt->opaque_ref;
}

void packet_pool_unref(AVPacket *pkt)
{
    static const AVPacket blank = {
        .pts = AV_NOPTS_VALUE, .dts = AV_NOPTS_VALUE, .pos = -1, .time_base = {0, 1}};
    if (pkt->buf)
        stash_put(&pkt->buf);
    if (holds_nothing(pkt))
        *pkt = blank;
    else
        av_packet_unref(pkt);
}

int packet_pool_new(AVPacket *pkt, int size)
{
    if (size < 0 || size > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
        return AVERROR(EINVAL);
    AVBufferRef *buf = packet_pool_buffer((size_t)size);
    if (!buf)
        return av_new_packet(pkt, size);
    pkt->buf = buf;
    pkt->data = buf->data;
    pkt->size = size;
    return 0;
}
