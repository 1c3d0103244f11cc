/* tc_params.c — the parameters of a Tencent API call: decoded by the shared form decoder,
 * then Name.N / Name.N.Sub rebuilt into arrays, and names and types checked. */
#include "api/tc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4   /* dots in one name */
#define MAX_INDEX 999 /* largest N in Name.N */

/* ---------- decoding: the shared form decoder ---------- */

int tc_params_decode(tc_params *out, const char *text, size_t len, char *why, size_t whylen)
{
    return form_decode(out, text, len, why, whylen);
}

void tc_params_free(tc_params *p)
{
    form_free(p);
}

const char *tc_params_get(const tc_params *p, const char *name)
{
    return form_get(p, name);
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
