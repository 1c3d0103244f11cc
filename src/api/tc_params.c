/* tc_params.c — the parameters of a Tencent API call: decoding query strings and form
 * bodies, rebuilding Name.N / Name.N.Sub into arrays, and checking names and types. */
#include "api/tc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 1000 /* pairs in one request */
#define MAX_DEPTH 4     /* dots in one name */
#define MAX_INDEX 999   /* largest N in Name.N */

/* ---------- decoding ---------- */

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
static char *form_unescape(const char *s, size_t n)
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

const char *tc_params_get(const tc_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, name) == 0)
            return p->v[i].value;
    return NULL;
}

static int add_pair(tc_params *p, char *key, char *value, char *why, size_t whylen)
{
    if (tc_params_get(p, key)) {
        snprintf(why, whylen, "The parameter `%.100s` is given more than once.", key);
        return -1;
    }
    if (p->n >= MAX_PARAMS) {
        snprintf(why, whylen, "A request carries at most %d parameters.", MAX_PARAMS);
        return -1;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        tc_param *v = realloc(p->v, (size_t)cap * sizeof(*v));
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
static int decode_pair(tc_params *out, const char *s, size_t n, char *why, size_t whylen)
{
    const char *eq = memchr(s, '=', n);
    size_t klen = eq ? (size_t)(eq - s) : n;
    char *key = form_unescape(s, klen);
    char *value = eq ? form_unescape(eq + 1, n - klen - 1) : strdup("");
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

int tc_params_decode(tc_params *out, const char *text, size_t len, char *why, size_t whylen)
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

void tc_params_free(tc_params *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}

/* ---------- Name.N.Sub -> nested JSON ---------- */

static bool listed(const char *const *skip, const char *key)
{
    for (; skip && *skip; skip++)
        if (strcmp(*skip, key) == 0)
            return true;
    return false;
}

/* The index of a segment "0".."999" without leading zeros, or -1. */
static int index_of(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 3 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
        return -1;
    return atoi(s);
}

/* Places value at the dotted path key inside root (objects only; arrays come later). */
static int insert_path(json_t *root, const char *key, const char *value, char *why, size_t whylen)
{
    json_t *cur = root;
    const char *seg = key;
    for (int depth = 0;; depth++) {
        size_t n = strcspn(seg, ".");
        char name[128];
        if (n == 0 || n >= sizeof(name) || depth > MAX_DEPTH)
            goto bad;
        snprintf(name, sizeof(name), "%.*s", (int)n, seg);
        if (strspn(name, "0123456789") == n && index_of(name) < 0)
            goto bad; /* an index, but with leading zeros or too large */
        json_t *child = json_object_get(cur, name);
        if (seg[n] == '\0') {
            json_t *leaf = json_string(value);
            if (child || !leaf) {
                json_decref(leaf);
                goto bad;
            }
            return json_object_set_new(cur, name, leaf) == 0 ? 0 : -1;
        }
        if (!child) {
            child = json_object();
            if (!child || json_object_set_new(cur, name, child) != 0)
                return -1;
        } else if (!json_is_object(child)) {
            goto bad;
        }
        cur = child;
        seg += n + 1;
    }
bad:
    snprintf(why, whylen,
             "The parameter `%.100s` is malformed, repeated, clashes with another one or is not "
             "valid UTF-8.",
             key);
    return -1;
}

static int convert(json_t *node, char *why, size_t whylen);

/* An object whose keys are all indexes becomes an array (base 0 or 1, no gaps). */
static json_t *as_array(json_t *obj, char *why, size_t whylen)
{
    size_t n = json_object_size(obj), numeric = 0;
    int lo = MAX_INDEX + 1, hi = -1;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int i = index_of(k);
        if (i >= 0) {
            numeric++;
            lo = i < lo ? i : lo;
            hi = i > hi ? i : hi;
        }
    }
    if (numeric == 0)
        return NULL;
    if (numeric != n || lo > 1 || (size_t)(hi - lo + 1) != n) {
        snprintf(why, whylen, "Array parameters are numbered Name.0, Name.1, ... without gaps.");
        return json_null(); /* marks the error */
    }
    json_t *arr = json_array();
    char idx[16];
    for (int i = lo; arr && i <= hi; i++) {
        snprintf(idx, sizeof(idx), "%d", i);
        json_array_append(arr, json_object_get(obj, idx));
    }
    return arr;
}

/* Converts the children of node in place, depth first. */
static int convert(json_t *node, char *why, size_t whylen)
{
    if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++)
            if (convert(json_array_get(node, i), why, whylen) != 0)
                return -1;
        return 0;
    }
    if (!json_is_object(node))
        return 0;
    for (void *it = json_object_iter(node); it; it = json_object_iter_next(node, it)) {
        json_t *child = json_object_iter_value(it);
        if (!json_is_object(child))
            continue;
        if (convert(child, why, whylen) != 0)
            return -1;
        json_t *arr = as_array(child, why, whylen);
        if (json_is_null(arr))
            return -1;
        if (arr && json_object_iter_set_new(node, it, arr) != 0)
            return -1;
    }
    return 0;
}

json_t *tc_params_unflatten(const tc_params *p, const char *const *skip, char *why, size_t whylen)
{
    json_t *root = json_object();
    if (!root)
        return NULL;
    for (int i = 0; i < p->n; i++) {
        if (listed(skip, p->v[i].key))
            continue;
        if (insert_path(root, p->v[i].key, p->v[i].value, why, whylen) != 0) {
            json_decref(root);
            return NULL;
        }
    }
    if (convert(root, why, whylen) != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---------- names and types ---------- */

bool tc_json_int(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return false;
    size_t n = strlen(s), digits = strspn(s + (s[0] == '-'), "0123456789");
    if (digits == 0 || digits + (s[0] == '-') != n || digits > 18)
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

static bool is_int32(const json_t *v)
{
    long long x;
    return tc_json_int(v, &x) && x >= INT_MIN && x <= INT_MAX;
}

static bool all_strings(const json_t *arr)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr))
        return false;
    json_array_foreach(arr, i, v) if (!json_is_string(v)) return false;
    return true;
}

static bool all_objects(const json_t *arr)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr))
        return false;
    json_array_foreach(arr, i, v) if (!json_is_object(v)) return false;
    return true;
}

static bool type_ok(const json_t *v, tc_type t)
{
    switch (t) {
    case TC_STR:
        return json_is_string(v);
    case TC_INT:
    case TC_STR_OR_INT:
        return is_int32(v);
    case TC_STRS:
        return all_strings(v);
    case TC_WATERMARKS:
        return all_objects(v);
    }
    return false;
}

static const char *type_name(tc_type t)
{
    static const char *const names[] = {"a string", "an integer", "an integer or a string",
                                        "an array of strings", "an array of objects"};
    return names[t];
}

static const tc_param_def *find_def(const tc_param_def *defs, const char *name)
{
    for (; defs->name; defs++)
        if (strcmp(defs->name, name) == 0)
            return defs;
    return NULL;
}

static void drop_nulls(json_t *params)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(params, tmp, k, v) if (json_is_null(v)) json_object_del(params, k);
}

int tc_params_check(json_t *params, const tc_param_def *defs, ferr *err)
{
    drop_nulls(params);
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        const tc_param_def *d = find_def(defs, k);
        if (!d)
            return ferr_set(err, TC_ERR_UNKNOWN_PARAM, k,
                            "The parameter `%.100s` is not recognized.", k);
        if (!type_ok(v, d->type))
            return ferr_set(err, FERR_INVALID, k, "The parameter `%s` must be %s.", k,
                            type_name(d->type));
    }
    for (; defs->name; defs++)
        if (defs->required && !json_object_get(params, defs->name))
            return ferr_set(err, FERR_MISSING, defs->name,
                            "The request is missing a required parameter `%s`.", defs->name);
    return 0;
}

const char *tc_str(const json_t *params, const char *name)
{
    return json_string_value(json_object_get(params, name));
}

bool tc_int(const json_t *params, const char *name, long long *out)
{
    json_t *v = json_object_get(params, name);
    return v && tc_json_int(v, out);
}
