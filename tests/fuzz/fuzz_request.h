/* fuzz_request.h — what both fuzz targets read an input as: an HTTP request written as text
 * (request line, "Name: value" headers, an empty line, the body), parsed in place. */
#ifndef FERRY_FUZZ_REQUEST_H
#define FERRY_FUZZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "api/api_internal.h"

#define FUZZ_MAX_HEADERS 64

/* Every pointer is into the input's NUL-terminated copy. */
typedef struct fuzz_request {
    const char *method;
    const char *target; /* the raw request target, query included */
    const char *query;  /* after '?', "" when none */
    api_kv headers[FUZZ_MAX_HEADERS];
    int n_headers;
    const char *body;
    size_t body_len;
    api_request api; /* the same request as the dialects see it (api_header, ...) */
} fuzz_request;

/* Splits text (len bytes, text[len] == '\0') into request line, headers and body; lines may
 * end in \r\n. Returns -1 when there is no request line. */
int fuzz_request_parse(char *text, size_t len, fuzz_request *r);
/* A fuzz input, end to end: an exact-size NUL-terminated copy (a read past its end is an
 * ASan report), parsed, handed to run when it has a request line, freed. */
void fuzz_request_feed(const uint8_t *data, size_t size, void (*run)(const fuzz_request *r));
/* First value of a header, case-insensitive, or NULL. */
const char *fuzz_header(const fuzz_request *r, const char *name);

#endif
