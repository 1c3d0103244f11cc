/* notify_policy.c — the rules of delivery as pure functions: the retry schedule, which
 * addresses a callback may reach, and the HMAC-SHA256 signature of native payloads. */
#include "notify/notify.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

int64_t notify_retry_at(const config *cfg, int attempts, int64_t now_ms, bool *dead)
{
    *dead = attempts > cfg->callback_retry_count;
    return now_ms + (int64_t)cfg->callback_retry_interval_s * 1000;
}

/* ---------- addresses ---------- */

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

static bool in_allow_list(const unsigned char a[16], const char *allow)
{
    char item[64];
    for (const char *p = allow ? allow : ""; *p;) {
        size_t n = strcspn(p, ", ");
        if (n > 0 && n < sizeof(item)) {
            memcpy(item, p, n);
            item[n] = '\0';
            unsigned char net[16];
            int bits;
            if (parse_cidr(item, net, &bits) && prefix_match(a, net, bits))
                return true;
        }
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

/* Ranges no callback may reach unless allow-listed (IPv4 ones in mapped form). */
static const struct {
    const char *cidr;
} special[] = {
    {"0.0.0.0/8"},      {"10.0.0.0/8"},    {"100.64.0.0/10"}, {"127.0.0.0/8"},
    {"169.254.0.0/16"}, {"172.16.0.0/12"}, {"192.0.0.0/24"},  {"192.168.0.0/16"},
    {"198.18.0.0/15"},  {"224.0.0.0/3"},   {"::/128"},        {"::1/128"},
    {"fc00::/7"},       {"fe80::/10"},     {"ff00::/8"},      {"64:ff9b::/96"},
};

static bool is_special(const unsigned char a[16])
{
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        unsigned char net[16];
        int bits;
        if (parse_cidr(special[i].cidr, net, &bits) && prefix_match(a, net, bits))
            return true;
    }
    return false;
}

bool notify_addr_allowed(int family, const void *addr, const char *allow)
{
    unsigned char a[16];
    if (family == AF_INET)
        mapped(addr, a);
    else if (family == AF_INET6)
        memcpy(a, addr, 16);
    else
        return false;
    return in_allow_list(a, allow) || !is_special(a);
}

/* ---------- signatures ---------- */

void notify_sign(const char *secret, const char *body, size_t len, char out[72])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
    int w = snprintf(out, 72, "sha256=");
    for (unsigned i = 0; i < n && w + 2 < 72; i++)
        w += snprintf(out + w, 72 - (size_t)w, "%02x", mac[i]);
}
