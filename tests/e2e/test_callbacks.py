"""test_callbacks.py — task event callbacks as a webhook receiver sees them: a real HTTP
server (Python standard library) on loopback records every POST. Covers the Tencent
payload of a live task (TaskStart, ResetTaskConfig, TaskExit at EndTime, field types,
double-encoded msg), a 3-file playlist (VodSourceFileStart/Finish per file), the
CallbackEvents filter, a TaskAlarm for a missing playlist file, the signed native format,
a receiver that is down for 10 s, a receiver that never answers (other tasks' events go
on), a kill -9 with undelivered events, dead events counted in /v1/stats and removed after
callback_dead_retention, and the private-address guard."""

import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import threading
import time

import pytest

from conftest import ACCOUNTS, ALICE_TC, ALICE_TOKEN
from harness import Api, Blackhole, Ferryd, free_port, idle_task, iso, tail, wait_until
from media import FileServer, make_clip

SECRET = "alice-callback-secret"
SETTINGS = {
    "retry_interval_min": 1,
    "stall_timeout": 3,
    "connect_timeout": 5,
    "preroll": 0,
    "callback_allow": "127.0.0.1/32",
    "callback_retry_interval": 1,
    "callback_timeout": 3,
}


# ---------------------------------------------------------------- the receiver


class Receiver:
    """An HTTP server on 127.0.0.1:port recording each POST as
    {"path", "headers", "body", "json", "t"}; answers `status` (200 by default)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.calls = []
        self.status = 200
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = None
                with rec.lock:
                    rec.calls.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body, "json": doc, "t": time.time()})
                self.send_response(rec.status)
                self.send_header("Content-Length", "10")
                self.end_headers()
                self.wfile.write(b'{"code":0}')

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def got(self, path=None):
        with self.lock:
            return [c for c in self.calls if path is None or c["path"] == path]

    def wait(self, pred, timeout, what):
        return wait_until(lambda: pred(self), timeout, 0.05, what=what)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def cbd(tmp_path, request):
    """A ferryd whose callbacks may reach 127.0.0.1 and retry every second; alice signs
    native callbacks with SECRET."""
    accounts = dict(ACCOUNTS)
    accounts["alice"] = dict(ACCOUNTS["alice"], callback_secret=SECRET)
    d = Ferryd(str(tmp_path / "ferryd"), accounts, SETTINGS)
    d.start()
    yield d
    failed = getattr(request.node, "rep_call", None)
    if d.running():
        d.terminate()
    if failed is not None and failed.failed:
        for p in d.stderr_paths:
            print("---- %s\n%s" % (os.path.basename(p), tail(p, 60)))
    assert not d.sanitizer_reports(), d.sanitizer_reports()


# ---------------------------------------------------------------- a tiny TC3 client


def tc_call(port, action, params, secret=ALICE_TC):
    """One Tencent API 3.0 call signed with TC3-HMAC-SHA256; returns Response."""
    body = json.dumps(params).encode()
    host, now = "127.0.0.1:%d" % port, int(time.time())
    date = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%d")
    ctype = "application/json; charset=utf-8"
    canonical = "POST\n/\n\ncontent-type:%s\nhost:%s\n\ncontent-type;host\n%s" % (
        ctype, host, hashlib.sha256(body).hexdigest())
    scope = "%s/live/tc3_request" % date
    sts = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (now, scope, hashlib.sha256(canonical.encode()).hexdigest())
    key = ("TC3" + secret[1]).encode()
    for part in (date, "live", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": ctype, "Host": host, "X-TC-Action": action,
               "X-TC-Timestamp": str(now), "X-TC-Version": "2018-08-01",
               "X-TC-Region": "ap-guangzhou",
               "Authorization": "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=content-type;"
                                "host, Signature=%s" % (secret[0], scope, sig)}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = json.loads(conn.getresponse().read())["Response"]
    finally:
        conn.close()
    assert "Error" not in resp, "%s: %s" % (action, resp)
    return resp


def tc_live_params(nginx, stream, end, **extra):
    p = {"SourceType": "PullLivePushLive", "SourceUrls": [nginx.url("src", "cam")],
         "DomainName": "127.0.0.1:%d" % nginx.rtmp_port, "AppName": "dst",
         "StreamName": stream, "StartTime": iso(time.time() - 1), "EndTime": iso(end),
         "Operator": "e2e"}
    p.update(extra)
    return p


def events(calls, field="callback_event"):
    return [c["json"][field] for c in calls]


# ---------------------------------------------------------------- Tencent


def check_tencent_common(p, tid, nginx, stream, sources=None):
    types = {"appid": int, "callback_event": str, "event_type": int, "interface": str,
             "product_name": str, "msg": str, "source_urls": str, "stream_id": str,
             "task_id": str, "to_url": str, "event_time": str, "event_id": str}
    for k, t in types.items():
        assert isinstance(p.get(k), t), (k, p)
    assert p["appid"] == 1250000001 and p["event_type"] == 314, p
    assert p["interface"] == "general_callback" and p["product_name"] == "pullpush", p
    assert p["task_id"] == tid and p["stream_id"] == stream, p
    assert p["to_url"].startswith(nginx.url("dst", stream)), p
    assert p["source_urls"].endswith("\n"), p
    assert json.loads(p["source_urls"]) == (sources or [nginx.url("src", "cam")]), p
    assert abs(int(p["event_time"]) - time.time()) < 30, p
    return json.loads(p["msg"])  # msg is a JSON object inside a string


def test_tencent_live_sequence_and_filter(cbd, nginx, publisher, receiver, metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    end = int(time.time()) + 8
    tid = tc_call(cbd.port, "CreateLivePullStreamTask", tc_live_params(
        nginx, "cb1", end, CallbackUrl=receiver.url("/all")))["TaskId"]
    only_exit = tc_call(cbd.port, "CreateLivePullStreamTask", tc_live_params(
        nginx, "cb2", end, CallbackUrl=receiver.url("/exit"),
        CallbackEvents=["TaskExit"]))["TaskId"]

    receiver.wait(lambda r: r.got("/all"), 15, "TaskStart")
    tc_call(cbd.port, "ModifyLivePullStreamTask", {"TaskId": tid, "Operator": "e2e",
                                                   "Comment": "changed"})
    receiver.wait(lambda r: "TaskExit" in events(r.got("/all")) and r.got("/exit"),
                  end - time.time() + 10, "TaskExit of both tasks")
    got = receiver.got("/all")
    assert events(got) == ["TaskStart", "ResetTaskConfig", "TaskExit"], events(got)
    start, reset, exit_ = [check_tencent_common(c["json"], tid, nginx, "cb1") for c in got]
    assert isinstance(start["task_start_time"], int), start
    assert abs(start["task_start_time"] / 1000 - time.time()) < 30, start
    assert reset == {}, reset
    assert isinstance(exit_["task_exit_time"], int) and isinstance(exit_["code"], int), exit_
    assert isinstance(exit_["message"], str) and exit_["code"] == 0, exit_
    metric("TaskExit after EndTime (s)", exit_["task_exit_time"] / 1000 - end)
    assert -1 <= exit_["task_exit_time"] / 1000 - end < 3, exit_
    assert "callback_url" not in got[0]["json"], got[0]["json"]
    ids = [c["headers"]["X-Ferry-Event-Id"] for c in got]
    assert ids == [c["json"]["event_id"] for c in got] and len(set(ids)) == 3, ids

    filtered = receiver.got("/exit")
    assert events(filtered) == ["TaskExit"], events(filtered)
    assert filtered[0]["json"]["task_id"] == only_exit
    print("TENCENT PAYLOADS\n" + "\n".join(c["body"].decode() for c in got))


def play_tencent_playlist(cbd, nginx, receiver, tmp_path, name, clips, entries):
    """A Tencent playlist of entries (file names; clips are made, others answer 404) played
    once to dst/<name>, with callbacks to /<name>. Returns (task id, urls, callbacks)."""
    make_media(tmp_path / "media", clips)
    srv = FileServer(str(tmp_path / "media"))
    path = "/" + name
    try:
        urls = [srv.url(e) for e in entries]
        params = tc_live_params(nginx, name, time.time() + 60, SourceType="PullVodPushLive",
                                SourceUrls=urls, VodLoopTimes="0",
                                CallbackUrl=receiver.url(path))
        tid = tc_call(cbd.port, "CreateLivePullStreamTask", params)["TaskId"]
        receiver.wait(lambda r: "TaskExit" in events(r.got(path)), 30, "the playlist's TaskExit")
    finally:
        srv.stop()
    return tid, urls, receiver.got(path)


def test_tencent_playlist_file_events(cbd, nginx, receiver, tmp_path):
    tid, urls, got = play_tencent_playlist(cbd, nginx, receiver, tmp_path, "pl",
                                           ("a", "b", "c"), ("a.flv", "b.flv", "c.flv"))
    names = events(got)
    assert names == ["TaskStart"] + ["VodSourceFileStart", "VodSourceFileFinish"] * 3 + \
        ["TaskExit"], names
    for i, c in enumerate(got[1:7]):
        msg = check_tencent_common(c["json"], tid, nginx, "pl", urls)
        assert msg["index"] == i // 2 and msg["url"] == urls[i // 2], msg
        assert isinstance(msg["duration"], int) and msg["duration"] in (0, 1), msg
        assert c["json"]["callback_url"] == receiver.url("/pl"), c["json"]
    exit_msg = check_tencent_common(got[-1]["json"], tid, nginx, "pl", urls)
    assert exit_msg["code"] == 0 and exit_msg["message"] == "all loops played", exit_msg
    print("PLAYLIST PAYLOADS\n" + "\n".join(c["body"].decode() for c in got))


def make_media(media, names):
    """One-second 320x240 FLV clips named names in the new directory media."""
    media.mkdir()
    for name in names:
        make_clip(str(media / (name + ".flv")), "320x240", 1)


def test_tencent_task_alarm_missing_file(cbd, nginx, receiver, tmp_path):
    # gone.flv: 404
    tid, urls, got = play_tencent_playlist(cbd, nginx, receiver, tmp_path, "alarm", ("a", "b"),
                                           ("a.flv", "gone.flv", "b.flv"))
    names = events(got)
    alarms = [c["json"] for c in got if c["json"]["callback_event"] == "TaskAlarm"]
    assert len(alarms) == 1, names
    at = names.index("TaskAlarm")
    assert names[:at] == ["TaskStart", "VodSourceFileStart", "VodSourceFileFinish"], names
    assert names[at + 1:] == ["VodSourceFileStart", "VodSourceFileFinish", "TaskExit"], names
    alarm = alarms[0]
    msg = check_tencent_common(alarm, tid, nginx, "alarm", urls)
    assert msg == {"type": "PullFileFailed"} and isinstance(msg["type"], str), msg
    assert "callback_url" not in alarm, alarm
    assert json.loads(got[at + 1]["json"]["msg"])["index"] == 2, got[at + 1]["json"]
    print("TASKALARM PAYLOAD\n" + got[at]["body"].decode())


# ---------------------------------------------------------------- native


def test_native_signed_payloads(cbd, receiver):
    api = Api(cbd.port, ALICE_TOKEN)
    t = api.create_task(**idle_task(callback_url=receiver.url("/native")))
    assert api.patch("/v1/tasks/" + t["id"], {"comment": "one"})[0] == 200
    assert api.patch("/v1/tasks/" + t["id"], {"paused": True})[0] == 200
    receiver.wait(lambda r: len(r.got()) >= 3, 10, "three native events")
    got = receiver.got()
    for c in got:
        want = "sha256=" + hmac.new(SECRET.encode(), c["body"], hashlib.sha256).hexdigest()
        assert c["headers"]["X-Ferry-Signature"] == want, c["headers"]
        p = c["json"]
        assert p["id"] == c["headers"]["X-Ferry-Event-Id"] and p["task_id"] == t["id"], p
        for k, typ in (("type", str), ("at", str), ("at_ms", int), ("state", str),
                       ("from_state", str), ("reason", str), ("detail", str)):
            assert isinstance(p[k], typ), (k, p)
    assert [c["json"]["type"] for c in got] == ["config_reset", "task_state", "config_reset"]
    assert got[1]["json"]["state"] == "paused" and got[1]["json"]["from_state"] == "idle"
    print("NATIVE PAYLOADS\n" + "\n".join(c["body"].decode() for c in got))


# ---------------------------------------------------------------- durability


def make_events(api, url, n):
    """A task whose n comment changes queue n config_reset events, in order."""
    t = api.create_task(**idle_task(callback_url=url))
    for i in range(n):
        st, doc = api.patch("/v1/tasks/" + t["id"], {"comment": "c%d" % i})
        assert st == 200, doc
    return t["id"]


def comments_in_order(calls, n):
    return [c["json"]["type"] for c in calls] == ["config_reset"] * n


def test_receiver_down_then_up(cbd, metric):
    api = Api(cbd.port, ALICE_TOKEN)
    down = Receiver()  # not listening yet: every try is refused
    tid = make_events(api, down.url("/late"), 4)
    time.sleep(10)
    t0 = time.time()
    down.start()
    try:
        down.wait(lambda r: len(r.got()) >= 4, 10, "the four events")
        metric("receiver up -> all delivered (s)", time.time() - t0)
        got = down.got()
        assert len(got) == 4 and comments_in_order(got, 4), [c["json"] for c in got]
        assert [int(c["headers"]["X-Ferry-Attempt"]) > 1 for c in got][0], got[0]["headers"]
        assert all(c["json"]["task_id"] == tid for c in got)
    finally:
        down.stop()


def test_kill9_with_undelivered_events(cbd):
    api = Api(cbd.port, ALICE_TOKEN)
    down = Receiver()
    make_events(api, down.url("/crash"), 3)
    cbd.kill9()
    down.start()
    try:
        cbd.start()
        down.wait(lambda r: len(r.got()) >= 3, 10, "the three events after the restart")
        time.sleep(1)
        got = down.got()
        assert len(got) == 3 and comments_in_order(got, 3), [c["json"] for c in got]
        assert len({c["json"]["id"] for c in got}) == 3
    finally:
        down.stop()


# ---------------------------------------------------------------- isolation


def stats(api):
    st, doc = api.get("/v1/stats")
    assert st == 200, doc
    return doc["callbacks"]


def test_stuck_receiver_does_not_delay_other_tasks(tmp_path, receiver, metric):
    # Two slots, one per host:port, 20 s timeout: 24 tasks of the stuck receiver hold more
    # outbox heads than one read of the outbox returns, and one slot for the whole test.
    settings = dict(SETTINGS, callback_timeout=20, callback_concurrency=2, callback_per_host=1)
    d = Ferryd(str(tmp_path / "ferryd"), {"alice": ALICE_TOKEN}, settings).start()
    stuck = Blackhole()
    try:
        api = Api(d.port, ALICE_TOKEN)
        for _ in range(24):
            make_events(api, "http://127.0.0.1:%d/stuck" % stuck.port, 2)
        wait_until(lambda: stuck.conns, 5, 0.05, what="the stuck receiver's connection")
        t = api.create_task(**idle_task(callback_url=receiver.url("/ok")))
        worst = 0.0
        for i in range(3):
            t0 = time.time()
            assert api.patch("/v1/tasks/" + t["id"], {"comment": "b%d" % i})[0] == 200
            receiver.wait(lambda r: len(r.got("/ok")) > i, 5, "B's event %d" % i)
            worst = max(worst, receiver.got("/ok")[i]["t"] - t0)
        metric("healthy receiver's event delay next to a stuck one (s)", worst)
        # The stuck receiver holds its slot for the 20 s timeout; anything well under that
        # shows B did not queue behind it (3 s leaves room for a loaded sanitizer build).
        assert worst < 3.0, worst
        assert comments_in_order(receiver.got("/ok"), 3)
        assert len(stuck.conns) == 1, len(stuck.conns)  # callback_per_host = 1
        # the receiver records a call before ferryd has read the answer, and a delivery is
        # counted a moment before its slot is given back: wait for both
        last = {}

        def settled():
            last["s"] = stats(api)
            return last["s"]["delivered"] == 3 and last["s"]["in_flight"] == 1

        wait_until(settled, 5, 0.05, what="three deliveries counted, one slot still held")
        assert last["s"]["pending"] == 48, last["s"]
    finally:
        d.terminate()
        stuck.close()
    assert not d.sanitizer_reports(), d.sanitizer_reports()


def test_one_accounts_stuck_receivers_do_not_starve_another_account(tmp_path, receiver, metric):
    """bob's receivers never answer, on as many ports as there are slots (callback_per_host
    does not stop that): bob holds at most callback_per_account slots and alice's events go
    out at once. Before: one tenant took all 32 slots, another's callback waited 78 s."""
    settings = dict(SETTINGS, callback_timeout=20, callback_concurrency=6, callback_per_host=1,
                    callback_per_account=3)
    accounts = {"alice": ALICE_TOKEN, "bob": "bob-fairness-token-000000000"}
    d = Ferryd(str(tmp_path / "ferryd"), accounts, settings).start()
    holes = [Blackhole() for _ in range(6)]
    try:
        bob = Api(d.port, accounts["bob"])
        for h in holes:
            make_events(bob, "http://127.0.0.1:%d/stuck" % h.port, 1)
        wait_until(lambda: sum(len(h.conns) for h in holes) >= 3, 5, 0.05,
                   what="bob's receivers connected")
        time.sleep(0.5)
        held = sum(len(h.conns) for h in holes)
        assert held == 3, "bob holds %d slots" % held
        api = Api(d.port, ALICE_TOKEN)
        t = api.create_task(**idle_task(callback_url=receiver.url("/ok")))
        t0 = time.time()
        assert api.patch("/v1/tasks/" + t["id"], {"comment": "a"})[0] == 200
        receiver.wait(lambda r: len(r.got("/ok")) > 0, 5, "alice's event")
        delay = receiver.got("/ok")[0]["t"] - t0
        metric("other account's event delay next to a stuck account (s)", delay)
        assert delay < 3.0, delay
    finally:
        d.terminate()
        for h in holes:
            h.close()
    assert not d.sanitizer_reports(), d.sanitizer_reports()


# ---------------------------------------------------------------- dead events


def test_dead_events_counted_then_removed(tmp_path, receiver):
    settings = dict(SETTINGS, callback_retry_count=1, callback_dead_retention=3)
    d = Ferryd(str(tmp_path / "ferryd"), {"alice": ALICE_TOKEN}, settings).start()
    bad = Receiver().start()
    bad.status = 500
    try:
        api = Api(d.port, ALICE_TOKEN)
        make_events(api, receiver.url("/good"), 1)
        make_events(api, bad.url("/bad"), 1)
        s = wait_until(lambda: (lambda x: x if x["dead_kept"] == 1 else None)(stats(api)), 10,
                       0.1, what="one dead event")
        for k in ("delivered", "failed", "dead", "dead_removed", "in_flight", "pending",
                  "dead_kept"):
            assert isinstance(s[k], int), (k, s)
        assert s["delivered"] == 1 and s["failed"] == 2 and s["dead"] == 1, s
        assert s["pending"] == 0 and s["dead_removed"] == 0, s
        assert len(bad.got()) == 2 and len(receiver.got()) == 1
        t_dead = time.time()
        # the row goes first, then the notifier counts it: wait for both
        s = wait_until(lambda: (lambda x: x if x["dead_kept"] == 0 and x["dead_removed"] == 1
                                else None)(stats(api)), 10, 0.1, what="the dead event removed")
        assert s["dead_removed"] == 1 and s["dead"] == 1, s
        assert time.time() - t_dead > 1.5, "removed before callback_dead_retention"
    finally:
        bad.stop()
        d.terminate()
    assert not d.sanitizer_reports(), d.sanitizer_reports()


# ---------------------------------------------------------------- safety


def test_private_target_refused_and_kept(tmp_path, receiver):
    settings = dict(SETTINGS, callback_retry_count=1)
    d = Ferryd(str(tmp_path / "ferryd"), {"alice": ALICE_TOKEN}, settings).start()
    try:
        api = Api(d.port, ALICE_TOKEN)
        # 127.0.0.2 is loopback but not in callback_allow (127.0.0.1/32).
        url = "http://127.0.0.2:%d/hook" % receiver.port
        tid = make_events(api, url, 1)

        def dead_line():
            st, hist = api.get("/v1/tasks/%s/history" % tid)
            lines = hist if isinstance(hist, list) else (hist or {}).get("history", [])
            return [h for h in lines if h.get("reason") == "CallbackFailed"]

        line = wait_until(dead_line, 10, 0.2, what="CallbackFailed in the history")[0]
        assert "refused" in line["detail"] and "127.0.0.2" in line["detail"], line
        assert receiver.got() == []
    finally:
        d.terminate()
