"""test_alibaba_callbacks.py — the Alibaba pull-to-push callbacks (api-compat.md §2.4) of a
task created through Alibaba Cloud's official client, as a webhook receiver on loopback
sees them: LivePullToPushRunning with TaskStatus 1 when the relay runs, TaskStatus 3 with
TaskInvalidReason TriggerByUser on StopLivePullToPush, and LivePullToPushExit with
TaskStatus -1, TaskExitReason and TaskExitTime on Delete and at EndTime; exact field names
and JSON types."""

import http.server
import json
import os
import threading
import time

import pytest

from alisdk import AliClient, ensure_installed
from conftest import ACCOUNTS, ALICE_ALI, FERRYD_SETTINGS
from harness import Ferryd, iso, tail, wait_until

SETTINGS = dict(FERRYD_SETTINGS, callback_allow="127.0.0.1/32", callback_retry_interval=1,
                callback_timeout=3)
Q = {"Region": "cn-shanghai"}


@pytest.fixture(scope="session")
def sdk_installed():
    ensure_installed()


class Hook:
    """An HTTP server on 127.0.0.1 recording every POST body (parsed as JSON) by path."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hook.lock:
                    hook.calls.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1], path)

    def got(self, path):
        with self.lock:
            return [json.loads(b) for p, b in self.calls if p == path]

    def wait(self, path, n, timeout):
        wait_until(lambda: len(self.got(path)) >= n, timeout, 0.05,
                   what="%d callbacks on %s (got %s)" % (n, path, self.got(path)))
        return self.got(path)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.stop()


@pytest.fixture
def cbd(tmp_path, request):
    """A ferryd whose callbacks may reach 127.0.0.1 and are retried every second."""
    d = Ferryd(str(tmp_path / "ferryd"), ACCOUNTS, SETTINGS)
    d.start()
    yield d
    if d.running():
        d.terminate()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for p in d.stderr_paths:
            print("---- %s\n%s" % (os.path.basename(p), tail(p, 60)))
    assert not d.sanitizer_reports(), d.sanitizer_reports()


def live_params(nginx, stream, callback, end):
    return dict(Q, SourceType="live", SourceProtocol="rtmp", SourceUrls=[nginx.url("src", "cam")],
                DstUrl=nginx.url("dst", stream), StartTime=iso(time.time() - 1), EndTime=iso(end),
                TaskName="cb-" + stream, RetryCount=2, RetryInterval=60, CallbackUrl=callback)


INFO_TYPES = {"TaskId": str, "TaskName": str, "SourceType": str, "SourceProtocol": str,
              "SourceUrls": list, "DstUrl": str, "StartTime": str, "EndTime": str,
              "FileIndex": int, "Offset": int, "RepeatNumber": int, "RetryCount": int,
              "RetryInterval": int, "CallbackURL": str}


def check(p, event, tid, nginx, stream, callback, status, **reasons):
    """The common fields of one payload, with their JSON types; returns the payload."""
    assert p["Event"] == event and p["TaskId"] == tid, p
    assert type(p["TaskStatus"]) is int and p["TaskStatus"] == status, p
    assert isinstance(p["EventTime"], str) and p["EventTime"].isdigit(), p
    assert abs(int(p["EventTime"]) - time.time()) < 60, p
    info = p["TaskInfo"]
    for k, t in INFO_TYPES.items():
        assert type(info.get(k)) is t, (k, info)
    assert "CallbackUrl" not in info, info
    assert info["TaskId"] == tid and info["CallbackURL"] == callback, info
    assert info["SourceUrls"] == [nginx.url("src", "cam")], info
    assert info["DstUrl"] == nginx.url("dst", stream) and info["SourceType"] == "live", info
    for k in ("TaskInvalidReason", "TaskExitReason", "TaskExitTime"):
        if k in reasons:
            assert p.get(k) == reasons[k], (k, p)
            assert type(p[k]) is type(reasons[k]), (k, p)
        elif k != "TaskExitTime" or status != -1:
            assert k not in p, (k, p)
    return p


def test_running_stop_restart_delete(cbd, nginx, publisher, hook, sdk_installed):
    ali = AliClient(cbd.port, *ALICE_ALI, sdk="openapi")
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    cb = hook.url("/ali")
    tid = ali.ok("CreateLivePullToPush", live_params(nginx, "cb", cb, time.time() + 600))["TaskId"]
    q = dict(Q, TaskId=tid)

    running = hook.wait("/ali", 1, 15)[0]
    check(running, "LivePullToPushRunning", tid, nginx, "cb", cb, 1)
    assert running["TaskInfo"]["TaskName"] == "cb-cb", running

    ali.ok("StopLivePullToPush", q)
    stopped = hook.wait("/ali", 2, 10)[1]
    check(stopped, "LivePullToPushRunning", tid, nginx, "cb", cb, 3,
          TaskInvalidReason="TriggerByUser")

    ali.ok("RestartLivePullToPush", q)
    again = hook.wait("/ali", 3, 15)[2]
    check(again, "LivePullToPushRunning", tid, nginx, "cb", cb, 1)

    t_delete = time.time()
    ali.ok("DeleteLivePullToPush", q)
    got = hook.wait("/ali", 4, 10)
    exit_ = got[3]
    check(exit_, "LivePullToPushExit", tid, nginx, "cb", cb, -1,
          TaskExitReason="TriggerByUser")
    assert type(exit_["TaskExitTime"]) is int, exit_
    assert abs(exit_["TaskExitTime"] - t_delete) <= 2, exit_
    time.sleep(1.5)
    assert len(hook.got("/ali")) == 4, [p["Event"] for p in hook.got("/ali")]
    ids = [p.get("EventId") for p in got]
    assert len(set(ids)) == 4, ids
    # what Describe shows agrees with the last callback
    s = ali.ok("DescribeLivePullToPush", q)
    assert (s["TaskStatus"], s["TaskExitReason"], s["TaskExitTime"]) == (
        -1, "TriggerByUser", exit_["TaskExitTime"]), s
    for name, p in (("RUNNING", running), ("STOPPED", stopped), ("EXIT (Delete)", exit_)):
        print("ALIBABA %s PAYLOAD\n%s" % (name, json.dumps(p)))


def test_exit_at_end_time(cbd, nginx, publisher, hook, sdk_installed):
    ali = AliClient(cbd.port, *ALICE_ALI, sdk="pop", method="POST", sourceUrls="array")
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    cb = hook.url("/end")
    end = int(time.time()) + 5
    tid = ali.ok("CreateLivePullToPush", live_params(nginx, "end", cb, end))["TaskId"]
    got = hook.wait("/end", 2, end - time.time() + 10)
    assert [(p["Event"], p["TaskStatus"]) for p in got] == [
        ("LivePullToPushRunning", 1), ("LivePullToPushExit", -1)], got
    exit_ = check(got[1], "LivePullToPushExit", tid, nginx, "end", cb, -1,
                  TaskExitReason="OverEndTime")
    assert type(exit_["TaskExitTime"]) is int and abs(exit_["TaskExitTime"] - end) <= 2, exit_
    assert abs(int(exit_["EventTime"]) - end) <= 2, exit_
    print("ALIBABA EXIT (EndTime) PAYLOAD\n%s" % json.dumps(exit_))
