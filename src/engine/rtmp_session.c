/* rtmp_session.c — the sans-IO RTMP client session for both roles, play (a source) and
 * publish (a destination): URL parsing, the command exchange, onStatus and user control. */
#include "engine/rtmp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_HANDSHAKE, S_CONNECTING, S_CREATING, S_STARTING, S_READY, S_FAILED };

#define CSID_COMMAND 3
#define CSID_AUDIO 4
#define CSID_DATA 5
#define CSID_VIDEO 6
#define CSID_STREAM 8
#define OUT_CHUNK_SIZE 4096
#define TXN_CONNECT 1

/* ---------- URLs ---------- */

static int url_fail(char *err, size_t errlen, const char *url, const char *why)
{
    snprintf(err, errlen, "bad RTMP URL %s: %s", url, why);
    return RTMP_ERR_MALFORMED;
}

static bool copy_span(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        return false;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return true;
}

/* host[:port] from s[0..len). */
static int url_host(rtmp_url *u, const char *s, size_t len, const char *url, char *err,
                    size_t errlen)
{
    const char *colon = memchr(s, ':', len);
    size_t hlen = colon ? (size_t)(colon - s) : len;
    if (hlen == 0 || !copy_span(u->host, sizeof(u->host), s, hlen))
        return url_fail(err, errlen, url, "no host or a host too long");
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != s + len || port <= 0 || port > 65535)
            return url_fail(err, errlen, url, "bad port");
        u->port = (int)port;
    }
    return 0;
}

int rtmp_url_parse(const char *url, rtmp_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (strncmp(url, "rtmp://", 7) == 0) {
        p = url + 7;
        u->port = 1935;
    } else if (strncmp(url, "rtmps://", 8) == 0) {
        p = url + 8;
        u->port = 443;
        u->tls = true;
    } else {
        return url_fail(err, errlen, url, "not rtmp:// or rtmps://");
    }
    const char *slash = strchr(p, '/');
    if (!slash)
        return url_fail(err, errlen, url, "no application");
    int rc = url_host(u, p, (size_t)(slash - p), url, err, errlen);
    if (rc != 0)
        return rc;
    /* app is one segment, or two (app/instance) when three or more follow the host */
    const char *app = slash + 1, *q = strchr(app, '?');
    size_t span = q && !strchr(q, '/') ? (size_t)(q - app) : strlen(app); /* before the query */
    const char *end = memchr(app, '/', span);
    if (!end || end == app || end[1] == '\0' || end[1] == '?')
        return url_fail(err, errlen, url, "no application or no stream name");
    const char *second = memchr(end + 1, '/', span - (size_t)(end + 1 - app));
    if (second && second > end + 1 && (size_t)(second + 1 - app) < span)
        end = second;
    if (!copy_span(u->app, sizeof(u->app), app, (size_t)(end - app)) ||
        !copy_span(u->stream, sizeof(u->stream), end + 1, strlen(end + 1)))
        return url_fail(err, errlen, url, "application or stream name too long");
    int k = snprintf(u->tc_url, sizeof(u->tc_url), "%.*s%s", (int)(slash - url), url,
                     (u->app[0] ? "/" : ""));
    if (k < 0 || (size_t)k + strlen(u->app) >= sizeof(u->tc_url))
        return url_fail(err, errlen, url, "too long");
    strcat(u->tc_url, u->app);
    return 0;
}

/* ---------- sending commands ---------- */

static int send_amf(rtmp_session *s, uint32_t csid, uint32_t sid, uint8_t type, const rtmp_buf *b)
{
    rtmp_msg m = {.csid = csid, .type = type, .stream_id = sid, .data = b->data, .len = b->len};
    return rtmp_write_message(&s->wr, &s->out, &m);
}

/* "name", txn, null, then an optional string and optional number or string. */
static int send_command(rtmp_session *s, const char *name, double txn, const char *arg,
                        const char *arg2, bool has_num, double num)
{
    rtmp_buf b = {0};
    int rc = amf_put_string(&b, name);
    rc = rc ? rc : amf_put_number(&b, txn);
    rc = rc ? rc : amf_put_null(&b);
    if (arg && rc == 0)
        rc = amf_put_string(&b, arg);
    if (arg2 && rc == 0)
        rc = amf_put_string(&b, arg2);
    if (has_num && rc == 0)
        rc = amf_put_number(&b, num);
    bool on_stream = strcmp(name, "play") == 0 || strcmp(name, "publish") == 0;
    if (rc == 0)
        rc = send_amf(s, on_stream ? CSID_STREAM : CSID_COMMAND, on_stream ? s->stream_id : 0,
                      RTMP_MSG_COMMAND, &b);
    rtmp_buf_free(&b);
    return rc;
}

static int put_prop_str(rtmp_buf *b, const char *key, const char *v)
{
    int rc = amf_put_key(b, key);
    return rc ? rc : amf_put_string(b, v);
}

static int send_connect(rtmp_session *s)
{
    bool pub = s->role == RTMP_ROLE_PUBLISH;
    rtmp_buf b = {0};
    int rc = amf_put_string(&b, "connect");
    rc = rc ? rc : amf_put_number(&b, TXN_CONNECT);
    rc = rc ? rc : amf_put_object_start(&b);
    rc = rc ? rc : put_prop_str(&b, "app", s->url.app);
    rc = rc ? rc : put_prop_str(&b, "type", "nonprivate");
    rc = rc ? rc
            : put_prop_str(&b, "flashVer", pub ? "FMLE/3.0 (compatible; ferry)" : "LNX 9,0,124,2");
    rc = rc ? rc : put_prop_str(&b, "tcUrl", s->url.tc_url);
    if (!pub) {
        rc = rc ? rc : amf_put_key(&b, "fpad");
        rc = rc ? rc : amf_put_bool(&b, false);
        rc = rc ? rc : amf_put_key(&b, "capabilities");
        rc = rc ? rc : amf_put_number(&b, 15);
        rc = rc ? rc : amf_put_key(&b, "audioCodecs");
        rc = rc ? rc : amf_put_number(&b, 4071);
        rc = rc ? rc : amf_put_key(&b, "videoCodecs");
        rc = rc ? rc : amf_put_number(&b, 252);
    }
    rc = rc ? rc : amf_put_object_end(&b);
    rc = rc ? rc : send_amf(s, CSID_COMMAND, 0, RTMP_MSG_COMMAND, &b);
    rtmp_buf_free(&b);
    s->txn = TXN_CONNECT;
    return rc;
}

/* ---------- the session ---------- */

static int fail(rtmp_session *s, rtmp_event *ev, int code, const char *fmt, ...)
{
    if (s->state != S_FAILED) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err, sizeof(s->err), fmt, ap);
        va_end(ap);
        s->state = S_FAILED;
    }
    *ev = (rtmp_event){.type = RTMP_EV_ERROR, .text = s->err};
    return code;
}

int rtmp_session_init(rtmp_session *s, rtmp_role role, const char *url)
{
    memset(s, 0, sizeof(*s));
    s->role = role;
    rtmp_reader_init(&s->rd);
    rtmp_writer_init(&s->wr);
    int rc = rtmp_url_parse(url, &s->url, s->err, sizeof(s->err));
    if (rc == 0)
        rc = rtmp_handshake_start(&s->hs, &s->out);
    if (rc != 0)
        s->state = S_FAILED;
    return rc;
}

void rtmp_session_free(rtmp_session *s)
{
    rtmp_reader_free(&s->rd);
    rtmp_buf_free(&s->out);
}

static int on_connected(rtmp_session *s)
{
    int rc = rtmp_write_chunk_size(&s->wr, &s->out, OUT_CHUNK_SIZE);
    if (s->role == RTMP_ROLE_PUBLISH) {
        rc = rc ? rc : send_command(s, "releaseStream", ++s->txn, s->url.stream, NULL, false, 0);
        rc = rc ? rc : send_command(s, "FCPublish", ++s->txn, s->url.stream, NULL, false, 0);
    }
    s->create_txn = ++s->txn;
    s->state = S_CREATING;
    return rc ? rc : send_command(s, "createStream", s->create_txn, NULL, NULL, false, 0);
}

static int on_stream_created(rtmp_session *s, const amf_value *args)
{
    const amf_value *id = amf_item(args, 3, AMF_NUMBER);
    if (!id || !(id->num >= 0 && id->num <= 0xffffffff)) /* NaN fails too */
        return RTMP_ERR_MALFORMED;
    s->stream_id = (uint32_t)id->num;
    s->state = S_STARTING;
    if (s->role == RTMP_ROLE_PUBLISH)
        return send_command(s, "publish", ++s->txn, s->url.stream, "live", false, 0);
    int rc = rtmp_write_user_control(&s->wr, &s->out, RTMP_UC_SET_BUFFER, s->stream_id, 1000, true);
    return rc ? rc : send_command(s, "play", ++s->txn, s->url.stream, NULL, true, -1000);
}

static int on_result(rtmp_session *s, const amf_value *args, rtmp_event *ev)
{
    const amf_value *txn = amf_item(args, 1, AMF_NUMBER);
    double t = txn ? txn->num : -1;
    int rc = 0;
    if (t == TXN_CONNECT && s->state == S_CONNECTING) {
        rc = on_connected(s);
        return rc == 0 ? 0 : fail(s, ev, rc, "connect: cannot build the next commands");
    }
    if (t == s->create_txn && s->state == S_CREATING)
        rc = on_stream_created(s, args);
    return rc == 0 ? 0 : fail(s, ev, rc, "createStream: no usable stream id in the answer");
}

static const char *describe(const amf_value *info, const char *fallback)
{
    const char *d = amf_get_str(info, "description");
    return d && d[0] ? d : fallback;
}

static int on_error(rtmp_session *s, const amf_value *args, rtmp_event *ev)
{
    const amf_value *txn = amf_item(args, 1, AMF_NUMBER);
    double t = txn ? txn->num : -1;
    if (s->role == RTMP_ROLE_PUBLISH && t > TXN_CONNECT && t < s->create_txn)
        return 0; /* releaseStream and FCPublish are optional; many servers refuse them */
    const amf_value *info = amf_item(args, 3, AMF_OBJECT);
    const char *code = amf_get_str(info, "code");
    const char *what = t == TXN_CONNECT     ? "connect"
                       : t == s->create_txn ? "createStream"
                                            : "command";
    return fail(s, ev, RTMP_ERR_SERVER, "server refused %s: %s%s%s%s", what, code ? code : "_error",
                code ? " (" : "", describe(info, ""), code ? ")" : "");
}

static int gone(rtmp_session *s, rtmp_event *ev, const char *why)
{
    if (s->gone || s->role != RTMP_ROLE_PLAY)
        return 0;
    s->gone = true;
    snprintf(s->err, sizeof(s->err), "source gone: %s", why);
    *ev = (rtmp_event){.type = RTMP_EV_GONE, .text = s->err};
    return 1;
}

static bool code_is(const char *code, const char *want)
{
    return code && strcmp(code, want) == 0;
}

static int on_status(rtmp_session *s, const amf_value *args, rtmp_event *ev)
{
    const amf_value *info = amf_item(args, 3, AMF_OBJECT);
    const char *code = amf_get_str(info, "code"), *level = amf_get_str(info, "level");
    bool play = s->role == RTMP_ROLE_PLAY;
    const char *start = play ? "NetStream.Play.Start" : "NetStream.Publish.Start";
    if (code_is(code, start)) {
        if (s->state != S_STARTING)
            return 0;
        s->state = S_READY;
        *ev = (rtmp_event){.type = RTMP_EV_READY, .text = start};
        return 1;
    }
    if (code_is(code, "NetStream.Play.UnpublishNotify") || code_is(code, "NetStream.Play.Stop") ||
        code_is(code, "NetStream.Play.Complete"))
        return gone(s, ev, code);
    if (code_is(level, "error") || (code && strstr(code, "Failed")))
        return fail(s, ev, RTMP_ERR_SERVER, "server: %s (%s)", code ? code : "error",
                    describe(info, "no description"));
    return 0;
}

static int on_command(rtmp_session *s, const rtmp_msg *m, rtmp_event *ev)
{
    size_t skip = m->type == RTMP_MSG_COMMAND_AMF3 && m->len > 0 ? 1 : 0;
    amf_value args;
    char why[160];
    if (amf_decode_all(m->data + skip, m->len - skip, &args, why, sizeof(why)) != 0)
        return fail(s, ev, RTMP_ERR_MALFORMED, "bad command from the server: %s", why);
    const amf_value *name = amf_item(&args, 0, AMF_STRING);
    int rc = 0;
    if (name && strcmp(name->str, "_result") == 0)
        rc = on_result(s, &args, ev);
    else if (name && strcmp(name->str, "_error") == 0)
        rc = on_error(s, &args, ev);
    else if (name && strcmp(name->str, "onStatus") == 0)
        rc = on_status(s, &args, ev);
    amf_free(&args);
    return rc;
}

static int on_user_control(rtmp_session *s, const rtmp_msg *m, rtmp_event *ev)
{
    if (m->len < 6)
        return fail(s, ev, RTMP_ERR_MALFORMED, "user control message of %zu bytes", m->len);
    int event = m->data[0] << 8 | m->data[1];
    uint32_t v = (uint32_t)m->data[2] << 24 | m->data[3] << 16 | m->data[4] << 8 | m->data[5];
    if (event == RTMP_UC_PING_REQUEST) {
        int rc = rtmp_write_user_control(&s->wr, &s->out, RTMP_UC_PING_RESPONSE, v, 0, false);
        return rc ? fail(s, ev, rc, "out of memory") : 0;
    }
    if (event == RTMP_UC_STREAM_EOF && s->state == S_READY && v == s->stream_id)
        return gone(s, ev, "StreamEOF");
    return 0;
}

/* Data messages lose the @setDataFrame a publisher put in front of onMetaData. */
static int on_media(rtmp_session *s, const rtmp_msg *m, rtmp_event *ev)
{
    static const uint8_t sdf[] = "\x02\x00\x0d@setDataFrame";
    *ev = (rtmp_event){.type = RTMP_EV_MEDIA, .msg = *m};
    if (m->type == RTMP_MSG_DATA && m->len >= 16 && memcmp(m->data, sdf, 16) == 0) {
        ev->msg.data += 16;
        ev->msg.len -= 16;
    }
    return 1;
}

/* The next member of an aggregate message: an FLV tag (11-byte header, body, 4-byte back
 * pointer), its timestamp relative to the first member's, on the aggregate's timeline. */
static int next_aggregated(rtmp_session *s, rtmp_event *ev)
{
    const uint8_t *p = s->agg;
    size_t len = s->agg_left >= 11 ? (size_t)(p[1] << 16 | p[2] << 8 | p[3]) : 0;
    if (s->agg_left < 11 || len > s->agg_left - 11) {
        s->agg_left = 0;
        return fail(s, ev, RTMP_ERR_MALFORMED, "aggregate message member runs past its end");
    }
    uint32_t ts = (uint32_t)p[7] << 24 | p[4] << 16 | p[5] << 8 | p[6];
    if (s->agg_first) {
        s->agg_ts -= ts;
        s->agg_first = false;
    }
    rtmp_msg m = {.type = p[0] & 0x1f,
                  .stream_id = s->stream_id,
                  .timestamp = s->agg_ts + ts,
                  .data = p + 11,
                  .len = len};
    size_t step = 11 + len + 4 < s->agg_left ? 11 + len + 4 : s->agg_left;
    s->agg += step;
    s->agg_left -= step;
    if (m.type != RTMP_MSG_AUDIO && m.type != RTMP_MSG_VIDEO && m.type != RTMP_MSG_DATA)
        return 0;
    return on_media(s, &m, ev);
}

static int on_aggregate(rtmp_session *s, const rtmp_msg *m, rtmp_event *ev)
{
    if (s->role != RTMP_ROLE_PLAY || s->state < S_STARTING || m->len == 0)
        return 0;
    s->agg = m->data;
    s->agg_left = m->len;
    s->agg_ts = m->timestamp;
    s->agg_first = true;
    int rc = 0;
    while (rc == 0 && s->agg_left > 0)
        rc = next_aggregated(s, ev);
    return rc;
}

static int on_message(rtmp_session *s, const rtmp_msg *m, rtmp_event *ev)
{
    switch (m->type) {
    case RTMP_MSG_COMMAND:
    case RTMP_MSG_COMMAND_AMF3:
        return on_command(s, m, ev);
    case RTMP_MSG_USER_CONTROL:
        return on_user_control(s, m, ev);
    case RTMP_MSG_PEER_BW:
        if (m->len < 4)
            return fail(s, ev, RTMP_ERR_MALFORMED, "Set Peer Bandwidth of %zu bytes", m->len);
        return rtmp_write_control(&s->wr, &s->out, RTMP_MSG_WINDOW_ACK,
                                  (uint32_t)m->data[0] << 24 | m->data[1] << 16 | m->data[2] << 8 |
                                      m->data[3]) == 0
                   ? 0
                   : fail(s, ev, RTMP_ERR_NOMEM, "out of memory");
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
    case RTMP_MSG_DATA:
        return s->role == RTMP_ROLE_PLAY && s->state >= S_STARTING ? on_media(s, m, ev) : 0;
    case RTMP_MSG_AGGREGATE:
        return on_aggregate(s, m, ev);
    default:
        return 0;
    }
}

static int feed_handshake(rtmp_session *s, const uint8_t *p, size_t n, size_t *used, rtmp_event *ev)
{
    char why[200];
    int rc = rtmp_handshake_feed(&s->hs, p, n, used, &s->out, why, sizeof(why));
    if (rc < 0)
        return fail(s, ev, rc, "%s", why);
    if (rc == 0)
        return 0;
    s->state = S_CONNECTING;
    rc = send_connect(s);
    return rc ? fail(s, ev, rc, "connect: cannot build the command") : 0;
}

int rtmp_session_feed(rtmp_session *s, const uint8_t *p, size_t n, size_t *used, rtmp_event *ev)
{
    *used = 0;
    if (s->state == S_FAILED)
        return fail(s, ev, RTMP_ERR_STATE, "%s", s->err);
    while (s->agg_left > 0) { /* the rest of an aggregate first, before more bytes */
        int rc = next_aggregated(s, ev);
        if (rc != 0)
            return rc;
    }
    if (s->state == S_HANDSHAKE) {
        int rc = feed_handshake(s, p, n, used, ev);
        if (rc != 0 || s->state == S_HANDSHAKE)
            return rc;
    }
    while (*used < n) {
        size_t u;
        rtmp_msg m;
        int rc = rtmp_reader_feed(&s->rd, p + *used, n - *used, &u, &m);
        *used += u;
        uint32_t seq;
        if (rtmp_reader_ack_due(&s->rd, &seq) &&
            rtmp_write_control(&s->wr, &s->out, RTMP_MSG_ACK, seq) != 0)
            return fail(s, ev, RTMP_ERR_NOMEM, "out of memory");
        if (rc < 0)
            return fail(s, ev, rc, "%s", s->rd.err);
        if (rc == 0)
            return 0;
        rc = on_message(s, &m, ev);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int rtmp_session_send(rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *data, size_t len)
{
    if (s->role != RTMP_ROLE_PUBLISH || s->state != S_READY)
        return RTMP_ERR_STATE;
    static const uint8_t meta[] = "\x02\x00\x0aonMetaData";
    rtmp_buf b = {0};
    rtmp_msg m = {
        .type = type, .stream_id = s->stream_id, .timestamp = ts, .data = data, .len = len};
    m.csid = type == RTMP_MSG_AUDIO ? CSID_AUDIO : type == RTMP_MSG_VIDEO ? CSID_VIDEO : CSID_DATA;
    if (type == RTMP_MSG_DATA && len >= 13 && memcmp(data, meta, 13) == 0) {
        if (amf_put_string(&b, "@setDataFrame") != 0 || rtmp_buf_append(&b, data, len) != 0) {
            rtmp_buf_free(&b);
            return RTMP_ERR_NOMEM;
        }
        m.data = b.data;
        m.len = b.len;
    }
    int rc = rtmp_write_message(&s->wr, &s->out, &m);
    rtmp_buf_free(&b);
    return rc;
}

int rtmp_session_send_parts(rtmp_session *s, uint8_t type, uint32_t ts, const uint8_t *head,
                            size_t hlen, const uint8_t *body, size_t len)
{
    if (s->role != RTMP_ROLE_PUBLISH || s->state != S_READY)
        return RTMP_ERR_STATE;
    if (type != RTMP_MSG_AUDIO && type != RTMP_MSG_VIDEO)
        return RTMP_ERR_LIMIT;
    rtmp_msg m = {.csid = type == RTMP_MSG_AUDIO ? CSID_AUDIO : CSID_VIDEO,
                  .type = type,
                  .stream_id = s->stream_id,
                  .timestamp = ts,
                  .data = body,
                  .len = hlen + len};
    return rtmp_write_parts(&s->wr, &s->out, &m, head, hlen);
}

int rtmp_session_close(rtmp_session *s)
{
    if (s->state != S_READY)
        return 0;
    int rc = 0;
    if (s->role == RTMP_ROLE_PUBLISH)
        rc = send_command(s, "FCUnpublish", ++s->txn, s->url.stream, NULL, false, 0);
    rc = rc ? rc : send_command(s, "deleteStream", ++s->txn, NULL, NULL, true, s->stream_id);
    s->state = S_FAILED;
    snprintf(s->err, sizeof(s->err), "session closed");
    return rc;
}
