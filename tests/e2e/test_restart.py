"""test_restart.py — tasks outlive ferryd: a clean stop (SIGTERM) and a crash (kill -9)
both come back with every acknowledged task, a running relay resumes, and a playlist goes
on with the file it was playing."""

import os
import time

from harness import files_task, idle_task, live_task, probe, wait_until, whole_seconds_from_now
from media import FileServer, make_clip


def running_relay(api, nginx, publisher):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    task = api.create_task(**live_task(nginx, start, start + 300))
    api.wait_state(task["id"], ("running",), start - time.time() + 10)
    wait_until(lambda: nginx.is_published("dst", "out"), 10, 0.1, what="dst/out published")
    return task


def assert_flowing(api, nginx, tid, metric, label):
    """The task is running again after a restart and frames reach the destination."""
    t0 = time.time()
    api.wait_state(tid, ("running",), 15)
    wait_until(lambda: nginx.is_published("dst", "out"), 15, 0.05,
               what="dst/out published again")
    metric(label + ": destination published again after (s)", time.time() - t0)
    streams, packets = probe(nginx.url("dst", "out"), 2, timeout=15)
    video = [p for p in packets if p["codec_type"] == "video"]
    assert len(video) >= 30, "only %d video packets in 2 s after restart" % len(video)
    a = api.task(tid)["progress"]["frames"]
    time.sleep(1)
    b = api.task(tid)["progress"]["frames"]
    assert b > a, "progress.frames not increasing after restart (%s -> %s)" % (a, b)


def test_sigterm_then_restart_resumes(ferryd, api, nginx, publisher, metric):
    task = running_relay(api, nginx, publisher)
    rc, took = ferryd.terminate()
    metric("SIGTERM exit (s)", took)
    assert rc == 0, "ferryd exited %s on SIGTERM (after %.1fs)" % (rc, took)
    assert took < 5
    wait_until(lambda: not nginx.is_published("dst", "out"), 3, 0.05,
               what="destination released after SIGTERM")

    ferryd.start()
    got = api.task(task["id"])
    for k in ("source_urls", "destination", "start_time", "end_time"):
        assert got[k] == task[k], k
    assert_flowing(api, nginx, task["id"], metric, "after SIGTERM")


def test_kill9_then_restart_resumes(ferryd, api, nginx, publisher, metric):
    task = running_relay(api, nginx, publisher)
    ferryd.kill9()
    ferryd.start()
    got = api.task(task["id"])
    assert got["destination"] == task["destination"]
    assert_flowing(api, nginx, task["id"], metric, "after kill -9")


def test_acknowledged_create_survives_kill9(ferryd, api):
    created = [api.create_task(**idle_task(name="ack-%d" % i)) for i in range(5)]
    ferryd.kill9()  # right after the last 201
    ferryd.start()
    for t in created:
        st, doc = api.get("/v1/tasks/" + t["id"])
        assert st == 200, "acknowledged task %s lost by kill -9: %r" % (t["id"], doc)
        assert doc["name"] == t["name"] and doc["state"] == "idle"
    assert api.total() == 5


def test_acknowledged_change_survives_kill9(ferryd, api):
    task = api.create_task(**idle_task(comment="before"))
    st, doc = api.patch("/v1/tasks/" + task["id"], {"comment": "after"})
    assert st == 200, doc
    gone = api.create_task(**idle_task(name="to delete"))
    st, doc = api.delete("/v1/tasks/" + gone["id"])
    assert st == 204, doc
    ferryd.kill9()
    ferryd.start()
    assert api.task(task["id"])["comment"] == "after"
    st, doc = api.get("/v1/tasks/" + gone["id"])
    assert st == 404, "deleted task came back after kill -9: %r" % doc


def test_kill9_during_a_playlist_goes_on_where_it_was(ferryd, api, nginx, tmp_path, metric):
    """A 24/7 channel from files: after a crash the playlist goes on with the file that was
    playing and the loops still to play, not from its first file."""
    d = str(tmp_path / "clips")
    os.makedirs(d)
    for name in ("a", "b", "c"):
        make_clip(os.path.join(d, name + ".mp4"), "640x360", 3)
    files = FileServer(d)
    try:
        urls = [files.url(n + ".mp4") for n in ("a", "b", "c")]
        tid = api.create_task(**files_task(nginx, urls, loop_count=2))["id"]
        # second loop, third file: two loops' worth of state to keep
        wait_until(lambda: len(api.history(tid, "FileStart")) >= 6, 30, 0.1,
                   what="the second loop's third file")
        ferryd.kill9()
        ferryd.start()
        api.wait_state(tid, ("running",), 15)
        resumed = api.history(tid, "ResumedAt")
        assert resumed and "file 2" in resumed[-1]["detail"], api.history(tid)
        assert "1 loop(s) played" in resumed[-1]["detail"], resumed
        t0 = time.time()
        done, _ = api.wait_state(tid, ("finished", "offline"), 20)
        metric("finished after the restart (s)", round(time.time() - t0, 1))
        assert done["state"] == "finished", done
        starts = [h["detail"] for h in api.history(tid, "FileStart")]
        # the list once, then the second loop up to c.mp4, then c.mp4 again after the crash
        assert starts == urls + urls + [urls[2]], starts
    finally:
        files.stop()
