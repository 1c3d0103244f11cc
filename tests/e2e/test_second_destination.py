"""test_second_destination.py — a task with a second destination (backup_destination,
Tencent's BackupToUrl) on its own nginx-rtmp, as the viewers of both see it: when the second
server freezes, its queue drops media up to a keyframe and raises PushStreamUnstable while
the first destination goes on in real time, in one session, with no gap."""

import os
import re
import signal
import time

import pytest

from harness import (NginxRtmp, Viewer, dts_report, largest_wall_gap, live_task, redact_url,
                     wait_until, whole_seconds_from_now)

VIDEO_MS = 1000 / 30     # one frame of the 30 fps test stream
TOLERANCE_MS = 3         # FLV millisecond rounding
QUEUE_MAX_AGE_S = 4      # OUTPUT_QUEUE_MAX_AGE_US (src/engine/output_queue.h)


class Second:
    """A second private nginx-rtmp, which a test can freeze (SIGSTOP) and thaw. The harness
    runs nginx with master_process off, so its one process is the one that serves RTMP."""

    def __init__(self, workdir):
        self.nginx = NginxRtmp(workdir).start()
        self.frozen = False
        self.viewers = []

    def viewer(self, logdir):
        v = Viewer(self.nginx.url("dst", "out"), os.path.join(logdir, "viewer-second.log"))
        self.viewers.append(v.start())
        return v

    def _state(self):
        with open("/proc/%d/stat" % self.nginx.proc.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def freeze(self):
        os.kill(self.nginx.proc.pid, signal.SIGSTOP)
        self.frozen = True
        wait_until(lambda: self._state() in ("T", "t"), 5, what="the second nginx stopped")

    def thaw(self):
        if self.frozen and self.nginx.proc.poll() is None:
            os.kill(self.nginx.proc.pid, signal.SIGCONT)
        self.frozen = False

    def close(self):
        self.thaw()  # a stopped process would ignore the SIGTERM until resumed
        for v in self.viewers:
            v.stop()
        self.nginx.stop()


@pytest.fixture
def second(tmp_path):
    s = Second(str(tmp_path / "nginx-second"))
    yield s
    s.close()




def alarms(api, tid, name):
    return api.history(tid, name)


def video_after(viewer, t):
    return [p for p in viewer.snapshot() if p["type"] == "video" and p["t"] > t]


def extra_steps(packets, kind, nominal_ms):
    """The DTS steps of one track beyond its nominal frame duration."""
    ds = [p["dts"] for p in packets if p["type"] == kind and p["dts"] is not None]
    return [b - a - nominal_ms for a, b in zip(ds, ds[1:])]


# A stall_timeout well past the queue's age bound: a write the frozen server never takes
# must not fail before the queue has had to drop (that would test the reconnect path).
@pytest.mark.ferryd_settings(stall_timeout=60)
def test_frozen_second_destination_drops_only_its_own_packets(api, nginx, publisher, viewer,
                                                              second, tmp_path, metric):
    out = viewer("dst", "out")
    out2 = second.viewer(str(tmp_path))
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    backup = second.nginx.url("dst", "out")
    task = api.create_task(**live_task(nginx, start, start + 300, backup_destination=backup))
    tid = task["id"]
    api.wait_state(tid, ("running",), start - time.time() + 10)
    wait_until(lambda: out.count("video") >= 60 and out2.count("video") >= 60, 15, 0.1,
               what="2 s of video at both destinations")
    first_publisher = nginx.publisher_client("dst", "out")
    assert first_publisher is not None

    # freeze the second server: its socket buffers fill, then its writer's write blocks
    # and the queue ages past its bound
    second.freeze()
    frozen_at = time.time()
    try:
        found = wait_until(lambda: alarms(api, tid, "PushStreamUnstable"), 45, 0.2,
                           what="a PushStreamUnstable alarm while the second server is frozen")
        alarm_at = time.time()
        time.sleep(2)  # a little more of the dropping, with the first destination watched
        during = api.task(tid)
        out_frozen = video_after(out, frozen_at)
        thawed_at = time.time()
    finally:
        second.thaw()

    # the alarm is the queue's: it names the second destination and what was dropped
    metric("frozen until the alarm (s)", alarm_at - frozen_at)
    metric("second destination frozen for (s)", thawed_at - frozen_at)
    assert len(found) == 1, found
    detail = found[0]["detail"]
    m = re.search(r"too slow: (\d+) packet\(s\) dropped from its queue", detail)
    assert redact_url(backup) in detail and m, detail  # named as alarms do: key redacted
    metric("packets dropped (first alarm)", int(m.group(1)))
    assert int(m.group(1)) > 0
    assert alarm_at - frozen_at >= QUEUE_MAX_AGE_S - 0.5, (
        "alarm %.1fs after the freeze: before the queue's age bound" % (alarm_at - frozen_at))
    assert during["state"] == "running", during

    # the first destination did not notice: every frame, in real time, in the same session
    window = [p for p in out.snapshot() if frozen_at <= p["t"] <= thawed_at]
    report = dts_report(window)
    vgap = max(extra_steps(window, "video", VIDEO_MS))
    agap = max(extra_steps(window, "audio", 1024 * 1000 / 44100))
    wall, _ = largest_wall_gap(window, "video")
    frozen_s = thawed_at - frozen_at
    metric("first destination: largest video DTS step while frozen (ms)",
           report["video"]["max_step"])
    metric("first destination: largest audio DTS step while frozen (ms)",
           report["audio"]["max_step"])
    metric("first destination: largest arrival gap while frozen (s)", wall)
    metric("first destination: video frames while frozen", len(out_frozen))
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    assert vgap <= TOLERANCE_MS, "a %.0f ms video gap at the first destination" % vgap
    assert agap <= TOLERANCE_MS, "a %.0f ms audio gap at the first destination" % agap
    assert len(out_frozen) >= 0.9 * 30 * frozen_s, (
        "%d video frames in %.1f s at the first destination" % (len(out_frozen), frozen_s))
    assert wall < 1.0, "the first destination stalled %.2fs" % wall

    # thawed: the second destination resumes on a keyframe, past the dropped media, in the
    # same session; the task never left running and the first destination is one session
    wait_until(lambda: len(video_after(out2, thawed_at)) >= 60, 20, 0.1,
               what="2 s of video at the second destination after the thaw")
    wait_until(lambda: len(video_after(out, thawed_at)) >= 60, 10, 0.1,
               what="2 s of video at the first destination after the thaw")
    after = api.task(tid)
    assert after["state"] == "running", after
    left = [h for h in api.history(tid) if h["from"] == "running" and h["to"] != "running"]
    assert left == [], "the task left running: %s" % left
    assert not alarms(api, tid, "PushStreamFailed"), api.history(tid)
    first = redact_url(nginx.url("dst", "out"))
    assert not [h for h in api.history(tid) if first in h.get("detail", "")], (
        "an alarm or error names the first destination: %s" % api.history(tid))
    assert out.alive(), "the first destination's viewer session ended"
    assert nginx.publish_count("dst", "out") == 1, "the first destination was re-published"
    assert nginx.publisher_client("dst", "out")[0] == first_publisher[0]
    assert second.nginx.publish_count("dst", "out") == 1, (
        "the second destination reconnected: the drop path should keep its session")
    packets2 = out2.snapshot()
    report2 = dts_report(packets2)
    video2 = [p for p in packets2 if p["type"] == "video"]
    skip = max(range(1, len(video2)), key=lambda i: video2[i]["dts"] - video2[i - 1]["dts"])
    metric("second destination: media skipped (largest video DTS step, ms)",
           report2["video"]["max_step"])
    metric("second destination: video frames dropped",
           round(report2["video"]["max_step"] / VIDEO_MS) - 1)
    assert report2["video"]["monotonic"], report2["video"]
    assert report2["video"]["max_step"] >= 1000, (
        "no media was dropped for the second destination: %s" % report2["video"])
    assert video2[skip]["key"], "the second destination resumed on a non-keyframe"
    whole = dts_report(out.snapshot())
    metric("first destination: largest video DTS step, whole run (ms)",
           whole["video"]["max_step"])
    assert max(extra_steps(out.snapshot(), "video", VIDEO_MS)) <= TOLERANCE_MS
