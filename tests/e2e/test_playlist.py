"""test_playlist.py — file playlists as a viewer of the destination sees them: files of
different resolutions and containers (MP4, FLV, HLS VOD) served over HTTP play in order, in
real time and looped, in ONE destination session with continuous timestamps; start file and
offset, a 404 entry, a codec FLV cannot carry, a list that fails whole, and VodLocalMode:
played from the cache, the least recently used file evicted under a small file_cache_max_mb,
and a download that fails (HTTP 500, cut short, larger than the cache) streamed instead."""

import hashlib
import os
import shutil
import threading
import time

import pytest

from harness import dts_report, files_task, wait_until
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
    starts = [h["detail"] for h in api.history(tid, "FileStart")]
    assert starts == urls * 2, starts
    assert len(api.history(tid, "FileFinish")) == 8
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
    starts = [h["detail"] for h in api.history(task["id"], "FileStart")]
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
    starts = [h["detail"] for h in api.history(task["id"], "FileStart")]
    assert starts == [urls[0], urls[3]], starts
    alarms = [h["detail"] for h in api.history(task["id"], "PullFileFailed")]
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
    assert len(api.history(task["id"], "PullFileFailed")) == 2


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


def test_vod_local_mode_copies_are_per_account(api, bob, ferryd, nginx, files):
    """Two accounts play the same URL in local mode: each downloads its own copy (an
    account's address policy may let through what another's refuses, so one never plays
    the other's), and each copy is then played from the cache."""
    url = files.url("a.mp4")
    for who, dst in ((api, "out"), (bob, "other")):
        body = files_task(nginx, [url], loop_count=1, vod_local_mode=1,
                          destination=nginx.url("dst", dst))
        tid = who.create_task(**body)["id"]
        done, _ = who.wait_state(tid, ("finished", "offline"), 20)
        assert done["state"] == "finished", done
    cache = os.path.join(ferryd.data_dir, "cache")
    cached = sorted(os.listdir(cache))
    assert len(cached) == 2 and all(n.endswith(".mp4") for n in cached), cached
    got = [r for r in files.gets("a.mp4") if not r["agent"].startswith("Lavf")]
    assert len(got) == 2, got  # one download per account


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
        assert len(api.history(task["id"], "FileStart")) == 200
        wait_viewer_idle(out)
        check_continuous(out, nginx, metric, "10 files x 20")
    finally:
        server.stop()


# ---------------------------------------------------------------- VodLocalMode's cache bound

CACHE_MB = 1                      # the file_cache_max_mb of these tests
CACHE_LIMIT = CACHE_MB * 1024 * 1024
CBR = ("-minrate", "{0}", "-maxrate", "{0}", "-b:v", "{0}", "-bufsize", "400k",
       "-x264-params", "nal-hrd=cbr")


def cbr_clip(path, kbps):
    """A 640x360 clip of SECONDS at a constant bit rate: its size is known in advance. Its
    name goes into its metadata, so no two clips have the same bytes (the cache checks tell
    files apart by digest; the same picture and tone would otherwise encode alike)."""
    make_clip(path, "640x360", extra=tuple(a.format("%dk" % kbps) for a in CBR) +
              ("-metadata", "comment=" + os.path.basename(path)))


@pytest.fixture(scope="session")
def cache_media(tmp_path_factory):
    """p.mp4, q.mp4, r.mp4, s.mp4, t.mp4, u.mp4: each between a third and half of the
    cache (two fit, three do not); big.mp4: larger than the whole cache."""
    d = str(tmp_path_factory.mktemp("cache-media"))
    for name in ("p", "q", "r", "s", "t", "u"):
        cbr_clip(os.path.join(d, name + ".mp4"), 1600)
    cbr_clip(os.path.join(d, "big.mp4"), 5000)
    for name in os.listdir(d):
        size = os.path.getsize(os.path.join(d, name))
        if name == "big.mp4":
            assert size > CACHE_LIMIT, (name, size)
        else:
            assert CACHE_LIMIT / 3 < size < CACHE_LIMIT / 2, (name, size)
    return d


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CacheWatcher:
    """Looks at the cache directory every 10 ms, as `du` would: the largest total of
    complete files and of everything (with .part downloads), and when each complete file
    appeared (with the digest of its bytes) and disappeared."""

    def __init__(self, cache_dir):
        self.dir = cache_dir
        self.max_complete = self.max_all = 0
        self.appeared = []     # (name, digest)
        self.evicted = []      # names, in the order they left the cache
        self.parts_seen = set()
        self._present = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self._look()

    def _look(self):
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return
        complete, total, now = 0, 0, set()
        for e in entries:
            try:
                size = e.stat().st_size
            except FileNotFoundError:
                continue
            total += size
            if ".part." in e.name:
                self.parts_seen.add(e.name)
                continue
            complete += size
            now.add(e.name)
            if e.name not in self._present:
                try:
                    self.appeared.append((e.name, digest(e.path)))
                except FileNotFoundError:
                    pass
        self.evicted += sorted(self._present - now)
        self._present = now
        self.max_complete = max(self.max_complete, complete)
        self.max_all = max(self.max_all, total)

    def _run(self):
        while not self._stop.is_set():
            self._look()
            self._stop.wait(0.01)

    def present(self):
        return set(self._present)


def cache_names(watcher, media_dir):
    """Cache file name -> the source file whose bytes it holds ("?" if none)."""
    sources = {digest(os.path.join(media_dir, n)): n for n in os.listdir(media_dir)}
    return {name: sources.get(d, "?") for name, d in watcher.appeared}


def log_lines(ferryd, *words):
    text = open(ferryd.stderr_path, errors="replace").read()
    return [line for line in text.splitlines() if all(w in line for w in words)]


def streamed_gets(server, name):
    """The GETs of name made by FFmpeg (streaming), not by the cache's libcurl."""
    return [r for r in server.gets(name) if r["agent"].startswith("Lavf")]


def downloads(server, name):
    return [r for r in server.gets(name) if not r["agent"].startswith("Lavf")]


@pytest.fixture
def cache_files(cache_media):
    server = FileServer(cache_media, fail_first={"/s.mp4": "500", "/t.mp4": "cut"})
    yield server
    server.stop()


@pytest.mark.ferryd_settings(file_cache_max_mb=CACHE_MB)
def test_vod_local_mode_evicts_the_least_recently_used(api, ferryd, nginx, viewer,
                                                       cache_media, cache_files, metric):
    """p q r q u with room for two files: each next file is downloaded when the current one
    starts, so r's download must evict p (downloaded just before q, maybe in the same
    second), q's second play is a cache hit that makes q recent, and u's download must
    evict r, not q (the older download). Nothing is downloaded twice or streamed."""
    out = viewer("dst", "out")
    cache = os.path.join(ferryd.data_dir, "cache")
    watch = CacheWatcher(cache).start()
    names = ["p.mp4", "q.mp4", "r.mp4", "q.mp4", "u.mp4"]
    urls = [cache_files.url(n) for n in names]
    try:
        task = api.create_task(**files_task(nginx, urls, loop_count=1, vod_local_mode=1))
        done, _ = api.wait_state(task["id"], ("finished", "offline"), 5 * SECONDS + 25)
    finally:
        watch.stop()
    assert done["state"] == "finished" and done["reason"] == "PlaylistFinished", done
    starts = [h["detail"] for h in api.history(task["id"], "FileStart")]
    assert starts == urls, starts
    assert not api.history(task["id"], "PullFileFailed")

    # the bound: the complete files never passed it; the least recently used went first
    metric("cache limit (bytes)", CACHE_LIMIT)
    metric("largest cache total, complete files (bytes)", watch.max_complete)
    metric("largest cache total with .part downloads (bytes)", watch.max_all)
    assert watch.max_complete <= CACHE_LIMIT, watch.max_complete
    source_of = cache_names(watch, cache_media)
    assert "?" not in source_of.values(), "a cached file differs from its source: %s" % (
        source_of)
    assert [source_of[n] for n in watch.evicted] == ["p.mp4", "r.mp4"], (
        [source_of[n] for n in watch.evicted])
    assert sorted(source_of[n] for n in watch.present()) == ["q.mp4", "u.mp4"]
    assert not [n for n in os.listdir(cache) if ".part." in n], os.listdir(cache)

    # every entry played from the cache: one download each, nothing streamed
    for n in ("p.mp4", "q.mp4", "r.mp4", "u.mp4"):
        assert len(downloads(cache_files, n)) == 1, (n, cache_files.gets(n))
        assert streamed_gets(cache_files, n) == [], (n, cache_files.gets(n))
    hits = [len(log_lines(ferryd, "playing %s from the cache" % u)) for u in urls]
    assert hits == [1, 2, 1, 2, 1], hits
    assert not log_lines(ferryd, "streaming it instead")

    # and the destination saw the five files in one continuous session
    wait_viewer_idle(out)
    packets = check_continuous(out, nginx, metric, "cache evicting")
    video = [p for p in packets if p["type"] == "video"]
    media_s = (video[-1]["dts"] - video[0]["dts"]) / 1000
    metric("media played with a 1 MiB cache (s)", media_s)
    assert 5 * SECONDS - 0.4 < media_s < 5 * SECONDS + 0.2, "%.2f s of media" % media_s


@pytest.mark.ferryd_settings(file_cache_max_mb=CACHE_MB)
def test_vod_local_mode_streams_what_it_cannot_download(api, ferryd, nginx, viewer,
                                                        cache_media, cache_files, metric):
    """p downloads; s's download gets HTTP 500, t's is cut short at half its bytes and
    big.mp4 is larger than the cache: each of these plays whole, streamed from its URL, and
    neither a partial nor an oversized file is ever a complete file in the cache."""
    out = viewer("dst", "out")
    cache = os.path.join(ferryd.data_dir, "cache")
    watch = CacheWatcher(cache).start()
    names = ["p.mp4", "s.mp4", "t.mp4", "big.mp4"]
    urls = [cache_files.url(n) for n in names]
    try:
        task = api.create_task(**files_task(nginx, urls, loop_count=1, vod_local_mode=1))
        tid = task["id"]
        api.wait_state(tid, ("running",), 15)
        done, _ = api.wait_state(tid, ("finished", "offline"), 4 * SECONDS + 25)
    finally:
        watch.stop()
    assert done["state"] == "finished" and done["reason"] == "PlaylistFinished", done
    starts = [h["detail"] for h in api.history(tid, "FileStart")]
    assert starts == urls, starts
    assert len(api.history(tid, "FileFinish")) == 4
    assert not api.history(tid, "PullFileFailed"), api.history(tid)

    # the server saw each failed download, then FFmpeg streaming the same URL
    assert [r["outcome"] for r in downloads(cache_files, "s.mp4")] == ["500"]
    assert [r["outcome"] for r in downloads(cache_files, "t.mp4")] == ["cut"]
    assert len(downloads(cache_files, "big.mp4")) == 1
    for n in ("s.mp4", "t.mp4", "big.mp4"):
        assert streamed_gets(cache_files, n), (n, cache_files.gets(n))
    assert streamed_gets(cache_files, "p.mp4") == []

    # what the log tells the operator, one line per fallback
    fallback = {n: log_lines(ferryd, cache_files.url(n), "streaming it instead")
                for n in names}
    for n, lines in fallback.items():
        metric("log: " + n, lines[0].split("task=", 1)[-1][:150] if lines else "(none)")
    assert fallback["p.mp4"] == [] and len(log_lines(ferryd, "from the cache")) == 1
    assert len(fallback["s.mp4"]) == 1 and "500" in fallback["s.mp4"][0], fallback
    assert len(fallback["t.mp4"]) == 1 and "cache: download" in fallback["t.mp4"][0], fallback
    assert len(fallback["big.mp4"]) == 1 and "larger than the cache" in fallback["big.mp4"][0]
    # ... and what the history (and the callbacks) tell: one PullFileUnstable alarm per
    # fallback, naming the file whose download failed, not the one playing at the time
    unstable = [h["detail"] for h in api.history(tid, "PullFileUnstable")]
    assert len(unstable) == 3, unstable
    for i, n in ((1, "s.mp4"), (2, "t.mp4"), (3, "big.mp4")):
        assert any(d.startswith("file %d %s:" % (i, cache_files.url(n))) and
                   "streaming it instead" in d for d in unstable), (n, unstable)

    # nothing partial was kept or played from the cache: only p ever became a cache file
    source_of = cache_names(watch, cache_media)
    metric("largest cache total with .part downloads (bytes)", watch.max_all)
    assert sorted(source_of.values()) == ["p.mp4"], source_of
    assert os.listdir(cache) == list(source_of), os.listdir(cache)

    # the destination got every file whole, in one session
    wait_viewer_idle(out)
    packets = check_continuous(out, nginx, metric, "downloads failing")
    video = [p for p in packets if p["type"] == "video"]
    media_s = (video[-1]["dts"] - video[0]["dts"]) / 1000
    metric("media played, 3 of 4 files streamed (s)", media_s)
    # t.mp4 played from its half download would be a second short
    assert 4 * SECONDS - 0.4 < media_s < 4 * SECONDS + 0.2, "%.2f s of media" % media_s
