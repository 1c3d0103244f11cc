/* rtmp_chunk.c — RTMP chunk streams: an incremental reader (any split of the input, bounded
 * chunk streams and message sizes, protocol control, the ack window) and a chunk writer. */
#include "engine/rtmp.h"

#include "engine/packet_pool.h"

#include <libavcodec/defs.h>
#include <libavutil/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- bytes ---------- */

int rtmp_buf_reserve(rtmp_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (b->head > 0) { /* reclaim what was consumed first */
        memmove(b->data, b->data + b->head, b->len - b->head);
        b->len -= b->head;
        b->head = 0;
        if (b->cap - b->len >= extra)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return RTMP_ERR_NOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int rtmp_buf_append(rtmp_buf *b, const void *p, size_t n)
{
    if (rtmp_buf_reserve(b, n) != 0)
        return RTMP_ERR_NOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void rtmp_buf_consume(rtmp_buf *b, size_t n)
{
    b->head += n < b->len - b->head ? n : b->len - b->head;
    if (b->head == b->len)
        b->head = b->len = 0;
}

void rtmp_buf_free(rtmp_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static uint32_t be(const uint8_t *p, int k)
{
    uint32_t v = 0;
    for (int i = 0; i < k; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be(uint8_t *p, uint32_t v, int k)
{
    for (int i = 0; i < k; i++)
        p[i] = (uint8_t)(v >> (8 * (k - 1 - i)));
}

/* ---------- reader ---------- */

#define RTMP_TRIM_CAP (1024 * 1024)

static int rd_fail(rtmp_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return code;
}

void rtmp_reader_init(rtmp_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->chunk_size = RTMP_DEFAULT_CHUNK;
}

void rtmp_reader_free(rtmp_reader *r)
{
    for (int i = 0; i < r->n_cs; i++) {
        free(r->cs[i].buf);
        av_buffer_unref(&r->cs[i].ref);
    }
    av_buffer_unref(&r->done);
    rtmp_reader_init(r);
}

static rtmp_chunk_stream *rd_find(rtmp_reader *r, uint32_t csid)
{
    if (r->last && r->last->csid == csid)
        return r->last;
    for (int i = 0; i < r->n_cs; i++)
        if (r->cs[i].csid == csid)
            return r->last = &r->cs[i];
    return NULL;
}

static int hdr_basic_size(const rtmp_reader *r)
{
    int low = r->hdr[0] & 63;
    return low == 0 ? 2 : low == 1 ? 3 : 1;
}

static uint32_t hdr_csid(const rtmp_reader *r)
{
    int low = r->hdr[0] & 63;
    if (low > 1)
        return (uint32_t)low;
    return 64 + r->hdr[1] + (low == 1 ? 256u * r->hdr[2] : 0);
}

/* How many header bytes this chunk has, as far as the bytes so far tell. */
static size_t hdr_need(rtmp_reader *r)
{
    static const size_t msg_hdr[4] = {11, 7, 3, 0};
    int fmt = r->hdr[0] >> 6;
    size_t basic = (size_t)hdr_basic_size(r);
    if (r->hdr_got < basic)
        return basic;
    size_t base = basic + msg_hdr[fmt];
    if (r->hdr_got < base)
        return base;
    bool ext;
    if (fmt < 3) {
        ext = be(r->hdr + basic, 3) == 0xffffff;
    } else {
        rtmp_chunk_stream *cs = rd_find(r, hdr_csid(r));
        ext = cs && cs->ext;
    }
    return base + (ext ? 4 : 0);
}

static rtmp_chunk_stream *rd_open(rtmp_reader *r, uint32_t csid, int fmt, int *rc)
{
    rtmp_chunk_stream *cs = rd_find(r, csid);
    if (cs)
        return cs;
    if (fmt != 0) {
        *rc = rd_fail(r, RTMP_ERR_MALFORMED,
                      "chunk stream %u starts with a type %d header (a new chunk stream needs "
                      "type 0)",
                      csid, fmt);
        return NULL;
    }
    if (r->n_cs >= RTMP_MAX_CHUNK_STREAMS) {
        *rc = rd_fail(r, RTMP_ERR_LIMIT, "the server opened more than %d chunk streams",
                      RTMP_MAX_CHUNK_STREAMS);
        return NULL;
    }
    cs = &r->cs[r->n_cs++];
    memset(cs, 0, sizeof(*cs));
    cs->csid = csid;
    return cs;
}

/* Applies a complete chunk header to its chunk stream. */
static int rd_header(rtmp_reader *r)
{
    int fmt = r->hdr[0] >> 6, rc = 0;
    uint32_t csid = hdr_csid(r);
    rtmp_chunk_stream *cs = rd_open(r, csid, fmt, &rc);
    if (!cs)
        return rc;
    const uint8_t *h = r->hdr + hdr_basic_size(r);
    if (fmt < 3)
        cs->got = 0; /* a new header in the middle of a message drops it, as Abort would */
    if (fmt < 3) {
        uint32_t field = be(h, 3);
        cs->ext = field == 0xffffff;
        cs->ts_field = cs->ext ? be(h + (fmt == 0 ? 11 : fmt == 1 ? 7 : 3), 4) : field;
        if (fmt <= 1) {
            cs->len = be(h + 3, 3);
            cs->type = h[6];
        }
        if (fmt == 0) {
            cs->stream_id = h[7] | h[8] << 8 | h[9] << 16 | (uint32_t)h[10] << 24;
            cs->ts = cs->ts_field;
            cs->delta = 0;
        } else {
            cs->delta = cs->ts_field;
            cs->ts += cs->delta;
        }
    } else if (cs->got == 0) {
        cs->ts += cs->delta; /* a new message on a type 3 header repeats the last delta */
    }
    if (cs->len > RTMP_MAX_MESSAGE)
        return rd_fail(r, RTMP_ERR_LIMIT,
                       "chunk stream %u declares a message of %u bytes (the limit is %d)", csid,
                       cs->len, RTMP_MAX_MESSAGE);
    r->cur = cs;
    r->chunk_left = cs->len - cs->got < r->chunk_size ? cs->len - cs->got : r->chunk_size;
    return 0;
}

/* A buffer much larger than the message starting in it is given back first, so one large
 * message long ago does not keep counting against the connection's total. */
static void rd_trim(rtmp_reader *r, rtmp_chunk_stream *cs)
{
    if (cs->got != 0 || cs->cap <= RTMP_TRIM_CAP || cs->len >= cs->cap / 4)
        return;
    r->held -= cs->cap;
    free(cs->buf);
    cs->buf = NULL;
    cs->cap = 0;
}

static int rd_grow(rtmp_reader *r, rtmp_chunk_stream *cs, size_t take)
{
    size_t cap = cs->cap ? cs->cap * 2 : 256;
    if (cap < cs->got + take)
        cap = cs->got + take;
    if (cap > cs->len)
        cap = cs->len;
    if (r->held - cs->cap + cap > RTMP_MAX_HELD)
        return rd_fail(r, RTMP_ERR_LIMIT,
                       "the server's unfinished messages would take more than %d bytes "
                       "(chunk stream %u, a message of %u bytes)",
                       RTMP_MAX_HELD, cs->csid, cs->len);
    uint8_t *b = realloc(cs->buf, cap);
    if (!b)
        return rd_fail(r, RTMP_ERR_NOMEM, "out of memory for a %u byte message", cs->len);
    r->held = r->held - cs->cap + cap;
    cs->buf = b;
    cs->cap = cap;
    return 0;
}

/* At a message's first byte: an audio or video message that fits a pool class is read
 * straight into a pooled buffer, which its packet then takes by reference (no copy). The
 * buffer counts against RTMP_MAX_HELD like any other; past it the message goes the common
 * way, which reports the limit. */
static void rd_media_start(rtmp_reader *r, rtmp_chunk_stream *cs)
{
    if (cs->ref) { /* a message dropped half-way */
        r->held -= (size_t)cs->ref->size;
        av_buffer_unref(&cs->ref);
    }
    if (cs->type != RTMP_MSG_AUDIO && cs->type != RTMP_MSG_VIDEO)
        return;
    if (r->held + cs->len + AV_INPUT_BUFFER_PADDING_SIZE > RTMP_MAX_HELD)
        return;
    cs->ref = packet_pool_buffer(cs->len);
    if (cs->ref)
        r->held += (size_t)cs->ref->size;
}

static int rd_payload(rtmp_reader *r, const uint8_t *p, size_t take)
{
    rtmp_chunk_stream *cs = r->cur;
    if (cs->got == 0)
        rd_media_start(r, cs);
    if (cs->ref) {
        memcpy(cs->ref->data + cs->got, p, take);
        cs->got += take;
        r->chunk_left -= take;
        return 0;
    }
    rd_trim(r, cs);
    if (cs->cap - cs->got < take) {
        int rc = rd_grow(r, cs, take);
        if (rc < 0)
            return rc;
    }
    memcpy(cs->buf + cs->got, p, take);
    cs->got += take;
    r->chunk_left -= take;
    return 0;
}

/* Protocol control that changes how the reader reads. */
static int rd_control(rtmp_reader *r, const rtmp_msg *m)
{
    if (m->type != RTMP_MSG_SET_CHUNK_SIZE && m->type != RTMP_MSG_ABORT &&
        m->type != RTMP_MSG_WINDOW_ACK)
        return 0;
    if (m->len < 4)
        return rd_fail(r, RTMP_ERR_MALFORMED, "protocol control message %d of %zu bytes", m->type,
                       m->len);
    uint32_t v = be(m->data, 4);
    if (m->type == RTMP_MSG_SET_CHUNK_SIZE) {
        if (v == 0 || v > 0x7fffffff)
            return rd_fail(r, RTMP_ERR_MALFORMED,
                           "the server set a chunk size of %u (valid: 1 to 2^31-1)", v);
        r->chunk_size = v > RTMP_MAX_CHUNK_SIZE ? RTMP_MAX_CHUNK_SIZE : v;
    } else if (m->type == RTMP_MSG_ABORT) {
        rtmp_chunk_stream *cs = rd_find(r, v);
        if (cs)
            cs->got = 0;
    } else {
        r->window = v;
    }
    return 0;
}

static int rd_complete(rtmp_reader *r, rtmp_msg *msg)
{
    rtmp_chunk_stream *cs = r->cur;
    *msg = (rtmp_msg){.csid = cs->csid,
                      .type = cs->type,
                      .stream_id = cs->stream_id,
                      .timestamp = cs->ts,
                      .data = cs->buf ? cs->buf : (const uint8_t *)"", /* never NULL */
                      .len = cs->len};
    if (cs->ref && cs->len > 0) { /* the pooled buffer is the reader's until its next call */
        r->held -= (size_t)cs->ref->size;
        av_buffer_unref(&r->done);
        r->done = cs->ref;
        cs->ref = NULL;
        msg->data = r->done->data;
        msg->ref = &r->done;
    }
    cs->got = 0;
    r->cur = NULL;
    r->hdr_got = 0;
    int rc = rd_control(r, msg);
    return rc < 0 ? rc : 1;
}

/* Takes the chunk header's bytes from p as far as they go: as many at once as the bytes so
 * far say the header has (hdr_need grows as they tell more). True when it is complete. */
static bool rd_header_bytes(rtmp_reader *r, const uint8_t *p, size_t n, size_t *pos)
{
    size_t need = r->hdr_got ? hdr_need(r) : 1;
    while (r->hdr_got < need && *pos < n) {
        size_t k = need - r->hdr_got < n - *pos ? need - r->hdr_got : n - *pos;
        for (size_t i = 0; i < k; i++)
            r->hdr[r->hdr_got + i] = p[*pos + i];
        r->hdr_got += k;
        *pos += k;
        need = hdr_need(r);
    }
    return r->hdr_got >= need;
}

static int rd_step(rtmp_reader *r, const uint8_t *p, size_t n, size_t *pos, rtmp_msg *msg)
{
    if (!r->cur) {
        if (!rd_header_bytes(r, p, n, pos))
            return 0;
        int rc = rd_header(r);
        if (rc < 0)
            return rc;
    } else {
        size_t take = n - *pos < r->chunk_left ? n - *pos : r->chunk_left;
        int rc = rd_payload(r, p + *pos, take);
        if (rc < 0)
            return rc;
        *pos += take;
    }
    if (r->cur->got == r->cur->len)
        return rd_complete(r, msg);
    if (r->chunk_left == 0) {
        r->cur = NULL;
        r->hdr_got = 0;
    }
    return 0;
}

int rtmp_reader_feed(rtmp_reader *r, const uint8_t *p, size_t n, size_t *used, rtmp_msg *msg)
{
    size_t pos = 0;
    av_buffer_unref(&r->done); /* the last message's, unless the caller took it */
    int rc = r->err[0] ? RTMP_ERR_MALFORMED : 0;
    while (rc == 0 && pos < n)
        rc = rd_step(r, p, n, &pos, msg);
    r->bytes_in += pos;
    *used = pos;
    return rc;
}

bool rtmp_reader_ack_due(rtmp_reader *r, uint32_t *seq)
{
    if (r->window == 0 || r->bytes_in - r->acked_at < r->window)
        return false;
    r->acked_at = r->bytes_in;
    *seq = (uint32_t)r->bytes_in;
    return true;
}

/* ---------- writer ---------- */

void rtmp_writer_init(rtmp_writer *w)
{
    memset(w, 0, sizeof(*w));
    w->chunk_size = RTMP_DEFAULT_CHUNK;
}

static size_t put_basic(uint8_t *h, int fmt, uint32_t csid)
{
    if (csid < 64) {
        h[0] = (uint8_t)(fmt << 6 | csid);
        return 1;
    }
    uint32_t v = csid - 64;
    h[0] = (uint8_t)(fmt << 6 | (v > 255 ? 1 : 0));
    h[1] = (uint8_t)v;
    if (v <= 255)
        return 2;
    h[2] = (uint8_t)(v >> 8);
    return 3;
}

/* The first chunk's header: the smallest format the last message on csid allows. */
static size_t put_first_header(rtmp_writer *w, uint8_t *h, const rtmp_msg *m, bool *ext)
{
    struct rtmp_last_header *l = m->csid < RTMP_MAX_CHUNK_STREAMS ? &w->last[m->csid] : NULL;
    int fmt = 0;
    uint32_t field = m->timestamp;
    if (l && l->used && l->stream_id == m->stream_id && m->timestamp >= l->ts) {
        fmt = l->type == m->type && l->len == m->len ? 2 : 1;
        field = m->timestamp - l->ts;
    }
    *ext = field >= 0xffffff;
    size_t k = put_basic(h, fmt, m->csid);
    put_be(h + k, *ext ? 0xffffff : field, 3);
    k += 3;
    if (fmt <= 1) {
        put_be(h + k, (uint32_t)m->len, 3);
        h[k + 3] = m->type;
        k += 4;
    }
    if (fmt == 0) {
        for (int i = 0; i < 4; i++)
            h[k + i] = (uint8_t)(m->stream_id >> (8 * i));
        k += 4;
    }
    if (*ext)
        put_be(h + k, field, 4), k += 4;
    if (l)
        *l = (struct rtmp_last_header){true, m->type, m->stream_id, (uint32_t)m->len, m->timestamp};
    return k;
}

/* take bytes of the payload head || body from off on, to dst. */
static void copy_parts(uint8_t *dst, const uint8_t *head, size_t hlen, const uint8_t *body,
                       size_t off, size_t take)
{
    if (off < hlen) {
        size_t n = hlen - off < take ? hlen - off : take;
        memcpy(dst, head + off, n);
        dst += n;
        take -= n;
        off = hlen;
    }
    if (take)
        memcpy(dst, body + (off - hlen), take);
}

int rtmp_write_parts(rtmp_writer *w, rtmp_buf *out, const rtmp_msg *m, const uint8_t *head,
                     size_t hlen)
{
    if (m->csid < 2 || m->csid > 65599 || m->len > 0xffffff || hlen > m->len)
        return RTMP_ERR_LIMIT;
    size_t chunks = m->len / w->chunk_size + 1;
    if (rtmp_buf_reserve(out, m->len + chunks * 18) != 0)
        return RTMP_ERR_NOMEM;
    uint8_t *h = out->data + out->len;
    bool ext;
    uint32_t ext_field = m->timestamp;
    size_t k = put_first_header(w, h, m, &ext);
    if (ext)
        ext_field = be(h + k - 4, 4);
    for (size_t off = 0;;) {
        size_t take = m->len - off < w->chunk_size ? m->len - off : w->chunk_size;
        if (take)
            copy_parts(h + k, head, hlen, m->data, off, take);
        h += k + take;
        off += take;
        if (off >= m->len)
            break;
        k = put_basic(h, 3, m->csid);
        if (ext) /* type 3 chunks repeat the extended timestamp */
            put_be(h + k, ext_field, 4), k += 4;
    }
    out->len = (size_t)(h - out->data);
    return 0;
}

int rtmp_write_message(rtmp_writer *w, rtmp_buf *out, const rtmp_msg *m)
{
    return rtmp_write_parts(w, out, m, NULL, 0);
}

int rtmp_write_control(rtmp_writer *w, rtmp_buf *out, uint8_t type, uint32_t value)
{
    uint8_t d[4];
    put_be(d, value, 4);
    rtmp_msg m = {.csid = 2, .type = type, .data = d, .len = 4};
    return rtmp_write_message(w, out, &m);
}

int rtmp_write_chunk_size(rtmp_writer *w, rtmp_buf *out, uint32_t size)
{
    if (size == 0 || size > RTMP_MAX_CHUNK_SIZE)
        return RTMP_ERR_LIMIT;
    int rc = rtmp_write_control(w, out, RTMP_MSG_SET_CHUNK_SIZE, size);
    if (rc == 0)
        w->chunk_size = size;
    return rc;
}

int rtmp_write_user_control(rtmp_writer *w, rtmp_buf *out, uint16_t event, uint32_t a, uint32_t b,
                            bool has_b)
{
    uint8_t d[10];
    put_be(d, event, 2);
    put_be(d + 2, a, 4);
    put_be(d + 6, b, 4);
    rtmp_msg m = {.csid = 2, .type = RTMP_MSG_USER_CONTROL, .data = d, .len = has_b ? 10 : 6};
    return rtmp_write_message(w, out, &m);
}
