/* test_notify.c — unit tests of the callback part: the retry schedule, the address guard,
 * the signature, which transitions are events, and the three payload formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "api/ali.h"
#include "api/tc.h"
#include "common/config.h"
#include "common/addr_policy.h"
#include "notify/notify.h"
#include "task/task.h"

/* ---------- fixtures ---------- */

static void make_task(task *t, task_dialect d)
{
    memset(t, 0, sizeof(*t));
    task_spec_init(&t->spec);
    snprintf(t->id, sizeof(t->id), "task-1");
    snprintf(t->account, sizeof(t->account), "alice");
    t->dialect = d;
    task_str_set(&t->spec.name, "relay");
    t->spec.n_sources = 1;
    task_str_set(&t->spec.source_urls[0], "rtmp://src.example.com/live/in");
    task_str_set(&t->spec.dst_url, "rtmp://push.example.com/live/relay01");
    task_str_set(&t->spec.callback_url, "http://hook.example.com/relay");
    task_str_set(&t->spec.dialect_extra, "{\"StreamName\":\"relay01\"}");
    t->spec.start_ms = 1712893000000;
    t->spec.end_ms = 1712896000000;
    t->state = TASK_RUNNING;
    t->started_ms = 1712893433000;
    task_str_set(&t->reason, "Running");
    task_str_set(&t->last_error, "");
}

static config_account alice(void)
{
    config_account a;
    memset(&a, 0, sizeof(a));
    snprintf(a.name, sizeof(a.name), "alice");
    snprintf(a.tc_app_id, sizeof(a.tc_app_id), "1250000001");
    return a;
}

static notify_event event(notify_kind kind, task_state from, task_state to, const char *reason)
{
    notify_event ev = {.kind = kind,
                       .at_ms = 1712893433250,
                       .from = from,
                       .to = to,
                       .reason = reason,
                       .detail = ""};
    snprintf(ev.id, sizeof(ev.id), "0b6d2f1e-5c1a-4a8e-9d3e-2f4b8c7a9e10");
    return ev;
}

/* msg of a Tencent payload, parsed from its string. */
static json_t *inner(const json_t *doc, const char *field)
{
    const char *text = json_string_value(json_object_get(doc, field));
    assert_non_null(text);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    return v;
}

/* ---------- policy ---------- */

static void test_retry_schedule(void **state)
{
    config c;
    config_defaults(&c);
    bool dead = true;
    assert_int_equal(c.callback_retry_count, 12);
    assert_int_equal(notify_retry_at(&c, 1, 1000, &dead), 61000);
    assert_false(dead);
    notify_retry_at(&c, 12, 0, &dead);
    assert_false(dead); /* the 13th try (the 12th retry) still happens */
    notify_retry_at(&c, 13, 0, &dead);
    assert_true(dead);
    c.callback_retry_interval_s = 1;
    c.callback_retry_count = 0;
    assert_int_equal(notify_retry_at(&c, 1, 5000, &dead), 6000);
    assert_true(dead);
}

static bool allowed(const char *text, const char *allow)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, text, a) == 1)
        return addr_allowed(AF_INET, a, allow);
    assert_int_equal(inet_pton(AF_INET6, text, a), 1);
    return addr_allowed(AF_INET6, a, allow);
}

static void test_address_guard(void **state)
{
    const char *refused[] = {"127.0.0.1",       "10.1.2.3",         "172.16.0.1", "192.168.1.1",
                             "169.254.169.254", "0.0.0.0",          "::1",        "fe80::1",
                             "fd00::1",         "::ffff:127.0.0.1", "100.64.0.1"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(allowed(refused[i], ""));
    assert_true(allowed("93.184.216.34", ""));
    assert_true(allowed("2606:2800:220:1::1", ""));
    assert_true(allowed("127.0.0.1", "127.0.0.1/32"));
    assert_false(allowed("127.0.0.2", "127.0.0.1/32"));
    assert_true(allowed("10.9.8.7", "192.168.0.0/16, 10.0.0.0/8"));
    assert_true(allowed("::1", "::1/128"));
    assert_false(allowed("10.9.8.7", "garbage, 10.0.0.0/99"));
}

static void test_signature(void **state)
{
    char sig[72];
    /* RFC 4231 test case 2. */
    notify_sign("Jefe", "what do ya want for nothing?", 28, sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_transition_kinds(void **state)
{
    assert_int_equal(notify_transition_kind(TASK_IDLE, TASK_RUNNING), NOTIFY_TASK_START);
    assert_int_equal(notify_transition_kind(TASK_RECOVERING, TASK_RUNNING), NOTIFY_TASK_STATE);
    assert_int_equal(notify_transition_kind(TASK_RUNNING, TASK_FINISHED), NOTIFY_TASK_EXIT);
    assert_int_equal(notify_transition_kind(TASK_IDLE, TASK_FINISHED), NOTIFY_TASK_EXIT);
    assert_int_equal(notify_transition_kind(TASK_RECOVERING, TASK_OFFLINE), NOTIFY_TASK_EXIT);
    assert_int_equal(notify_transition_kind(TASK_RUNNING, TASK_PAUSED), NOTIFY_TASK_EXIT);
    assert_int_equal(notify_transition_kind(TASK_IDLE, TASK_PAUSED), NOTIFY_TASK_STATE);
    assert_int_equal(notify_transition_kind(TASK_RUNNING, TASK_RECOVERING), NOTIFY_TASK_STATE);
    assert_int_equal(notify_transition_kind(TASK_IDLE, TASK_IDLE), -1);
    assert_int_equal(notify_kind_bit(NOTIFY_TASK_STATE), 0);
    assert_int_equal(notify_kind_bit(NOTIFY_ALARM), TASK_EV_ALARM);
}

static void test_rows_filter(void **state)
{
    config c;
    config_defaults(&c);
    task t;
    make_task(&t, TASK_DIALECT_NATIVE);
    t.spec.callback_events = TASK_EV_TASK_EXIT;
    notify_event ev = event(NOTIFY_TASK_START, TASK_IDLE, TASK_RUNNING, "Running");
    assert_null(notify_event_rows(&c, &t, &ev));
    ev = event(NOTIFY_TASK_EXIT, TASK_RUNNING, TASK_FINISHED, "OverEndTime");
    store_event *row = notify_event_rows(&c, &t, &ev);
    assert_non_null(row);
    assert_string_equal(row->type, "TaskExit");
    assert_string_equal(row->url, "http://hook.example.com/relay");
    assert_string_equal(row->id, ev.id);
    store_event_free(row);
    task_str_set(&t.spec.callback_url, "");
    assert_null(notify_event_rows(&c, &t, &ev));
    task_free(&t);
}

/* ---------- formats ---------- */

static void test_tencent_start(void **state)
{
    task t;
    make_task(&t, TASK_DIALECT_TENCENT);
    config_account a = alice();
    notify_event ev = event(NOTIFY_TASK_START, TASK_IDLE, TASK_RUNNING, "Running");
    json_t *doc = tc_callback_format(&t, &ev, &a);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "appid")), 1250000001);
    assert_int_equal(json_integer_value(json_object_get(doc, "event_type")), 314);
    assert_string_equal(json_string_value(json_object_get(doc, "callback_event")), "TaskStart");
    assert_string_equal(json_string_value(json_object_get(doc, "event_time")), "1712893433");
    assert_string_equal(json_string_value(json_object_get(doc, "stream_id")), "relay01");
    assert_string_equal(json_string_value(json_object_get(doc, "source_urls")),
                        "[\"rtmp://src.example.com/live/in\"]\n");
    assert_null(json_object_get(doc, "callback_url"));
    json_t *msg = inner(doc, "msg");
    assert_int_equal(json_integer_value(json_object_get(msg, "task_start_time")), 1712893433000);
    json_decref(msg);
    json_decref(doc);
    task_free(&t);
}

static void test_tencent_exit_and_file(void **state)
{
    task t;
    make_task(&t, TASK_DIALECT_TENCENT);
    config_account a = alice();
    t.state = TASK_OFFLINE;
    t.exit_ms = 1712895000000;
    task_str_set(&t.last_error, "push rtmp://push.example.com/live/relay01: write packet error");
    notify_event ev = event(NOTIFY_TASK_EXIT, TASK_RECOVERING, TASK_OFFLINE, "PushStreamFailed");
    json_t *doc = tc_callback_format(&t, &ev, &a);
    json_t *msg = inner(doc, "msg");
    assert_int_equal(json_integer_value(json_object_get(msg, "code")), -2);
    assert_int_equal(json_integer_value(json_object_get(msg, "task_exit_time")), 1712895000000);
    assert_non_null(strstr(json_string_value(json_object_get(msg, "message")), "write packet"));
    json_decref(msg);
    json_decref(doc);

    ev = event(NOTIFY_FILE_FINISH, TASK_RUNNING, TASK_RUNNING, "FileFinish");
    ev.url = "http://src.example.com/vod/a.mp4";
    ev.index = 0;
    ev.duration_ms = 600400;
    doc = tc_callback_format(&t, &ev, &a);
    assert_string_equal(json_string_value(json_object_get(doc, "callback_url")),
                        "http://hook.example.com/relay");
    msg = inner(doc, "msg");
    assert_int_equal(json_integer_value(json_object_get(msg, "index")), 0);
    assert_int_equal(json_integer_value(json_object_get(msg, "duration")), 600);
    assert_string_equal(json_string_value(json_object_get(msg, "url")), ev.url);
    json_decref(msg);
    json_decref(doc);

    ev = event(NOTIFY_TASK_STATE, TASK_RUNNING, TASK_RECOVERING, "PullStreamFailed");
    assert_null(tc_callback_format(&t, &ev, &a));
    task_free(&t);
}

static void test_alibaba_running_and_exit(void **state)
{
    task t;
    make_task(&t, TASK_DIALECT_ALIBABA);
    notify_event ev = event(NOTIFY_TASK_START, TASK_IDLE, TASK_RUNNING, "Running");
    json_t *doc = ali_callback_format(&t, &ev, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "Event")), "LivePullToPushRunning");
    assert_string_equal(json_string_value(json_object_get(doc, "EventTime")), "1712893433");
    assert_int_equal(json_integer_value(json_object_get(doc, "TaskStatus")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "TaskInfo"), "TaskId")), "task-1");
    assert_null(json_object_get(doc, "TaskInvalidReason"));
    json_decref(doc);

    t.state = TASK_FINISHED;
    t.exit_ms = 1712896000000;
    task_str_set(&t.reason, "OverEndTime");
    ev = event(NOTIFY_TASK_EXIT, TASK_RUNNING, TASK_FINISHED, "OverEndTime");
    doc = ali_callback_format(&t, &ev, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "Event")), "LivePullToPushExit");
    assert_int_equal(json_integer_value(json_object_get(doc, "TaskStatus")), -1);
    assert_string_equal(json_string_value(json_object_get(doc, "TaskExitReason")), "OverEndTime");
    assert_int_equal(json_integer_value(json_object_get(doc, "TaskExitTime")), 1712896000);
    json_decref(doc);

    t.state = TASK_OFFLINE;
    task_str_set(&t.reason, "RetryTimesOffline");
    ev = event(NOTIFY_TASK_EXIT, TASK_RECOVERING, TASK_OFFLINE, "RetryTimesOffline");
    doc = ali_callback_format(&t, &ev, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "TaskStatus")), 3);
    assert_string_equal(json_string_value(json_object_get(doc, "TaskInvalidReason")),
                        "RetryTimesOffline");
    json_decref(doc);
    ev = event(NOTIFY_RESET_CONFIG, TASK_OFFLINE, TASK_OFFLINE, "Modified");
    assert_null(ali_callback_format(&t, &ev, NULL));
    task_free(&t);
}

static void test_native_file_event(void **state)
{
    task t;
    make_task(&t, TASK_DIALECT_NATIVE);
    notify_event ev = event(NOTIFY_FILE_START, TASK_RUNNING, TASK_RUNNING, "FileStart");
    ev.url = "http://src.example.com/vod/b.mp4";
    ev.index = 1;
    ev.duration_ms = 5000;
    json_t *doc = notify_native_format(&t, &ev, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "file_start");
    assert_string_equal(json_string_value(json_object_get(doc, "id")), ev.id);
    assert_string_equal(json_string_value(json_object_get(doc, "at")), "2024-04-12T03:43:53Z");
    json_t *file = json_object_get(doc, "file");
    assert_int_equal(json_integer_value(json_object_get(file, "index")), 1);
    assert_int_equal(json_integer_value(json_object_get(file, "duration_ms")), 5000);
    json_decref(doc);
    task_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_schedule),
        cmocka_unit_test(test_address_guard),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_transition_kinds),
        cmocka_unit_test(test_rows_filter),
        cmocka_unit_test(test_tencent_start),
        cmocka_unit_test(test_tencent_exit_and_file),
        cmocka_unit_test(test_alibaba_running_and_exit),
        cmocka_unit_test(test_native_file_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
