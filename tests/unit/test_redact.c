/* test_redact.c — unit tests of the one redaction helper: what each kind of URL shows of
 * itself in logs and errors, that redaction is idempotent, URLs inside longer text, and
 * log lines: logfmt, one line per event, redacted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "common/log.h"
#include "common/redact.h"

static void expect_url(const char *url, const char *shown)
{
    char out[REDACT_URL_MAX], again[REDACT_URL_MAX];
    assert_string_equal(url_redact(url, out, sizeof(out)), shown);
    assert_string_equal(url_redact(out, again, sizeof(again)), shown); /* idempotent */
}

static void test_rtmp_stream_key(void **state)
{
    expect_url("rtmp://push.example/live/sk_live_0123456789", "rtmp://push.example/live/sk***");
    expect_url("rtmps://push.example:443/live/short", "rtmps://push.example:443/live/***");
    expect_url("RTMP://h/app/inst/abcdefgh", "RTMP://h/app/inst/ab***");
    expect_url("rtmp://h/live/key123456?txSecret=abc&txTime=5F00&flag",
               "rtmp://h/live/ke***?txSecret=***&txTime=***&***");
    expect_url("rtmp://h/live/", "rtmp://h/live/");
    expect_url("rtmp://h", "rtmp://h");
}

static void test_srt(void **state)
{
    expect_url("srt://127.0.0.1:9000?streamid=#!::r=live/key0123,m=publish&passphrase=hunter22",
               "srt://127.0.0.1:9000?streamid=***&passphrase=***");
    expect_url("srt://h:9000?mode=caller&latency=", "srt://h:9000?mode=***&latency=");
}

static void test_http_and_others(void **state)
{
    expect_url("https://cdn.example/vod/a.mp4?sign=deadbeef&t=1",
               "https://cdn.example/vod/a.mp4?sign=***&t=***");
    expect_url("http://cdn.example/vod/a.mp4", "http://cdn.example/vod/a.mp4");
    expect_url("rtsp://admin:pw0rd@cam.example:554/stream1", "rtsp://***@cam.example:554/stream1");
    expect_url("https://h/p#access_token=xyz", "https://h/p#***");
    expect_url("not a url", "not a url");
    expect_url("", "");
}

static void test_truncation(void **state)
{
    char out[16];
    url_redact("rtmp://push.example/live/sk_live_0123456789", out, sizeof(out));
    assert_string_equal(out, "rtmp://push.exa");
    assert_null(strstr(out, "sk_live"));
    url_redact(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_text(void **state)
{
    char out[512];
    text_redact("pull rtmp://127.0.0.1:1/live/key0123456: connect: Connection refused", out,
                sizeof(out));
    assert_string_equal(out, "pull rtmp://127.0.0.1:1/live/ke***: connect: Connection refused");
    text_redact("Opening 'https://h/x.ts?token=abc' for reading; (srt://h:1?passphrase=pp).", out,
                sizeof(out));
    assert_string_equal(
        out, "Opening 'https://h/x.ts?token=***' for reading; (srt://h:1?passphrase=***).");
    text_redact("no url here, only :// and 1://x", out, sizeof(out));
    assert_string_equal(out, "no url here, only :// and 1://x");
    text_redact("two: rtmp://a/b/cccccccccc and rtmp://d/e/ffffffffff", out, sizeof(out));
    assert_string_equal(out, "two: rtmp://a/b/cc*** and rtmp://d/e/ff***");
}

static void test_macro(void **state)
{
    char line[256];
    snprintf(line, sizeof(line), "push %s: %s", REDACT_URL("rtmp://h/live/abcdefghij"),
             REDACT_URL("rtmp://h/live/klmnopqrst"));
    assert_string_equal(line, "push rtmp://h/live/ab***: rtmp://h/live/kl***");
}

/* What log_write prints for one call, read back through a temporary stderr. */
static void logged(const char *task, const char *msg, char *out, size_t len)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    log_write(LOG_ERROR, task, "%s", msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, len - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
}

/* A log line is logfmt (ts, level, task, msg), one line per event whatever the message
 * holds, with URLs in it redacted. */
static void test_log_lines(void **state)
{
    char out[4096];
    logged("t-1", "push rtmp://h/live/abcdefghij: said \"no\"\nthen\tC:\\x\x01", out, sizeof(out));
    const char *msg = strstr(out, " level=error task=t-1 msg=");
    assert_non_null(msg);
    assert_true(strncmp(out, "ts=", 3) == 0);
    assert_string_equal(msg, " level=error task=t-1 msg=\"push rtmp://h/live/ab***: said "
                             "\\\"no\\\"\\nthen\\tC:\\\\x?\"\n");
    logged(NULL, "plain", out, sizeof(out));
    assert_non_null(strstr(out, " level=error msg=\"plain\"\n"));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtmp_stream_key),
        cmocka_unit_test(test_srt),
        cmocka_unit_test(test_http_and_others),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_macro),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
