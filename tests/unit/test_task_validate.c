/* test_task_validate.c — unit tests of the task model: validation rules and their typed
 * errors, the JSON form's round trip and strictness, the state machine, time parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/ferr.h"
#include "common/timeutil.h"
#include "task/task.h"

static config cfg;
static const int64_t NOW = 1790000000000LL; /* 2026-09-21 */

static void valid_spec(task_spec *s)
{
    task_spec_init(s);
    task_str_set(&s->dst_url, "rtmp://127.0.0.1:1935/dst/out");
    s->n_sources = 1;
    s->source_urls[0] = NULL;
    task_str_set(&s->source_urls[0], "rtmp://127.0.0.1:1935/src/in");
    s->start_ms = NOW + 60000;
    s->end_ms = NOW + 3600000;
    s->retry_count = 3;
    s->retry_interval_s = 60;
}

static int validate(task_spec *s, ferr *err)
{
    return task_validate(s, &cfg, NOW, true, err);
}

static void test_valid_spec_passes(void **state)
{
    task_spec s;
    valid_spec(&s);
    ferr err;
    assert_int_equal(validate(&s, &err), FERR_OK);
    task_spec_free(&s);
}

static void expect_error(task_spec *s, int code, const char *field)
{
    ferr err;
    ferr_clear(&err);
    assert_int_equal(validate(s, &err), code);
    assert_int_equal(err.code, code);
    assert_string_equal(err.field, field);
    assert_true(strlen(err.msg) > 10);
}

static void test_missing_fields(void **state)
{
    task_spec s;
    valid_spec(&s);
    task_str_set(&s.dst_url, "");
    expect_error(&s, FERR_MISSING, "destination");
    task_spec_free(&s);

    valid_spec(&s);
    free(s.source_urls[0]);
    s.n_sources = 0;
    expect_error(&s, FERR_MISSING, "source_urls");
    task_spec_free(&s);

    valid_spec(&s);
    s.start_ms = 0;
    expect_error(&s, FERR_MISSING, "start_time");
    task_spec_free(&s);
}

static void test_window_rules(void **state)
{
    task_spec s;
    valid_spec(&s);
    s.end_ms = s.start_ms - 1000;
    expect_error(&s, FERR_TASK_TIME, "end_time");
    s.end_ms = s.start_ms; /* equal is not after */
    expect_error(&s, FERR_TASK_TIME, "end_time");
    s.start_ms = NOW - 7200000;
    s.end_ms = NOW - 3600000; /* wholly in the past */
    expect_error(&s, FERR_TASK_TIME, "end_time");
    ferr err;
    assert_int_equal(task_validate(&s, &cfg, NOW, false, &err), FERR_OK); /* not on modify */
    s.start_ms = NOW;
    s.end_ms = NOW + (int64_t)cfg.task_window_max_s * 1000 + 1000;
    expect_error(&s, FERR_TASK_TIME, "end_time");
    s.end_ms = NOW + (int64_t)cfg.task_window_max_s * 1000;
    assert_int_equal(validate(&s, &err), FERR_OK);
    task_spec_free(&s);
}

static void test_url_rules(void **state)
{
    task_spec s;
    valid_spec(&s);
    const char *bad_dst[] = {"http://x/app/s", "rtmp://", "rtmp:///app", "rtmp://h/a b",
                             "srt://h:1"};
    for (size_t i = 0; i < sizeof(bad_dst) / sizeof(bad_dst[0]); i++) {
        task_str_set(&s.dst_url, bad_dst[i]);
        expect_error(&s, FERR_DST_URL, "destination");
    }
    task_str_set(&s.dst_url, "rtmps://push.example.com/live/x?k=1");
    ferr err;
    assert_int_equal(validate(&s, &err), FERR_OK);
    task_str_set(&s.source_urls[0], "ftp://h/x.flv");
    expect_error(&s, FERR_SOURCE_URL, "source_urls");
    task_str_set(&s.source_urls[0], "srt://127.0.0.1:9000?streamid=x");
    assert_int_equal(validate(&s, &err), FERR_OK);
    task_str_set(&s.backup_dst_url, "http://127.0.0.1/x");
    expect_error(&s, FERR_BACKUP_DST_URL, "backup_destination");
    task_str_set(&s.backup_dst_url, s.dst_url); /* same as the destination */
    expect_error(&s, FERR_BACKUP_DST_URL, "backup_destination");
    task_str_set(&s.backup_dst_url, "");
    task_str_set(&s.callback_url, "ftp://hook");
    expect_error(&s, FERR_CALLBACK_URL, "callback_url");
    task_spec_free(&s);
}

static void test_source_counts(void **state)
{
    task_spec s;
    valid_spec(&s);
    s.source_urls[1] = NULL;
    task_str_set(&s.source_urls[1], "rtmp://127.0.0.1/src/b");
    s.n_sources = 2;
    expect_error(&s, FERR_SOURCE_URL, "source_urls"); /* live takes one */
    s.source_kind = TASK_SOURCE_FILES;
    task_str_set(&s.source_urls[0], "http://127.0.0.1/a.mp4");
    task_str_set(&s.source_urls[1], "https://127.0.0.1/b.flv");
    ferr err;
    assert_int_equal(validate(&s, &err), FERR_OK);
    s.file_index = 2;
    expect_error(&s, FERR_INVALID, "file_index");
    s.file_index = 1;
    s.loop_count = 0;
    expect_error(&s, FERR_INVALID, "loop_count");
    task_spec_free(&s);
}

static void test_retry_limits(void **state)
{
    task_spec s;
    valid_spec(&s);
    s.retry_interval_s = cfg.retry_interval_min_s - 1;
    expect_error(&s, FERR_INVALID, "retry_interval");
    s.retry_interval_s = cfg.retry_interval_max_s + 1;
    expect_error(&s, FERR_INVALID, "retry_interval");
    s.retry_interval_s = 60;
    s.retry_count = -1;
    expect_error(&s, FERR_INVALID, "retry_count");
    task_spec_free(&s);
}

static void test_json_round_trip(void **state)
{
    task_spec s;
    valid_spec(&s);
    s.source_kind = TASK_SOURCE_FILES;
    task_str_set(&s.source_urls[0], "http://127.0.0.1/a.mp4");
    s.loop_count = 5;
    s.callback_events = TASK_EV_TASK_START | TASK_EV_ALARM;
    s.paused = true;
    s.n_watermarks = 1;
    s.watermarks[0].picture_url = NULL;
    task_str_set(&s.watermarks[0].picture_url, "http://127.0.0.1/logo.png");
    s.watermarks[0].x = 10;
    s.watermarks[0].location = 2;
    task_str_set(&s.dialect_extra, "{\"DomainName\":\"d\"}");
    char *text = task_spec_to_json(&s);
    task_spec back;
    assert_int_equal(task_spec_from_json(&back, text), 0);
    char *again = task_spec_to_json(&back);
    assert_string_equal(text, again);
    assert_int_equal(back.source_kind, TASK_SOURCE_FILES);
    assert_int_equal(back.loop_count, 5);
    assert_int_equal(back.start_ms, s.start_ms);
    assert_int_equal(back.callback_events, TASK_EV_TASK_START | TASK_EV_ALARM);
    assert_true(back.paused);
    assert_int_equal(back.watermarks[0].location, 2);
    assert_string_equal(back.dialect_extra, "{\"DomainName\":\"d\"}");
    free(text);
    free(again);
    task_spec_free(&back);
    task_spec_free(&s);
}

static void test_json_is_strict(void **state)
{
    task_spec s;
    task_spec_init(&s);
    ferr err;
    json_t *o = json_pack("{s:s, s:i}", "destination", "rtmp://h/a/b", "bogus", 1);
    assert_int_equal(task_spec_apply_json(&s, o, &err), FERR_INVALID);
    assert_string_equal(err.field, "bogus");
    assert_string_equal(s.dst_url, ""); /* nothing applied */
    json_decref(o);
    o = json_pack("{s:i}", "destination", 5);
    assert_int_equal(task_spec_apply_json(&s, o, &err), FERR_INVALID);
    assert_string_equal(err.field, "destination");
    json_decref(o);
    o = json_pack("{s:s}", "start_time", "2026-11-21 10:00:00");
    assert_int_equal(task_spec_apply_json(&s, o, &err), FERR_TASK_TIME);
    json_decref(o);
    o = json_pack("{s:[s]}", "callback_events", "nope");
    assert_int_equal(task_spec_apply_json(&s, o, &err), FERR_INVALID);
    json_decref(o);
    task_spec_free(&s);
}

static void test_time_parsing(void **state)
{
    int64_t ms;
    assert_int_equal(time_parse_iso("2019-01-08T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1546941600000LL);
    char buf[32];
    assert_string_equal(time_format_iso(ms, buf, sizeof(buf)), "2019-01-08T10:00:00Z");
    const char *bad[] = {"2019-01-08T10:00:00",       "2019-1-08T10:00:00Z",
                         "2019-02-30T10:00:00Z",      "2019-01-08T24:00:00Z",
                         "2019-01-08T10:00:00+08:00", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(time_parse_iso(bad[i], &ms), -1);
    assert_int_equal(time_parse_iso("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(time_parse_iso("2023-02-29T00:00:00Z", &ms), -1);
}

static void test_state_machine(void **state)
{
    assert_true(task_transition_allowed(TASK_IDLE, TASK_RUNNING));
    assert_true(task_transition_allowed(TASK_RUNNING, TASK_RECOVERING));
    assert_true(task_transition_allowed(TASK_RECOVERING, TASK_RUNNING));
    assert_true(task_transition_allowed(TASK_RECOVERING, TASK_OFFLINE));
    assert_true(task_transition_allowed(TASK_RUNNING, TASK_FINISHED));
    assert_true(task_transition_allowed(TASK_RUNNING, TASK_PAUSED));
    assert_true(task_transition_allowed(TASK_PAUSED, TASK_IDLE));
    assert_false(task_transition_allowed(TASK_RUNNING, TASK_RUNNING));
    assert_false(task_transition_allowed(TASK_FINISHED, TASK_RUNNING));
    assert_false(task_transition_allowed(TASK_FINISHED, TASK_PAUSED));
    assert_true(task_state_is_terminal(TASK_OFFLINE));
    assert_false(task_state_is_terminal(TASK_PAUSED));
}

int main(void)
{
    config_defaults(&cfg);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_spec_passes), cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_window_rules),      cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_source_counts),     cmocka_unit_test(test_retry_limits),
        cmocka_unit_test(test_json_round_trip),   cmocka_unit_test(test_json_is_strict),
        cmocka_unit_test(test_time_parsing),      cmocka_unit_test(test_state_machine),
    };
    return cmocka_run_group_tests_name("task model", tests, NULL, NULL);
}
