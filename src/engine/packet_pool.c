/* packet_pool.c — size-class pools of packet buffers (FFmpeg's AVBufferPool, thread-safe):
 * a freed payload goes back to its pool instead of to malloc. See packet_pool.h. */
#include "engine/packet_pool.h"

#include <pthread.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>

#define POOL_MIN_SHIFT 11 /* 2 KiB */
#define POOL_CLASSES 8    /* ... to 256 KiB; larger payloads (big keyframes) use malloc */

static struct {
    pthread_once_t once;
    AVBufferPool *by_class[POOL_CLASSES];
} pools = {.once = PTHREAD_ONCE_INIT};

static void pools_init(void)
{
    for (int c = 0; c < POOL_CLASSES; c++)
        pools.by_class[c] = av_buffer_pool_init((size_t)1 << (POOL_MIN_SHIFT + c), NULL);
}

/* The smallest class holding n bytes, or -1. */
static int pool_class(size_t n)
{
    for (int c = 0; c < POOL_CLASSES; c++)
        if (n <= (size_t)1 << (POOL_MIN_SHIFT + c))
            return c;
    return -1;
}

AVBufferRef *packet_pool_buffer(size_t size)
{
    if (size > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
        return NULL;
    pthread_once(&pools.once, pools_init);
    int c = pool_class(size + AV_INPUT_BUFFER_PADDING_SIZE);
    AVBufferRef *buf = c >= 0 && pools.by_class[c] ? av_buffer_pool_get(pools.by_class[c]) : NULL;
    if (buf)
        memset(buf->data + size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    return buf;
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
