/* ali_sign.c — verification of Alibaba Cloud request signatures: RPC v1 (HMAC-SHA1) and
 * ACS3-HMAC-SHA256 (spec/wire.md §7). Pure functions; the clock is an argument. */
#include "api/ali.h"
#include "api/sign_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/timeutil.h"

#define ACS3 "ACS3-HMAC-SHA256"
#define MAX_SIGNED_HEADERS 64

/* ---------- small helpers ---------- */

char *ali_pct(const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = digits[*p >> 4];
            *o++ = digits[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Checks the signed time against now_s. */
static ali_sig check_time(const char *name, const char *value, int64_t now_s, char *why,
                          size_t whylen)
{
    int64_t ms;
    if (!value || time_parse_iso(value, &ms) != 0) {
        snprintf(why, whylen, "%s must be a UTC time like 2030-01-01T08:00:00Z.", name);
        return ALI_SIG_TIME_FORMAT;
    }
    int64_t d = ms / 1000 - now_s;
    if (d < 0)
        d = -d;
    if (d <= ALI_MAX_SKEW_S)
        return ALI_SIG_OK;
    snprintf(why, whylen,
             "The signed time %s is %lld seconds away from the server's time; at most %d are "
             "allowed.",
             value, (long long)d, ALI_MAX_SKEW_S);
    return ALI_SIG_EXPIRED;
}

/* The parameters sorted by name, with skip left out, written as pct(k)=pct(v) joined by '&';
 * empty values as "k=" (heap). */
static char *sorted_pairs(const form_params *p, const char *skip)
{
    const form_param **v = calloc((size_t)p->n + 1, sizeof(*v));
    if (!v)
        return NULL;
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (!skip || strcmp(p->v[i].key, skip) != 0)
            v[n++] = &p->v[i];
    for (int i = 1; i < n; i++) /* insertion sort: stable, and lists are short */
        for (int j = i; j > 0 && strcmp(v[j - 1]->key, v[j]->key) > 0; j--) {
            const form_param *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    bool ok = f != NULL;
    for (int i = 0; ok && i < n; i++) {
        char *k = ali_pct(v[i]->key), *val = ali_pct(v[i]->value);
        ok = k && val && fprintf(f, "%s%s=%s", i ? "&" : "", k, val) >= 0;
        free(k);
        free(val);
    }
    if (f && fclose(f) != 0)
        ok = false;
    free(v);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* ALI_SIG_OK when ok; else a mismatch whose message quotes the server's string to sign, as
 * Alibaba's own does: it helps fix a client. Frees sts. */
static ali_sig outcome(bool ok, char *sts, char *why, size_t whylen)
{
    if (!ok)
        snprintf(why, whylen,
                 "The request signature does not conform to Aliyun standards. Server string to "
                 "sign is: %.200s",
                 sts ? sts : "");
    free(sts);
    return ok ? ALI_SIG_OK : ALI_SIG_MISMATCH;
}

/* ---------- RPC v1 ---------- */

char *ali_rpc_canonicalized(const form_params *p)
{
    return sorted_pairs(p, "Signature");
}

char *ali_rpc_string_to_sign(const char *method, const char *canonicalized)
{
    char *enc = ali_pct(canonicalized), *out = NULL;
    if (enc && asprintf(&out, "%s&%%2F&%s", method, enc) < 0)
        out = NULL;
    free(enc);
    return out;
}

void ali_rpc_signature(const char *secret, const char *sts, char out[29])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    char *key = NULL;
    out[0] = '\0';
    if (asprintf(&key, "%s&", secret) < 0)
        return;
    if (sign_hmac(EVP_sha1(), key, strlen(key), sts, mac) == 20)
        EVP_EncodeBlock((unsigned char *)out, mac, 20);
    OPENSSL_cleanse(key, strlen(key));
    free(key);
}

static ali_sig rpc_fields(const form_params *p, char *why, size_t whylen)
{
    static const char *const needed[] = {"AccessKeyId", "Signature", "SignatureMethod",
                                         "SignatureNonce", "Timestamp"};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        const char *v = form_get(p, needed[i]);
        if (!v || !*v) {
            snprintf(why, whylen, "The signature parameter %s is missing.", needed[i]);
            return ALI_SIG_INCOMPLETE;
        }
    }
    const char *version = form_get(p, "SignatureVersion");
    if (strcmp(form_get(p, "SignatureMethod"), "HMAC-SHA1") != 0 ||
        (version && strcmp(version, "1.0") != 0)) {
        snprintf(why, whylen, "SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.");
        return ALI_SIG_METHOD;
    }
    if (strlen(form_get(p, "Signature")) > 64) {
        snprintf(why, whylen, "The Signature parameter is malformed.");
        return ALI_SIG_INCOMPLETE;
    }
    return ALI_SIG_OK;
}

ali_sig ali_rpc_verify(const char *method, const form_params *p, const char *secret, int64_t now_s,
                       char *why, size_t whylen)
{
    ali_sig rc = rpc_fields(p, why, whylen);
    if (rc == ALI_SIG_OK)
        rc = check_time("Timestamp", form_get(p, "Timestamp"), now_s, why, whylen);
    if (rc != ALI_SIG_OK)
        return rc;
    char *canonical = ali_rpc_canonicalized(p);
    char *sts = canonical ? ali_rpc_string_to_sign(method, canonical) : NULL;
    char sig[29] = "";
    if (sts)
        ali_rpc_signature(secret, sts, sig);
    free(canonical);
    return outcome(sig[0] && sign_same_secret(sig, form_get(p, "Signature")), sts, why, whylen);
}

/* ---------- ACS3-HMAC-SHA256 ---------- */

static bool signed_headers_ok(const char *list)
{
    static const char *const required[] = {
        "host",       "x-acs-action",          "x-acs-version",
        "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"};
    size_t n = strlen(list);
    if (n == 0 || list[0] == ';' || list[n - 1] == ';' || strstr(list, ";;"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)list[i]) || isdigit((unsigned char)list[i]) ||
              list[i] == '-' || list[i] == ';' || list[i] == '_' || list[i] == '.'))
            return false;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!sign_lists_header(list, required[i]))
            return false;
    return true;
}

int ali_acs3_parse_authorization(const char *value, ali_acs3_auth *out)
{
    memset(out, 0, sizeof(*out));
    if (sign_parse_authorization(value, ACS3, out->key_id, sizeof(out->key_id), out->signed_headers,
                                 sizeof(out->signed_headers), out->signature) != 0 ||
        !signed_headers_ok(out->signed_headers))
        return -1;
    return 0;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes "name:v1,v2\n": every value of the header, trimmed, sorted; -1 when absent. */
static int canonical_header(FILE *f, const ali_acs3_request *r, const char *name)
{
    char *vals[MAX_SIGNED_HEADERS];
    int n = 0;
    for (int i = 0; i < r->n_headers && n < MAX_SIGNED_HEADERS; i++) {
        if (strcasecmp(r->headers[i].key, name) != 0)
            continue;
        const char *b = r->headers[i].value ? r->headers[i].value : "";
        const char *e = b + strlen(b);
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (!(vals[n] = strndup(b, (size_t)(e - b))))
            break;
        n++;
    }
    qsort(vals, (size_t)n, sizeof(vals[0]), by_string);
    fprintf(f, "%s:", name);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s%s", i ? "," : "", vals[i]);
        free(vals[i]);
    }
    fputc('\n', f);
    return n > 0 ? 0 : -1;
}

char *ali_acs3_canonical_request(const ali_acs3_request *r, const ali_acs3_auth *a)
{
    char *query = sorted_pairs(r->query, NULL);
    const char *hash = NULL;
    for (int i = 0; i < r->n_headers && !hash; i++)
        if (strcasecmp(r->headers[i].key, "x-acs-content-sha256") == 0)
            hash = r->headers[i].value;
    char *out = NULL;
    size_t len = 0;
    FILE *f = query && hash ? open_memstream(&out, &len) : NULL;
    if (!f) {
        free(query);
        return NULL;
    }
    fprintf(f, "%s\n/\n%s\n", r->method, query);
    int rc = 0;
    for (const char *p = a->signed_headers; *p && rc == 0;) {
        size_t n = strcspn(p, ";");
        char name[128];
        if (n >= sizeof(name)) {
            rc = -1;
            break;
        }
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        rc = canonical_header(f, r, name);
        p += n + (p[n] == ';');
    }
    fprintf(f, "\n%s\n%s", a->signed_headers, hash);
    free(query);
    if (fclose(f) != 0 || rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *ali_acs3_string_to_sign(const char *canonical)
{
    char hash[65], *out = NULL;
    sign_sha256_hex(canonical, strlen(canonical), hash);
    if (asprintf(&out, ACS3 "\n%s", hash) < 0)
        return NULL;
    return out;
}

void ali_acs3_signature(const char *secret, const char *sts, char hex[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    hex[0] = '\0';
    if (sign_hmac(EVP_sha256(), secret, strlen(secret), sts, mac) == 32)
        sign_hex_encode(mac, 32, hex);
}

static const char *find_header(const ali_acs3_request *r, const char *name)
{
    return sign_find_header(r->headers, r->n_headers, name);
}

ali_sig ali_acs3_verify(const ali_acs3_request *r, const ali_acs3_auth *a, const char *secret,
                        int64_t now_s, char *why, size_t whylen)
{
    const char *given = find_header(r, "x-acs-content-sha256");
    if (!given || !find_header(r, "x-acs-signature-nonce")) {
        snprintf(why, whylen, "x-acs-content-sha256 and x-acs-signature-nonce are required.");
        return ALI_SIG_INCOMPLETE;
    }
    ali_sig rc = check_time("x-acs-date", find_header(r, "x-acs-date"), now_s, why, whylen);
    if (rc != ALI_SIG_OK)
        return rc;
    char body_hash[65];
    sign_sha256_hex(r->body ? r->body : "", r->body_len, body_hash);
    if (strcasecmp(given, body_hash) != 0) {
        snprintf(why, whylen, "x-acs-content-sha256 is not the SHA-256 of the body.");
        return ALI_SIG_MISMATCH;
    }
    char *canonical = ali_acs3_canonical_request(r, a);
    char *sts = canonical ? ali_acs3_string_to_sign(canonical) : NULL;
    char hex[65] = "";
    if (sts)
        ali_acs3_signature(secret, sts, hex);
    free(canonical);
    return outcome(hex[0] && sign_same_secret(hex, a->signature), sts, why, whylen);
}
