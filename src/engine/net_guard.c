/* net_guard.c — every connection a relay opens passes the address policy: FFmpeg's opens,
 * those nested in them (HLS playlists, segments and keys) and each redirect they meet. */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libavutil/opt.h>

#include "common/addr_policy.h"

int net_checked_address(const net_policy *p, const char *host, char *ip, size_t iplen, char *why,
                        size_t len)
{
    static const net_policy any = {.allow = "0.0.0.0/0,::/0", .key = "the policy"};
    p = p ? p : &any;
    int lit = addr_literal_checked(host, p->allow, p->key, why, len);
    if (lit < 0)
        return -1;
    if (lit == 0) {
        snprintf(ip, iplen, "%s", strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host);
        return 0;
    }
    return addr_resolve_checked(host, p->allow, p->key, ip, iplen, why, len) == 0 ? 1 : -1;
}

bool net_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
    } else {
        return false;
    }
    return true;
}

/* Where the host of url starts: after the scheme and any user info; NULL when it is not
 * host there. */
static const char *url_host_at(const char *url, const char *host)
{
    const char *start = strstr(url, "://");
    if (!start)
        return NULL;
    start += 3;
    size_t authority = strcspn(start, "/?#");
    for (const char *s = start; s < start + authority; s++)
        if (*s == '@')
            start = s + 1;
    return strncasecmp(start, host, strlen(host)) == 0 ? start : NULL;
}

/* Schemes whose connection may go to the checked address in place of the name: plain http
 * (the name goes in a Host header), srt (the stream is named by its streamid) and rtsp
 * (servers answer the address as they answer the name). TLS needs the name, and rtmp's
 * tcUrl names the host, so https, rtsps, rtmp and rtmps are resolved again by FFmpeg. */
static bool pinnable(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "srt://", 6) == 0 ||
           strncasecmp(url, "rtsp://", 7) == 0;
}

/* Checks the host of url against p (no host: nothing to check, the protocol whitelist
 * decides). A name in a pinnable URL is pinned: pinned is url with the checked address in
 * place of the name, so the connection goes where the check looked. */
int net_guard_check(const net_policy *p, const char *url, char *pinned, size_t plen,
                    AVDictionary **opts, char *why, size_t len)
{
    char host[256], ip[64];
    int port;
    snprintf(pinned, plen, "%s", url);
    if (!p || !strstr(url, "://") || !addr_url_host(url, host, sizeof(host), &port))
        return 0;
    int rc = net_checked_address(p, host, ip, sizeof(ip), why, len);
    if (rc <= 0)
        return rc;
    const char *at = url_host_at(url, host);
    if (!pinnable(url) || !at)
        return 0;
    if (strncasecmp(url, "http://", 7) == 0) {
        char header[320];
        if (port)
            snprintf(header, sizeof(header), "Host: %s:%d\r\n", host, port);
        else
            snprintf(header, sizeof(header), "Host: %s\r\n", host);
        av_dict_set(opts, "headers", header, 0);
    }
    bool v6 = strchr(ip, ':') != NULL;
    snprintf(pinned, plen, "%.*s%s%s%s%s", (int)(at - url), url, v6 ? "[" : "", ip, v6 ? "]" : "",
             at + strlen(host));
    return 0;
}

#define MAX_HOPS 5           /* redirects followed, each to a checked address */
#define HOP_TIMEOUT_MS 10000 /* the question where a URL redirects to */

/* Opens url when its host passes p, with the context's protocol whitelist handed down and
 * no HTTP redirect followed inside FFmpeg (its target would go unchecked). */
static int open_checked(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                        AVDictionary **opts)
{
    char pinned[TASK_URL_MAX + 64], why[256];
    if (net_guard_check(s->opaque, url, pinned, sizeof(pinned), opts, why, sizeof(why)) != 0) {
        av_log(s, AV_LOG_ERROR, "%s\n", why);
        return AVERROR(EACCES);
    }
    if (s->protocol_whitelist)
        av_dict_set(opts, "protocol_whitelist", s->protocol_whitelist, 0);
    av_dict_set(opts, "max_redirects", "0", 0);
    return avio_open2(pb, pinned, flags, &s->interrupt_callback, opts);
}

static int hop_cancelled(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const AVIOInterruptCB *cb = ctx;
    return cb->callback && cb->callback(cb->opaque) ? 1 : 0;
}

/* A connect of the question, to an address p allows (libcurl's resolved one). */
static curl_socket_t hop_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    const net_policy *p = ctx;
    char why[256];
    if (!addr_sockaddr_allowed(&a->addr, p->allow, p->key, why, sizeof(why)))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Ends the question at the first byte of a body: only the status line and headers matter. */
static size_t hop_body(char *data, size_t size, size_t n, void *ctx)
{
    return 0;
}

/* Where an http(s) URL that FFmpeg could not open redirects to, asked with a GET that
 * follows nothing and reads no body (not HEAD: some servers answer it differently);
 * false when it does not redirect. */
static bool redirect_target(AVFormatContext *s, const char *url, char *out, size_t len)
{
    CURL *c = curl_easy_init();
    char *loc = NULL;
    long status = 0;
    if (!c)
        return false;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hop_body);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HOP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, hop_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, s->opaque);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, hop_cancelled);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s->interrupt_callback);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_perform(c); /* a body cut short is no failure here */
    bool found = curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
                 status >= 300 && status < 400 &&
                 curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc &&
                 strlen(loc) < len;
    if (found)
        snprintf(out, len, "%s", loc);
    curl_easy_cleanup(c);
    return found;
}

static bool is_http(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Opens url with the policy (s->opaque); a redirect is followed here, hop by hop, each
 * target checked like the first URL. */
static int open_following(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options)
{
    char hop[TASK_URL_MAX + 1];
    snprintf(hop, sizeof(hop), "%s", url);
    for (int n = 0;; n++) {
        AVDictionary *opts = NULL;
        if (options)
            av_dict_copy(&opts, *options, 0);
        int rc = open_checked(s, pb, hop, flags, &opts);
        if (options && rc >= 0) {
            av_dict_free(options);
            *options = opts;
        } else {
            av_dict_free(&opts);
        }
        char next[TASK_URL_MAX + 1];
        if (rc != AVERROR(EIO) || !is_http(hop) || !redirect_target(s, hop, next, sizeof(next)))
            return rc;
        if (n == MAX_HOPS) {
            av_log(s, AV_LOG_ERROR, "more than %d redirects\n", MAX_HOPS);
            return rc;
        }
        snprintf(hop, sizeof(hop), "%s", next);
    }
}

/* An HLS playlist: by its extension, or the top-level URL of the hls format. */
static bool is_playlist(const AVFormatContext *s, const char *url)
{
    size_t end = strcspn(url, "?#");
    for (const char *ext = ".m3u8\0.m3u\0"; *ext; ext += strlen(ext) + 1) {
        size_t n = strlen(ext);
        if (end > n && strncasecmp(url + end - n, ext, n) == 0)
            return true;
    }
    return !s->pb && s->iformat && strcmp(s->iformat->name, "hls") == 0;
}

/* An HLS playlist is read whole into memory: one that says it is larger than the policy's
 * bound is refused unread, and one that does not say is cut at the bound (io_guard.c). */
static int bound_playlist(AVFormatContext *s, AVIOContext **pb, const char *url)
{
    const net_policy *p = s->opaque;
    io_guard *g = io_guard_of(&s->interrupt_callback);
    if (!g || p->playlist_max <= 0 || !is_playlist(s, url))
        return 0;
    int64_t size = avio_size(*pb);
    if (size > p->playlist_max) {
        av_log(s, AV_LOG_ERROR,
               "refused by the size policy: the playlist is larger than %lld KiB "
               "(playlist_max_kb)\n",
               (long long)(p->playlist_max >> 10));
        avio_closep(pb);
        g->over = true;
        return AVERROR(EFBIG);
    }
    io_guard_watch(g, *pb, p->playlist_max);
    return 0;
}

/* AVFormatContext.io_open: every URL the demuxer opens, the top-level one included. */
static int guarded_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                           AVDictionary **options)
{
    io_guard *g = io_guard_of(&s->interrupt_callback);
    if (g && s->pb)
        io_guard_unwatch(g, s->pb); /* the top-level playlist has been read by now */
    int rc = open_following(s, pb, url, flags, options);
    return rc < 0 ? rc : bound_playlist(s, pb, url);
}

/* AVFormatContext.io_close2: a watched playlist is no longer watched once closed. */
static int guarded_io_close2(AVFormatContext *s, AVIOContext *pb)
{
    io_guard *g = io_guard_of(&s->interrupt_callback);
    if (g)
        io_guard_unwatch(g, pb);
    return avio_close(pb);
}

void net_guard_install(AVFormatContext *ic, const net_policy *p)
{
    if (!p)
        return;
    ic->opaque = (void *)p;
    ic->io_open = guarded_io_open;
    ic->io_close2 = guarded_io_close2;
}

void net_guard_done(const AVIOInterruptCB *cb)
{
    io_guard *g = io_guard_of(cb);
    if (g)
        io_guard_unwatch(g, NULL);
}
