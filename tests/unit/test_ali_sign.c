/* test_ali_sign.c — unit tests of the Alibaba dialect's pure parts: every ali-rpc-v1 and
 * ali-acs3 known-answer vector of tests/data/signature-vectors.json (fixed clock), pct(),
 * the nonce replay guard, and the SourceUrls / integer parameter readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "api/ali.h"
#include "api/sign_util.h"
#include "common/timeutil.h"
#include "vectors.h"

static void decode(form_params *p, const char *text)
{
    char why[256];
    assert_int_equal(form_decode(p, text, strlen(text), why, sizeof(why)), 0);
}

static int64_t seconds_of(const char *iso)
{
    int64_t ms;
    assert_int_equal(time_parse_iso(iso, &ms), 0);
    return ms / 1000;
}

/* ---------- RPC v1 ---------- */

static void check_rpc(const json_t *vec)
{
    const char *secret = field(vec, "secret", NULL);
    const char *method = field(vec, "method", NULL);
    const char *url = field(vec, "url", NULL);
    const char *body = field(vec, "body", NULL);
    print_message("  %s\n", field(vec, "file", NULL));
    form_params p = {0};
    const char *q = strchr(url, '?');
    if (q)
        decode(&p, q + 1);
    decode(&p, body); /* query and form merged */
    assert_string_equal(form_get(&p, "Signature"), field(vec, "expect", "signature"));

    char *canonical = ali_rpc_canonicalized(&p);
    assert_string_equal(canonical, field(vec, "expect", "canonicalized"));
    char *sts = ali_rpc_string_to_sign(method, canonical);
    assert_string_equal(sts, field(vec, "expect", "stringToSign"));
    char sig[29];
    ali_rpc_signature(secret, sts, sig);
    assert_string_equal(sig, field(vec, "expect", "signature"));
    free(canonical);
    free(sts);

    char why[512];
    int64_t now = seconds_of(form_get(&p, "Timestamp"));
    assert_int_equal(ali_rpc_verify(method, &p, secret, now, why, sizeof(why)), ALI_SIG_OK);
    assert_int_equal(ali_rpc_verify(method, &p, secret, now + 900, why, sizeof(why)), ALI_SIG_OK);
    assert_int_equal(ali_rpc_verify(method, &p, secret, now - 900, why, sizeof(why)), ALI_SIG_OK);
    assert_int_equal(ali_rpc_verify(method, &p, secret, now + 901, why, sizeof(why)),
                     ALI_SIG_EXPIRED);
    assert_int_equal(ali_rpc_verify(method, &p, secret, now - 901, why, sizeof(why)),
                     ALI_SIG_EXPIRED);
    assert_int_equal(ali_rpc_verify(method, &p, "SECRETTESU", now, why, sizeof(why)),
                     ALI_SIG_MISMATCH);
    assert_non_null(strstr(why, "Server string to sign is: "));
    const char *other = strcmp(method, "GET") == 0 ? "POST" : "GET";
    assert_int_equal(ali_rpc_verify(other, &p, secret, now, why, sizeof(why)), ALI_SIG_MISMATCH);
    /* one changed value */
    for (int i = 0; i < p.n; i++)
        if (strcmp(p.v[i].key, "Region") == 0)
            p.v[i].value[0] ^= 1;
    assert_int_equal(ali_rpc_verify(method, &p, secret, now, why, sizeof(why)), ALI_SIG_MISMATCH);
    form_free(&p);
}

static void test_rpc_vectors(void **state)
{
    assert_int_equal(each_vector("ali-rpc-v1", check_rpc), 16);
}

static void test_rpc_fields(void **state)
{
    form_params p = {0};
    char why[512];
    int64_t now = seconds_of("2026-11-21T12:57:30Z");
    decode(&p, "AccessKeyId=AKIDTEST&Signature=x&SignatureMethod=HMAC-SHA1&Timestamp=2026-11-21T12"
               "%3A57%3A30Z");
    assert_int_equal(ali_rpc_verify("GET", &p, "S", now, why, sizeof(why)), ALI_SIG_INCOMPLETE);
    form_free(&p);
    decode(&p, "AccessKeyId=A&Signature=x&SignatureMethod=HMAC-SHA256&SignatureNonce=1&"
               "Timestamp=2026-11-21T12%3A57%3A30Z");
    assert_int_equal(ali_rpc_verify("GET", &p, "S", now, why, sizeof(why)), ALI_SIG_METHOD);
    form_free(&p);
    decode(&p, "AccessKeyId=A&Signature=x&SignatureMethod=HMAC-SHA1&SignatureNonce=1&"
               "SignatureVersion=2.0&Timestamp=2026-11-21T12%3A57%3A30Z");
    assert_int_equal(ali_rpc_verify("GET", &p, "S", now, why, sizeof(why)), ALI_SIG_METHOD);
    form_free(&p);
    decode(&p, "AccessKeyId=A&Signature=x&SignatureMethod=HMAC-SHA1&SignatureNonce=1&"
               "Timestamp=1795265850");
    assert_int_equal(ali_rpc_verify("GET", &p, "S", now, why, sizeof(why)), ALI_SIG_TIME_FORMAT);
    form_free(&p);
}

/* ---------- ACS3 ---------- */

static void check_acs3(const json_t *vec)
{
    const char *secret = field(vec, "secret", NULL);
    const char *method = field(vec, "method", NULL);
    const char *url = field(vec, "url", NULL);
    const char *body = field(vec, "body", NULL);
    api_kv h[32];
    int nh = headers_of(vec, h, 32);
    print_message("  %s\n", field(vec, "file", NULL));
    form_params q = {0};
    if (strchr(url, '?'))
        decode(&q, strchr(url, '?') + 1);
    ali_acs3_request r = {.method = method,
                          .query = &q,
                          .headers = h,
                          .n_headers = nh,
                          .body = body,
                          .body_len = strlen(body)};
    ali_acs3_auth a;
    assert_int_equal(ali_acs3_parse_authorization(header(h, nh, "Authorization"), &a), 0);
    assert_string_equal(a.key_id, "AKIDTEST");

    char *canonical = ali_acs3_canonical_request(&r, &a);
    assert_non_null(canonical);
    assert_string_equal(canonical, field(vec, "expect", "canonicalRequest"));
    char *sts = ali_acs3_string_to_sign(canonical);
    assert_string_equal(sts, field(vec, "expect", "stringToSign"));
    char hex[65];
    ali_acs3_signature(secret, sts, hex);
    assert_string_equal(hex, field(vec, "expect", "signature"));
    free(canonical);
    free(sts);

    char why[512];
    int64_t now = seconds_of(header(h, nh, "x-acs-date"));
    assert_int_equal(ali_acs3_verify(&r, &a, secret, now, why, sizeof(why)), ALI_SIG_OK);
    assert_int_equal(ali_acs3_verify(&r, &a, secret, now + 900, why, sizeof(why)), ALI_SIG_OK);
    assert_int_equal(ali_acs3_verify(&r, &a, secret, now - 901, why, sizeof(why)), ALI_SIG_EXPIRED);
    assert_int_equal(ali_acs3_verify(&r, &a, "SECRETTESU", now, why, sizeof(why)),
                     ALI_SIG_MISMATCH);
    /* a body the hash does not cover; a query that was not signed */
    ali_acs3_request t = r;
    t.body = "x";
    t.body_len = 1;
    assert_int_equal(ali_acs3_verify(&t, &a, secret, now, why, sizeof(why)), ALI_SIG_MISMATCH);
    form_params none = {0};
    t = r;
    t.query = &none;
    assert_int_equal(ali_acs3_verify(&t, &a, secret, now, why, sizeof(why)), ALI_SIG_MISMATCH);
    form_free(&q);
}

static void test_acs3_vectors(void **state)
{
    assert_int_equal(each_vector("ali-acs3", check_acs3), 16);
}

static void test_acs3_authorization(void **state)
{
    ali_acs3_auth a;
    const char *sig = "8731b5e4b3d7ca9a08bb971746453e7417726ba4d1ed883031d296b4780e18e1";
    const char *all = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
                      "x-acs-version";
    char v[512];
    snprintf(v, sizeof(v), "ACS3-HMAC-SHA256 Credential=K,SignedHeaders=%s,Signature=%s", all, sig);
    assert_int_equal(ali_acs3_parse_authorization(v, &a), 0);
    assert_string_equal(a.key_id, "K");
    assert_string_equal(a.signed_headers, all);
    snprintf(v, sizeof(v), "ACS3-HMAC-SHA256 Credential=K, SignedHeaders=%s, Signature=%s", all,
             sig);
    assert_int_equal(ali_acs3_parse_authorization(v, &a), 0);
    /* the nonce not signed */
    snprintf(v, sizeof(v),
             "ACS3-HMAC-SHA256 Credential=K,SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
             "x-acs-date;x-acs-version,Signature=%s",
             sig);
    assert_int_equal(ali_acs3_parse_authorization(v, &a), -1);
    snprintf(v, sizeof(v), "ACS3-HMAC-SHA256 Credential=K,SignedHeaders=%s,Signature=%.63s", all,
             sig);
    assert_int_equal(ali_acs3_parse_authorization(v, &a), -1);
    snprintf(v, sizeof(v), "TC3-HMAC-SHA256 Credential=K,SignedHeaders=%s,Signature=%s", all, sig);
    assert_int_equal(ali_acs3_parse_authorization(v, &a), -1);
    assert_int_equal(ali_acs3_parse_authorization("ACS3-HMAC-SHA256 Credential=,", &a), -1);
    assert_int_equal(ali_acs3_parse_authorization(NULL, &a), -1);
}

/* ---------- pct, nonces ---------- */

static void test_pct(void **state)
{
    char *s = ali_pct("a b*~!'()+/=&\xc3\xa9-_.");
    assert_string_equal(s, "a%20b%2A~%21%27%28%29%2B%2F%3D%26%C3%A9-_.");
    free(s);
}

static void test_nonces(void **state)
{
    sign_nonce_reset();
    assert_true(sign_nonce_fresh("K1", "n1", 1000));
    assert_false(sign_nonce_fresh("K1", "n1", 1001));
    assert_true(sign_nonce_fresh("K2", "n1", 1001)); /* per key */
    assert_true(sign_nonce_fresh("K1", "n2", 1002));
    assert_false(sign_nonce_fresh("K1", "n1", 1000 + 2 * ALI_MAX_SKEW_S));
    /* remembered for twice the skew window, then forgotten */
    assert_true(sign_nonce_fresh("K1", "n1", 1001 + 2 * ALI_MAX_SKEW_S));
    assert_false(sign_nonce_fresh("K1", "n1", 1002 + 2 * ALI_MAX_SKEW_S));
    sign_nonce_reset();
}

static void test_nonce_capacity(void **state)
{
    sign_nonce_reset();
    char n[32];
    for (int i = 0; i < 300000; i++) { /* more than the ring holds: the oldest go */
        snprintf(n, sizeof(n), "%d", i);
        assert_true(sign_nonce_fresh("K", n, 5));
    }
    assert_false(sign_nonce_fresh("K", "299999", 5));
    assert_true(sign_nonce_fresh("K", "0", 5));
    sign_nonce_reset();
}

/* ---------- parameter readers ---------- */

static json_t *urls_of(const char *text, int *rc)
{
    form_params p = {0};
    json_t *out = NULL;
    ferr err = {0};
    decode(&p, text);
    *rc = ali_source_urls(&p, &out, &err);
    form_free(&p);
    return out;
}

static void test_source_urls(void **state)
{
    int rc;
    json_t *u =
        urls_of("SourceUrls=%5B%22http%3A%2F%2Fa%2F1.mp4%22%2C%22http%3A%2F%2Fa%2F2%22%5D", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_array_size(u), 2);
    assert_string_equal(json_string_value(json_array_get(u, 1)), "http://a/2");
    json_decref(u);
    u = urls_of("SourceUrls.2=http%3A%2F%2Fb&SourceUrls.1=http%3A%2F%2Fa", &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(json_string_value(json_array_get(u, 0)), "http://a");
    json_decref(u);
    u = urls_of("SourceUrls=rtmp%3A%2F%2Fh%2Fa%2Fs", &rc); /* one plain URL */
    assert_int_equal(rc, 0);
    assert_int_equal(json_array_size(u), 1);
    json_decref(u);
    assert_null(urls_of("Region=x", &rc));
    assert_int_equal(rc, 0);
    assert_null(urls_of("SourceUrls.0=a", &rc)); /* 1-based */
    assert_int_equal(rc, FERR_INVALID);
    assert_null(urls_of("SourceUrls.1=a&SourceUrls.3=b", &rc)); /* a gap */
    assert_int_equal(rc, FERR_INVALID);
    assert_null(urls_of("SourceUrls=%5B1%5D", &rc)); /* not strings */
    assert_int_equal(rc, FERR_INVALID);
    assert_null(urls_of("SourceUrls=%5B%5D", &rc));
    assert_int_equal(rc, FERR_INVALID);
    assert_null(urls_of("SourceUrls=%5B%22a%22&SourceUrls.1=b", &rc));
    assert_int_equal(rc, FERR_INVALID);
}

static void test_int_param(void **state)
{
    form_params p = {0};
    ferr err = {0};
    long long v = 7;
    decode(&p, "A=-1&B=x&C=301&D=&E=12345678901234567890");
    assert_int_equal(ali_int_param(&p, "A", -1, 10, &v, &err), 0);
    assert_int_equal(v, -1);
    assert_int_equal(ali_int_param(&p, "Z", 0, 10, &v, &err), 1);
    assert_int_equal(ali_int_param(&p, "B", 0, 10, &v, &err), FERR_INVALID);
    assert_int_equal(ali_int_param(&p, "C", 60, 300, &v, &err), FERR_INVALID);
    assert_string_equal(err.field, "C");
    assert_int_equal(ali_int_param(&p, "D", 0, 10, &v, &err), FERR_INVALID);
    assert_int_equal(ali_int_param(&p, "E", 0, 10, &v, &err), FERR_INVALID);
    form_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpc_vectors),
        cmocka_unit_test(test_rpc_fields),
        cmocka_unit_test(test_acs3_vectors),
        cmocka_unit_test(test_acs3_authorization),
        cmocka_unit_test(test_pct),
        cmocka_unit_test(test_nonces),
        cmocka_unit_test(test_nonce_capacity),
        cmocka_unit_test(test_source_urls),
        cmocka_unit_test(test_int_param),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
