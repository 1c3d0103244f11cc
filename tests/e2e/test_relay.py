"""test_relay.py — a live relay as its viewers see it: it starts on time, carries H.264
and AAC, survives a source outage in ONE destination session with continuous
timestamps, stops at its end time, and waits idle while its source is missing during
pre-roll."""

import time

import pytest

from harness import (dts_report, largest_wall_gap, live_task, parse_iso, probe, redact_url,
                     wait_until, whole_seconds_from_now)

START_SLACK = 0.5  # the promise: running within 500 ms of start_time / end_time
POLL_SLACK = 0.3   # polling, a local connect, a loaded 2-core machine (sanitizers)



def start_relay(api, nginx, publisher, lead=2.0, length=120):
    """A publisher on src/cam and a task relaying it to dst/out from a whole second
    about `lead` s from now. Returns (task, start, end)."""
    publisher("cam")
    nginx.wait_published("src", "cam")
    start = whole_seconds_from_now(lead)
    end = start + length
    task = api.create_task(**live_task(nginx, start, end))
    return task, start, end


def test_relay_starts_on_time(api, nginx, publisher, viewer, metric):
    out = viewer("dst", "out")
    publisher("cam")
    nginx.wait_published("src", "cam")
    start = whole_seconds_from_now(3)
    task = api.create_task(**live_task(nginx, start, start + 120))
    assert task["state"] == "idle"
    assert parse_iso(task["start_time"]) == start

    early = api.task(task["id"])
    assert time.time() < start and early["state"] == "idle", "started before start_time"

    _, seen = api.wait_state(task["id"], ("running",), start - time.time() + 10)
    delay = seen - start
    metric("start delay (s)", delay)
    # media at the destination, as the RTMP server counts it (a viewer's own probing
    # would add its latency)
    wait_until(lambda: nginx.bytes_in("dst", "out") > 0, 10, 0.02,
               what="media at the destination")
    first = time.time() - start
    metric("media at destination after start (s)", first)

    assert delay > -0.05, "running %.3fs before start_time" % -delay
    assert delay < START_SLACK + POLL_SLACK, "running %.3fs after start_time" % delay
    assert first < START_SLACK + POLL_SLACK, (
        "media reached the destination %.2fs after start_time" % first)
    wait_until(lambda: out.count("video") > 0, 5, what="a viewer of the destination sees video")
    wait_until(lambda: api.task(task["id"])["progress"]["frames"] > 0, 5,
               what="progress.frames > 0")
    prog = api.task(task["id"])["progress"]
    assert prog["active"] is True and prog["packets"] > 0 and prog["bytes"] > 0, prog


def test_destination_carries_h264_and_aac(api, nginx, publisher, metric):
    task, start, _ = start_relay(api, nginx, publisher)
    api.wait_state(task["id"], ("running",), start - time.time() + 10)
    nginx.wait_published("dst", "out", timeout=10)
    streams, packets = probe(nginx.url("dst", "out"), 3, timeout=15)
    codecs = {s.get("codec_type"): s.get("codec_name") for s in streams}
    assert codecs.get("video") == "h264", streams
    assert codecs.get("audio") == "aac", streams
    video = [p for p in packets if p["codec_type"] == "video"]
    audio = [p for p in packets if p["codec_type"] == "audio"]
    metric("video/audio packets in 3 s", "%d/%d" % (len(video), len(audio)))
    assert len(video) >= 45, "only %d video packets in 3 s of a 30 fps source" % len(video)
    assert len(audio) >= 60, "only %d audio packets in 3 s" % len(audio)
    for kind, pk in (("video", video), ("audio", audio)):
        dts = [p["dts"] for p in pk]
        assert all(b > a for a, b in zip(dts, dts[1:])), "%s DTS not increasing" % kind
    meta = nginx.stream_stat("dst", "out").find("meta")
    assert meta is not None and meta.findtext("video/codec") == "H264"
    assert meta.findtext("audio/codec") == "AAC"


def test_source_outage_keeps_one_session(api, nginx, publisher, viewer, metric):
    out = viewer("dst", "out")
    cam = publisher("cam")
    nginx.wait_published("src", "cam")
    start = whole_seconds_from_now(2)
    task = api.create_task(**live_task(nginx, start, start + 120))
    api.wait_state(task["id"], ("running",), start - time.time() + 10)
    wait_until(lambda: out.count("video") >= 60, 15, what="2 s of video at the destination")
    publisher_before = nginx.publisher_client("dst", "out")

    cam.kill()
    killed = time.time()
    time.sleep(3)
    cam.start()
    restarted = time.time()
    n_before = out.count("video")

    def resumed():
        return sum(1 for p in out.snapshot() if p["type"] == "video" and p["t"] > restarted) >= 90

    wait_until(resumed, 25, 0.1, what="3 s of video at the destination after the outage")
    task_now = api.task(task["id"])
    packets = out.snapshot()

    # one session: the destination was published once and the viewer's single
    # connection received before and after
    publishes = nginx.publish_count("dst", "out")
    metric("destination publishes", publishes)
    assert publishes == 1, "destination published %d times across the outage" % publishes
    assert out.alive(), "the viewer's session ended"
    assert n_before > 0 and any(p["t"] > restarted for p in packets)
    assert nginx.publisher_client("dst", "out")[0] == publisher_before[0]

    # continuous timestamps
    report = dts_report(packets)
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    wall_gap, after = largest_wall_gap(packets, "video")
    audio_gap, _ = largest_wall_gap(packets, "audio")
    metric("outage at the viewer, video (s)", wall_gap)
    metric("largest DTS gap video/audio (ms)",
           "%d/%d" % (report["video"]["max_step"], report["audio"]["max_step"]))
    assert wall_gap >= 2.0, "no visible outage (%.2fs): did the source really stop?" % wall_gap
    tol_ms = 500
    assert report["video"]["max_step"] <= wall_gap * 1000 + tol_ms, report["video"]
    assert report["audio"]["max_step"] <= audio_gap * 1000 + tol_ms, report["audio"]

    # the destination resumes soon after the source does, on a keyframe, in real time
    metric("destination resumed after source restart (s)", packets[after]["t"] - restarted)
    assert packets[after]["t"] - restarted < 6.0, "destination resumed %.1fs after the source" % (
        packets[after]["t"] - restarted)
    assert packets[after]["type"] == "video" and packets[after]["key"], (
        "first video packet after the outage is not a keyframe")
    resumed_dts = [p["dts"] for p in packets[after:] if p["type"] == "video"]
    steps = sorted(b - a for a, b in zip(resumed_dts, resumed_dts[1:]))
    assert 25 <= steps[len(steps) // 2] <= 45, (
        "video DTS after the outage does not advance at 30 fps (median step %d ms)" %
        steps[len(steps) // 2])
    assert task_now["state"] == "running", task_now
    metric("discontinuities", task_now["progress"].get("discontinuities"))
    metric("source stopped for (s)", restarted - killed)


def test_relay_stops_at_end_time(api, nginx, publisher, viewer, metric):
    out = viewer("dst", "out")
    task, start, end = start_relay(api, nginx, publisher, lead=2, length=6)
    api.wait_state(task["id"], ("running",), start - time.time() + 10)
    nginx.wait_published("dst", "out", timeout=10)
    assert api.task(task["id"])["state"] == "running"

    _, seen = api.wait_state(task["id"], ("finished",), end - time.time() + 10)
    delay = seen - end
    metric("stop delay (s)", delay)
    assert delay > -0.05, "finished %.3fs before end_time" % -delay
    assert delay < START_SLACK + POLL_SLACK, "finished %.3fs after end_time" % delay

    wait_until(lambda: not nginx.is_published("dst", "out"), 3, 0.05,
               what="destination stream gone from nginx stat")
    gone = time.time() - end
    metric("destination unpublished after end (s)", gone)
    assert gone < 1.5
    last = out.snapshot()[-1]["t"] if out.count() else None
    assert last is not None and last - end < 1.0, "frames kept arriving after end_time"
    wait_until(lambda: api.task(task["id"])["progress"]["active"] is False, 1.0,
               what="progress.active false after the task finished")


@pytest.fixture
def long_preroll(monkeypatch):
    import conftest
    monkeypatch.setitem(conftest.FERRYD_SETTINGS, "preroll", 8)


@pytest.mark.usefixtures("long_preroll")
def test_source_down_during_preroll_keeps_the_task_idle(api, nginx, publisher, metric):
    """Pre-roll (8 s here) connects the source before start_time; when it is not there yet
    the task stays idle (nothing was promised before start_time) and the failed attempts
    show in its history; once the source comes, the relay runs at start_time."""
    start = whole_seconds_from_now(10)  # pre-roll begins about 2 s from now
    task = api.create_task(**live_task(nginx, start, start + 120))
    tid = task["id"]
    # nginx-rtmp holds a player of an unpublished stream: the attempt fails at the
    # connect timeout (5 s)
    wait_until(lambda: api.history(tid, "PrerollRetry"), start - time.time(), 0.1,
               what="a failed pre-roll attempt in the history")
    assert time.time() < start
    assert api.task(tid)["state"] == "idle", api.task(tid)
    # the source as history shows it: its stream key redacted
    assert redact_url(nginx.url("src", "cam")) in api.history(tid, "PrerollRetry")[0]["detail"]
    publisher("cam")
    _, seen = api.wait_state(tid, ("running",), start - time.time() + 15)
    metric("running after start_time (s)", round(seen - start, 2))
    states = [h["to"] for h in api.history(tid)]
    assert "recovering" not in states[:states.index("running")], api.history(tid)
