/* rtmp_amf.c — AMF0 values for RTMP commands: a bounded decoder (nesting depth, lengths and
 * member counts checked against the input before anything is allocated) and an encoder. */
#include "engine/rtmp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct amf_in {
    const uint8_t *p;
    size_t n, pos;
    char *err;
    size_t errlen;
} amf_in;

static int amf_fail(amf_in *in, int code, const char *fmt, ...)
{
    if (in->err && in->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(in->err, in->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static bool amf_has(const amf_in *in, size_t k)
{
    return in->n - in->pos >= k;
}

static uint32_t amf_be(const uint8_t *p, int k)
{
    uint32_t v = 0;
    for (int i = 0; i < k; i++)
        v = v << 8 | p[i];
    return v;
}

static double amf_read_double(const uint8_t *p)
{
    uint64_t bits = (uint64_t)amf_be(p, 4) << 32 | amf_be(p + 4, 4);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* A string of a 2- or 4-byte length as a NUL-terminated copy. */
static int amf_read_str(amf_in *in, int lenbytes, char **out, size_t *len)
{
    if (!amf_has(in, (size_t)lenbytes))
        return amf_fail(in, RTMP_ERR_MALFORMED, "AMF string length cut short at byte %zu", in->pos);
    size_t k = amf_be(in->p + in->pos, lenbytes);
    in->pos += (size_t)lenbytes;
    if (!amf_has(in, k))
        return amf_fail(in, RTMP_ERR_MALFORMED,
                        "AMF string of %zu bytes at byte %zu runs past the end", k, in->pos);
    char *s = malloc(k + 1);
    if (!s)
        return amf_fail(in, RTMP_ERR_NOMEM, "out of memory");
    memcpy(s, in->p + in->pos, k);
    s[k] = '\0';
    in->pos += k;
    *out = s;
    *len = k;
    return 0;
}

static int amf_read(amf_in *in, amf_value *v, int depth);

/* Makes room for one more member; containers grow with the input, never by a declared count. */
static int amf_grow(amf_in *in, amf_value *v, bool keyed)
{
    if (v->n >= AMF_MAX_ITEMS)
        return amf_fail(in, RTMP_ERR_LIMIT, "AMF container has more than %d members",
                        AMF_MAX_ITEMS);
    bool full = v->n == 0 || (v->n >= 4 && (v->n & (v->n - 1)) == 0);
    if (!full)
        return 0; /* capacity: 4, then doubled each time n reaches it */
    size_t cap = v->n == 0 ? 4 : v->n * 2;
    amf_value *items = realloc(v->items, cap * sizeof(*items));
    if (!items)
        return amf_fail(in, RTMP_ERR_NOMEM, "out of memory");
    v->items = items;
    if (keyed) {
        char **keys = realloc(v->keys, cap * sizeof(*keys));
        if (!keys)
            return amf_fail(in, RTMP_ERR_NOMEM, "out of memory");
        v->keys = keys;
    }
    return 0;
}

/* Members "key value" until the empty key and object end marker. */
static int amf_read_members(amf_in *in, amf_value *v, int depth)
{
    for (;;) {
        if (!amf_has(in, 3))
            return amf_fail(in, RTMP_ERR_MALFORMED, "AMF object without an end marker");
        if (amf_be(in->p + in->pos, 2) == 0 && in->p[in->pos + 2] == AMF_OBJECT_END) {
            in->pos += 3;
            return 0;
        }
        int rc = amf_grow(in, v, true);
        if (rc != 0)
            return rc;
        size_t klen;
        rc = amf_read_str(in, 2, &v->keys[v->n], &klen);
        if (rc != 0)
            return rc;
        memset(&v->items[v->n], 0, sizeof(v->items[0]));
        v->n++;
        rc = amf_read(in, &v->items[v->n - 1], depth + 1);
        if (rc != 0)
            return rc;
    }
}

static int amf_read_strict(amf_in *in, amf_value *v, int depth)
{
    if (!amf_has(in, 4))
        return amf_fail(in, RTMP_ERR_MALFORMED, "AMF strict array count cut short");
    uint32_t count = amf_be(in->p + in->pos, 4);
    in->pos += 4;
    if (count > in->n - in->pos) /* every member takes at least one byte */
        return amf_fail(in, RTMP_ERR_MALFORMED, "AMF strict array declares %u members in %zu bytes",
                        count, in->n - in->pos);
    for (uint32_t i = 0; i < count; i++) {
        int rc = amf_grow(in, v, false);
        if (rc != 0)
            return rc;
        memset(&v->items[v->n], 0, sizeof(v->items[0]));
        v->n++;
        rc = amf_read(in, &v->items[v->n - 1], depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int amf_read_fixed(amf_in *in, amf_value *v)
{
    size_t need = v->type == AMF_NUMBER ? 8 : v->type == AMF_BOOLEAN ? 1 : 10;
    if (!amf_has(in, need))
        return amf_fail(in, RTMP_ERR_MALFORMED, "AMF value of type %d cut short", v->type);
    const uint8_t *p = in->p + in->pos;
    if (v->type == AMF_BOOLEAN)
        v->boolean = p[0] != 0;
    else
        v->num = amf_read_double(p);
    if (v->type == AMF_DATE)
        v->tz = (int16_t)amf_be(p + 8, 2);
    in->pos += need;
    return 0;
}

static int amf_read(amf_in *in, amf_value *v, int depth)
{
    memset(v, 0, sizeof(*v));
    if (depth >= AMF_MAX_DEPTH)
        return amf_fail(in, RTMP_ERR_LIMIT, "AMF nesting deeper than %d", AMF_MAX_DEPTH);
    if (!amf_has(in, 1))
        return amf_fail(in, RTMP_ERR_MALFORMED, "AMF value missing at byte %zu", in->pos);
    v->type = in->p[in->pos++];
    switch (v->type) {
    case AMF_NUMBER:
    case AMF_BOOLEAN:
    case AMF_DATE:
        return amf_read_fixed(in, v);
    case AMF_STRING:
        return amf_read_str(in, 2, &v->str, &v->len);
    case AMF_LONG_STRING:
        return amf_read_str(in, 4, &v->str, &v->len);
    case AMF_NULL:
    case AMF_UNDEFINED:
        return 0;
    case AMF_ECMA_ARRAY:
        if (!amf_has(in, 4))
            return amf_fail(in, RTMP_ERR_MALFORMED, "AMF ECMA array count cut short");
        in->pos += 4; /* the count is a hint; the end marker ends it */
        return amf_read_members(in, v, depth);
    case AMF_OBJECT:
        return amf_read_members(in, v, depth);
    case AMF_STRICT_ARRAY:
        return amf_read_strict(in, v, depth);
    default:
        return amf_fail(in, RTMP_ERR_MALFORMED, "AMF type 0x%02x at byte %zu is not supported",
                        v->type, in->pos - 1);
    }
}

int amf_decode(const uint8_t *p, size_t n, amf_value *out, size_t *used, char *err, size_t errlen)
{
    amf_in in = {.p = p, .n = n, .err = err, .errlen = errlen};
    int rc = amf_read(&in, out, 0);
    if (rc != 0)
        amf_free(out);
    if (used)
        *used = in.pos;
    return rc;
}

int amf_decode_all(const uint8_t *p, size_t n, amf_value *out, char *err, size_t errlen)
{
    amf_in in = {.p = p, .n = n, .err = err, .errlen = errlen};
    memset(out, 0, sizeof(*out));
    out->type = AMF_STRICT_ARRAY;
    int rc = 0;
    while (rc == 0 && in.pos < n) {
        rc = amf_grow(&in, out, false);
        if (rc != 0)
            break;
        out->n++;
        rc = amf_read(&in, &out->items[out->n - 1], 1);
    }
    if (rc != 0)
        amf_free(out);
    return rc;
}

void amf_free(amf_value *v)
{
    for (size_t i = 0; i < v->n; i++) {
        amf_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof(*v));
}

/* ---------- lookups ---------- */

const amf_value *amf_get(const amf_value *obj, const char *key)
{
    if (!obj || !obj->keys)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const amf_value *amf_item(const amf_value *arr, size_t i, amf_type t)
{
    if (!arr || i >= arr->n || arr->items[i].type != t)
        return NULL;
    return &arr->items[i];
}

const char *amf_get_str(const amf_value *obj, const char *key)
{
    const amf_value *v = amf_get(obj, key);
    return v && (v->type == AMF_STRING || v->type == AMF_LONG_STRING) ? v->str : NULL;
}

/* ---------- encoding ---------- */

static int amf_put_be(rtmp_buf *b, uint32_t v, int k)
{
    uint8_t tmp[4];
    for (int i = 0; i < k; i++)
        tmp[i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    return rtmp_buf_append(b, tmp, (size_t)k);
}

static int amf_put_type(rtmp_buf *b, amf_type t)
{
    uint8_t c = (uint8_t)t;
    return rtmp_buf_append(b, &c, 1);
}

static int amf_put_double(rtmp_buf *b, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    int rc = amf_put_be(b, (uint32_t)(bits >> 32), 4);
    return rc ? rc : amf_put_be(b, (uint32_t)bits, 4);
}

int amf_put_number(rtmp_buf *b, double d)
{
    int rc = amf_put_type(b, AMF_NUMBER);
    return rc ? rc : amf_put_double(b, d);
}

int amf_put_bool(rtmp_buf *b, bool v)
{
    uint8_t t[2] = {AMF_BOOLEAN, v ? 1 : 0};
    return rtmp_buf_append(b, t, 2);
}

static int amf_put_text(rtmp_buf *b, const char *s, size_t len, bool with_type)
{
    bool lng = len > 0xffff;
    int rc = with_type ? amf_put_type(b, lng ? AMF_LONG_STRING : AMF_STRING) : 0;
    if (rc == 0)
        rc = amf_put_be(b, (uint32_t)len, lng ? 4 : 2);
    return rc ? rc : rtmp_buf_append(b, s, len);
}

int amf_put_string(rtmp_buf *b, const char *s)
{
    return amf_put_text(b, s, strlen(s), true);
}

int amf_put_null(rtmp_buf *b)
{
    return amf_put_type(b, AMF_NULL);
}

int amf_put_object_start(rtmp_buf *b)
{
    return amf_put_type(b, AMF_OBJECT);
}

int amf_put_key(rtmp_buf *b, const char *key)
{
    size_t len = strlen(key);
    return len > 0xffff ? RTMP_ERR_LIMIT : amf_put_text(b, key, len, false);
}

int amf_put_object_end(rtmp_buf *b)
{
    uint8_t t[3] = {0, 0, AMF_OBJECT_END};
    return rtmp_buf_append(b, t, 3);
}

static int amf_encode_members(rtmp_buf *b, const amf_value *v)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < v->n; i++) {
        rc = amf_put_key(b, v->keys[i]);
        if (rc == 0)
            rc = amf_encode(b, &v->items[i]);
    }
    return rc ? rc : amf_put_object_end(b);
}

int amf_encode(rtmp_buf *b, const amf_value *v)
{
    int rc = 0;
    switch (v->type) {
    case AMF_NUMBER:
        return amf_put_number(b, v->num);
    case AMF_BOOLEAN:
        return amf_put_bool(b, v->boolean);
    case AMF_STRING:
    case AMF_LONG_STRING:
        return amf_put_text(b, v->str, v->len, true);
    case AMF_DATE:
        rc = amf_put_type(b, AMF_DATE);
        rc = rc ? rc : amf_put_double(b, v->num);
        return rc ? rc : amf_put_be(b, (uint16_t)v->tz, 2);
    case AMF_OBJECT:
        rc = amf_put_type(b, AMF_OBJECT);
        return rc ? rc : amf_encode_members(b, v);
    case AMF_ECMA_ARRAY:
        rc = amf_put_type(b, AMF_ECMA_ARRAY);
        rc = rc ? rc : amf_put_be(b, (uint32_t)v->n, 4);
        return rc ? rc : amf_encode_members(b, v);
    case AMF_STRICT_ARRAY:
        rc = amf_put_type(b, AMF_STRICT_ARRAY);
        rc = rc ? rc : amf_put_be(b, (uint32_t)v->n, 4);
        for (size_t i = 0; rc == 0 && i < v->n; i++)
            rc = amf_encode(b, &v->items[i]);
        return rc;
    default:
        return amf_put_type(b, v->type == AMF_UNDEFINED ? AMF_UNDEFINED : AMF_NULL);
    }
}
