/* sign_util.c — helpers both cloud dialects' signature checks share (sign_util.h): hex,
 * SHA-256, HMAC, constant-time compare, header lookup, Authorization fields. */
#include "api/sign_util.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

void sign_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sign_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    sign_hex_encode(md, n, out);
}

unsigned sign_hmac(const EVP_MD *md, const void *key, size_t klen, const char *msg,
                   unsigned char out[EVP_MAX_MD_SIZE])
{
    unsigned int n = 0;
    if (!HMAC(md, key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n))
        return 0;
    return n;
}

bool sign_same_secret(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

const char *sign_find_header(const api_kv *h, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(h[i].key, name) == 0)
            return h[i].value ? h[i].value : "";
    return NULL;
}

bool sign_lists_header(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ';' || p[n] == '\0'))
            return true;
    return false;
}

/* The text after scheme, a space and any more spaces, or NULL. */
static const char *sign_after_scheme(const char *value, const char *scheme)
{
    if (!value)
        return NULL;
    const char *p = value + strspn(value, " ");
    size_t n = strlen(scheme);
    if (strncmp(p, scheme, n) != 0 || p[n] != ' ')
        return NULL;
    p += n + 1;
    return p + strspn(p, " ");
}

/* Copies the text after prefix up to stop (or the end) into out and moves *p to stop;
 * -1 if absent, empty or too long. */
static int sign_take_field(const char **p, const char *prefix, char stop, char *out, size_t len)
{
    size_t plen = strlen(prefix);
    if (strncmp(*p, prefix, plen) != 0)
        return -1;
    const char *v = *p + plen;
    const char *end = stop ? strchr(v, stop) : v + strlen(v);
    if (!end || end == v || (size_t)(end - v) >= len)
        return -1;
    memcpy(out, v, (size_t)(end - v));
    out[end - v] = '\0';
    *p = end;
    return 0;
}

/* Steps *p over the separator at *p and the spaces after it. */
static void sign_next_field(const char **p)
{
    *p += 1 + strspn(*p + 1, " ");
}

/* Takes "Signature=HEX", trailing spaces dropped. */
static int sign_take_signature(const char **p, char out[65])
{
    if (sign_take_field(p, "Signature=", '\0', out, 65) != 0)
        return -1;
    size_t slen = strlen(out);
    while (slen && out[slen - 1] == ' ')
        out[--slen] = '\0';
    return slen == 64 && strspn(out, "0123456789abcdef") == 64 ? 0 : -1;
}

int sign_parse_authorization(const char *value, const char *scheme, char *cred, size_t clen,
                             char *headers, size_t hlen, char signature[65])
{
    const char *p = sign_after_scheme(value, scheme);
    if (!p || sign_take_field(&p, "Credential=", ',', cred, clen) != 0)
        return -1;
    sign_next_field(&p);
    if (sign_take_field(&p, "SignedHeaders=", ',', headers, hlen) != 0)
        return -1;
    sign_next_field(&p);
    return sign_take_signature(&p, signature);
}
