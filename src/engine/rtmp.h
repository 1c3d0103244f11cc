/* rtmp.h — ferry's own RTMP client core, sans-IO: AMF0 values, the chunk stream reader and
 * writer, the client handshake, the play/publish session and FLV tag mapping. No sockets. */
#ifndef FERRY_ENGINE_RTMP_H
#define FERRY_ENGINE_RTMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct AVBufferRef;

/* Return codes: 0 (nothing more to report / ok), 1 (something is ready), negative = error,
 * with a readable text in the object's err field (or the caller's err buffer). */
#define RTMP_ERR_MALFORMED -1 /* the peer sent something that breaks the protocol */
#define RTMP_ERR_LIMIT -2     /* the peer asked for more than ferry allows */
#define RTMP_ERR_NOMEM -3
#define RTMP_ERR_SERVER -4 /* the server refused (its description is in err) */
#define RTMP_ERR_STATE -5  /* the call does not fit the session's state */

#define RTMP_ERR_LEN 256

/* ---------- a growable byte buffer (bytes to send, or a message being built) ---------- */

/* The bytes are data[head..len). Consuming moves head; the space is reclaimed when the
 * buffer empties or must grow, so a slow reader never makes a write cost a big memmove. */
typedef struct rtmp_buf {
    uint8_t *data;
    size_t head, len, cap;
} rtmp_buf;

int rtmp_buf_reserve(rtmp_buf *b, size_t extra);
int rtmp_buf_append(rtmp_buf *b, const void *p, size_t n);
/* The bytes not consumed yet. */
static inline const uint8_t *rtmp_buf_bytes(const rtmp_buf *b)
{
    return b->data + b->head;
}
static inline size_t rtmp_buf_size(const rtmp_buf *b)
{
    return b->len - b->head;
}
/* Drops the first n bytes (those that were sent). */
void rtmp_buf_consume(rtmp_buf *b, size_t n);
void rtmp_buf_free(rtmp_buf *b);

/* ---------- AMF0 ---------- */

#define AMF_MAX_DEPTH 16    /* nesting of objects and arrays */
#define AMF_MAX_ITEMS 65536 /* members of one object or array */

typedef enum {
    AMF_NUMBER = 0x00,
    AMF_BOOLEAN = 0x01,
    AMF_STRING = 0x02,
    AMF_OBJECT = 0x03,
    AMF_NULL = 0x05,
    AMF_UNDEFINED = 0x06,
    AMF_ECMA_ARRAY = 0x08,
    AMF_OBJECT_END = 0x09,
    AMF_STRICT_ARRAY = 0x0a,
    AMF_DATE = 0x0b,
    AMF_LONG_STRING = 0x0c,
} amf_type;

typedef struct amf_value {
    amf_type type;
    double num; /* number; date: ms since the epoch */
    int16_t tz; /* date */
    bool boolean;
    char *str;   /* string, long string: NUL-terminated copy */
    size_t len;  /* its length */
    size_t n;    /* object, ECMA array, strict array: members */
    char **keys; /* object, ECMA array: member names (NUL-terminated) */
    struct amf_value *items;
} amf_value;

/* Decodes one value from p[0..n); *used = bytes taken. 0 or negative with err. */
int amf_decode(const uint8_t *p, size_t n, amf_value *out, size_t *used, char *err, size_t errlen);
/* Decodes values until the input ends, as a strict array (a command's arguments). */
int amf_decode_all(const uint8_t *p, size_t n, amf_value *out, char *err, size_t errlen);
void amf_free(amf_value *v);
int amf_encode(rtmp_buf *b, const amf_value *v);
/* Helpers for building commands. */
int amf_put_number(rtmp_buf *b, double d);
int amf_put_bool(rtmp_buf *b, bool v);
int amf_put_string(rtmp_buf *b, const char *s);
int amf_put_null(rtmp_buf *b);
int amf_put_object_start(rtmp_buf *b);
int amf_put_key(rtmp_buf *b, const char *key); /* then the member's value */
int amf_put_object_end(rtmp_buf *b);
/* The member key of an object or ECMA array, or NULL. */
const amf_value *amf_get(const amf_value *obj, const char *key);
/* Item i of a strict array when it has type t, else NULL. */
const amf_value *amf_item(const amf_value *arr, size_t i, amf_type t);
/* A string member's text, or NULL. */
const char *amf_get_str(const amf_value *obj, const char *key);

/* ---------- chunk streams ---------- */

#define RTMP_DEFAULT_CHUNK 128
#define RTMP_MAX_CHUNK_SIZE 0xffffff       /* larger Set Chunk Size values are capped */
#define RTMP_MAX_CHUNK_STREAMS 64          /* live chunk streams a peer may open */
#define RTMP_MAX_MESSAGE (8 * 1024 * 1024) /* one message's declared length */
#define RTMP_MAX_HELD (24 * 1024 * 1024)   /* message buffers of one connection, in all */

enum {
    RTMP_MSG_SET_CHUNK_SIZE = 1,
    RTMP_MSG_ABORT = 2,
    RTMP_MSG_ACK = 3,
    RTMP_MSG_USER_CONTROL = 4,
    RTMP_MSG_WINDOW_ACK = 5,
    RTMP_MSG_PEER_BW = 6,
    RTMP_MSG_AUDIO = 8,
    RTMP_MSG_VIDEO = 9,
    RTMP_MSG_DATA_AMF3 = 15,
    RTMP_MSG_COMMAND_AMF3 = 17,
    RTMP_MSG_DATA = 18,
    RTMP_MSG_COMMAND = 20,
    RTMP_MSG_AGGREGATE = 22,
};

/* User control events. */
enum { RTMP_UC_STREAM_BEGIN = 0, RTMP_UC_STREAM_EOF = 1, RTMP_UC_SET_BUFFER = 3 };
enum { RTMP_UC_PING_REQUEST = 6, RTMP_UC_PING_RESPONSE = 7 };

typedef struct rtmp_msg {
    uint32_t csid;
    uint8_t type;
    uint32_t stream_id;
    uint32_t timestamp;  /* ms, 32 bits (wraps after 49 days) */
    const uint8_t *data; /* valid until the next call on the reader */
    size_t len;
    /* An audio or video message read into a pooled buffer: (*ref)->data is data, zeroed
     * padding follows data + len. The reader's, until its next call, unless the caller
     * takes it (moves *ref out, leaving NULL). NULL for other messages. */
    struct AVBufferRef **ref;
} rtmp_msg;

typedef struct rtmp_chunk_stream {
    uint32_t csid;
    bool has_header, ext; /* ext: its last header carried an extended timestamp */
    uint8_t type;
    uint32_t stream_id, len, ts, delta, ts_field;
    uint8_t *buf; /* the message being reassembled */
    size_t got, cap;
    struct AVBufferRef *ref; /* ... or, audio and video, into this pooled buffer */
} rtmp_chunk_stream;

typedef struct rtmp_reader {
    uint32_t chunk_size;
    rtmp_chunk_stream cs[RTMP_MAX_CHUNK_STREAMS];
    int n_cs;
    uint8_t hdr[18]; /* the chunk header being read */
    size_t hdr_got;
    rtmp_chunk_stream *cur;  /* the chunk whose payload is being read, or NULL */
    rtmp_chunk_stream *last; /* the one found last: chunks of one message follow each other */
    size_t chunk_left;
    size_t held;              /* the chunk streams' buffers together (cap), at most RTMP_MAX_HELD */
    struct AVBufferRef *done; /* the pooled buffer of the message last returned */
    uint64_t bytes_in;
    uint32_t window;   /* the peer's Window Acknowledgement Size, 0 = none */
    uint64_t acked_at; /* bytes_in when the last ack was due */
    char err[RTMP_ERR_LEN];
} rtmp_reader;

void rtmp_reader_init(rtmp_reader *r);
void rtmp_reader_free(rtmp_reader *r);
/* Takes bytes until a message is complete (1: *msg filled), or all n are taken (0), or
 * error (<0, r->err). *used counts the bytes taken in every case. Set Chunk Size, Abort and
 * Window Acknowledgement Size act on the reader and are returned too. */
int rtmp_reader_feed(rtmp_reader *r, const uint8_t *p, size_t n, size_t *used, rtmp_msg *msg);
/* True (and *seq = bytes received) when an Acknowledgement is due to the peer. */
bool rtmp_reader_ack_due(rtmp_reader *r, uint32_t *seq);

typedef struct rtmp_writer {
    uint32_t chunk_size;
    struct rtmp_last_header {
        bool used;
        uint8_t type;
        uint32_t stream_id, len, ts;
    } last[RTMP_MAX_CHUNK_STREAMS]; /* per csid below 64; higher ones always use fmt 0 */
} rtmp_writer;

void rtmp_writer_init(rtmp_writer *w);
/* Appends msg (csid 2..65599) as chunks at w->chunk_size to out. */
int rtmp_write_message(rtmp_writer *w, rtmp_buf *out, const rtmp_msg *msg);
/* The same for a payload in two parts: head (hlen bytes), then msg->data; msg->len is the
 * whole payload's length (hlen included). Saves joining them first. */
int rtmp_write_parts(rtmp_writer *w, rtmp_buf *out, const rtmp_msg *msg, const uint8_t *head,
                     size_t hlen);
/* Writes Set Chunk Size and switches the writer to it. */
int rtmp_write_chunk_size(rtmp_writer *w, rtmp_buf *out, uint32_t size);
int rtmp_write_control(rtmp_writer *w, rtmp_buf *out, uint8_t type, uint32_t value);
int rtmp_write_user_control(rtmp_writer *w, rtmp_buf *out, uint16_t event, uint32_t a, uint32_t b,
                            bool has_b);

/* ---------- the client handshake ---------- */

#define RTMP_HANDSHAKE_SIZE 1536

typedef struct rtmp_handshake {
    int state;
    uint8_t s1[RTMP_HANDSHAKE_SIZE];
    size_t got; /* of S0+S1+S2 */
} rtmp_handshake;

/* Writes C0+C1. */
int rtmp_handshake_start(rtmp_handshake *h, rtmp_buf *out);
/* Takes S0+S1+S2; 1 when done (C2 written to out), 0 for more, <0 with err. */
int rtmp_handshake_feed(rtmp_handshake *h, const uint8_t *p, size_t n, size_t *used, rtmp_buf *out,
                        char *err, size_t errlen);

/* ---------- URLs ---------- */

typedef struct rtmp_url {
    char host[256];
    int port;
    bool tls;      /* rtmps */
    char app[512]; /* with a query on the app, as nginx expects */
    char tc_url[1024];
    char stream[1024]; /* with its query */
} rtmp_url;

/* rtmp[s]://host[:port]/app[/instance]/stream[?query] */
int rtmp_url_parse(const char *url, rtmp_url *u, char *err, size_t errlen);

/* ---------- the client session ---------- */

typedef enum { RTMP_ROLE_PLAY, RTMP_ROLE_PUBLISH } rtmp_role;

typedef enum {
    RTMP_EV_READY = 1, /* play: media will come; publish: media may be sent */
    RTMP_EV_MEDIA,     /* msg: an audio, video or data message */
    RTMP_EV_GONE,      /* play: the source was unpublished or ended (text says how) */
    RTMP_EV_ERROR,     /* text: what failed; the session is over */
} rtmp_event_type;

typedef struct rtmp_event {
    rtmp_event_type type;
    rtmp_msg msg;
    const char *text;
} rtmp_event;

typedef struct rtmp_session {
    rtmp_role role;
    rtmp_url url;
    int state;
    rtmp_handshake hs;
    rtmp_reader rd;
    rtmp_writer wr;
    rtmp_buf out; /* bytes to send; the caller writes them and consumes what was sent */
    double txn, create_txn;
    uint32_t stream_id;
    bool gone;
    const uint8_t *agg; /* the rest of an aggregate message (in the reader's buffer) */
    size_t agg_left;
    uint32_t agg_ts; /* the aggregate's timestamp minus its first member's */
    bool agg_first;
    char err[RTMP_ERR_LEN];
} rtmp_session;

int rtmp_session_init(rtmp_session *s, rtmp_role role, const char *url);
void rtmp_session_free(rtmp_session *s);
/* Takes server bytes until an event (1, *ev), all n are taken (0), or an error (<0, an
 * RTMP_EV_ERROR in *ev). *used counts the bytes taken. Replies land in s->out. Call it
 * again after an event even when no bytes are left, until it returns 0: an aggregate
 * message yields its media messages one call at a time. */
int rtmp_session_feed(rtmp_session *s, const uint8_t *p, size_t n, size_t *used, rtmp_event *ev);
/* Publish role, after READY: one audio, video or data message (an onMetaData data
 * message is sent as @setDataFrame). */
int rtmp_session_send(rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *data, size_t len);
/* Publish role, after READY: an audio or video message whose payload is head (a tag's
 * few header bytes) then body, sent without joining them first. */
int rtmp_session_send_parts(rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *head,
                            size_t hlen, const uint8_t *body, size_t len);
/* Publish role: FCUnpublish and deleteStream. */
int rtmp_session_close(rtmp_session *s);

/* ---------- FLV tag bodies ---------- */

#define FLV_CODEC_AVC 7
#define FLV_SOUND_AAC 10

typedef struct rtmp_flv_tag {
    uint8_t type;        /* RTMP_MSG_AUDIO or RTMP_MSG_VIDEO */
    int codec;           /* video codec id (7 = AVC) or sound format (10 = AAC) */
    uint8_t audio_flags; /* the low nibble of an audio tag header (rate, size, channels) */
    bool keyframe;
    bool seq_header;
    bool end_of_seq; /* AVC end of sequence */
    int32_t cts;     /* AVC composition time offset (pts - dts), ms */
    const uint8_t *payload;
    size_t len;
} rtmp_flv_tag;

/* Reads the headers of an audio or video tag body. */
int rtmp_flv_parse(uint8_t type, const uint8_t *body, size_t len, rtmp_flv_tag *tag, char *err,
                   size_t errlen);
/* Appends the tag body for tag to out. */
int rtmp_flv_build(rtmp_buf *out, const rtmp_flv_tag *tag);

#endif
