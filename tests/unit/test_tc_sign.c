/* test_tc_sign.c — unit tests of the Tencent dialect's pure parts: every tc3 and tc-legacy
 * known-answer vector of tests/data/signature-vectors.json (fixed clock), parameter
 * decoding and rebuilding, parameter checks, and the per-account token buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/tc.h"
#include "api/throttle.h"
#include "vectors.h"

/* ---------- TC3 ---------- */

static void check_tc3(const json_t *vec)
{
    const char *label = field(vec, "file", NULL);
    const char *secret = field(vec, "secret", NULL);
    const char *url = field(vec, "url", NULL);
    const char *body = field(vec, "body", NULL);
    api_kv h[32];
    int nh = headers_of(vec, h, 32);
    const char *q = strchr(url, '?');
    tc3_request r = {.method = field(vec, "method", NULL),
                     .query = q ? q + 1 : "",
                     .headers = h,
                     .n_headers = nh,
                     .body = body,
                     .body_len = strlen(body)};
    tc3_auth a;
    print_message("  %s\n", label);
    assert_int_equal(tc3_parse_authorization(header(h, nh, "Authorization"), &a), 0);
    assert_string_equal(a.secret_id, "AKIDTEST");

    char *canonical = tc3_canonical_request(&r, &a, field(vec, "expect", "hostSigned"));
    assert_non_null(canonical);
    assert_string_equal(canonical, field(vec, "expect", "canonicalRequest"));
    const char *ts = header(h, nh, "X-TC-Timestamp");
    char *sts = tc3_string_to_sign(ts, &a, canonical);
    assert_string_equal(sts, field(vec, "expect", "stringToSign"));
    char hex[65];
    tc3_signature(secret, &a, sts, hex);
    assert_string_equal(hex, field(vec, "expect", "signature"));
    free(canonical);
    free(sts);

    char why[256];
    int64_t now = strtoll(ts, NULL, 10);
    assert_int_equal(tc3_verify(&r, &a, secret, now, why, sizeof(why)), TC_SIG_OK);
    assert_int_equal(tc3_verify(&r, &a, secret, now + 300, why, sizeof(why)), TC_SIG_OK);
    assert_int_equal(tc3_verify(&r, &a, secret, now - 300, why, sizeof(why)), TC_SIG_OK);
    assert_int_equal(tc3_verify(&r, &a, secret, now + 301, why, sizeof(why)), TC_SIG_EXPIRED);
    assert_int_equal(tc3_verify(&r, &a, secret, now - 301, why, sizeof(why)), TC_SIG_EXPIRED);
    assert_int_equal(tc3_verify(&r, &a, "SECRETTESU", now, why, sizeof(why)), TC_SIG_MISMATCH);
    /* one changed byte of what is signed */
    tc3_request t = r;
    if (r.body_len) {
        char *b = strdup(body);
        b[r.body_len / 2] ^= 1;
        t.body = b;
        assert_int_equal(tc3_verify(&t, &a, secret, now, why, sizeof(why)), TC_SIG_MISMATCH);
        free(b);
    } else {
        t.query = "";
        assert_int_equal(tc3_verify(&t, &a, secret, now, why, sizeof(why)), TC_SIG_MISMATCH);
    }
}

static void test_tc3_vectors(void **state)
{
    assert_int_equal(each_vector("tc3", check_tc3), 16);
}

/* ---------- legacy ---------- */

static void check_legacy(const json_t *vec)
{
    const char *label = field(vec, "file", NULL);
    const char *secret = field(vec, "secret", NULL);
    const char *method = field(vec, "method", NULL);
    const char *url = field(vec, "url", NULL);
    const char *body = field(vec, "body", NULL);
    api_kv h[32];
    int nh = headers_of(vec, h, 32);
    print_message("  %s\n", label);
    const char *text = strcmp(method, "GET") == 0 ? strchr(url, '?') + 1 : body;
    tc_params p = {0};
    char why[256];
    assert_int_equal(tc_params_decode(&p, text, strlen(text), why, sizeof(why)), 0);
    assert_string_equal(tc_params_get(&p, "Signature"), field(vec, "expect", "signature"));

    char *sts = tc_legacy_string_to_sign(method, field(vec, "expect", "hostSigned"), &p);
    assert_string_equal(sts, field(vec, "expect", "stringToSign"));
    const char *sm = tc_params_get(&p, "SignatureMethod");
    char sig[45];
    assert_int_equal(tc_legacy_signature(secret, sm ? sm : "HmacSHA1", sts, sig), 0);
    assert_string_equal(sig, field(vec, "expect", "signature"));
    free(sts);

    const char *host = header(h, nh, "Host");
    int64_t now = strtoll(tc_params_get(&p, "Timestamp"), NULL, 10);
    assert_int_equal(tc_legacy_verify(method, host, &p, secret, now, why, sizeof(why)), TC_SIG_OK);
    assert_int_equal(tc_legacy_verify(method, host, &p, secret, now + 301, why, sizeof(why)),
                     TC_SIG_EXPIRED);
    assert_int_equal(tc_legacy_verify(method, host, &p, "SECRETTESU", now, why, sizeof(why)),
                     TC_SIG_MISMATCH);
    /* the host without its port does not verify a signature made with it... */
    assert_int_equal(tc_legacy_verify(method, "127.0.0.1", &p, secret, now, why, sizeof(why)),
                     TC_SIG_MISMATCH);
    /* ...and a changed value does not verify at all */
    char *saved = p.v[0].value;
    p.v[0].value = "changed";
    assert_int_equal(tc_legacy_verify(method, host, &p, secret, now, why, sizeof(why)),
                     TC_SIG_MISMATCH);
    p.v[0].value = saved;
    tc_params_free(&p);
}

static void test_legacy_vectors(void **state)
{
    assert_int_equal(each_vector("tc-legacy", check_legacy), 10);
}

/* ---------- Authorization parsing ---------- */

static void test_authorization_parsing(void **state)
{
    tc3_auth a;
    const char *sig = "0bb9c3fec83e6e6314fd1e4607c022237e6e869142004ba24c3bc658f031de78";
    char ok[512];
    snprintf(ok, sizeof(ok),
             "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, "
             "SignedHeaders=content-type;host;x-tc-action, Signature=%s",
             sig);
    assert_int_equal(tc3_parse_authorization(ok, &a), 0);
    assert_string_equal(a.secret_id, "AKID");
    assert_string_equal(a.date, "2026-11-21");
    assert_string_equal(a.service, "live");
    assert_string_equal(a.signed_headers, "content-type;host;x-tc-action");
    assert_string_equal(a.signature, sig);

    const char *bad[] = {
        NULL,
        "",
        "TC3-HMAC-SHA256",
        "Bearer abc",
        "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, "
        "SignedHeaders=content-type;host",
        "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, "
        "SignedHeaders=content-type;host, Signature=abc",
        "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live, SignedHeaders=content-type;host, "
        "Signature=0bb9c3fec83e6e6314fd1e4607c022237e6e869142004ba24c3bc658f031de78",
        "TC3-HMAC-SHA256 Credential=/2026-11-21/live/tc3_request, SignedHeaders=content-type;host, "
        "Signature=0bb9c3fec83e6e6314fd1e4607c022237e6e869142004ba24c3bc658f031de78",
        "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, SignedHeaders=content-type, "
        "Signature=0bb9c3fec83e6e6314fd1e4607c022237e6e869142004ba24c3bc658f031de78",
        "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, SignedHeaders=Host;x, "
        "Signature=0bb9c3fec83e6e6314fd1e4607c022237e6e869142004ba24c3bc658f031de78",
        "TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=0BB9C3FEC83E6E6314FD1E4607C022237E6E869142004BA24C3BC658F031DE78",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("  bad[%zu]\n", i);
        assert_int_equal(tc3_parse_authorization(bad[i], &a), -1);
    }
}

/* A signed header the request lacks, a missing timestamp and a credential date that is not
 * the timestamp's date are refused. */
static void test_tc3_refusals(void **state)
{
    api_kv h[] = {{"Host", "127.0.0.1:8480"},
                  {"Content-Type", "application/json"},
                  {"X-TC-Timestamp", "1795265848"}};
    tc3_request r = {
        .method = "POST", .query = "", .headers = h, .n_headers = 3, .body = "{}", .body_len = 2};
    tc3_auth a;
    char why[256];
    assert_int_equal(
        tc3_parse_authorization("TC3-HMAC-SHA256 Credential=AKID/2026-11-21/live/tc3_request, "
                                "SignedHeaders=content-type;host;x-tc-action, Signature="
                                "0bb9c3fec83e6e6314fd1e4607c022237e6e869142004ba24c3bc658f031de78",
                                &a),
        0);
    assert_null(tc3_canonical_request(&r, &a, "127.0.0.1"));
    assert_int_equal(tc3_verify(&r, &a, "SECRETTEST", 1795265848, why, sizeof(why)),
                     TC_SIG_MISMATCH);
    snprintf(a.date, sizeof(a.date), "2026-11-20");
    assert_int_equal(tc3_verify(&r, &a, "SECRETTEST", 1795265848, why, sizeof(why)),
                     TC_SIG_MISMATCH);
    assert_non_null(strstr(why, "date"));
    h[2].value = "soon";
    assert_int_equal(tc3_verify(&r, &a, "SECRETTEST", 1795265848, why, sizeof(why)),
                     TC_SIG_MALFORMED);
}

static void test_legacy_refusals(void **state)
{
    tc_params p = {0};
    char why[256];
    const char *q = "Action=X&SecretId=AKID&Timestamp=1795265850&Nonce=1&SignatureMethod=MD5&"
                    "Signature=abc";
    assert_int_equal(tc_params_decode(&p, q, strlen(q), why, sizeof(why)), 0);
    assert_int_equal(tc_legacy_verify("GET", "h", &p, "k", 1795265850, why, sizeof(why)),
                     TC_SIG_MALFORMED);
    tc_params_free(&p);
    q = "Action=X&SecretId=AKID&Nonce=1&Signature=abc";
    assert_int_equal(tc_params_decode(&p, q, strlen(q), why, sizeof(why)), 0);
    assert_int_equal(tc_legacy_verify("GET", "h", &p, "k", 1795265850, why, sizeof(why)),
                     TC_SIG_MALFORMED);
    tc_params_free(&p);
    q = "Action=X&SecretId=AKID&Timestamp=1795265850&Nonce=1";
    assert_int_equal(tc_params_decode(&p, q, strlen(q), why, sizeof(why)), 0);
    assert_int_equal(tc_legacy_verify("GET", "h", &p, "k", 1795265850, why, sizeof(why)),
                     TC_SIG_MALFORMED);
    tc_params_free(&p);
}

/* ---------- parameters ---------- */

static json_t *unflatten(const char *q, char *why, size_t len)
{
    tc_params p = {0};
    static const char *const skip[] = {"Action", NULL};
    json_t *o = NULL;
    if (tc_params_decode(&p, q, strlen(q), why, len) == 0)
        o = tc_params_unflatten(&p, skip, why, len);
    tc_params_free(&p);
    return o;
}

static void test_unflatten(void **state)
{
    char why[256];
    json_t *o = unflatten("Action=A&SourceUrls.0=a&SourceUrls.1=b%20c+d&WatermarkList.0.X=1&"
                          "WatermarkList.0.PictureUrl=p&WatermarkList.1.X=2&Name=%E6%B5%8B",
                          why, sizeof(why));
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    assert_string_equal(text,
                        "{\"Name\":\"\\u6D4B\",\"SourceUrls\":[\"a\",\"b c d\"],"
                        "\"WatermarkList\":[{\"PictureUrl\":\"p\",\"X\":\"1\"},{\"X\":\"2\"}]}");
    free(text);
    json_decref(o);

    o = unflatten("L.1=x&L.2=y", why, sizeof(why)); /* 1-based is accepted too */
    assert_non_null(o);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "L"), 1)), "y");
    json_decref(o);

    const char *bad[] = {"L.0=x&L.2=y", "L.2=x",    "L=x&L.0=y", "L.0=x&L=y",
                         "L.0=x&L.a=y", "L..0=x",   "L.=x",      ".L=x",
                         "L.00=x",      "L.1000=x", "a=%zz",     "a=%4",
                         "a=%00",       "a=1&a=2",  "a=%FF",     "a.b.c.d.e.f.g=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("  bad %s\n", bad[i]);
        why[0] = '\0';
        assert_null(unflatten(bad[i], why, sizeof(why)));
        assert_true(strlen(why) > 10);
    }
}

static void test_param_checks(void **state)
{
    static const tc_param_def defs[] = {
        {"TaskId", TC_STR, true}, {"PageNum", TC_INT, false},      {"Loop", TC_STR_OR_INT, false},
        {"Urls", TC_STRS, false}, {"Marks", TC_WATERMARKS, false}, {NULL, TC_STR, false},
    };
    ferr err;
    struct {
        const char *json;
        int code;
    } cases[] = {
        {"{\"TaskId\":\"a\",\"PageNum\":\"2\",\"Loop\":\"-1\",\"Urls\":[\"u\"],\"Marks\":[{}]}", 0},
        {"{\"TaskId\":\"a\",\"PageNum\":2,\"Loop\":5,\"Urls\":null}", 0},
        {"{\"PageNum\":2}", FERR_MISSING},
        {"{\"TaskId\":\"a\",\"Bogus\":1}", TC_ERR_UNKNOWN_PARAM},
        {"{\"TaskId\":1}", FERR_INVALID},
        {"{\"TaskId\":\"a\",\"PageNum\":1.5}", FERR_INVALID},
        {"{\"TaskId\":\"a\",\"PageNum\":\"1x\"}", FERR_INVALID},
        {"{\"TaskId\":\"a\",\"PageNum\":99999999999}", FERR_INVALID},
        {"{\"TaskId\":\"a\",\"Urls\":[1]}", FERR_INVALID},
        {"{\"TaskId\":\"a\",\"Marks\":[\"x\"]}", FERR_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = json_loads(cases[i].json, 0, NULL);
        assert_non_null(o);
        ferr_clear(&err);
        print_message("  %s\n", cases[i].json);
        assert_int_equal(tc_params_check(o, defs, &err), cases[i].code);
        json_decref(o);
    }
    json_t *o = json_loads("{\"TaskId\":\"a\",\"PageNum\":\"-3\"}", 0, NULL);
    long long v = 0;
    assert_int_equal(tc_params_check(o, defs, &err), 0);
    assert_true(tc_int(o, "PageNum", &v));
    assert_int_equal(v, -3);
    assert_string_equal(tc_str(o, "TaskId"), "a");
    assert_null(tc_str(o, "Urls"));
    json_decref(o);
}

/* ---------- throttling ---------- */

static void test_throttle(void **state)
{
    throttle_reset();
    int64_t t = 1000000000;
    for (int i = 0; i < 3; i++)
        assert_true(throttle_take("alice", "Create", 3, t));
    assert_false(throttle_take("alice", "Create", 3, t));
    assert_true(throttle_take("bob", "Create", 3, t));     /* another account */
    assert_true(throttle_take("alice", "Describe", 3, t)); /* another action */
    assert_false(throttle_take("alice", "Create", 3, t + 300000));
    assert_true(throttle_take("alice", "Create", 3, t + 340000)); /* 1/3 s refills one */
    assert_false(throttle_take("alice", "Create", 3, t + 340000));
    for (int i = 0; i < 3; i++) /* a long pause refills to the burst, not beyond */
        assert_true(throttle_take("alice", "Create", 3, t + 100000000));
    assert_false(throttle_take("alice", "Create", 3, t + 100000000));
    for (int i = 0; i < 100; i++)
        assert_true(throttle_take("alice", "Free", 0, t));
    throttle_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tc3_vectors),           cmocka_unit_test(test_legacy_vectors),
        cmocka_unit_test(test_authorization_parsing), cmocka_unit_test(test_tc3_refusals),
        cmocka_unit_test(test_legacy_refusals),       cmocka_unit_test(test_unflatten),
        cmocka_unit_test(test_param_checks),          cmocka_unit_test(test_throttle),
    };
    return cmocka_run_group_tests_name("tc_sign", tests, load_vectors, free_vectors);
}
