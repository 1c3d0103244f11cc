"""test_playlist.py — file playlists as a viewer of the destination sees them: files of
different resolutions and containers (MP4, FLV, HLS VOD) served over HTTP play in order, in
real time and looped, in ONE destination session with continuous timestamps; start file and
offset, a 404 entry, a codec FLV cannot carry, a list that fails whole, and VodLocalMode."""

import os
import shutil
import time

import pytest

from harness import dts_report, iso, wait_until, whole_seconds_from_now
from media import FileServer, ffmpeg
from media import make_clip as media_clip

SECONDS = 2          # length of every generated file: the tests play in real time
VIDEO_MS = 1000 / 30  # one video frame of the 30 fps test files
TOLERANCE_MS = 3     # FLV millisecond rounding on both sides of a switch


# ---------------------------------------------------------------- media and its server


def make_clip(path, size, vcodec="libx264", extra=()):
    media_clip(path, size, SECONDS, vcodec, extra)


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Generated clips: a.mp4 640x360, b.mp4 320x240, c.flv 640x360, d/index.m3u8 (HLS VOD)
    and hevc.mp4 (a codec FLV cannot carry)."""
    d = str(tmp_path_factory.mktemp("media"))
    make_clip(os.path.join(d, "a.mp4"), "640x360")
    make_clip(os.path.join(d, "b.mp4"), "320x240")
    make_clip(os.path.join(d, "c.flv"), "640x360")
    os.makedirs(os.path.join(d, "d"))
    make_clip(os.path.join(d, "d", "index.m3u8"), "480x270",
              extra=("-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"))
    make_clip(os.path.join(d, "hevc.mp4"), "320x240", vcodec="libx265",
              extra=("-x265-params", "log-level=error"))
    return d


@pytest.fixture
def files(media):
    server = FileServer(media, missing=("/gone.mp4",))
    yield server
    server.stop()


# ---------------------------------------------------------------- helpers


def files_task(nginx, urls, **extra):
    start = whole_seconds_from_now(1)
    body = {"name": "e2e playlist", "source_type": "files", "source_urls": urls,
            "destination": nginx.url("dst", "out"), "start_time": iso(start),
            "end_time": iso(start + 600), "retry_count": 1, "retry_interval": 1}
    body.update(extra)
    return body


def history(api, tid):
    st, doc = api.get("/v1/tasks/%s/history" % tid)
    assert st == 200, (st, doc)
    return doc["history"]


def reasons(api, tid, reason):
    return [h for h in history(api, tid) if h.get("reason") == reason]


def switch_gaps(packets, kind, nominal_ms):
    """The DTS steps of one track minus its nominal frame duration: the extra gaps."""
    ds = [p["dts"] for p in packets if p["type"] == kind and p["dts"] is not None]
    return [b - a - nominal_ms for a, b in zip(ds, ds[1:])]


def end_offset_ms(packets):
    """Where video ends minus where audio ends, from the last packets' DTS."""
    v = [p["dts"] for p in packets if p["type"] == "video" and p["dts"] is not None]
    a = [p["dts"] for p in packets if p["type"] == "audio" and p["dts"] is not None]
    return (v[-1] + VIDEO_MS) - (a[-1] + 1024 * 1000 / 44100)


def wait_viewer_idle(out, quiet=1.5, timeout=10):
    """Until the viewer has had no packet for `quiet` seconds."""
    def idle():
        snap = out.snapshot()
        return snap and time.time() - snap[-1]["t"] > quiet
    wait_until(idle, timeout, 0.1, what="the destination drained")


def check_continuous(out, nginx, metric, label):
    packets = out.snapshot()
    report = dts_report(packets)
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    vgap = max(switch_gaps(packets, "video", VIDEO_MS))
    agap = max(switch_gaps(packets, "audio", 1024 * 1000 / 44100))
    offset = end_offset_ms(packets)
    metric("%s largest video gap (ms)" % label, vgap)
    metric("%s largest audio gap (ms)" % label, agap)
    metric("%s final A/V offset (ms)" % label, offset)
    assert vgap <= VIDEO_MS + TOLERANCE_MS, "video gap %.1f ms" % vgap
    assert agap <= VIDEO_MS + TOLERANCE_MS, "audio gap %.1f ms" % agap
    assert abs(offset) <= VIDEO_MS + TOLERANCE_MS, "A/V offset %.1f ms at the end" % offset
    assert nginx.publish_count("dst", "out") == 1, "more than one destination session"
    return packets


# ---------------------------------------------------------------- the cases


def test_playlist_loops_in_one_session(api, nginx, viewer, files, metric):
    out = viewer("dst", "out")
    # HLS sits mid-list: the end-of-stream A/V check reads the last packets' DTS, which an
    # MPEG-TS tail (several AAC frames per PES) would skew
    urls = [files.url("a.mp4"), files.url("b.mp4"), files.url("d/index.m3u8"),
            files.url("c.flv")]
    task = api.create_task(**files_task(nginx, urls, loop_count=2))
    tid = task["id"]
    api.wait_state(tid, ("running",), 15)
    seen = {}

    def progress_moves():
        p = api.task(tid).get("progress") or {}
        if p.get("file_index") == 1:
            seen.update(p)
        return bool(seen)
    wait_until(progress_moves, 15, 0.1, what="progress on the second file")
    assert seen["next_url"] == urls[2] and seen["loops_done"] == 0, seen
    assert seen["file_duration_ms"] >= SECONDS * 1000 - 100, seen

    t0 = time.time()
    done, _ = api.wait_state(tid, ("finished", "offline"), 8 * SECONDS + 20)
    assert done["state"] == "finished" and done["reason"] == "PlaylistFinished", done
    metric("8 files played in (s)", time.time() - t0)
    starts = [h["detail"] for h in reasons(api, tid, "FileStart")]
    assert starts == urls * 2, starts
    assert len(reasons(api, tid, "FileFinish")) == 8
    wait_viewer_idle(out)
    packets = check_continuous(out, nginx, metric, "4 files x 2")
    video = [p for p in packets if p["type"] == "video"]
    media_s = (video[-1]["dts"] - video[0]["dts"]) / 1000
    assert 8 * SECONDS - 1 < media_s < 8 * SECONDS + 1, "%.1f s of media" % media_s


def test_start_index_and_offset(api, nginx, viewer, files, metric):
    out = viewer("dst", "out")
    urls = [files.url("a.mp4"), files.url("b.mp4"), files.url("c.flv")]
    task = api.create_task(**files_task(nginx, urls, loop_count=1, file_index=1, offset=1))
    done, _ = api.wait_state(task["id"], ("finished", "offline"), 20)
    assert done["state"] == "finished", done
    starts = [h["detail"] for h in reasons(api, task["id"], "FileStart")]
    assert starts == urls[1:], starts
    wait_viewer_idle(out)
    video = [p for p in out.snapshot() if p["type"] == "video"]
    media_s = (video[-1]["dts"] - video[0]["dts"]) / 1000
    metric("media played from file 1 at 1 s (s)", media_s)
    # 1 s left of b.mp4 (from the keyframe at 1 s: GOP 30 at 30 fps) and all of c.flv
    assert 2 * SECONDS - 1 - 0.2 < media_s < 2 * SECONDS - 1 + 0.2, media_s


def test_missing_and_unplayable_files_are_skipped(api, nginx, viewer, files, metric):
    out = viewer("dst", "out")
    urls = [files.url("a.mp4"), files.url("gone.mp4"), files.url("hevc.mp4"),
            files.url("b.mp4")]
    task = api.create_task(**files_task(nginx, urls, loop_count=1))
    done, _ = api.wait_state(task["id"], ("finished", "offline"), 20)
    assert done["state"] == "finished", done
    starts = [h["detail"] for h in reasons(api, task["id"], "FileStart")]
    assert starts == [urls[0], urls[3]], starts
    alarms = [h["detail"] for h in reasons(api, task["id"], "PullFileFailed")]
    assert len(alarms) == 2, alarms
    assert "gone.mp4" in alarms[0] and "404" in alarms[0], alarms
    assert "hevc.mp4" in alarms[1] and "hevc" in alarms[1].lower(), alarms
    wait_viewer_idle(out)
    check_continuous(out, nginx, metric, "404 + hevc skipped")


def test_every_file_failing_ends_the_task(api, nginx, files):
    urls = [files.url("gone.mp4"), files.url("nothing-here.mp4")]
    task = api.create_task(**files_task(nginx, urls, loop_count=-1))
    done, _ = api.wait_state(task["id"], ("offline", "finished"), 20)
    assert done["state"] == "offline", done
    assert "every file failed" in (done.get("last_error") or ""), done
    assert len(reasons(api, task["id"], "PullFileFailed")) == 2


def test_vod_local_mode_plays_from_the_cache(api, ferryd, nginx, viewer, files, metric):
    out = viewer("dst", "out")
    urls = [files.url("a.mp4"), files.url("b.mp4")]
    task = api.create_task(**files_task(nginx, urls, loop_count=1, vod_local_mode=1))
    done, _ = api.wait_state(task["id"], ("finished", "offline"), 20)
    assert done["state"] == "finished", done
    cache = os.path.join(ferryd.data_dir, "cache")
    cached = sorted(os.listdir(cache))
    assert len(cached) == 2 and all(n.endswith(".mp4") for n in cached), cached
    sizes = sorted(os.path.getsize(os.path.join(cache, n)) for n in cached)
    real = sorted(os.path.getsize(os.path.join(files.httpd.RequestHandlerClass.keywords
                                               ["directory"], n)) for n in ("a.mp4", "b.mp4"))
    assert sizes == real, (sizes, real)
    assert "from the cache" in open(ferryd.stderr_path, errors="replace").read()
    wait_viewer_idle(out)
    check_continuous(out, nginx, metric, "local mode")


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe missing")
def test_many_short_loops_keep_av_together(api, nginx, viewer, media, tmp_path, metric):
    """10 files of 0.5 s looped 20 times: 100 s of media in ONE session. Slow by nature
    (real-time pacing): it runs with FERRY_LONG=1, which the test command sets for the
    normal build (not under the sanitizers)."""
    if not os.environ.get("FERRY_LONG"):
        pytest.skip("long: set FERRY_LONG=1")
    d = str(tmp_path / "short")
    os.makedirs(d)
    for i in range(10):
        ffmpeg("-i", os.path.join(media, "a.mp4" if i % 2 else "b.mp4"), "-t", "0.5",
               "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-c:a", "aac",
               os.path.join(d, "s%d.mp4" % i))
    server = FileServer(d)
    try:
        out = viewer("dst", "out")
        urls = [server.url("s%d.mp4" % i) for i in range(10)]
        task = api.create_task(**files_task(nginx, urls, loop_count=20))
        done, _ = api.wait_state(task["id"], ("finished", "offline"), 200)
        assert done["state"] == "finished", done
        assert len(reasons(api, task["id"], "FileStart")) == 200
        wait_viewer_idle(out)
        check_continuous(out, nginx, metric, "10 files x 20")
    finally:
        server.stop()
