/* console.c — the web console's dialect at /console: the static page, script and style sheet
 * built into the binary (console_assets.S), served with a strict security policy and ETags.
 * The pages need no token; the script calls the native API with the one the user signs in with. */
#include "api/api_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bytes of each asset, between a start and an end symbol (console_assets.S). */
extern const char ferry_console_index_html[], ferry_console_index_html_end[];
extern const char ferry_console_js[], ferry_console_js_end[];
extern const char ferry_console_css[], ferry_console_css_end[];

/* Self only, no inline script or style, no framing, no form posts, no plugins. */
#define CONSOLE_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

typedef struct console_asset {
    const char *path; /* under /console */
    const char *type;
    const char *start, *end;
} console_asset;

static const console_asset assets[] = {
    {"/console/", "text/html; charset=utf-8", ferry_console_index_html,
     ferry_console_index_html_end},
    {"/console/console.js", "text/javascript; charset=utf-8", ferry_console_js,
     ferry_console_js_end},
    {"/console/console.css", "text/css; charset=utf-8", ferry_console_css, ferry_console_css_end},
};

#define N_ASSETS (sizeof(assets) / sizeof(assets[0]))

static const console_asset *find_asset(const char *path)
{
    for (size_t i = 0; i < N_ASSETS; i++)
        if (strcmp(assets[i].path, path) == 0)
            return &assets[i];
    if (strcmp(path, "/console/index.html") == 0)
        return &assets[0];
    return NULL;
}

/* A strong validator of the asset's bytes (FNV-1a, 64 bits): it changes with every build
 * that changes the asset, so browsers revalidate cheaply and never keep a stale script. */
static void asset_etag(const console_asset *a, char *out, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a->start; p < a->end; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    snprintf(out, len, "\"%016llx\"", (unsigned long long)h);
}

static void security_headers(api_response *resp)
{
    api_resp_header(resp, "Content-Security-Policy", CONSOLE_CSP);
    api_resp_header(resp, "X-Content-Type-Options", "nosniff");
    api_resp_header(resp, "Referrer-Policy", "no-referrer");
    api_resp_header(resp, "X-Frame-Options", "DENY");
}

static void reply_asset(const api_request *req, api_response *resp, const console_asset *a)
{
    char etag[24];
    asset_etag(a, etag, sizeof(etag));
    api_resp_header(resp, "Cache-Control", "no-cache");
    api_resp_header(resp, "ETag", etag);
    const char *inm = api_header(req, "If-None-Match");
    if (inm && strstr(inm, etag)) {
        resp->status = 304;
        resp->content_type = a->type;
        return;
    }
    size_t n = (size_t)(a->end - a->start);
    resp->body = malloc(n ? n : 1);
    if (!resp->body) {
        api_reply_error(resp, FERR_INTERNAL, NULL, "The server ran out of memory.");
        return;
    }
    memcpy(resp->body, a->start, n);
    resp->body_len = n;
    resp->content_type = a->type;
    resp->status = 200;
}

static void console_handle(const api_request *req, api_response *resp)
{
    security_headers(resp);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        api_reply_error(resp, API_ERR_METHOD, NULL, "Use GET on the console.");
        api_resp_header(resp, "Allow", "GET, HEAD");
        return;
    }
    if (strcmp(req->path, "/console") == 0) {
        resp->status = 301;
        api_resp_header(resp, "Location", "/console/");
        return;
    }
    const console_asset *a = find_asset(req->path);
    if (!a) {
        api_reply_error(resp, FERR_NOT_FOUND, NULL, "No such console page.");
        return;
    }
    reply_asset(req, resp, a);
}

const api_dialect api_console_dialect = {
    .name = "console",
    .prefix = "/console",
    .handle = console_handle,
};
