"""test_metrics.py — GET /metrics read back after real relays ran: tasks by state as the API
shows them, bytes and packets as the destination got them, failovers, reconnects and API
calls counted, no stream key or URL anywhere, counters that never go back, well-formed
histograms, and `promtool check metrics` (lint included) on the real output."""

import http.client
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import ALICE_TOKEN, BOB_TOKEN
from harness import (REPO_ROOT, idle_task, live_task, wait_until, wait_value,
                     whole_seconds_from_now)
from test_callbacks import tc_call

STATES = ("idle", "running", "recovering", "offline", "finished", "paused")
STREAM_KEY = "sk_live_0123456789abcdef"  # the destination's stream name: a secret
METRICS_TOKEN = "metrics-e2e-token-5555555555"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


# ---------------------------------------------------------------- reading /metrics


def scrape_raw(port, token=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, "/metrics",
                     headers={"Authorization": "Bearer " + token} if token else {})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        conn.close()


class Scrape:
    """One scrape: the text, every sample by (name, sorted labels), and each family's type."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.samples = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                continue
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def value(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def family_of(self, sample_name):
        """The family a sample belongs to, with the family's type."""
        for suffix in ("_bucket", "_sum", "_count", ""):
            base = sample_name[:len(sample_name) - len(suffix)] if suffix else sample_name
            if sample_name.endswith(suffix) and base in self.types:
                if suffix and self.types[base] != "histogram":
                    continue
                return base, self.types[base]
        raise AssertionError("sample %s has no TYPE line" % sample_name)


def scrape(port, token=None):
    status, ctype, text = scrape_raw(port, token)
    assert status == 200, "GET /metrics: HTTP %s %s" % (status, text[:200])
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    return Scrape(text)


def promtool_check(text):
    """promtool check metrics: any problem it reports, lint warnings included, fails."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found (Debian package prometheus: scripts/deps.sh test)"
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    report = (p.stdout + p.stderr).decode(errors="replace").strip()
    assert p.returncode == 0 and not report, "promtool (exit %d): %s" % (p.returncode, report)


# ---------------------------------------------------------------- properties


def assert_histograms_well_formed(s):
    groups = {}
    for (name, labels), v in s.samples.items():
        if not name.endswith("_bucket"):
            continue
        rest = tuple(kv for kv in labels if kv[0] != "le")
        le = dict(labels)["le"]
        groups.setdefault((name[:-len("_bucket")], rest), []).append(
            (float("inf") if le == "+Inf" else float(le), v))
    assert groups, "no histogram in the output"
    for (base, rest), buckets in groups.items():
        buckets.sort()
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), "%s%s buckets not monotonic: %s" % (base, rest, buckets)
        assert buckets[-1][0] == float("inf"), "%s%s has no +Inf bucket" % (base, rest)
        count = s.samples.get((base + "_count", rest))
        assert count == buckets[-1][1], "%s%s: +Inf %s != _count %s" % (
            base, rest, buckets[-1][1], count)
        assert (base + "_sum", rest) in s.samples, "%s%s has no _sum" % (base, rest)


def assert_counters_never_decrease(before, after):
    for (name, labels), v in before.samples.items():
        family, kind = before.family_of(name)
        if kind not in ("counter", "histogram"):
            continue
        later = after.samples.get((name, labels))
        assert later is not None, "series %s%s vanished" % (name, labels)
        assert later >= v, "%s%s went back from %s to %s" % (name, labels, v, later)


def assert_no_secrets(s, nginx, secrets):
    for needle in ["rtmp://", "127.0.0.1", ":%d" % nginx.rtmp_port] + list(secrets):
        assert needle not in s.text, "%r appears in /metrics" % needle


def tasks_by_state(*apis):
    counts = dict.fromkeys(STATES, 0)
    for a in apis:
        st, doc = a.get("/v1/tasks?page_size=100")
        assert st == 200, doc
        for t in doc["tasks"]:
            counts[t["state"]] += 1
    return counts


def requests(s, dialect, action, result="ok"):
    return s.value("ferry_http_requests_total", dialect=dialect, action=action, result=result)


# ---------------------------------------------------------------- the tests


def start_relays(api, nginx, publisher, viewer):
    """A live task with a backup (main src/cam, backup src/bak) to dst/<STREAM_KEY>, a
    plain live task src/cam2 -> dst/plain, an idle one and a paused one."""
    out = viewer("dst", STREAM_KEY)
    main, backup, plain = publisher("cam"), publisher("bak"), publisher("cam2")
    for name in ("cam", "bak", "cam2"):
        wait_until(lambda: nginx.is_published("src", name), 15, 0.1, what="src/%s" % name)
    start = whole_seconds_from_now(1)
    relay = api.create_task(**live_task(nginx, start, start + 300, dst=STREAM_KEY,
                                        backup_source_url=nginx.url("src", "bak")))
    second = api.create_task(**live_task(nginx, start, start + 300, src="cam2", dst="plain"))
    api.create_task(**idle_task())
    api.create_task(**idle_task(paused=True))
    for t in (relay, second):
        api.wait_state(t["id"], ("running",), 15)
    wait_until(lambda: out.count("video") >= 60, 20, what="2 s of video at the destination")
    return relay, second, main, plain


def check_traffic(api, nginx, s, tid, packets_before, packets_after):
    """Packets out match the first relay's progress (plus the second relay's), bytes out
    roughly what nginx got on both streams."""
    sent = s.value("ferry_relay_sent_packets_total")
    assert packets_before <= sent, (packets_before, sent)
    assert s.value("ferry_relay_received_packets_total") > 0
    assert s.value("ferry_relay_received_bytes_total") > 0
    got = nginx.bytes_in("dst", STREAM_KEY) + nginx.bytes_in("dst", "plain")
    out = s.value("ferry_relay_sent_bytes_total")
    assert 0.75 * got <= out <= 1.25 * got, "sent %d bytes, nginx got %d" % (out, got)
    assert sent <= packets_after, (sent, packets_after)


def test_metrics_after_real_relays(ferryd, api, bob, nginx, publisher, viewer, metric):
    relay, second, main, plain = start_relays(api, nginx, publisher, viewer)
    tid = relay["id"]

    # tasks by state match the API; two relays run
    first = scrape(ferryd.port)
    want = tasks_by_state(api, bob)
    assert want["running"] == 2 and want["idle"] == 1 and want["paused"] == 1, want
    for state in STATES:
        assert first.value("ferry_tasks", state=state) == want[state], (state, first.text)
    assert first.value("ferry_relays_running") == 2

    # bytes and packets out: compare with both relays' progress and with nginx
    def packets():
        return sum(api.task(t["id"])["progress"]["packets"] for t in (relay, second))
    p0 = packets()
    traffic = scrape(ferryd.port)
    p1 = packets()
    check_traffic(api, nginx, traffic, tid, p0, p1 + 4)
    metric("bytes out / at nginx", "%d / %d" % (
        traffic.value("ferry_relay_sent_bytes_total"),
        nginx.bytes_in("dst", STREAM_KEY) + nginx.bytes_in("dst", "plain")))
    wait_until(lambda: scrape(ferryd.port).value("ferry_relay_sent_bytes_total") >
               traffic.value("ferry_relay_sent_bytes_total"), 10, 0.2, what="bytes out growing")

    # a failover (main source gone, the backup takes over) and a source reconnect
    main.kill()
    wait_value(lambda: scrape(ferryd.port).value("ferry_relay_failovers_total"),
               lambda v: v >= first.value("ferry_relay_failovers_total") + 1, 15,
               what="ferry_relay_failovers_total + 1")
    plain.kill()
    wait_value(lambda: scrape(ferryd.port).value("ferry_relay_reconnects_total", side="source"),
               lambda v: v >= first.value("ferry_relay_reconnects_total", side="source") + 1,
               20, what="ferry_relay_reconnects_total{side=source} + 1")

    # API calls by dialect, action and result
    before = scrape(ferryd.port)
    for _ in range(5):
        api.task(tid)
    assert api.get("/v1/tasks/no-such-task")[0] == 404
    assert api.as_("wrong-token").get("/v1/tasks")[0] == 401
    tc_call(ferryd.port, "DescribeLivePullStreamTasks", {})
    conn = http.client.HTTPConnection("127.0.0.1", ferryd.port, timeout=15)
    conn.request("POST", "/", body=b"{}", headers={"X-TC-Action": "NoSuchAction",
                                                    "Content-Type": "application/json"})
    assert conn.getresponse().status == 200  # Tencent answers errors with 200
    conn.close()
    calls = scrape(ferryd.port)
    action = "GET /v1/tasks/{id}"
    assert requests(calls, "native", action) - requests(before, "native", action) == 5
    assert requests(calls, "native", action, "4xx") - requests(before, "native", action,
                                                               "4xx") == 1
    assert requests(calls, "native", "unknown", "4xx") - requests(before, "native", "unknown",
                                                                  "4xx") == 1
    assert requests(calls, "tencent", "DescribeLivePullStreamTasks") - requests(
        before, "tencent", "DescribeLivePullStreamTasks") == 1
    assert requests(calls, "tencent", "unknown", "4xx") - requests(before, "tencent", "unknown",
                                                                   "4xx") == 1
    assert calls.value("ferry_http_request_duration_seconds_count", dialect="native") > \
        before.value("ferry_http_request_duration_seconds_count", dialect="native")
    assert calls.value("ferry_store_transaction_duration_seconds_count") > 0

    # a relay that ends keeps its bytes in the totals
    assert api.delete("/v1/tasks/" + second["id"])[0] == 204
    wait_until(lambda: scrape(ferryd.port).value("ferry_relays_running") == 1, 10, 0.2,
               what="one relay running after a delete")
    last = scrape(ferryd.port)

    for s in (first, traffic, before, calls, last):
        assert_no_secrets(s, nginx, [STREAM_KEY, ALICE_TOKEN, BOB_TOKEN, "cam2", tid,
                                     second["id"], "e2e relay"])
    assert_counters_never_decrease(first, traffic)
    assert_counters_never_decrease(traffic, calls)
    assert_counters_never_decrease(calls, last)
    assert_histograms_well_formed(last)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds"):
        assert last.value(name) > 0, name
    assert last.value("process_start_time_seconds") <= time.time()
    promtool_check(last.text)


@pytest.mark.ferryd_settings(metrics_token=METRICS_TOKEN)
def test_metrics_token(ferryd):
    assert scrape_raw(ferryd.port)[0] == 401
    assert scrape_raw(ferryd.port, ALICE_TOKEN)[0] == 401  # an account's token is not it
    s = scrape(ferryd.port, METRICS_TOKEN)
    assert s.value("ferry_metrics_scrapes_refused_total") == 2
    assert METRICS_TOKEN not in s.text
    assert scrape_raw(ferryd.port, METRICS_TOKEN, method="POST")[0] == 405
    promtool_check(s.text)


@pytest.mark.ferryd_settings(metrics_token=METRICS_TOKEN, auth_failures_per_ip=1)
def test_metrics_token_guessing_is_throttled(ferryd):
    codes = [scrape_raw(ferryd.port, "guess-%d" % i)[0] for i in range(6)]
    assert set(codes) == {401, 429} and codes[-1] == 429, codes
    assert scrape_raw(ferryd.port, METRICS_TOKEN)[0] == 429  # refused before the check
    wait_until(lambda: scrape_raw(ferryd.port, METRICS_TOKEN)[0] == 200, 10, 0.5,
               what="the right token accepted once the address's bucket refilled")


def test_metrics_of_a_fresh_node(ferryd):
    """Before any relay: every family is there with zeros, and promtool is content."""
    s = scrape(ferryd.port)
    for state in STATES:
        assert ("ferry_tasks", (("state", state),)) in s.samples
    for name in ("ferry_relays_running", "ferry_relay_sent_bytes_total",
                 "ferry_relay_failovers_total", "ferry_relay_dropped_packets_total",
                 "ferry_callback_outbox_events", "ferry_callback_dead_events"):
        assert (name, ()) in s.samples, name
    assert_histograms_well_formed(s)
    promtool_check(s.text)


def test_alerting_rules_load():
    """contrib/ferry-alerts.yml (docs/operations.md) is valid for Prometheus."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found (Debian package prometheus: scripts/deps.sh test)"
    rules = os.path.join(REPO_ROOT, "contrib", "ferry-alerts.yml")
    p = subprocess.run([promtool, "check", "rules", rules], capture_output=True, timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
