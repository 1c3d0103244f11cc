/* vectors.h — loading tests/data/signature-vectors.json and reading a vector's fields and
 * raw headers; shared by the signature tests of both cloud dialects (test_*_sign.c). */
#ifndef FERRY_TESTS_UNIT_VECTORS_H
#define FERRY_TESTS_UNIT_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/api_internal.h"

static json_t *vectors;

/* cmocka group setup: loads the vectors from $FERRY_SOURCE_ROOT (or "."). */
static inline int load_vectors(void **state)
{
    (void)state;
    const char *root = getenv("FERRY_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/signature-vectors.json", root ? root : ".");
    json_error_t je;
    vectors = json_load_file(path, 0, &je);
    if (!vectors)
        fprintf(stderr, "cannot load %s: %s\n", path, je.text);
    return vectors ? 0 : -1;
}

/* cmocka group teardown. */
static inline int free_vectors(void **state)
{
    (void)state;
    json_decref(vectors);
    return 0;
}

/* The string o[a] or, with b, o[a][b]; NULL when absent. */
static inline const char *field(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

/* The rawHeaders array as api_kv pairs (pointing into the JSON). */
static inline int headers_of(const json_t *vec, api_kv *out, int max)
{
    const json_t *raw = json_object_get(vec, "rawHeaders");
    int n = 0;
    for (size_t i = 0; i + 1 < json_array_size(raw) && n < max; i += 2, n++) {
        out[n].key = json_string_value(json_array_get(raw, i));
        out[n].value = json_string_value(json_array_get(raw, i + 1));
    }
    return n;
}

/* The value of header name (case-insensitive), or NULL. */
static inline const char *header(const api_kv *h, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(h[i].key, name) == 0)
            return h[i].value;
    return NULL;
}

/* Runs check on every vector of scheme; how many there were. */
static inline size_t each_vector(const char *scheme, void (*check)(const json_t *vec))
{
    size_t i, n = 0;
    json_t *vec;
    json_array_foreach(vectors, i, vec)
    {
        if (strcmp(field(vec, "scheme", NULL), scheme) == 0) {
            check(vec);
            n++;
        }
    }
    return n;
}

#endif
