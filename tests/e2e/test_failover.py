"""test_failover.py — a live task's backup source and pad file as the destination sees
them: when the main source goes, the backup (or the pad, played in a loop) carries on in
the same session, and when the main source is back the relay returns to it."""

import os
import time

import pytest

from harness import (dts_report, largest_wall_gap, live_task, redact_url, wait_until,
                     whole_seconds_from_now)
from media import FileServer, make_clip

STALL_S = 3     # FERRYD_SETTINGS["stall_timeout"]: a silent source counts as failed
FAILOVER_S = 1  # FERRYD_SETTINGS["failover_timeout"]: ... when a backup or pad can take over






def role(api, tid):
    prog = api.task(tid)["progress"]
    return prog.get("source_role"), prog.get("source_url")


def start_task(api, nginx, publisher, viewer, **extra):
    out = viewer("dst", "out")
    main = publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(2)
    task = api.create_task(**live_task(nginx, start, start + 300, **extra))
    api.wait_state(task["id"], ("running",), start - time.time() + 10)
    wait_until(lambda: out.count("video") >= 60, 15, what="2 s of video at the destination")
    return task, main, out


def video_since(out, t0):
    return sum(1 for p in out.snapshot() if p["type"] == "video" and p["t"] > t0)


def assert_one_smooth_session(nginx, out, metric, outage_s):
    packets = out.snapshot()
    publishes = nginx.publish_count("dst", "out")
    metric("destination publishes", publishes)
    assert publishes == 1, "the destination was published %d times" % publishes
    assert out.alive(), "the viewer's session ended"
    report = dts_report(packets)
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    gap, _ = largest_wall_gap(packets, "video")
    metric("largest gap at the viewer, video (s)", round(gap, 3))
    metric("largest DTS step video/audio (ms)",
           "%d/%d" % (report["video"]["max_step"], report["audio"]["max_step"]))
    assert gap < outage_s, "the viewer saw a %.2fs gap (allowed %.1fs)" % (gap, outage_s)
    return gap


def test_live_backup_takes_over_and_hands_back(api, nginx, publisher, viewer, metric):
    backup = publisher("bak")
    wait_until(lambda: nginx.is_published("src", "bak"), 15, 0.1, what="src/bak published")
    task, main, out = start_task(api, nginx, publisher, viewer,
                                 backup_source_url=nginx.url("src", "bak"))
    tid = task["id"]
    assert role(api, tid) == ("main", nginx.url("src", "cam"))

    main.kill()
    lost = time.time()
    wait_until(lambda: role(api, tid)[0] == "backup", FAILOVER_S + 8, 0.05,
               what="the backup source playing")
    metric("main lost -> backup playing (s)", round(time.time() - lost, 2))
    assert role(api, tid)[1] == nginx.url("src", "bak")
    wait_until(lambda: video_since(out, lost + FAILOVER_S + 1) >= 90, 20, 0.1,
               what="3 s of the backup's video at the destination")
    assert api.task(tid)["state"] == "running"
    assert "BackupSourceActive" in [h["reason"] for h in api.history(tid)]

    main.start()
    back = time.time()
    wait_until(lambda: role(api, tid)[0] == "main", 20, 0.1, what="the main source again")
    metric("main back -> main playing (s)", round(time.time() - back, 2))
    wait_until(lambda: video_since(out, time.time()) >= 0 and
               video_since(out, back + 1) >= 60, 20, 0.1, what="video after the return")
    assert "MainSourceRestored" in [h["reason"] for h in api.history(tid)]
    # an alternate keeps the task running: it never went through recovering
    states = [h.get("to") for h in api.history(tid)]
    assert "recovering" not in states, api.history(tid)
    assert api.task(tid)["state"] == "running"
    # the backup was kept on standby: the switch pushes its latest GOP at once, so the
    # viewer's gap is the failover timeout itself, not that plus a connect and a keyframe
    assert_one_smooth_session(nginx, out, metric, FAILOVER_S + 0.6)
    backup.kill()


@pytest.mark.parametrize("alternate", ["pad", "backup"])
def test_file_alternate_plays_in_a_loop_until_the_main_source_is_back(
        api, nginx, publisher, viewer, metric, tmp_path, alternate):
    """The pad file (BackupVodUrl), or a file backup source (PullVodPushLive)."""
    root = tmp_path / "files"
    os.makedirs(root)
    make_clip(str(root / "pad.mp4"), "640x360", 2)
    files = FileServer(str(root))
    fields = ({"pad_url": files.url("pad.mp4")} if alternate == "pad" else
              {"backup_source_url": files.url("pad.mp4"), "backup_source_type": "files"})
    try:
        task, main, out = start_task(api, nginx, publisher, viewer, **fields)
        tid = task["id"]
        main.kill()
        lost = time.time()
        wait_until(lambda: role(api, tid)[0] == alternate, FAILOVER_S + 8, 0.05,
                   what="the %s file playing" % alternate)
        metric("main lost -> %s playing (s)" % alternate, round(time.time() - lost, 2))
        # several passes of the 2 s pad: the destination keeps getting video in real time
        t0 = time.time()
        wait_until(lambda: time.time() - t0 > 6.5, 8, 0.2)
        n = video_since(out, t0)
        metric("%s video frames in 6.5 s" % alternate, n)
        assert n >= 150, "only %d frames in 6.5 s of pad (30 fps)" % n
        assert role(api, tid)[0] == alternate and api.task(tid)["state"] == "running"

        main.start()
        back = time.time()
        wait_until(lambda: role(api, tid)[0] == "main", 20, 0.1, what="the main source again")
        metric("main back -> main playing (s)", round(time.time() - back, 2))
        wait_until(lambda: video_since(out, time.time() - 0.1) >= 0 and
                   video_since(out, back + 1) >= 60, 20, 0.1, what="video after the return")
        assert "BackupSourceActive" in [h["reason"] for h in api.history(tid)]
        assert "MainSourceRestored" in [h["reason"] for h in api.history(tid)]
        assert_one_smooth_session(nginx, out, metric, FAILOVER_S + 1.5)
    finally:
        files.stop()


def test_backup_down_too_means_recovering(api, nginx, publisher, viewer):
    """Both sources gone: the task recovers (and says why), then runs again on the main."""
    task, main, out = start_task(api, nginx, publisher, viewer,
                                 backup_source_url=nginx.url("src", "nobody"))
    tid = task["id"]
    main.kill()
    api.wait_state(tid, ("recovering",), STALL_S + 15)
    # the main source failed first, then the backup it tried: the error names the backup,
    # and no alarm claimed that the backup was playing
    err = api.task(tid)["last_error"]
    assert err.startswith("pull %s: " % redact_url(nginx.url("src", "nobody"))), err
    assert "BackupSourceActive" not in [h["reason"] for h in api.history(tid)]
    main.start()
    api.wait_state(tid, ("running",), 20)
    assert role(api, tid) == ("main", nginx.url("src", "cam"))
    assert nginx.publish_count("dst", "out") == 1
