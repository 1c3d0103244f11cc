"""test_modify_live.py — changing a running task as its destination sees it: a new live
source, a new playlist (at once or after the file playing), a new loop count and a new
destination all take effect in the running relay, without a new destination session."""

import os
import time

import pytest

from harness import dts_report, files_task, live_task, wait_until, whole_seconds_from_now
from media import FileServer, make_clip

SECONDS = 3  # every generated file


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("modify-media"))
    for name, size in (("a", "640x360"), ("b", "320x240"), ("c", "480x270"), ("d", "640x360")):
        make_clip(os.path.join(d, name + ".mp4"), size, SECONDS)
    return d


@pytest.fixture
def files(media):
    server = FileServer(media)
    yield server
    server.stop()




def details(api, tid, reason):
    return [h.get("detail") for h in api.history(tid, reason)]


def patch(api, tid, **fields):
    st, doc = api.patch("/v1/tasks/%s" % tid, fields)
    assert st == 200, (st, doc)
    return doc


def progress(api, tid):
    return api.task(tid)["progress"]




def assert_one_session(nginx, out, app="dst", name="out"):
    assert nginx.publish_count(app, name) == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    return report


def test_new_live_source_in_the_same_session(api, nginx, publisher, viewer, metric):
    out = viewer("dst", "out")
    publisher("cam")
    publisher("cam2")
    for name in ("cam", "cam2"):
        wait_until(lambda n=name: nginx.is_published("src", n), 15, 0.1, what=name)
    start = whole_seconds_from_now(2)
    task = api.create_task(**live_task(nginx, start, start + 300))
    tid = task["id"]
    api.wait_state(tid, ("running",), start - time.time() + 10)
    wait_until(lambda: out.count("video") >= 60, 15, what="2 s of video")

    changed = time.time()
    doc = patch(api, tid, source_urls=[nginx.url("src", "cam2")])
    assert doc["source_urls"] == [nginx.url("src", "cam2")]
    wait_until(lambda: progress(api, tid)["source_url"] == nginx.url("src", "cam2"), 10, 0.05,
               what="progress on the new source")
    metric("new source connected after (s)", round(time.time() - changed, 2))
    wait_until(lambda: sum(1 for p in out.snapshot() if p["type"] == "video" and
                           p["t"] > changed + 0.5) >= 60, 15, 0.1,
               what="2 s of the new source's video")
    metric("2 s of the new source's video after (s)", round(time.time() - changed, 2))
    assert api.task(tid)["state"] == "running"
    report = assert_one_session(nginx, out)
    metric("largest video DTS step (ms)", report["video"]["max_step"])
    assert report["video"]["max_step"] < 1500, report["video"]
    assert any("in place" in (d or "") for d in details(api, tid, "Modified"))


def running_playlist(api, nginx, viewer, files, frames):
    """a.mp4, b.mp4 looped to dst/out, running, with `frames` video frames seen there.
    Returns (task id, viewer)."""
    out = viewer("dst", "out")
    urls = [files.url("a.mp4"), files.url("b.mp4")]
    tid = api.create_task(**files_task(nginx, urls, loop_count=-1))["id"]
    api.wait_state(tid, ("running",), 15)
    wait_until(lambda: out.count("video") >= frames, 15, what="video of a.mp4")
    return tid, out


def test_new_playlist_at_once(api, nginx, viewer, files, metric):
    tid, out = running_playlist(api, nginx, viewer, files, 30)
    changed = time.time()
    patch(api, tid, source_urls=[files.url("c.mp4"), files.url("d.mp4")],
          vod_refresh_type="ImmediateNewSource")
    wait_until(lambda: progress(api, tid)["source_url"] == files.url("c.mp4"), 5, 0.05,
               what="c.mp4 playing")
    metric("new list playing after (s)", round(time.time() - changed, 2))
    assert time.time() - changed < SECONDS - 0.5, "the new list waited for the file's end"
    wait_until(lambda: progress(api, tid)["source_url"] == files.url("d.mp4"), SECONDS + 5,
               0.1, what="d.mp4 after c.mp4")
    starts = details(api, tid, "FileStart")
    assert starts[:1] == [files.url("a.mp4")] and starts[-2:] == [files.url("c.mp4"),
                                                                  files.url("d.mp4")], starts
    assert files.url("b.mp4") not in starts, starts
    assert api.task(tid)["state"] == "running"
    assert_one_session(nginx, out)


def test_new_playlist_after_the_file_playing(api, nginx, viewer, files, metric):
    tid, out = running_playlist(api, nginx, viewer, files, 15)
    assert progress(api, tid)["source_url"] == files.url("a.mp4")
    patch(api, tid, source_urls=[files.url("c.mp4")], vod_refresh_type="ContinueBreakPoint")
    # the worker takes the change a moment after the answer: c.mp4, not b.mp4, comes next
    wait_until(lambda: progress(api, tid)["next_url"] == files.url("c.mp4"), 2, 0.02,
               what="c.mp4 as the next file")
    assert progress(api, tid)["source_url"] == files.url("a.mp4")  # a.mp4 plays on
    wait_until(lambda: progress(api, tid)["source_url"] == files.url("c.mp4"), SECONDS + 5,
               0.05, what="c.mp4 after a.mp4")
    starts = details(api, tid, "FileStart")
    assert starts == [files.url("a.mp4"), files.url("c.mp4")], starts
    finishes = details(api, tid, "FileFinish")
    assert finishes == [files.url("a.mp4")], finishes
    assert_one_session(nginx, out)
    # a.mp4 played to its end: its whole duration reached the destination
    video = [p for p in out.snapshot() if p["type"] == "video"]
    assert (video[-1]["dts"] - video[0]["dts"]) / 1000 >= SECONDS - 0.2


def test_new_loop_count_ends_the_running_list(api, nginx, viewer, files, metric):
    tid, out = running_playlist(api, nginx, viewer, files, 15)
    urls = [files.url("a.mp4"), files.url("b.mp4")]
    patch(api, tid, loop_count=1)
    done, _ = api.wait_state(tid, ("finished", "offline"), 2 * SECONDS + 10)
    assert done["state"] == "finished" and done["reason"] == "PlaylistFinished", done
    assert details(api, tid, "FileStart") == urls  # the first loop, not restarted
    assert_one_session(nginx, out)


def test_new_destination_moves_the_push(api, nginx, publisher, viewer, metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam")
    start = whole_seconds_from_now(2)
    task = api.create_task(**live_task(nginx, start, start + 300))
    tid = task["id"]
    api.wait_state(tid, ("running",), start - time.time() + 10)
    wait_until(lambda: nginx.is_published("dst", "out"), 10, 0.1, what="dst/out")
    before = progress(api, tid)["discontinuities"]
    changed = time.time()
    patch(api, tid, destination=nginx.url("dst", "moved"))
    wait_until(lambda: nginx.is_published("dst", "moved"), 10, 0.05, what="dst/moved published")
    metric("new destination published after (s)", round(time.time() - changed, 2))
    wait_until(lambda: not nginx.is_published("dst", "out"), 10, 0.1, what="dst/out released")
    out = viewer("dst", "moved")
    wait_until(lambda: out.count("video") >= 30, 15, what="video at the new destination")
    p = progress(api, tid)
    assert p["discontinuities"] == before, "the source was reconnected: %s" % p
    assert api.task(tid)["state"] == "running"


@pytest.mark.parametrize("refresh", ["ContinueBreakPoint", "ImmediateNewSource"])
def test_restart_resumes_or_starts_over(api, nginx, viewer, files, metric, refresh):
    """RestartLivePullStreamTask: a playlist resumes at its breakpoint (file and offset)
    with ContinueBreakPoint, and starts over with ImmediateNewSource."""
    urls = [files.url("a.mp4"), files.url("b.mp4")]
    task = api.create_task(**files_task(nginx, urls, loop_count=-1, vod_refresh_type=refresh))
    tid = task["id"]
    api.wait_state(tid, ("running",), 15)
    wait_until(lambda: progress(api, tid)["file_index"] == 1 and
               progress(api, tid)["offset_ms"] >= 1200, 2 * SECONDS + 10, 0.05,
               what="1.2 s into b.mp4")
    gen_before = len(details(api, tid, "FileStart"))
    st, doc = api.post("/v1/tasks/%s/restart" % tid)
    assert st == 200, (st, doc)
    wait_until(lambda: len(details(api, tid, "FileStart")) > gen_before, 10, 0.05,
               what="a file started by the new worker")
    p = progress(api, tid)
    metric("after restart: file, offset (ms)", "%d, %d" % (p["file_index"], p["offset_ms"]))
    if refresh == "ContinueBreakPoint":
        assert p["source_url"] == files.url("b.mp4"), p
        assert p["offset_ms"] >= 900, p  # the keyframe at or before the breakpoint (GOP 1 s)
    else:
        assert p["source_url"] == files.url("a.mp4"), p
    api.wait_state(tid, ("running",), 10)


def test_rapid_modifications_keep_one_session(api, nginx, publisher, viewer, files, metric):
    """Twenty changes in quick succession (live source and backup back and forth, playlist
    entries at once and after the file): every one is taken, the relays stay up in one
    session each, and the last change is what plays."""
    out = viewer("dst", "out")
    for name in ("cam", "cam2"):
        publisher(name)
        wait_until(lambda n=name: nginx.is_published("src", n), 15, 0.1, what=name)
    start = whole_seconds_from_now(2)
    live = api.create_task(**live_task(nginx, start, start + 300))["id"]
    vod = api.create_task(**files_task(nginx, [files.url("a.mp4")], loop_count=-1,
                                       destination=nginx.url("dst", "vod")))["id"]
    api.wait_state(live, ("running",), start - time.time() + 10)
    api.wait_state(vod, ("running",), 15)
    lists = ([files.url("b.mp4"), files.url("c.mp4")], [files.url("d.mp4")])
    for i in range(20):
        patch(api, live, source_urls=[nginx.url("src", ("cam", "cam2")[i % 2])],
              backup_source_url=nginx.url("src", ("cam2", "cam")[i % 2]))
        patch(api, vod, source_urls=lists[i % 2],
              vod_refresh_type=("ImmediateNewSource", "ContinueBreakPoint")[i % 2])
        time.sleep(0.05 * (i % 4))
    wait_until(lambda: progress(api, live)["source_url"] == nginx.url("src", "cam2"), 15, 0.1,
               what="the last live source playing")
    wait_until(lambda: progress(api, vod)["source_url"] == files.url("d.mp4"), SECONDS + 10,
               0.1, what="the last playlist playing")
    for tid in (live, vod):
        assert api.task(tid)["state"] == "running", api.task(tid)
    assert nginx.publish_count("dst", "out") == 1 and nginx.publish_count("dst", "vod") == 1
    wait_until(lambda: sum(1 for p in out.snapshot() if p["type"] == "video" and
                           p["t"] > time.time() - 1) >= 20, 10, 0.1, what="live video flowing")
    assert_one_session(nginx, out)
