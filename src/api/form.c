/* form.c — decoding application/x-www-form-urlencoded text into name=value pairs: the one
 * percent-decoder of the cloud dialects' query strings and form bodies. */
#include "api/form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 1000 /* pairs in one request */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into a new string; NULL on a bad escape, a NUL byte or OOM. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] != '%') {
            *o++ = s[i];
        } else {
            int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        }
    }
    *o = '\0';
    return out;
}

const char *form_get(const form_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, name) == 0)
            return p->v[i].value;
    return NULL;
}

static int add_pair(form_params *p, char *key, char *value, char *why, size_t whylen)
{
    if (form_get(p, key)) {
        snprintf(why, whylen, "The parameter `%.100s` is given more than once.", key);
        return -1;
    }
    if (p->n >= MAX_PARAMS) {
        snprintf(why, whylen, "A request carries at most %d parameters.", MAX_PARAMS);
        return -1;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        form_param *v = realloc(p->v, (size_t)cap * sizeof(*v));
        if (!v) {
            snprintf(why, whylen, "The server ran out of memory.");
            return -1;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n].key = key;
    p->v[p->n].value = value;
    p->n++;
    return 0;
}

/* Decodes one "key=value" piece and appends it. */
static int decode_pair(form_params *out, const char *s, size_t n, char *why, size_t whylen)
{
    const char *eq = memchr(s, '=', n);
    size_t klen = eq ? (size_t)(eq - s) : n;
    char *key = unescape(s, klen);
    char *value = eq ? unescape(eq + 1, n - klen - 1) : strdup("");
    if (!key || !value || !*key) {
        snprintf(why, whylen, "A parameter name or value is not properly percent-encoded.");
        free(key);
        free(value);
        return -1;
    }
    if (add_pair(out, key, value, why, whylen) != 0) {
        free(key);
        free(value);
        return -1;
    }
    return 0;
}

int form_decode(form_params *out, const char *text, size_t len, char *why, size_t whylen)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(text + i, '&', len - i);
        size_t n = amp ? (size_t)(amp - (text + i)) : len - i;
        if (n > 0 && decode_pair(out, text + i, n, why, whylen) != 0)
            return -1;
        i += n + 1;
    }
    return 0;
}

void form_free(form_params *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}
