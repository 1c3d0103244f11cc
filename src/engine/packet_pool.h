/* packet_pool.h — packet payloads from a few process-wide pools by size class, so the RTMP
 * source path does not malloc and free a large block per packet (packet_pool.c). */
#ifndef FERRY_ENGINE_PACKET_POOL_H
#define FERRY_ENGINE_PACKET_POOL_H

#include <libavcodec/packet.h>

/* Like av_new_packet on a blank pkt: size bytes (plus zeroed padding) from the smallest
 * pool that fits, or from av_new_packet past the largest class. 0 or AVERROR(ENOMEM). */
int packet_pool_new(AVPacket *pkt, int size);
/* A pooled buffer of at least size bytes with the padding after them zeroed, or NULL when
 * size is past the largest class (or out of memory). */
AVBufferRef *packet_pool_buffer(size_t size);
/* Like av_packet_unref, but a payload buffer that only pkt holds, of a class's size, is
 * kept for this thread's next packet_pool_buffer of that class (a few per class). */
void packet_pool_unref(AVPacket *pkt);

#endif
