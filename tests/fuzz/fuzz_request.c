/* fuzz_request.c — the fuzz targets' reading of an input as an HTTP request; the headers are
 * then looked up with the server's own api_header. See fuzz_request.h. */
#include "fuzz_request.h"

#include <stdlib.h>
#include <string.h>

/* Cuts the line at *p (ending at \n or the end of the text) and advances past it. */
static char *next_line(char **p, char *end)
{
    char *line = *p;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *stop = nl ? nl : end;
    if (stop > line && stop[-1] == '\r')
        stop[-1] = '\0';
    *stop = '\0';
    *p = nl ? nl + 1 : end;
    return line;
}

static void read_headers(char **p, char *end, fuzz_request *r)
{
    while (*p < end) {
        char *line = next_line(p, end);
        if (!*line)
            break;
        char *colon = strchr(line, ':');
        if (!colon || r->n_headers == FUZZ_MAX_HEADERS)
            continue;
        *colon = '\0';
        r->headers[r->n_headers].key = line;
        r->headers[r->n_headers].value = colon + 1 + strspn(colon + 1, " \t");
        r->n_headers++;
    }
}

int fuzz_request_parse(char *text, size_t len, fuzz_request *r)
{
    char *p = text, *end = text + len;
    char *line = next_line(&p, end);
    char *sp = strchr(line, ' ');
    if (!sp)
        return -1;
    *sp = '\0';
    r->method = line;
    r->target = sp + 1;
    char *version = strchr(sp + 1, ' '); /* an optional " HTTP/1.1" */
    if (version)
        *version = '\0';
    const char *q = strchr(r->target, '?');
    r->query = q ? q + 1 : "";
    read_headers(&p, end, r);
    r->body = p;
    r->body_len = (size_t)(end - p);
    r->api = (api_request){.method = r->method,
                           .raw_uri = r->target,
                           .body = r->body,
                           .body_len = r->body_len,
                           .n_headers = r->n_headers,
                           .headers = r->headers};
    return 0;
}

void fuzz_request_feed(const uint8_t *data, size_t size, void (*run)(const fuzz_request *r))
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_request r = {0};
    if (fuzz_request_parse(text, size, &r) == 0)
        run(&r);
    free(text);
}

const char *fuzz_header(const fuzz_request *r, const char *name)
{
    return api_header(&r->api, name);
}
