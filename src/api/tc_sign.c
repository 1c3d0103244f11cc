/* tc_sign.c — verification of Tencent Cloud API 3.0 request signatures: TC3-HMAC-SHA256 and
 * the legacy HmacSHA1/HmacSHA256 (spec/wire.md §3). Pure functions; the clock is an argument. */
#include "api/tc.h"
#include "api/sign_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define TC3_ALGORITHM "TC3-HMAC-SHA256"

/* ---------- small helpers ---------- */

/* Parses a decimal Unix time of 1..12 digits. */
static int parse_timestamp(const char *s, int64_t *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 12 || strspn(s, "0123456789") != n)
        return -1;
    *out = strtoll(s, NULL, 10);
    return 0;
}

static tc_sig check_skew(int64_t ts, int64_t now_s, char *why, size_t whylen)
{
    int64_t d = ts > now_s ? ts - now_s : now_s - ts;
    if (d <= TC_MAX_SKEW_S)
        return TC_SIG_OK;
    snprintf(why, whylen,
             "The signed timestamp %lld is %lld seconds away from the server's time; at most "
             "%d are allowed.",
             (long long)ts, (long long)d, TC_MAX_SKEW_S);
    return TC_SIG_EXPIRED;
}

/* The host without ":port" ("[v6]:p" keeps its brackets); false when there is no port. */
static bool host_without_port(const char *host, char *out, size_t len)
{
    const char *colon = strrchr(host, ':');
    const char *rb = strrchr(host, ']');
    if (!colon || (rb && colon < rb) || (!rb && strchr(host, ':') != colon))
        return false;
    snprintf(out, len, "%.*s", (int)(colon - host), host);
    return true;
}

/* ---------- TC3-HMAC-SHA256 ---------- */

/* "ID/YYYY-MM-DD/service/tc3_request" */
static int split_credential(const char *cred, tc3_auth *out)
{
    const char *suffix = "/tc3_request";
    size_t n = strlen(cred), slen = strlen(suffix);
    if (n <= slen || strcmp(cred + n - slen, suffix) != 0)
        return -1;
    const char *s1 = strchr(cred, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    const char *s3 = cred + n - slen;
    if (!s1 || !s2 || s2 >= s3 || s1 == cred || s2 - s1 - 1 != 10 || s3 - s2 - 1 < 1)
        return -1;
    if ((size_t)(s1 - cred) >= sizeof(out->secret_id) ||
        (size_t)(s3 - s2 - 1) >= sizeof(out->service))
        return -1;
    snprintf(out->secret_id, sizeof(out->secret_id), "%.*s", (int)(s1 - cred), cred);
    snprintf(out->date, sizeof(out->date), "%.*s", 10, s1 + 1);
    snprintf(out->service, sizeof(out->service), "%.*s", (int)(s3 - s2 - 1), s2 + 1);
    return 0;
}

static bool signed_headers_ok(const char *list)
{
    size_t n = strlen(list);
    if (n == 0 || list[0] == ';' || list[n - 1] == ';' || strstr(list, ";;"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)list[i]) || isdigit((unsigned char)list[i]) ||
              list[i] == '-' || list[i] == ';' || list[i] == '_'))
            return false;
    return true;
}

int tc3_parse_authorization(const char *value, tc3_auth *out)
{
    memset(out, 0, sizeof(*out));
    char cred[CONFIG_STR_MAX + 96];
    if (sign_parse_authorization(value, TC3_ALGORITHM, cred, sizeof(cred), out->signed_headers,
                                 sizeof(out->signed_headers), out->signature) != 0 ||
        split_credential(cred, out) != 0 || !signed_headers_ok(out->signed_headers) ||
        !sign_lists_header(out->signed_headers, "host") ||
        !sign_lists_header(out->signed_headers, "content-type"))
        return -1;
    return 0;
}

/* Writes "name:value\n" with the value trimmed and lowercased. */
static void canonical_header(FILE *f, const char *name, size_t nlen, const char *value)
{
    const char *b = value, *e = value + strlen(value);
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    fprintf(f, "%.*s:", (int)nlen, name);
    for (; b < e; b++)
        fputc(tolower((unsigned char)*b), f);
    fputc('\n', f);
}

/* The canonical header block; -1 when a signed header is absent from the request. */
static int canonical_headers(FILE *f, const tc3_request *r, const char *list, const char *host)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ";");
        char name[128];
        if (n >= sizeof(name))
            return -1;
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        const char *v =
            strcmp(name, "host") == 0 ? host : sign_find_header(r->headers, r->n_headers, name);
        if (!v)
            return -1;
        canonical_header(f, name, n, v);
        p += n + (p[n] == ';');
    }
    return 0;
}

char *tc3_canonical_request(const tc3_request *r, const tc3_auth *a, const char *host)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    char body_hash[65];
    sign_sha256_hex(r->body ? r->body : "", r->body_len, body_hash);
    fprintf(f, "%s\n/\n%s\n", r->method, r->query ? r->query : "");
    int rc = canonical_headers(f, r, a->signed_headers, host);
    fprintf(f, "\n%s\n%s", a->signed_headers, body_hash);
    if (fclose(f) != 0 || rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *tc3_string_to_sign(const char *timestamp, const tc3_auth *a, const char *canonical)
{
    char hash[65];
    sign_sha256_hex(canonical, strlen(canonical), hash);
    char *out = NULL;
    if (asprintf(&out, TC3_ALGORITHM "\n%s\n%s/%s/tc3_request\n%s", timestamp, a->date, a->service,
                 hash) < 0)
        return NULL;
    return out;
}

void tc3_signature(const char *secret_key, const tc3_auth *a, const char *sts, char hex[65])
{
    unsigned char k1[EVP_MAX_MD_SIZE], k2[EVP_MAX_MD_SIZE], k3[EVP_MAX_MD_SIZE];
    unsigned char sig[EVP_MAX_MD_SIZE];
    char *key = NULL;
    hex[0] = '\0';
    if (asprintf(&key, "TC3%s", secret_key) < 0)
        return;
    const EVP_MD *md = EVP_sha256();
    unsigned n = sign_hmac(md, key, strlen(key), a->date, k1);
    n = n ? sign_hmac(md, k1, n, a->service, k2) : 0;
    n = n ? sign_hmac(md, k2, n, "tc3_request", k3) : 0;
    n = n ? sign_hmac(md, k3, n, sts, sig) : 0;
    if (n)
        sign_hex_encode(sig, n, hex);
    OPENSSL_cleanse(key, strlen(key));
    free(key);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
}

/* True when the request verifies with host as the signed host. */
static bool tc3_matches(const tc3_request *r, const tc3_auth *a, const char *timestamp,
                        const char *secret_key, const char *host)
{
    char *canonical = tc3_canonical_request(r, a, host);
    char *sts = canonical ? tc3_string_to_sign(timestamp, a, canonical) : NULL;
    char hex[65] = "";
    if (sts)
        tc3_signature(secret_key, a, sts, hex);
    free(canonical);
    free(sts);
    return hex[0] && sign_same_secret(hex, a->signature);
}

static bool date_of(int64_t ts, const char *date)
{
    time_t t = (time_t)ts;
    struct tm tm;
    char buf[16];
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d", &tm) == 0)
        return false;
    return strcmp(buf, date) == 0;
}

tc_sig tc3_verify(const tc3_request *r, const tc3_auth *a, const char *secret_key, int64_t now_s,
                  char *why, size_t whylen)
{
    const char *timestamp = sign_find_header(r->headers, r->n_headers, "X-TC-Timestamp");
    const char *host = sign_find_header(r->headers, r->n_headers, "Host");
    int64_t ts;
    if (parse_timestamp(timestamp, &ts) != 0) {
        snprintf(why, whylen, "X-TC-Timestamp must be the Unix time in seconds.");
        return TC_SIG_MALFORMED;
    }
    if (!host || !*host) {
        snprintf(why, whylen, "The request has no Host header.");
        return TC_SIG_MALFORMED;
    }
    tc_sig skew = check_skew(ts, now_s, why, whylen);
    if (skew != TC_SIG_OK)
        return skew;
    if (!date_of(ts, a->date)) {
        snprintf(why, whylen, "The credential date %s is not the UTC date of X-TC-Timestamp.",
                 a->date);
        return TC_SIG_MISMATCH;
    }
    char bare[256];
    if (tc3_matches(r, a, timestamp, secret_key, host) ||
        (strlen(host) < sizeof(bare) && host_without_port(host, bare, sizeof(bare)) &&
         tc3_matches(r, a, timestamp, secret_key, bare)))
        return TC_SIG_OK;
    snprintf(why, whylen, "The signature does not match the request.");
    return TC_SIG_MISMATCH;
}

/* ---------- legacy HmacSHA1 / HmacSHA256 ---------- */

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const tc_param *const *)a)->key, (*(const tc_param *const *)b)->key);
}

char *tc_legacy_string_to_sign(const char *method, const char *host, const tc_params *p)
{
    const tc_param **sorted = calloc((size_t)p->n + 1, sizeof(*sorted));
    if (!sorted)
        return NULL;
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, "Signature") != 0)
            sorted[n++] = &p->v[i];
    qsort(sorted, (size_t)n, sizeof(*sorted), by_key);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f) {
        fprintf(f, "%s%s/?", method, host);
        for (int i = 0; i < n; i++)
            fprintf(f, "%s%s=%s", i ? "&" : "", sorted[i]->key, sorted[i]->value);
        if (fclose(f) != 0) {
            free(out);
            out = NULL;
        }
    }
    free(sorted);
    return out;
}

int tc_legacy_signature(const char *secret_key, const char *method, const char *sts, char out[45])
{
    const EVP_MD *md;
    if (strcmp(method, "HmacSHA1") == 0)
        md = EVP_sha1();
    else if (strcmp(method, "HmacSHA256") == 0)
        md = EVP_sha256();
    else
        return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned n = sign_hmac(md, secret_key, strlen(secret_key), sts, mac);
    if (n == 0)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, mac, (int)n);
    return 0;
}

static bool legacy_matches(const char *http_method, const char *host, const tc_params *p,
                           const char *secret_key, const char *method, const char *given)
{
    char *sts = tc_legacy_string_to_sign(http_method, host, p);
    char sig[45] = "";
    int rc = sts ? tc_legacy_signature(secret_key, method, sts, sig) : -1;
    free(sts);
    return rc == 0 && sign_same_secret(sig, given);
}

/* The fields every legacy request must carry; TC_SIG_OK when they are well-formed. */
static tc_sig legacy_fields(const tc_params *p, const char **method, int64_t *ts, char *why,
                            size_t whylen)
{
    const char *sm = tc_params_get(p, "SignatureMethod");
    *method = sm && *sm ? sm : "HmacSHA1";
    if (strcmp(*method, "HmacSHA1") != 0 && strcmp(*method, "HmacSHA256") != 0) {
        snprintf(why, whylen, "SignatureMethod must be HmacSHA1 or HmacSHA256.");
        return TC_SIG_MALFORMED;
    }
    const char *sig = tc_params_get(p, "Signature");
    if (!sig || !*sig || strlen(sig) > 44) {
        snprintf(why, whylen, "The Signature parameter is missing or malformed.");
        return TC_SIG_MALFORMED;
    }
    if (parse_timestamp(tc_params_get(p, "Timestamp"), ts) != 0) {
        snprintf(why, whylen, "Timestamp must be the Unix time in seconds.");
        return TC_SIG_MALFORMED;
    }
    return TC_SIG_OK;
}

tc_sig tc_legacy_verify(const char *http_method, const char *host, const tc_params *p,
                        const char *secret_key, int64_t now_s, char *why, size_t whylen)
{
    const char *method;
    int64_t ts;
    tc_sig rc = legacy_fields(p, &method, &ts, why, whylen);
    if (rc == TC_SIG_OK && (!host || !*host)) {
        snprintf(why, whylen, "The request has no Host header.");
        rc = TC_SIG_MALFORMED;
    }
    if (rc == TC_SIG_OK)
        rc = check_skew(ts, now_s, why, whylen);
    if (rc != TC_SIG_OK)
        return rc;
    const char *given = tc_params_get(p, "Signature");
    char bare[256];
    if (legacy_matches(http_method, host, p, secret_key, method, given) ||
        (strlen(host) < sizeof(bare) && host_without_port(host, bare, sizeof(bare)) &&
         legacy_matches(http_method, bare, p, secret_key, method, given)))
        return TC_SIG_OK;
    snprintf(why, whylen, "The signature does not match the request.");
    return TC_SIG_MISMATCH;
}
