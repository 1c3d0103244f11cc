/* test_rtmp.c — ferry's RTMP core without sockets: AMF0 round trips and limits, the chunk
 * reader on hand-made and written streams in any split, the handshake and scripted sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libavcodec/defs.h>
#include <libavutil/buffer.h>

#include "engine/rtmp.h"

/* ---------- helpers ---------- */

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void put_be(rtmp_buf *b, uint32_t v, int k)
{
    for (int i = k - 1; i >= 0; i--) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        rtmp_buf_append(b, &c, 1);
    }
}

/* One chunk, written by hand (not by the writer under test). */
static void raw_chunk(rtmp_buf *b, int fmt, uint32_t csid, uint32_t ts, uint32_t len, uint8_t type,
                      uint32_t sid, bool ext, const void *payload, size_t plen)
{
    if (csid < 64) {
        put_be(b, (uint32_t)(fmt << 6) | csid, 1);
    } else if (csid < 320) {
        put_be(b, (uint32_t)(fmt << 6), 1);
        put_be(b, csid - 64, 1);
    } else {
        put_be(b, (uint32_t)(fmt << 6) | 1, 1);
        put_be(b, (csid - 64) & 0xff, 1);
        put_be(b, (csid - 64) >> 8, 1);
    }
    if (fmt < 3)
        put_be(b, ext ? 0xffffff : ts, 3);
    if (fmt < 2) {
        put_be(b, len, 3);
        put_be(b, type, 1);
    }
    if (fmt == 0)
        for (int i = 0; i < 4; i++)
            put_be(b, (sid >> (8 * i)) & 0xff, 1);
    if (ext)
        put_be(b, ts, 4);
    rtmp_buf_append(b, payload, plen);
}

typedef struct got {
    rtmp_msg m[64];
    uint8_t *data[64];
    int n;
    int rc;
    char err[RTMP_ERR_LEN];
} got;

static void got_free(got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
}

/* Feeds p to a fresh reader in pieces of the given sizes (0 = random 1..max). */
static void read_all(const uint8_t *p, size_t n, size_t piece, got *g)
{
    rtmp_reader r;
    rtmp_reader_init(&r);
    memset(g, 0, sizeof(*g));
    for (size_t off = 0; off < n && g->rc >= 0;) {
        size_t k = piece ? piece : 1 + rng() % 700;
        if (k > n - off)
            k = n - off;
        size_t pos = 0;
        while (pos < k) {
            size_t used;
            rtmp_msg m;
            int rc = rtmp_reader_feed(&r, p + off + pos, k - pos, &used, &m);
            pos += used;
            if (rc < 0) {
                g->rc = rc;
                snprintf(g->err, sizeof(g->err), "%s", r.err);
                break;
            }
            if (rc == 1 && g->n < 64) {
                g->m[g->n] = m;
                g->data[g->n] = malloc(m.len + 1);
                memcpy(g->data[g->n], m.data, m.len);
                g->m[g->n].data = g->data[g->n];
                g->n++;
            }
            if (rc == 0)
                break;
        }
        off += k;
    }
    rtmp_reader_free(&r);
}

/* ---------- the byte buffer ---------- */

static void test_buf_consume_and_grow(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    uint8_t x[5000];
    for (size_t i = 0; i < sizeof(x); i++)
        x[i] = (uint8_t)i;
    assert_int_equal(rtmp_buf_append(&b, x, sizeof(x)), 0);
    rtmp_buf_consume(&b, 4000); /* as if a write took 4000 */
    assert_int_equal(rtmp_buf_size(&b), 1000);
    assert_int_equal(rtmp_buf_bytes(&b)[0], (uint8_t)4000);
    assert_int_equal(rtmp_buf_append(&b, x, sizeof(x)), 0); /* reclaims, then grows */
    assert_int_equal(rtmp_buf_size(&b), 6000);
    assert_memory_equal(rtmp_buf_bytes(&b), x + 4000, 1000);
    assert_memory_equal(rtmp_buf_bytes(&b) + 1000, x, 5000);
    rtmp_buf_consume(&b, 99999);
    assert_int_equal(rtmp_buf_size(&b), 0);
    assert_int_equal(b.len, 0);
    rtmp_buf_free(&b);
}

/* ---------- AMF ---------- */

static void build_all_types(rtmp_buf *b)
{
    amf_put_string(b, "onMetaData");
    amf_put_number(b, -1.5);
    amf_put_bool(b, true);
    amf_put_null(b);
    uint8_t undef = AMF_UNDEFINED, date[11] = {AMF_DATE, 0x42, 0x78, 0, 0, 0, 0, 0, 0, 0xff, 0xc4};
    rtmp_buf_append(b, &undef, 1);
    rtmp_buf_append(b, date, sizeof(date));
    amf_put_object_start(b);
    amf_put_key(b, "code");
    amf_put_string(b, "NetStream.Play.Start");
    amf_put_key(b, "inner");
    amf_put_object_start(b);
    amf_put_key(b, "n");
    amf_put_number(b, 7);
    amf_put_object_end(b);
    amf_put_object_end(b);
    uint8_t ecma[] = {AMF_ECMA_ARRAY, 0,    0,    0, 1, 0, 5, 'w', 'i', 'd', 't', 'h',
                      AMF_NUMBER,     0x40, 0x94, 0, 0, 0, 0, 0,   0,   0,   0,   AMF_OBJECT_END};
    rtmp_buf_append(b, ecma, sizeof(ecma));
    uint8_t strict[] = {AMF_STRICT_ARRAY, 0, 0, 0, 2, AMF_NULL, AMF_BOOLEAN, 0};
    rtmp_buf_append(b, strict, sizeof(strict));
    char *big = malloc(70001);
    memset(big, 'x', 70000);
    big[70000] = '\0';
    amf_put_string(b, big); /* a long string */
    free(big);
}

static void test_amf_round_trip(void **state)
{
    (void)state;
    rtmp_buf in = {0}, out = {0};
    build_all_types(&in);
    amf_value v;
    char err[128];
    assert_int_equal(amf_decode_all(in.data, in.len, &v, err, sizeof(err)), 0);
    assert_int_equal(v.n, 10);
    assert_string_equal(v.items[0].str, "onMetaData");
    assert_true(v.items[1].num == -1.5);
    assert_true(v.items[2].boolean);
    assert_int_equal(v.items[3].type, AMF_NULL);
    assert_int_equal(v.items[4].type, AMF_UNDEFINED);
    assert_int_equal(v.items[5].type, AMF_DATE);
    assert_int_equal(v.items[5].tz, -60);
    assert_string_equal(amf_get_str(&v.items[6], "code"), "NetStream.Play.Start");
    assert_true(amf_get(amf_get(&v.items[6], "inner"), "n")->num == 7);
    assert_true(amf_get(&v.items[7], "width")->num == 1280);
    assert_int_equal(v.items[8].n, 2);
    assert_int_equal(v.items[9].type, AMF_LONG_STRING);
    assert_int_equal(v.items[9].len, 70000);
    for (size_t i = 0; i < v.n; i++)
        assert_int_equal(amf_encode(&out, &v.items[i]), 0);
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.data, in.data, in.len);
    amf_free(&v);
    rtmp_buf_free(&in);
    rtmp_buf_free(&out);
}

static void test_amf_depth_limit(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    for (int i = 0; i < 10000; i++) { /* {"a": {"a": ... */
        amf_put_object_start(&b);
        amf_put_key(&b, "a");
    }
    amf_value v;
    char err[128] = "";
    assert_int_equal(amf_decode(b.data, b.len, &v, NULL, err, sizeof(err)), RTMP_ERR_LIMIT);
    assert_non_null(strstr(err, "nesting deeper than 16"));
    b.len = 0;
    for (int i = 0; i < 10000; i++) {
        uint8_t arr[] = {AMF_STRICT_ARRAY, 0, 0, 0, 1};
        rtmp_buf_append(&b, arr, sizeof(arr));
    }
    assert_int_equal(amf_decode_all(b.data, b.len, &v, err, sizeof(err)), RTMP_ERR_LIMIT);
    rtmp_buf_free(&b);
}

static void test_amf_malformed(void **state)
{
    (void)state;
    amf_value v;
    char err[128] = "";
    const uint8_t cut_string[] = {AMF_STRING, 0x10, 0x00, 'a'};
    assert_int_equal(amf_decode(cut_string, sizeof(cut_string), &v, NULL, err, sizeof(err)),
                     RTMP_ERR_MALFORMED);
    assert_non_null(strstr(err, "runs past the end"));
    const uint8_t huge_array[] = {AMF_STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff, AMF_NULL};
    assert_int_equal(amf_decode(huge_array, sizeof(huge_array), &v, NULL, err, sizeof(err)),
                     RTMP_ERR_MALFORMED);
    assert_non_null(strstr(err, "declares 4294967295 members"));
    const uint8_t no_end[] = {AMF_OBJECT, 0, 1, 'k', AMF_NULL};
    assert_int_equal(amf_decode(no_end, sizeof(no_end), &v, NULL, err, sizeof(err)),
                     RTMP_ERR_MALFORMED);
    const uint8_t amf3[] = {0x11};
    assert_int_equal(amf_decode(amf3, 1, &v, NULL, err, sizeof(err)), RTMP_ERR_MALFORMED);
    assert_non_null(strstr(err, "0x11"));
    assert_int_equal(amf_decode(amf3, 0, &v, NULL, err, sizeof(err)), RTMP_ERR_MALFORMED);
}

/* ---------- chunk reader on hand-made streams ---------- */

/* fmt 0/1/2/3 on 1-, 2- and 3-byte chunk stream ids, a type 3 header that starts a new
 * message (it repeats the delta), and a message split over chunks at 128. */
static void make_compressed(rtmp_buf *b)
{
    uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    raw_chunk(b, 0, 6, 1000, 4, 9, 1, false, "abcd", 4);
    raw_chunk(b, 1, 6, 40, 3, 8, 0, false, "efg", 3);    /* ts 1040, new len and type */
    raw_chunk(b, 2, 6, 20, 0, 0, 0, false, "hij", 3);    /* ts 1060 */
    raw_chunk(b, 3, 6, 0, 0, 0, 0, false, "klm", 3);     /* ts 1080: the delta again */
    raw_chunk(b, 0, 100, 5, 300, 9, 1, false, big, 128); /* two-byte csid */
    raw_chunk(b, 0, 1000, 7, 2, 18, 1, false, "zz", 2);  /* three-byte csid, interleaved */
    raw_chunk(b, 3, 100, 0, 0, 0, 0, false, big + 128, 128);
    raw_chunk(b, 3, 100, 0, 0, 0, 0, false, big + 256, 44);
}

static void check_compressed(const got *g)
{
    assert_int_equal(g->rc, 0);
    assert_int_equal(g->n, 6);
    const uint32_t ts[] = {1000, 1040, 1060, 1080, 7, 5};
    const uint32_t csid[] = {6, 6, 6, 6, 1000, 100};
    const size_t len[] = {4, 3, 3, 3, 2, 300};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(g->m[i].timestamp, ts[i]);
        assert_int_equal(g->m[i].csid, csid[i]);
        assert_int_equal(g->m[i].len, len[i]);
    }
    assert_int_equal(g->m[1].type, 8);
    assert_int_equal(g->m[3].type, 8);
    assert_int_equal(g->m[0].stream_id, 1);
    assert_memory_equal(g->m[3].data, "klm", 3);
    for (int i = 0; i < 300; i++)
        assert_int_equal(g->m[5].data[i], (uint8_t)i);
}

static void test_chunk_byte_at_a_time(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    make_compressed(&b);
    got g;
    read_all(b.data, b.len, 1, &g);
    check_compressed(&g);
    got_free(&g);
    for (int round = 0; round < 50; round++) {
        read_all(b.data, b.len, 0, &g);
        check_compressed(&g);
        got_free(&g);
    }
    rtmp_buf_free(&b);
}

static void test_chunk_size_change_mid_stream(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    uint8_t big[1000], cs[4] = {0, 0, 0x01, 0xf4}; /* 500 */
    memset(big, 'q', sizeof(big));
    raw_chunk(&b, 0, 4, 0, 200, 8, 1, false, big, 128); /* 200 bytes at the default 128 */
    raw_chunk(&b, 3, 4, 0, 0, 0, 0, false, big, 72);
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_SET_CHUNK_SIZE, 0, false, cs, 4);
    raw_chunk(&b, 0, 4, 33, 1000, 9, 1, false, big, 500); /* now 500 a chunk */
    raw_chunk(&b, 3, 4, 0, 0, 0, 0, false, big, 500);
    got g;
    read_all(b.data, b.len, 1, &g);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.m[1].type, RTMP_MSG_SET_CHUNK_SIZE);
    assert_int_equal(g.m[2].len, 1000);
    assert_int_equal(g.m[2].timestamp, 33);
    got_free(&g);
    rtmp_buf_free(&b);
}

static void test_extended_timestamps(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    uint8_t big[300] = {0};
    const uint32_t t0 = (1u << 24) + 16; /* past 2^24 ms: 4 h 39 min */
    raw_chunk(&b, 0, 7, t0, 300, 9, 1, true, big, 128);
    raw_chunk(&b, 3, 7, t0, 0, 0, 0, true, big, 128); /* type 3 repeats the extended field */
    raw_chunk(&b, 3, 7, t0, 0, 0, 0, true, big, 44);
    raw_chunk(&b, 1, 7, 0x1000000, 5, 9, 0, true, "abcde", 5); /* an extended delta */
    raw_chunk(&b, 2, 7, 33, 0, 0, 0, false, "fghij", 5);       /* back to a 3-byte delta */
    raw_chunk(&b, 0, 8, 0xfffffe, 1, 8, 1, false, "x", 1);     /* just below the marker */
    got g;
    read_all(b.data, b.len, 1, &g);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.m[0].timestamp, t0);
    assert_int_equal(g.m[0].len, 300);
    assert_int_equal(g.m[1].timestamp, t0 + 0x1000000);
    assert_int_equal(g.m[2].timestamp, t0 + 0x1000000 + 33);
    assert_int_equal(g.m[3].timestamp, 0xfffffe);
    got_free(&g);
    rtmp_buf_free(&b);
}

static void test_new_csid_needs_type_0(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    raw_chunk(&b, 1, 9, 10, 3, 8, 0, false, "abc", 3);
    got g;
    read_all(b.data, b.len, 1, &g);
    assert_int_equal(g.rc, RTMP_ERR_MALFORMED);
    assert_string_equal(g.err, "chunk stream 9 starts with a type 1 header (a new chunk stream "
                               "needs type 0)");
    b.len = 0;
    raw_chunk(&b, 3, 300, 0, 0, 0, 0, false, "abc", 3);
    read_all(b.data, b.len, 0, &g);
    assert_int_equal(g.rc, RTMP_ERR_MALFORMED);
    assert_non_null(strstr(g.err, "chunk stream 300 starts with a type 3 header"));
    rtmp_buf_free(&b);
}

static void check_bad_chunk_size(uint32_t size, const char *want)
{
    rtmp_buf b = {0};
    uint8_t v[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8),
                    (uint8_t)size};
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_SET_CHUNK_SIZE, 0, false, v, 4);
    raw_chunk(&b, 0, 3, 0, 1, 8, 0, false, "a", 1);
    got g;
    read_all(b.data, b.len, 1, &g);
    assert_int_equal(g.rc, RTMP_ERR_MALFORMED);
    assert_string_equal(g.err, want);
    assert_int_equal(g.n, 0);
    rtmp_buf_free(&b);
}

static void test_bad_chunk_sizes(void **state)
{
    (void)state;
    check_bad_chunk_size(0, "the server set a chunk size of 0 (valid: 1 to 2^31-1)");
    check_bad_chunk_size(0x80000000u, "the server set a chunk size of 2147483648 (valid: 1 to "
                                      "2^31-1)");
    /* A huge but valid one is capped, and works. */
    rtmp_reader r;
    rtmp_reader_init(&r);
    rtmp_buf b = {0};
    uint8_t v[4] = {0x7f, 0xff, 0xff, 0xff};
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_SET_CHUNK_SIZE, 0, false, v, 4);
    size_t used;
    rtmp_msg m;
    assert_int_equal(rtmp_reader_feed(&r, b.data, b.len, &used, &m), 1);
    assert_int_equal(r.chunk_size, RTMP_MAX_CHUNK_SIZE);
    rtmp_reader_free(&r);
    rtmp_buf_free(&b);
}

static void test_huge_message_and_many_streams(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    raw_chunk(&b, 0, 5, 0, 0xffffff, 9, 1, false, "", 0);
    got g;
    read_all(b.data, b.len, 1, &g);
    assert_int_equal(g.rc, RTMP_ERR_LIMIT);
    assert_string_equal(g.err, "chunk stream 5 declares a message of 16777215 bytes (the limit "
                               "is 8388608)");
    /* 65 chunk streams, each with a message left open */
    b.len = 0;
    uint8_t part[128] = {0};
    for (uint32_t cs = 3; cs < 3 + 65; cs++)
        raw_chunk(&b, 0, cs, 0, 1000, 9, 1, false, part, sizeof(part));
    read_all(b.data, b.len, 0, &g);
    assert_int_equal(g.rc, RTMP_ERR_LIMIT);
    assert_string_equal(g.err, "the server opened more than 64 chunk streams");
    rtmp_buf_free(&b);
}

/* Messages left unfinished on several chunk streams count together: past RTMP_MAX_HELD the
 * connection fails instead of growing; the same bytes as complete messages, one stream after
 * another reusing its buffer, pass. */
static void test_unfinished_messages_bounded(void **state)
{
    (void)state;
    enum { MSG = 6 * 1024 * 1024, PART = MSG - 1 };
    uint8_t *big = calloc(1, MSG), size[4] = {0x00, 0x5f, 0xff, 0xff}; /* chunks of PART */
    assert_non_null(big);
    rtmp_buf b = {0};
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_SET_CHUNK_SIZE, 0, false, size, 4);
    for (uint32_t cs = 3; cs < 3 + 5; cs++)
        raw_chunk(&b, 0, cs, 0, MSG, 9, 1, false, big, PART); /* its last byte never comes */
    got g;
    read_all(b.data, b.len, 65536, &g);
    assert_int_equal(g.rc, RTMP_ERR_LIMIT);
    assert_string_equal(g.err, "the server's unfinished messages would take more than 25165824 "
                               "bytes (chunk stream 6, a message of 6291456 bytes)");
    got_free(&g);
    b.len = 0;
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_SET_CHUNK_SIZE, 0, false, size, 4);
    for (int i = 0; i < 8; i++) {
        raw_chunk(&b, 0, 3 + (uint32_t)(i % 2), 0, MSG, 9, 1, false, big, PART);
        raw_chunk(&b, 3, 3 + (uint32_t)(i % 2), 0, 0, 0, 0, false, big, 1);
    }
    read_all(b.data, b.len, 65536, &g);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.n, 9);
    got_free(&g);
    rtmp_buf_free(&b);
    free(big);
}

static void test_abort_and_ack_window(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    uint8_t win[4] = {0, 0, 0x01, 0xf4}, abort_cs[4] = {0, 0, 0, 4}, pad[600] = {0};
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_WINDOW_ACK, 0, false, win, 4); /* 500 */
    raw_chunk(&b, 0, 4, 0, 300, 9, 1, false, pad, 128);               /* left half done */
    raw_chunk(&b, 0, 2, 0, 4, RTMP_MSG_ABORT, 0, false, abort_cs, 4);
    raw_chunk(&b, 0, 4, 9, 600, 9, 1, false, pad, 128); /* a new message on csid 4 */
    for (int i = 0; i < 3; i++)
        raw_chunk(&b, 3, 4, 0, 0, 0, 0, false, pad, 128);
    raw_chunk(&b, 3, 4, 0, 0, 0, 0, false, pad, 88);
    rtmp_reader r;
    rtmp_reader_init(&r);
    size_t off = 0, used;
    rtmp_msg m;
    int msgs = 0, acks = 0;
    uint32_t seq = 0;
    while (off < b.len) {
        int rc = rtmp_reader_feed(&r, b.data + off, b.len - off, &used, &m);
        assert_true(rc >= 0);
        off += used;
        msgs += rc;
        if (rtmp_reader_ack_due(&r, &seq))
            acks++;
    }
    assert_int_equal(msgs, 3); /* window, abort, the 600-byte message */
    assert_int_equal(m.len, 600);
    assert_int_equal(m.timestamp, 9);
    assert_int_equal(acks, 1);
    assert_true(seq >= 500 && seq < 1000);
    assert_int_equal(r.bytes_in, b.len);
    rtmp_reader_free(&r);
    rtmp_buf_free(&b);
}

/* A new message header on a chunk stream whose message is unfinished drops that message. */
static void test_new_header_mid_message(void **state)
{
    (void)state;
    rtmp_buf b = {0};
    uint8_t pad[128] = {0};
    raw_chunk(&b, 0, 4, 0, 300, 9, 1, false, pad, sizeof(pad));
    raw_chunk(&b, 1, 4, 20, 3, 8, 0, false, "abc", 3);
    got g;
    read_all(b.data, b.len, 1, &g);
    assert_int_equal(g.rc, 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.m[0].len, 3);
    assert_int_equal(g.m[0].timestamp, 20);
    assert_memory_equal(g.m[0].data, "abc", 3);
    got_free(&g);
    rtmp_buf_free(&b);
}

/* Audio and video messages come in a pooled buffer with zeroed padding after them, which a
 * caller keeps by reference while the reader goes on; other messages do not. A message the
 * connection ends in the middle of gives its buffer back (ASan checks). */
static void test_media_in_pooled_buffer(void **state)
{
    (void)state;
    uint8_t video[1000];
    for (size_t i = 0; i < sizeof(video); i++)
        video[i] = (uint8_t)(i * 7 + 1);
    rtmp_buf b = {0};
    raw_chunk(&b, 0, 6, 40, sizeof(video), 9, 1, false, video, 128);
    for (size_t off = 128; off < sizeof(video); off += 128)
        raw_chunk(&b, 3, 6, 0, 0, 0, 0, false, video + off,
                  sizeof(video) - off < 128 ? sizeof(video) - off : 128);
    raw_chunk(&b, 0, 3, 0, 3, 20, 0, false, "cmd", 3);
    raw_chunk(&b, 0, 6, 80, 300, 8, 1, false, video, 128); /* never finished */
    rtmp_reader r;
    rtmp_reader_init(&r);
    size_t pos = 0, used;
    rtmp_msg m;
    assert_int_equal(rtmp_reader_feed(&r, b.data, b.len, &used, &m), 1);
    pos += used;
    assert_true(m.ref && *m.ref);
    assert_ptr_equal(m.data, (*m.ref)->data);
    assert_int_equal(m.len, sizeof(video));
    assert_true((*m.ref)->size >= sizeof(video) + AV_INPUT_BUFFER_PADDING_SIZE);
    for (size_t i = 0; i < AV_INPUT_BUFFER_PADDING_SIZE; i++)
        assert_int_equal(m.data[sizeof(video) + i], 0);
    assert_int_equal(r.held, 0);
    AVBufferRef *kept = *m.ref; /* taken: the reader's next call must not free it */
    *m.ref = NULL;
    assert_int_equal(rtmp_reader_feed(&r, b.data + pos, b.len - pos, &used, &m), 1);
    pos += used;
    assert_null(m.ref);
    assert_memory_equal(m.data, "cmd", 3);
    assert_memory_equal(kept->data, video, sizeof(video));
    av_buffer_unref(&kept);
    assert_int_equal(rtmp_reader_feed(&r, b.data + pos, b.len - pos, &used, &m), 0);
    assert_int_equal(pos + used, b.len);
    assert_true(r.held > 0);
    rtmp_reader_free(&r);
    rtmp_buf_free(&b);
}

/* ---------- writer -> reader ---------- */

static void test_writer_reader_round_trip(void **state)
{
    (void)state;
    enum { N = 600 };
    rtmp_writer w;
    rtmp_writer_init(&w);
    rtmp_buf out = {0};
    static uint8_t payload[20000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    static rtmp_msg sent[N];
    const uint32_t csids[] = {3, 4, 6, 63, 64, 319, 320, 65599};
    uint32_t ts[8] = {0, 0, 0, 0xfffff0, 0, 0, 0, 0};
    for (int i = 0; i < N; i++) {
        if (i == N / 3)
            assert_int_equal(rtmp_write_chunk_size(&w, &out, 4096), 0);
        if (i == 2 * N / 3)
            assert_int_equal(rtmp_write_chunk_size(&w, &out, 1), 0);
        int k = (int)(rng() % 8);
        ts[k] += (i % 50 == 0) ? 0x1000000 : rng() % 100; /* some deltas need 32 bits */
        size_t len = i % 3 == 0 ? 0 : rng() % (i >= 2 * N / 3 ? 200 : sizeof(payload));
        sent[i] = (rtmp_msg){.csid = csids[k],
                             .type = (uint8_t)(8 + i % 2),
                             .stream_id = 1,
                             .timestamp = ts[k],
                             .data = payload + (i % 100),
                             .len = len};
        if (len > sizeof(payload) - 100)
            sent[i].len = sizeof(payload) - 100;
        assert_int_equal(rtmp_write_message(&w, &out, &sent[i]), 0);
    }
    rtmp_reader r;
    rtmp_reader_init(&r);
    int n = 0;
    for (size_t off = 0; off < out.len;) {
        size_t k = 1 + rng() % 3000, used;
        if (k > out.len - off)
            k = out.len - off;
        rtmp_msg m;
        int rc = rtmp_reader_feed(&r, out.data + off, k, &used, &m);
        assert_true(rc >= 0);
        off += used;
        if (rc == 1 && m.type == RTMP_MSG_SET_CHUNK_SIZE)
            continue;
        if (rc == 1) {
            assert_true(n < N);
            assert_int_equal(m.csid, sent[n].csid);
            assert_int_equal(m.timestamp, sent[n].timestamp);
            assert_int_equal(m.len, sent[n].len);
            assert_int_equal(m.type, sent[n].type);
            if (m.len)
                assert_memory_equal(m.data, sent[n].data, m.len);
            n++;
        }
    }
    assert_int_equal(n, N);
    rtmp_reader_free(&r);
    rtmp_buf_free(&out);
}

/* ---------- handshake ---------- */

/* A payload written in two parts (a tag's header bytes, then its body) gives exactly the
 * bytes of the same payload written joined, wherever the part boundary falls against the
 * chunk boundaries, with and without an extended timestamp. */
static void test_write_parts_matches_joined(void **state)
{
    (void)state;
    uint8_t joined[700];
    for (size_t i = 0; i < sizeof(joined); i++)
        joined[i] = (uint8_t)(i * 7 + 3);
    const uint32_t chunk_sizes[] = {1, 5, 128, 4096};
    const size_t heads[] = {0, 1, 2, 5, 128, 129};
    const size_t lens[] = {5, 128, 129, 256, 700};
    const uint32_t stamps[] = {40, 0x1000001};
    for (size_t c = 0; c < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); c++)
        for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++)
            for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
                for (size_t t = 0; t < 2; t++) {
                    if (heads[h] > lens[l])
                        continue;
                    rtmp_writer wa, wb;
                    rtmp_buf a = {0}, b = {0};
                    rtmp_writer_init(&wa);
                    rtmp_writer_init(&wb);
                    wa.chunk_size = wb.chunk_size = chunk_sizes[c];
                    rtmp_msg m = {.csid = 6,
                                  .type = RTMP_MSG_VIDEO,
                                  .stream_id = 1,
                                  .timestamp = stamps[t],
                                  .data = joined,
                                  .len = lens[l]};
                    for (int rep = 0; rep < 2; rep++) { /* the second one: a type 1..3 header */
                        assert_int_equal(rtmp_write_message(&wa, &a, &m), 0);
                        rtmp_msg tail = m;
                        tail.data = joined + heads[h];
                        assert_int_equal(rtmp_write_parts(&wb, &b, &tail, joined, heads[h]), 0);
                    }
                    assert_int_equal(a.len, b.len);
                    assert_memory_equal(a.data, b.data, a.len);
                    rtmp_buf_free(&a);
                    rtmp_buf_free(&b);
                }
    rtmp_writer w;
    rtmp_buf out = {0};
    rtmp_writer_init(&w);
    rtmp_msg bad = {.csid = 6, .type = RTMP_MSG_VIDEO, .data = joined, .len = 4};
    assert_int_equal(rtmp_write_parts(&w, &out, &bad, joined, 5), RTMP_ERR_LIMIT);
    assert_int_equal(out.len, 0);
    rtmp_buf_free(&out);
}

static void test_handshake(void **state)
{
    (void)state;
    rtmp_handshake h;
    rtmp_buf out = {0};
    assert_int_equal(rtmp_handshake_start(&h, &out), 0);
    assert_int_equal(out.len, 1537);
    assert_int_equal(out.data[0], 3);
    uint8_t s[1 + 2 * 1536];
    s[0] = 3;
    for (size_t i = 1; i < sizeof(s); i++)
        s[i] = (uint8_t)(i * 31);
    char err[200];
    size_t used = 0, total = 0;
    int rc = 0;
    for (size_t i = 0; i < sizeof(s) && rc == 0; i++) { /* one byte at a time */
        rc = rtmp_handshake_feed(&h, s + i, 1, &used, &out, err, sizeof(err));
        total += used;
    }
    assert_int_equal(rc, 1);
    assert_int_equal(total, sizeof(s));
    assert_int_equal(out.len, 1537 + 1536);
    assert_memory_equal(out.data + 1537, s + 1, 1536); /* C2 echoes S1 */
    rtmp_buf_free(&out);
}

static void test_handshake_garbage(void **state)
{
    (void)state;
    rtmp_handshake h;
    rtmp_buf out = {0};
    rtmp_handshake_start(&h, &out);
    const char *http = "HTTP/1.1 400 Bad Request\r\n\r\n";
    char err[200];
    size_t used;
    assert_int_equal(
        rtmp_handshake_feed(&h, (const uint8_t *)http, strlen(http), &used, &out, err, sizeof(err)),
        RTMP_ERR_MALFORMED);
    assert_string_equal(err, "handshake: the server answered version 72, not RTMP version 3 (is "
                             "it an RTMP server?)");
    rtmp_buf_free(&out);
}

/* ---------- URLs ---------- */

static void test_url_parse(void **state)
{
    (void)state;
    rtmp_url u;
    char err[200];
    assert_int_equal(rtmp_url_parse("rtmp://127.0.0.1:1940/live/cam?token=1", &u, err, 200), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 1940);
    assert_string_equal(u.app, "live");
    assert_string_equal(u.stream, "cam?token=1");
    assert_string_equal(u.tc_url, "rtmp://127.0.0.1:1940/live");
    assert_int_equal(rtmp_url_parse("rtmp://h/app/inst/name", &u, err, 200), 0);
    assert_int_equal(u.port, 1935);
    assert_string_equal(u.app, "app/inst");
    assert_string_equal(u.stream, "name");
    assert_string_equal(u.tc_url, "rtmp://h/app/inst");
    assert_int_equal(rtmp_url_parse("rtmp://h/app?vhost=x/name?k=a", &u, err, 200), 0);
    assert_string_equal(u.app, "app?vhost=x");
    assert_string_equal(u.stream, "name?k=a");
    assert_int_equal(rtmp_url_parse("rtmps://h/a/b", &u, err, 200), 0);
    assert_true(u.tls);
    assert_int_equal(u.port, 443);
    assert_int_equal(rtmp_url_parse("rtmp://h/app", &u, err, 200), RTMP_ERR_MALFORMED);
    assert_string_equal(err, "bad RTMP URL rtmp://h/app: no application or no stream name");
    assert_int_equal(rtmp_url_parse("http://h/a/b", &u, err, 200), RTMP_ERR_MALFORMED);
    assert_int_equal(rtmp_url_parse("rtmp://h:99999/a/b", &u, err, 200), RTMP_ERR_MALFORMED);
}

/* ---------- sessions against a scripted server ---------- */

typedef struct server {
    rtmp_writer w;
    rtmp_buf b;
} server;

static void srv_start(server *s)
{
    memset(s, 0, sizeof(*s));
    rtmp_writer_init(&s->w);
    uint8_t hs[1 + 2 * 1536];
    memset(hs, 0x5a, sizeof(hs));
    hs[0] = 3;
    rtmp_buf_append(&s->b, hs, sizeof(hs));
}

static void srv_msg(server *s, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                    const rtmp_buf *body)
{
    rtmp_msg m = {.csid = csid,
                  .type = type,
                  .stream_id = sid,
                  .timestamp = ts,
                  .data = body->data,
                  .len = body->len};
    assert_int_equal(rtmp_write_message(&s->w, &s->b, &m), 0);
}

/* name, txn, null, then an info object (code set) or a number. */
static void srv_cmd(server *s, uint32_t sid, const char *name, double txn, const char *code,
                    const char *level, const char *desc, double num)
{
    rtmp_buf b = {0};
    amf_put_string(&b, name);
    amf_put_number(&b, txn);
    amf_put_null(&b);
    if (code) {
        amf_put_object_start(&b);
        amf_put_key(&b, "level");
        amf_put_string(&b, level);
        amf_put_key(&b, "code");
        amf_put_string(&b, code);
        if (desc) {
            amf_put_key(&b, "description");
            amf_put_string(&b, desc);
        }
        amf_put_object_end(&b);
    } else if (num >= 0) {
        amf_put_number(&b, num);
    }
    srv_msg(s, 3, RTMP_MSG_COMMAND, sid, 0, &b);
    rtmp_buf_free(&b);
}

static void srv_raw(server *s, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                    const void *p, size_t n)
{
    rtmp_buf b = {0};
    rtmp_buf_append(&b, p, n);
    srv_msg(s, csid, type, sid, ts, &b);
    rtmp_buf_free(&b);
}

static void srv_connect_ok(server *s)
{
    uint8_t win[4] = {0, 0x4c, 0x4b, 0x40}, bw[5] = {0, 0x4c, 0x4b, 0x40, 2};
    srv_raw(s, 2, RTMP_MSG_WINDOW_ACK, 0, 0, win, 4);
    srv_raw(s, 2, RTMP_MSG_PEER_BW, 0, 0, bw, 5);
    assert_int_equal(rtmp_write_chunk_size(&s->w, &s->b, 4096), 0);
    srv_cmd(s, 0, "_result", 1, "NetConnection.Connect.Success", "status", "ok", -1);
    srv_cmd(s, 0, "onBWDone", 0, NULL, NULL, NULL, -1);
}

typedef struct ev_log {
    rtmp_event ev[16];
    uint8_t first[16]; /* the first payload byte of a media event */
    char text[16][RTMP_ERR_LEN];
    int n, rc;
} ev_log;

static void run_session(rtmp_session *ss, rtmp_role role, const char *url, const rtmp_buf *script,
                        size_t piece, ev_log *log)
{
    memset(log, 0, sizeof(*log));
    assert_int_equal(rtmp_session_init(ss, role, url), 0);
    for (size_t off = 0; off < script->len && log->rc >= 0;) {
        size_t k = piece ? piece : 1 + rng() % 500;
        if (k > script->len - off)
            k = script->len - off;
        size_t pos = 0, used;
        while (log->rc >= 0) { /* until 0, even with no bytes left (aggregates) */
            rtmp_event ev;
            int rc = rtmp_session_feed(ss, script->data + off + pos, k - pos, &used, &ev);
            pos += used;
            if (rc != 0 && log->n < 16) {
                log->ev[log->n] = ev;
                log->first[log->n] = ev.type == RTMP_EV_MEDIA && ev.msg.len ? ev.msg.data[0] : 0;
                snprintf(log->text[log->n], RTMP_ERR_LEN, "%s", ev.text ? ev.text : "");
                log->n++;
            }
            if (rc < 0)
                log->rc = rc;
            if (rc == 0)
                break;
        }
        off += k;
    }
}

static void make_play_script(server *s)
{
    srv_start(s);
    srv_connect_ok(s);
    srv_cmd(s, 0, "_result", 2, NULL, NULL, NULL, 1); /* createStream -> stream 1 */
    uint8_t begin[6] = {0, RTMP_UC_STREAM_BEGIN, 0, 0, 0, 1};
    srv_raw(s, 2, RTMP_MSG_USER_CONTROL, 0, 0, begin, 6);
    srv_cmd(s, 1, "onStatus", 0, "NetStream.Play.Reset", "status", NULL, -1);
    srv_cmd(s, 1, "onStatus", 0, "NetStream.Play.Start", "status", "Start live", -1);
    uint8_t ping[6] = {0, RTMP_UC_PING_REQUEST, 0, 0, 0x04, 0xd2};
    srv_raw(s, 2, RTMP_MSG_USER_CONTROL, 0, 0, ping, 6);
    rtmp_buf meta = {0};
    amf_put_string(&meta, "@setDataFrame");
    amf_put_string(&meta, "onMetaData");
    amf_put_number(&meta, 640);
    srv_msg(s, 5, RTMP_MSG_DATA, 1, 0, &meta);
    rtmp_buf_free(&meta);
    uint8_t aac[] = {0xaf, 0x00, 0x12, 0x10}, avc[300] = {0x17, 0x01, 0, 0, 0x21};
    srv_raw(s, 4, RTMP_MSG_AUDIO, 1, 0, aac, sizeof(aac));
    srv_raw(s, 6, RTMP_MSG_VIDEO, 1, 40, avc, sizeof(avc));
    srv_cmd(s, 1, "onStatus", 0, "NetStream.Play.UnpublishNotify", "status", "gone", -1);
    uint8_t eof[6] = {0, RTMP_UC_STREAM_EOF, 0, 0, 0, 1};
    srv_raw(s, 2, RTMP_MSG_USER_CONTROL, 0, 0, eof, 6);
}

static void check_play_events(const ev_log *log)
{
    assert_int_equal(log->rc, 0);
    assert_int_equal(log->n, 5);
    assert_int_equal(log->ev[0].type, RTMP_EV_READY);
    assert_int_equal(log->ev[1].type, RTMP_EV_MEDIA);
    assert_int_equal(log->ev[1].msg.type, RTMP_MSG_DATA);
    assert_int_equal(log->first[1], AMF_STRING); /* "onMetaData", @setDataFrame gone */
    assert_int_equal(log->ev[1].msg.len, 13 + 9);
    assert_int_equal(log->ev[2].msg.type, RTMP_MSG_AUDIO);
    assert_int_equal(log->first[2], 0xaf);
    assert_int_equal(log->ev[3].msg.type, RTMP_MSG_VIDEO);
    assert_int_equal(log->ev[3].msg.timestamp, 40);
    assert_int_equal(log->ev[3].msg.len, 300);
    assert_int_equal(log->ev[4].type, RTMP_EV_GONE); /* once, though StreamEOF followed */
    assert_string_equal(log->text[4], "source gone: NetStream.Play.UnpublishNotify");
}

/* The commands the client sent, as "name,name,..." (protocol control as "#type"). */
static void client_said(const rtmp_buf *out, char *said, size_t cap, amf_value *play_args)
{
    rtmp_reader r;
    rtmp_reader_init(&r);
    said[0] = '\0';
    size_t off = 1537 + 1536, used;
    while (off < out->len) {
        rtmp_msg m;
        int rc = rtmp_reader_feed(&r, out->data + off, out->len - off, &used, &m);
        assert_true(rc >= 0);
        off += used;
        if (rc != 1)
            break;
        char item[64];
        amf_value args;
        if (m.type == RTMP_MSG_COMMAND) {
            assert_int_equal(amf_decode_all(m.data, m.len, &args, NULL, 0), 0);
            snprintf(item, sizeof(item), "%s,", args.items[0].str);
            if (strcmp(args.items[0].str, "play") == 0 || strcmp(args.items[0].str, "connect") == 0)
                play_args[strcmp(args.items[0].str, "play") == 0] = args;
            else
                amf_free(&args);
        } else if (m.type == RTMP_MSG_USER_CONTROL) {
            snprintf(item, sizeof(item), "uc%d,", m.data[1]);
        } else {
            snprintf(item, sizeof(item), "#%d,", m.type);
        }
        strncat(said, item, cap - strlen(said) - 1);
    }
    rtmp_reader_free(&r);
}

static void test_session_play(void **state)
{
    (void)state;
    server s;
    make_play_script(&s);
    rtmp_session ss;
    ev_log log;
    run_session(&ss, RTMP_ROLE_PLAY, "rtmp://127.0.0.1/live/cam?token=1", &s.b, 1, &log);
    check_play_events(&log);
    char said[512];
    amf_value args[2];
    client_said(&ss.out, said, sizeof(said), args);
    assert_string_equal(said, "connect,#5,#1,createStream,uc3,play,uc7,");
    assert_string_equal(amf_get_str(&args[0].items[2], "app"), "live");
    assert_string_equal(amf_get_str(&args[0].items[2], "tcUrl"), "rtmp://127.0.0.1/live");
    assert_string_equal(args[1].items[3].str, "cam?token=1");
    assert_true(args[1].items[4].num == -1000);
    amf_free(&args[0]);
    amf_free(&args[1]);
    rtmp_session_free(&ss);
    for (int round = 0; round < 20; round++) {
        run_session(&ss, RTMP_ROLE_PLAY, "rtmp://127.0.0.1/live/cam", &s.b, 0, &log);
        check_play_events(&log);
        rtmp_session_free(&ss);
    }
    rtmp_buf_free(&s.b);
}

static void test_session_publish(void **state)
{
    (void)state;
    server s;
    srv_start(&s);
    srv_connect_ok(&s);
    srv_cmd(&s, 0, "_error", 2, "NetStream.Failed", "error", "releaseStream unsupported", -1);
    srv_cmd(&s, 0, "_result", 4, NULL, NULL, NULL, 1);
    srv_cmd(&s, 1, "onStatus", 0, "NetStream.Publish.Start", "status", "go", -1);
    rtmp_session ss;
    ev_log log;
    run_session(&ss, RTMP_ROLE_PUBLISH, "rtmp://h/app/key", &s.b, 0, &log);
    assert_int_equal(log.rc, 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ev[0].type, RTMP_EV_READY);
    rtmp_buf meta = {0};
    amf_put_string(&meta, "onMetaData");
    amf_put_null(&meta);
    assert_int_equal(rtmp_session_send(&ss, RTMP_MSG_DATA, 0, meta.data, meta.len), 0);
    uint8_t avc[5000] = {0x17, 0x01};
    assert_int_equal(rtmp_session_send(&ss, RTMP_MSG_VIDEO, 0x1000001, avc, sizeof(avc)), 0);
    char said[512];
    amf_value args[2] = {0};
    client_said(&ss.out, said, sizeof(said), args);
    assert_string_equal(said, "connect,#5,#1,releaseStream,FCPublish,createStream,publish,#18,#9,");
    amf_free(&args[0]);
    rtmp_buf_free(&meta);
    rtmp_session_free(&ss);
    rtmp_buf_free(&s.b);
}

static void test_session_server_errors(void **state)
{
    (void)state;
    server s;
    srv_start(&s);
    srv_connect_ok(&s);
    srv_cmd(&s, 0, "_result", 4, NULL, NULL, NULL, 1);
    srv_cmd(&s, 1, "onStatus", 0, "NetStream.Publish.BadName", "error", "Already publishing", -1);
    rtmp_session ss;
    ev_log log;
    run_session(&ss, RTMP_ROLE_PUBLISH, "rtmp://h/app/key", &s.b, 7, &log);
    assert_int_equal(log.rc, RTMP_ERR_SERVER);
    assert_int_equal(log.ev[log.n - 1].type, RTMP_EV_ERROR);
    assert_string_equal(log.text[log.n - 1],
                        "server: NetStream.Publish.BadName (Already publishing)");
    assert_int_equal(rtmp_session_send(&ss, RTMP_MSG_VIDEO, 0, (const uint8_t *)"x", 1),
                     RTMP_ERR_STATE);
    rtmp_session_free(&ss);
    rtmp_buf_free(&s.b);

    srv_start(&s);
    srv_cmd(&s, 0, "_error", 1, "NetConnection.Connect.Rejected", "error", "no such app", -1);
    run_session(&ss, RTMP_ROLE_PLAY, "rtmp://h/app/key", &s.b, 0, &log);
    assert_int_equal(log.rc, RTMP_ERR_SERVER);
    assert_string_equal(log.text[0],
                        "server refused connect: NetConnection.Connect.Rejected (no such app)");
    rtmp_session_free(&ss);
    rtmp_buf_free(&s.b);

    /* AMF nesting 10,000 deep in a command: an error, not a crash */
    srv_start(&s);
    rtmp_buf deep = {0};
    amf_put_string(&deep, "onStatus");
    for (int i = 0; i < 10000; i++) {
        amf_put_object_start(&deep);
        amf_put_key(&deep, "a");
    }
    srv_msg(&s, 3, RTMP_MSG_COMMAND, 0, 0, &deep);
    run_session(&ss, RTMP_ROLE_PLAY, "rtmp://h/app/key", &s.b, 0, &log);
    assert_int_equal(log.rc, RTMP_ERR_MALFORMED);
    assert_string_equal(log.text[0], "bad command from the server: AMF nesting deeper than 16");
    rtmp_session_free(&ss);
    rtmp_buf_free(&s.b);
    rtmp_buf_free(&deep);
}

/* nginx-rtmp says StreamEOF, then UnpublishNotify: the first one reports the source gone,
 * once; a second session's stream id does not count. */
static void test_session_stream_eof_first(void **state)
{
    (void)state;
    server s;
    srv_start(&s);
    srv_connect_ok(&s);
    srv_cmd(&s, 0, "_result", 2, NULL, NULL, NULL, 1);
    srv_cmd(&s, 1, "onStatus", 0, "NetStream.Play.Start", "status", NULL, -1);
    uint8_t other[6] = {0, RTMP_UC_STREAM_EOF, 0, 0, 0, 2},
            eof[6] = {0, RTMP_UC_STREAM_EOF, 0, 0, 0, 1};
    srv_raw(&s, 2, RTMP_MSG_USER_CONTROL, 0, 0, other, 6);
    srv_raw(&s, 2, RTMP_MSG_USER_CONTROL, 0, 0, eof, 6);
    srv_cmd(&s, 1, "onStatus", 0, "NetStream.Play.UnpublishNotify", "status", NULL, -1);
    rtmp_session ss;
    ev_log log;
    run_session(&ss, RTMP_ROLE_PLAY, "rtmp://h/app/key", &s.b, 0, &log);
    assert_int_equal(log.rc, 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ev[1].type, RTMP_EV_GONE);
    assert_string_equal(log.text[1], "source gone: StreamEOF");
    rtmp_session_free(&ss);
    rtmp_buf_free(&s.b);
}

static void agg_member(rtmp_buf *b, uint8_t type, uint32_t ts, const char *body, size_t len)
{
    put_be(b, type, 1);
    put_be(b, (uint32_t)len, 3);
    put_be(b, ts & 0xffffff, 3);
    put_be(b, ts >> 24, 1);
    put_be(b, 0, 3);
    rtmp_buf_append(b, body, len);
    put_be(b, (uint32_t)len + 11, 4);
}

/* An aggregate message: its members come out one event per call, on the aggregate's
 * timeline, even when the whole script arrives in one read. */
static void test_session_aggregate(void **state)
{
    (void)state;
    server s;
    srv_start(&s);
    srv_connect_ok(&s);
    srv_cmd(&s, 0, "_result", 2, NULL, NULL, NULL, 1);
    srv_cmd(&s, 1, "onStatus", 0, "NetStream.Play.Start", "status", NULL, -1);
    rtmp_buf agg = {0};
    agg_member(&agg, RTMP_MSG_VIDEO, 1000, "\x17\x01\x00\x00\x00v", 6);
    agg_member(&agg, RTMP_MSG_AUDIO, 1010, "\xaf\x01\x61", 3);
    agg_member(&agg, RTMP_MSG_VIDEO, 1033, "\x27\x01\x00\x00\x00v", 6);
    srv_msg(&s, 6, RTMP_MSG_AGGREGATE, 1, 5000, &agg);
    srv_raw(&s, 4, RTMP_MSG_AUDIO, 1, 5040, "\xaf\x01z", 3);
    for (int piece = 0; piece < 3; piece++) {
        rtmp_session ss;
        ev_log log;
        run_session(&ss, RTMP_ROLE_PLAY, "rtmp://h/app/key", &s.b,
                    piece == 0   ? s.b.len
                    : piece == 1 ? 1
                                 : 0,
                    &log);
        assert_int_equal(log.rc, 0);
        assert_int_equal(log.n, 5);
        assert_int_equal(log.ev[0].type, RTMP_EV_READY);
        const uint32_t ts[] = {5000, 5010, 5033, 5040};
        const uint8_t first[] = {0x17, 0xaf, 0x27, 0xaf};
        for (int i = 0; i < 4; i++) {
            assert_int_equal(log.ev[1 + i].type, RTMP_EV_MEDIA);
            assert_int_equal(log.ev[1 + i].msg.timestamp, ts[i]);
            assert_int_equal(log.first[1 + i], first[i]);
        }
        rtmp_session_free(&ss);
    }
    rtmp_buf_free(&agg);
    rtmp_buf_free(&s.b);
}

/* ---------- FLV tags ---------- */

static void test_flv_tags(void **state)
{
    (void)state;
    uint8_t nal[] = {0, 0, 0, 2, 0x65, 0x88};
    rtmp_flv_tag t = {.type = RTMP_MSG_VIDEO,
                      .codec = FLV_CODEC_AVC,
                      .keyframe = true,
                      .cts = -33,
                      .payload = nal,
                      .len = sizeof(nal)};
    rtmp_buf b = {0};
    assert_int_equal(rtmp_flv_build(&b, &t), 0);
    const uint8_t want[] = {0x17, 0x01, 0xff, 0xff, 0xdf};
    assert_memory_equal(b.data, want, 5);
    rtmp_flv_tag back;
    char err[128];
    assert_int_equal(rtmp_flv_parse(RTMP_MSG_VIDEO, b.data, b.len, &back, err, 128), 0);
    assert_true(back.keyframe);
    assert_false(back.seq_header);
    assert_int_equal(back.cts, -33);
    assert_int_equal(back.len, sizeof(nal));
    const uint8_t seq[] = {0x17, 0x00, 0, 0, 0, 1, 0x64};
    assert_int_equal(rtmp_flv_parse(RTMP_MSG_VIDEO, seq, sizeof(seq), &back, err, 128), 0);
    assert_true(back.seq_header);
    const uint8_t inter[] = {0x27, 0x01, 0x00, 0x00, 0x50, 9};
    assert_int_equal(rtmp_flv_parse(RTMP_MSG_VIDEO, inter, sizeof(inter), &back, err, 128), 0);
    assert_false(back.keyframe);
    assert_int_equal(back.cts, 80);
    const uint8_t aac_seq[] = {0xaf, 0x00, 0x12, 0x10};
    assert_int_equal(rtmp_flv_parse(RTMP_MSG_AUDIO, aac_seq, 4, &back, err, 128), 0);
    assert_int_equal(back.codec, FLV_SOUND_AAC);
    assert_true(back.seq_header);
    assert_int_equal(back.len, 2);
    b.len = 0;
    rtmp_flv_tag a = {.type = RTMP_MSG_AUDIO, .codec = FLV_SOUND_AAC, .payload = nal, .len = 2};
    assert_int_equal(rtmp_flv_build(&b, &a), 0);
    assert_int_equal(b.data[0], 0xaf);
    assert_int_equal(b.data[1], 1);
    assert_int_equal(rtmp_flv_parse(RTMP_MSG_VIDEO, seq, 3, &back, err, 128), RTMP_ERR_MALFORMED);
    assert_string_equal(err, "AVC video tag body of 3 bytes is too short");
    rtmp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_consume_and_grow),
        cmocka_unit_test(test_amf_round_trip),
        cmocka_unit_test(test_amf_depth_limit),
        cmocka_unit_test(test_amf_malformed),
        cmocka_unit_test(test_chunk_byte_at_a_time),
        cmocka_unit_test(test_chunk_size_change_mid_stream),
        cmocka_unit_test(test_extended_timestamps),
        cmocka_unit_test(test_new_csid_needs_type_0),
        cmocka_unit_test(test_bad_chunk_sizes),
        cmocka_unit_test(test_huge_message_and_many_streams),
        cmocka_unit_test(test_unfinished_messages_bounded),
        cmocka_unit_test(test_abort_and_ack_window),
        cmocka_unit_test(test_new_header_mid_message),
        cmocka_unit_test(test_media_in_pooled_buffer),
        cmocka_unit_test(test_writer_reader_round_trip),
        cmocka_unit_test(test_write_parts_matches_joined),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_handshake_garbage),
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_session_play),
        cmocka_unit_test(test_session_publish),
        cmocka_unit_test(test_session_server_errors),
        cmocka_unit_test(test_session_stream_eof_first),
        cmocka_unit_test(test_session_aggregate),
        cmocka_unit_test(test_flv_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
