"""test_metrics_sdk.py — /metrics counts what the official cloud SDKs send: each Tencent and
Alibaba call under its dialect and Action, errors as 4xx (Tencent's 200-with-Error too),
and no key, secret or URL of those calls in the output."""

import http.client
import os
import sys
import uuid

import pytest

from alisdk import AliClient
from alisdk import ensure_installed as ali_installed
from conftest import ALICE_ALI, ALICE_TC
from harness import idle_task
from tcsdk import TcClient
from tcsdk import ensure_installed as tc_installed

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from test_metrics import Scrape, promtool_check  # noqa: E402


@pytest.fixture(scope="session")
def sdks():
    tc_installed()
    ali_installed()


def scrape(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        assert r.status == 200
        return Scrape(r.read().decode())
    finally:
        conn.close()


def count(s, dialect, action, result="ok"):
    return s.value("ferry_http_requests_total", dialect=dialect, action=action, result=result)


def tc_create_params():
    body = idle_task()
    return {"SourceType": "PullLivePushLive", "SourceUrls": body["source_urls"],
            "DomainName": "127.0.0.1:9", "AppName": "dst",
            "StreamName": "sk_" + uuid.uuid4().hex, "StartTime": body["start_time"],
            "EndTime": body["end_time"], "Operator": "metrics"}


def ali_create_params():
    body = idle_task()
    return {"Region": "cn-shanghai", "SourceType": "live", "SourceUrls": body["source_urls"],
            "DstUrl": "rtmp://127.0.0.1:9/dst/sk_%s" % uuid.uuid4().hex,
            "StartTime": body["start_time"], "EndTime": body["end_time"]}


def test_sdk_calls_counted_by_dialect_and_action(ferryd, sdks):
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    ali = AliClient(ferryd.port, *ALICE_ALI, sdk="openapi")
    before = scrape(ferryd.port)

    tc_params = tc_create_params()
    tid = tc.ok("CreateLivePullStreamTask", tc_params)["TaskId"]
    for _ in range(3):
        tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})
    tc.error("DeleteLivePullStreamTask", {"TaskId": "no-such-task", "Operator": "x"})
    ali_params = ali_create_params()
    aid = ali.ok("CreateLivePullToPush", ali_params)["TaskId"]
    ali.ok("DescribeLivePullToPush", {"Region": "cn-shanghai", "TaskId": aid})
    ali.ok("DescribeLivePullToPush", {"Region": "cn-shanghai", "TaskId": aid})
    ali.error("DescribeLivePullToPush", {"Region": "cn-shanghai", "TaskId": "no-such-task"})
    bad = AliClient(ferryd.port, ALICE_ALI[0], "wrong-secret", sdk="openapi")
    bad.error("DescribeLivePullToPushList", {"Region": "cn-shanghai"})

    after = scrape(ferryd.port)

    def delta(dialect, action, result="ok"):
        return count(after, dialect, action, result) - count(before, dialect, action, result)

    assert delta("tencent", "CreateLivePullStreamTask") == 1
    assert delta("tencent", "DescribeLivePullStreamTasks") == 3
    assert delta("tencent", "DeleteLivePullStreamTask", "4xx") == 1
    assert delta("alibaba", "CreateLivePullToPush") == 1
    assert delta("alibaba", "DescribeLivePullToPush") == 2
    assert delta("alibaba", "DescribeLivePullToPush", "4xx") == 1
    assert delta("alibaba", "unknown", "4xx") == 1  # refused before its action was read
    assert after.value("ferry_tasks", state="idle") >= 2
    for secret in (ALICE_TC[0], ALICE_TC[1], ALICE_ALI[0], ALICE_ALI[1], tc_params["StreamName"],
                   ali_params["DstUrl"], "rtmp://", tid, aid):
        assert secret not in after.text, "%r appears in /metrics" % secret
    promtool_check(after.text)
