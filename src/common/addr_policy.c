/* addr_policy.c — the address policy of outbound connections: special ranges, CIDR allow
 * lists, URL hosts and the one lookup whose result is checked and then used. */
#include "common/addr_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* An IPv4 address as 16 bytes: the IPv4-mapped IPv6 form, so one matcher serves both. */
static void mapped(const void *v4, unsigned char out[16])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

static bool prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)bytes) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (net[bytes] & mask);
}

/* Parses "ADDR/BITS" (or a bare ADDR) into the 16-byte form; bits counted in it. */
static bool parse_cidr(const char *text, unsigned char net[16], int *bits)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", text);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    unsigned char v4[4];
    bool is4 = inet_pton(AF_INET, buf, v4) == 1;
    if (is4)
        mapped(v4, net);
    else if (inet_pton(AF_INET6, buf, net) != 1)
        return false;
    int max = is4 ? 32 : 128;
    char *end = NULL;
    long b = slash ? strtol(slash + 1, &end, 10) : max;
    if ((slash && (end == slash + 1 || *end)) || b < 0 || b > max)
        return false;
    *bits = (int)b + (is4 ? 96 : 0);
    return true;
}

/* Calls fn on each item of a "a, b c" list until it returns true. */
static bool any_item(const char *list, bool (*fn)(const char *item, const void *ctx),
                     const void *ctx)
{
    char item[64];
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        if (n > 0) {
            snprintf(item, sizeof(item), "%.*s", (int)(n < sizeof(item) ? n : 0), p);
            if (fn(item, ctx))
                return true;
        }
        p += n;
    }
    return false;
}

static bool item_matches(const char *item, const void *ctx)
{
    unsigned char net[16];
    int bits;
    return parse_cidr(item, net, &bits) && prefix_match(ctx, net, bits);
}

static bool item_invalid(const char *item, const void *ctx)
{
    (void)ctx;
    unsigned char net[16];
    int bits;
    return !parse_cidr(item, net, &bits);
}

bool addr_list_valid(const char *allow)
{
    return !any_item(allow, item_invalid, NULL);
}

/* Ranges no tenant URL may reach unless allow-listed (IPv4 ones in mapped form, which
 * also catches an IPv4 address written as IPv4-mapped IPv6). */
static const struct {
    const char *cidr, *kind;
} special[] = {
    {"0.0.0.0/8", "unspecified"},
    {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "shared (CGN)"},
    {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},
    {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},
    {"192.0.2.0/24", "documentation"},
    {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "benchmarking"},
    {"198.51.100.0/24", "documentation"},
    {"203.0.113.0/24", "documentation"},
    {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},
    {"::/128", "unspecified"},
    {"::1/128", "loopback"},
    {"fc00::/7", "private"},
    {"fe80::/10", "link-local"},
    {"ff00::/8", "multicast"},
    {"64:ff9b::/96", "NAT64"},
    {"2001:db8::/32", "documentation"},
};

static const char *special_of(const unsigned char a[16])
{
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        unsigned char net[16];
        int bits;
        if (parse_cidr(special[i].cidr, net, &bits) && prefix_match(a, net, bits))
            return special[i].kind;
    }
    return NULL;
}

/* The 16-byte form; false for another family. */
static bool as16(int family, const void *addr, unsigned char a[16])
{
    if (family == AF_INET)
        mapped(addr, a);
    else if (family == AF_INET6)
        memcpy(a, addr, 16);
    else
        return false;
    return true;
}

const char *addr_special_kind(int family, const void *addr)
{
    unsigned char a[16];
    if (!as16(family, addr, a))
        return "unknown";
    return special_of(a); /* an IPv4-mapped IPv6 address is judged as its IPv4 one */
}

bool addr_allowed(int family, const void *addr, const char *allow)
{
    unsigned char a[16];
    if (!as16(family, addr, a))
        return false;
    return any_item(allow, item_matches, a) || !addr_special_kind(family, addr);
}

bool addr_url_host(const char *url, char *host, size_t len, int *port)
{
    *port = 0;
    const char *p = strstr(url, "://");
    if (!p || len == 0)
        return false;
    p += 3;
    size_t auth = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth);
    if (at) {
        auth -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    const char *end = p + auth, *colon;
    if (*p == '[') {
        const char *close = memchr(p, ']', auth);
        if (!close)
            return false;
        snprintf(host, len, "%.*s", (int)(close - p - 1), p + 1);
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(p, ':', auth);
        snprintf(host, len, "%.*s", (int)((colon ? colon : end) - p), p);
    }
    if (colon)
        *port = atoi(colon + 1);
    return host[0] != '\0';
}

static void refusal(char *why, size_t len, const char *ip, const char *kind, const char *key)
{
    snprintf(why, len, "refused by the address policy: %s is a %s address, not in %s", ip, kind,
             key);
}

/* Checks one resolved address; 0 or -1 with why. */
static int check_one(const struct sockaddr *sa, const char *allow, const char *key, char *ip,
                     size_t iplen, char *why, size_t whylen)
{
    const void *addr = sa->sa_family == AF_INET
                           ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                           : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, addr, ip, (socklen_t)iplen))
        snprintf(ip, iplen, "?");
    if (addr_allowed(sa->sa_family, addr, allow))
        return 0;
    refusal(why, whylen, ip, addr_special_kind(sa->sa_family, addr), key);
    return -1;
}

bool addr_sockaddr_allowed(const struct sockaddr *sa, const char *allow, const char *key, char *why,
                           size_t whylen)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
        snprintf(why, whylen, "refused by the address policy: not an IP address");
        return false;
    }
    return check_one(sa, allow, key, ip, sizeof(ip), why, whylen) == 0;
}

int addr_resolve_checked(const char *host, const char *allow, const char *key, char *ip,
                         size_t iplen, char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, whylen, "resolve %s: %s", host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    char first[INET6_ADDRSTRLEN] = "", text[INET6_ADDRSTRLEN];
    int out = 0;
    for (struct addrinfo *ai = res; ai && out == 0; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        out = check_one(ai->ai_addr, allow, key, text, sizeof(text), why, whylen);
        if (out == 0 && !first[0])
            snprintf(first, sizeof(first), "%s", text);
    }
    freeaddrinfo(res);
    if (out == 0 && !first[0]) {
        snprintf(why, whylen, "resolve %s: no IPv4 or IPv6 address", host);
        return -1;
    }
    snprintf(ip, iplen, "%s", first);
    return out;
}

int addr_literal_checked(const char *host, const char *allow, const char *key, char *why,
                         size_t whylen)
{
    unsigned char a[16];
    char ip[INET6_ADDRSTRLEN];
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
        inet_pton(AF_INET, "127.0.0.1", a);
        if (addr_allowed(AF_INET, a, allow))
            return 0;
        refusal(why, whylen, host, "loopback", key);
        return -1;
    }
    int family = inet_pton(AF_INET, host, a) == 1    ? AF_INET
                 : inet_pton(AF_INET6, host, a) == 1 ? AF_INET6
                                                     : 0;
    if (!family)
        return 1;
    if (addr_allowed(family, a, allow))
        return 0;
    snprintf(ip, sizeof(ip), "%s", host);
    refusal(why, whylen, ip, addr_special_kind(family, a), key);
    return -1;
}
