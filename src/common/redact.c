/* redact.c — masks the secrets inside URLs (stream keys, query values, user info) before a
 * URL reaches a log line, an error chain, a history line or an alarm. */
#include "common/redact.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define KEY_HINT 2     /* characters a long stream key keeps */
#define KEY_HINT_MIN 8 /* shorter keys keep none */

/* A bounded, always terminated output buffer. */
typedef struct sink {
    char *buf;
    size_t len, used;
} sink;

static void put(sink *s, const char *p, size_t n)
{
    size_t room = s->len - 1 - s->used;
    if (n > room)
        n = room;
    memcpy(s->buf + s->used, p, n);
    s->used += n;
    s->buf[s->used] = '\0';
}

static void put_str(sink *s, const char *p)
{
    put(s, p, strlen(p));
}

/* A key that is already masked ("***" or "ab***") stays as it is: redaction is idempotent. */
static bool already_masked(const char *p, size_t n)
{
    size_t m = strlen(REDACT_MARK);
    return (n == m || n == m + KEY_HINT) && memcmp(p + n - m, REDACT_MARK, m) == 0;
}

static void put_key(sink *s, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (already_masked(p, n)) {
        put(s, p, n);
        return;
    }
    if (n >= KEY_HINT_MIN)
        put(s, p, KEY_HINT);
    put_str(s, REDACT_MARK);
}

/* Length of the scheme when p starts with "scheme://", else 0. */
static size_t scheme_len(const char *p, size_t n)
{
    if (n == 0 || !isalpha((unsigned char)p[0]))
        return 0;
    size_t i = 1;
    while (i < n && (isalnum((unsigned char)p[i]) || strchr("+-.", p[i])))
        i++;
    return i + 3 <= n && memcmp(p + i, "://", 3) == 0 ? i : 0;
}

/* Schemes whose last path element is a stream key. */
static bool keyed_scheme(const char *p, size_t n)
{
    static const char *const keyed[] = {"rtmp",   "rtmps",  "rtmpt", "rtmpe",
                                        "rtmpts", "rtmpte", "srt"};
    for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++)
        if (strlen(keyed[i]) == n && strncasecmp(p, keyed[i], n) == 0)
            return true;
    return false;
}

static size_t span_until(const char *p, const char *end, const char *stops)
{
    size_t n = 0;
    while (p + n < end && !strchr(stops, p[n]))
        n++;
    return n;
}

/* "a=1&b&c=" → "a=***&***&c=": names stay, every value is masked. */
static void put_query(sink *s, const char *p, const char *end)
{
    while (p < end) {
        size_t item = span_until(p, end, "&");
        const char *eq = memchr(p, '=', item);
        if (eq) {
            put(s, p, (size_t)(eq - p) + 1);
            if (eq + 1 < p + item)
                put_str(s, REDACT_MARK);
        } else if (item) {
            put_str(s, REDACT_MARK);
        }
        p += item;
        if (p < end) {
            put(s, "&", 1);
            p++;
        }
    }
}

/* The path: for a keyed scheme everything up to the last '/' stays and the key is masked. */
static void put_path(sink *s, const char *p, size_t n, bool keyed)
{
    const char *slash = keyed ? memrchr(p, '/', n) : NULL;
    if (!slash) {
        put(s, p, n);
        return;
    }
    size_t keep = (size_t)(slash - p) + 1;
    put(s, p, keep);
    put_key(s, p + keep, n - keep);
}

static void redact_span(sink *s, const char *url, size_t n)
{
    size_t sl = scheme_len(url, n);
    if (!sl) {
        put(s, url, n);
        return;
    }
    const char *p = url + sl + 3, *end = url + n;
    put(s, url, sl + 3);
    size_t auth = span_until(p, end, "/?#");
    const char *at = memrchr(p, '@', auth);
    if (at)
        put_str(s, REDACT_MARK "@");
    put(s, at ? at + 1 : p, at ? (size_t)(p + auth - at - 1) : auth);
    p += auth;
    size_t path = span_until(p, end, "?#");
    put_path(s, p, path, keyed_scheme(url, sl));
    p += path;
    if (p < end && *p == '?') {
        /* the query runs to the end: an SRT streamid may hold '#' */
        put(s, "?", 1);
        put_query(s, p + 1, end);
    } else if (p < end && *p == '#') {
        put(s, "#", 1);
        if (p + 1 < end)
            put_str(s, REDACT_MARK);
    }
}

const char *url_redact(const char *url, char *out, size_t len)
{
    if (len == 0)
        return out;
    sink s = {out, len, 0};
    out[0] = '\0';
    if (url)
        redact_span(&s, url, strlen(url));
    return out;
}

/* Where the URL whose "://" is at sep starts (its scheme), or NULL when none does. */
static const char *scheme_start(const char *from, const char *sep)
{
    const char *st = sep;
    while (st > from && (isalnum((unsigned char)st[-1]) || strchr("+-.", st[-1])))
        st--;
    while (st < sep && !isalpha((unsigned char)*st))
        st++;
    return st < sep ? st : NULL;
}

const char *text_redact(const char *text, char *out, size_t len)
{
    if (len == 0)
        return out;
    sink s = {out, len, 0};
    out[0] = '\0';
    const char *p = text ? text : "";
    const char *sep;
    while ((sep = strstr(p, "://")) != NULL) {
        const char *st = scheme_start(p, sep);
        if (!st) {
            put(&s, p, (size_t)(sep - p) + 3);
            p = sep + 3;
            continue;
        }
        put(&s, p, (size_t)(st - p));
        size_t n = strcspn(st, " \t\r\n\"'<>`");
        while (n > (size_t)(sep - st) + 3 && strchr(".,;:)]}", st[n - 1]))
            n--;
        redact_span(&s, st, n);
        p = st + n;
    }
    put_str(&s, p);
    return out;
}
