"""test_watermark.py — watermarks as the destination sees them: a live task with `watermarks`
pushes video with the logo drawn at the place Tencent's rules give; a PATCH that moves it
(another picture, another corner), adds it to a copy relay or clears it shows within 2 s, in
the same destination session, with monotonic DTS; a playlist of files of two sizes gets the
logo placed and sized for each, in one session. Clearing them makes the relay a copy again at
the next keyframe (the destination's packets are the source's: the same sizes in the same
order), in the same session; a playlist takes a change from its next file, not mid-file; and a
picture that is slow to download does not hold the relay up."""

import http.client
import os
import re
import subprocess
import time

import pytest

from frames import H, W, Frames, expected_rect, shows, shows_band, wait_frame
from harness import dts_report, files_task, largest_wall_gap, live_task
from harness import test_stream_args as stream_args  # not a test of this module
from harness import wait_until, whole_seconds_from_now
from media import FileServer, ffmpeg, make_clip

MAGENTA = (255, 0, 255)
GREEN = (0, 255, 0)


@pytest.fixture(scope="module")
def logos(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("logos"))
    ffmpeg("-f", "lavfi", "-i", "color=c=0xFF00FF:size=64x32", "-frames:v", "1",
           os.path.join(d, "magenta.png"))
    ffmpeg("-f", "lavfi", "-i", "color=c=0x00FF00:size=64x32", "-frames:v", "1",
           os.path.join(d, "green.jpg"))
    return d


@pytest.fixture
def pictures(logos):
    server = FileServer(logos)
    yield server
    server.stop()


def test_marks_drawn_then_moved_in_the_same_session(api, nginx, publisher, viewer, pictures,
                                                    tmp_path, metric):
    out = viewer("dst", "out")
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    start = whole_seconds_from_now(2)
    first = {"picture_url": pictures.url("magenta.png"), "x": 5, "y": 10, "width": 20,
             "height": 0, "location": 1}
    task = api.create_task(**live_task(nginx, start, start + 300, watermarks=[first]))
    tid = task["id"]
    api.wait_state(tid, ("running",), start - time.time() + 15)
    frames = Frames(nginx.url("dst", "out"), str(tmp_path / "frames.log"))
    try:
        rect1 = expected_rect(5, 10, 20, 1)
        wait_frame(frames, 0, lambda f: shows(f, rect1, MAGENTA), 20, "the logo top-right")
        elsewhere = expected_rect(5, 10, 20, 3)
        assert not shows(frames.since(0), elsewhere, MAGENTA)

        second = {"picture_url": pictures.url("green.jpg"), "x": 2, "y": 4, "width": 15,
                  "height": 0, "location": 3}
        changed = time.time()
        st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": [second]})
        assert st == 200, (st, doc)
        rect2 = expected_rect(2, 4, 15, 3)
        took = wait_frame(frames, changed,
                          lambda f: shows(f, rect2, GREEN) and not shows(f, rect1, MAGENTA),
                          10, "the new logo bottom-left")
        metric("new watermark visible after (s)", round(took, 2))
        assert took < 2.0, "the change took %.2f s" % took
        wait_until(lambda: out.count("video") >= 150, 20, what="5 s of video")
    finally:
        frames.stop()
    assert nginx.publish_count("dst", "out") == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    assert api.task(tid)["state"] == "running"
    assert len(pictures.gets("magenta.png")) == 1 and len(pictures.gets("green.jpg")) == 1


def test_marks_added_then_cleared_on_a_copy_relay(api, nginx, publisher, viewer, pictures,
                                                  tmp_path, metric):
    """None to some (four, one in each corner) and back on a running task: in place, one
    session."""
    out = viewer("dst", "out")
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    start = whole_seconds_from_now(2)
    tid = api.create_task(**live_task(nginx, start, start + 300))["id"]
    api.wait_state(tid, ("running",), start - time.time() + 15)
    frames = Frames(nginx.url("dst", "out"), str(tmp_path / "frames.log"))
    rects = [expected_rect(2, 2, 25, loc) for loc in range(4)]  # four marks, one a corner
    try:
        wait_frame(frames, 0, lambda f: not any(shows(f, r, MAGENTA) for r in rects), 20,
                   "a plain frame")
        marks = [{"picture_url": pictures.url("magenta.png"), "x": 2, "y": 2, "width": 25,
                  "height": 0, "location": loc} for loc in range(4)]
        changed = time.time()
        st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": marks})
        assert st == 200, (st, doc)
        took = wait_frame(frames, changed, lambda f: all(shows(f, r, MAGENTA) for r in rects),
                          10, "the four logos")
        metric("watermark added, visible after (s)", round(took, 2))
        assert took < 2.0, "adding took %.2f s" % took

        cleared = time.time()
        st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": []})
        assert st == 200 and doc["watermarks"] == [], (st, doc)
        took = wait_frame(frames, cleared,
                          lambda f: not any(shows(f, r, MAGENTA) for r in rects), 10,
                          "the logos gone")
        metric("watermark cleared, gone after (s)", round(took, 2))
        assert took < 2.0, "clearing took %.2f s" % took
        wait_until(lambda: out.count("video") >= 150, 20, what="5 s of video")
    finally:
        frames.stop()
    assert nginx.publish_count("dst", "out") == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])


def test_marks_on_a_playlist_across_files_of_two_sizes(api, nginx, viewer, pictures, logos,
                                                       tmp_path, metric):
    """A playlist of a 640x360 and a 320x240 file, played three times: the logo is drawn on
    both, placed and sized for each (the encoder re-opens at each size change and its header goes
    out in the same session), with one session and monotonic DTS."""
    make_clip(os.path.join(logos, "big.mp4"), "640x360", 2)
    make_clip(os.path.join(logos, "small.mp4"), "320x240", 2)
    out = viewer("dst", "out")
    mark = {"picture_url": pictures.url("magenta.png"), "x": 4, "y": 4, "width": 20,
            "height": 0, "location": 0}
    body = files_task(nginx, [pictures.url("big.mp4"), pictures.url("small.mp4")], lead=2,
                      loop_count=3, watermarks=[mark])
    tid = api.create_task(**body)["id"]
    api.wait_state(tid, ("running",), 15)
    frames = Frames(nginx.url("dst", "out"), str(tmp_path / "frames.log"))
    big = expected_rect(4, 4, 20, 0)
    small = expected_rect(4, 4, 20, 0, fw=320, fh=240)
    try:
        since = 0
        # rows the big file's logo covers and the small one's (seen scaled up) does not
        band = (40, 68, 100, 6)

        def on_big(f):
            return shows(f, big, MAGENTA) and shows_band(f, band, MAGENTA)

        def on_small(f):
            return shows(f, small, MAGENTA) and not shows_band(f, band, MAGENTA)
        for n in range(3):  # big, small, big again (the second pass)
            wait_frame(frames, since, (on_big, on_small)[n % 2], 10, "the logo on file %d" % n)
            since = time.time()
        wait_until(lambda: out.count("video") >= 200, 20, what="7 s of video")
    finally:
        frames.stop()
    assert nginx.publish_count("dst", "out") == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    assert len(pictures.gets("magenta.png")) == 1


def run_in(sizes, run):
    """Where run (a list) starts as a contiguous part of sizes, or -1."""
    n = len(run)
    for i in range(len(sizes) - n + 1):
        if sizes[i:i + n] == run:
            return i
    return -1


def video_sizes(packets, since=0.0):
    return [p["size"] for p in packets if p["type"] == "video" and p["t"] > since]


def transcoding(port):
    """ferry_relays_transcoding from GET /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    m = re.search(r"^ferry_relays_transcoding (\S+)$", text, re.M)
    assert m, "no ferry_relays_transcoding in /metrics"
    return float(m.group(1))


def publish_with_b_frames(nginx, logpath):
    """The test picture and tone with B-frames (3, veryfast): its decoder holds frames back."""
    args = stream_args()
    args[args.index("zerolatency") - 1:args.index("zerolatency") + 1] = ["-bf", "3"]
    args[args.index("ultrafast")] = "veryfast"
    return subprocess.Popen(args + ["-f", "flv", nginx.url("src", "cam")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(logpath, "a"))


@pytest.mark.parametrize("b_frames", [False, True], ids=["ip", "b_frames"])
def test_cleared_marks_make_a_copy_relay_again_in_the_same_session(ferryd, api, nginx, publisher,
                                                                   viewer, pictures, tmp_path,
                                                                   metric, b_frames):
    """Transcode, then a clear: at the next source keyframe the destination gets the source's
    own packets again (the same sizes in the same order, so no re-encode), after the source's
    own sequence header, with one session and monotonic DTS, and no logo; also from a source
    with B-frames, whose decoder still holds frames at the switch."""
    src = viewer("src", "cam")
    out = viewer("dst", "out")
    cam = publish_with_b_frames(nginx, str(tmp_path / "publisher-bf.log")) if b_frames else None
    if not b_frames:
        publisher("cam")
    try:
        run_clear_to_copy(ferryd, api, nginx, src, out, pictures, tmp_path, metric)
    finally:
        if cam:
            cam.kill()
            cam.wait()


def run_clear_to_copy(ferryd, api, nginx, src, out, pictures, tmp_path, metric):
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    start = whole_seconds_from_now(2)
    mark = {"picture_url": pictures.url("magenta.png"), "x": 5, "y": 10, "width": 20,
            "height": 0, "location": 1}
    tid = api.create_task(**live_task(nginx, start, start + 300, watermarks=[mark]))["id"]
    api.wait_state(tid, ("running",), start - time.time() + 15)
    frames = Frames(nginx.url("dst", "out"), str(tmp_path / "frames.log"))
    rect = expected_rect(5, 10, 20, 1)
    try:
        wait_frame(frames, 0, lambda f: shows(f, rect, MAGENTA), 20, "the logo")
        marked = time.time()
        wait_until(lambda: len(video_sizes(out.snapshot(), marked)) >= 60, 10,
                   what="2 s of transcoded video")
        transcoded = video_sizes(out.snapshot(), marked)[:40]
        assert run_in(video_sizes(src.snapshot()), transcoded) < 0, \
            "the destination carried the source's packets while it showed the logo"
        assert transcoding(ferryd.port) == 1

        cleared = time.time()
        st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": []})
        assert st == 200 and doc["watermarks"] == [], (st, doc)
        took = wait_frame(frames, cleared, lambda f: not shows(f, rect, MAGENTA), 10,
                          "the logo gone")
        metric("watermark cleared, gone after (s)", round(took, 2))
        assert took < 2.0, "clearing took %.2f s" % took
        wait_until(lambda: len(video_sizes(out.snapshot(), cleared)) >= 150, 15,
                   what="5 s of video after the clear")
    finally:
        frames.stop()
    after = [p for p in out.snapshot() if p["type"] == "video" and p["t"] > cleared]
    sizes = video_sizes(src.snapshot())
    first_copy = next((k for k in range(len(after) - 30)
                       if run_in(sizes, [p["size"] for p in after[k:k + 30]]) >= 0), None)
    assert first_copy is not None, "the destination never carried the source's packets again"
    assert after[first_copy]["key"], "the copy did not start at a keyframe"
    metric("clear -> source packets copied again (s)", round(after[first_copy]["t"] - cleared, 2))
    assert after[first_copy]["t"] - cleared < 2.0
    copied = [p["size"] for p in after[first_copy:]]
    assert run_in(sizes, copied[:100]) >= 0, "the copy did not stay a copy"
    assert nginx.publish_count("dst", "out") == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    assert api.task(tid)["state"] == "running"
    assert transcoding(ferryd.port) == 0, "/metrics: the relay still re-encodes"


def test_a_slow_picture_does_not_hold_the_relay_up(api, nginx, publisher, viewer, logos,
                                                   tmp_path, metric):
    """The picture server answers 3 s late: the destination keeps getting video all that time
    (the fetch runs beside the relay), and the logo shows once the picture is in."""
    server = FileServer(logos, slow={"/magenta.png": 3.0})
    out = viewer("dst", "out")
    publisher("cam")
    try:
        wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
        start = whole_seconds_from_now(2)
        tid = api.create_task(**live_task(nginx, start, start + 300))["id"]
        api.wait_state(tid, ("running",), start - time.time() + 15)
        frames = Frames(nginx.url("dst", "out"), str(tmp_path / "frames.log"))
        rect = expected_rect(5, 10, 20, 1)
        try:
            wait_until(lambda: out.count("video") >= 30, 10, what="video")
            mark = {"picture_url": server.url("magenta.png"), "x": 5, "y": 10, "width": 20,
                    "height": 0, "location": 1}
            changed = time.time()
            st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": [mark]})
            assert st == 200, (st, doc)
            took = wait_frame(frames, changed, lambda f: shows(f, rect, MAGENTA), 10,
                              "the logo")
            metric("slow picture (3 s): logo visible after (s)", round(took, 2))
            assert took >= 3.0, "the logo came before its picture could"
        finally:
            frames.stop()
        during = [p for p in out.snapshot() if changed - 0.5 < p["t"] < changed + 3.0]
        gap, _ = largest_wall_gap(during, "video")
        metric("largest video gap while the picture downloads (s)", round(gap, 3))
        assert gap < 0.5, "the relay stalled %.2f s while the picture downloaded" % gap
        assert sum(1 for p in during if p["type"] == "video") >= 60
        assert nginx.publish_count("dst", "out") == 1
        assert len(server.gets("magenta.png")) == 1

        # a delete while a picture downloads ends the relay at once, not after the download
        slow = {"picture_url": server.url("magenta.png"), "x": 30, "y": 30, "width": 10,
                "height": 0, "location": 2}
        st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": [mark, slow]})
        assert st == 200, (st, doc)
        wait_until(lambda: len(server.gets("magenta.png")) == 2, 5, 0.02, what="the download")
        t0 = time.time()
        st, _ = api.delete("/v1/tasks/%s" % tid)
        assert st in (200, 204), st
        gone = nginx.wait_published("dst", "out", False, 10) - t0
        metric("delete during a 3 s download -> destination gone (s)", round(gone, 2))
        assert gone < 1.5, "the relay waited %.2f s for the download to end" % gone
    finally:
        server.stop()


def color_clip(path, color, seconds):
    """A flat-colour 640x360 clip with a tone, GOP 1 s, no B-frames."""
    ffmpeg("-f", "lavfi", "-i", "color=c=%s:size=640x360:rate=30" % color, "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds), "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-b:a", "64k", path)


BLUE, YELLOW = (0, 0, 255), (255, 255, 0)


def test_a_playlist_takes_a_change_from_its_next_file(api, nginx, viewer, pictures, logos,
                                                      tmp_path, metric):
    """A blue and a yellow file of 3 s, looped, with a magenta logo top-left. A change to a
    green logo bottom-left, made while the yellow file plays, leaves the rest of that file as
    it was; every frame of the next (blue) file has the green logo and not the magenta one."""
    color_clip(os.path.join(logos, "blue.mp4"), "blue", 3)
    color_clip(os.path.join(logos, "yellow.mp4"), "yellow", 3)
    out = viewer("dst", "out")
    first = {"picture_url": pictures.url("magenta.png"), "x": 4, "y": 4, "width": 20,
             "height": 0, "location": 0}
    body = files_task(nginx, [pictures.url("blue.mp4"), pictures.url("yellow.mp4")], lead=2,
                      loop_count=-1, watermarks=[first])
    tid = api.create_task(**body)["id"]
    api.wait_state(tid, ("running",), 15)
    center = (W // 2 - 40, H // 2 - 40, 80, 80)
    rect1, rect2 = expected_rect(4, 4, 20, 0), expected_rect(2, 4, 15, 3)
    seen = []  # (wall time, background, magenta logo, green logo)

    def note(t, f):
        bg = "blue" if shows(f, center, BLUE) else "yellow" if shows(f, center, YELLOW) else "?"
        seen.append((t, bg, shows(f, rect1, MAGENTA), shows(f, rect2, GREEN)))
    frames = Frames(nginx.url("dst", "out"), str(tmp_path / "frames.log"), on_frame=note)
    try:
        wait_frame(frames, 0, lambda f: shows(f, center, YELLOW), 15, "the yellow file")
        changed = time.time()
        second = {"picture_url": pictures.url("green.jpg"), "x": 2, "y": 4, "width": 15,
                  "height": 0, "location": 3}
        st, doc = api.patch("/v1/tasks/%s" % tid, {"watermarks": [second]})
        assert st == 200, (st, doc)
        wait_frame(frames, changed, lambda f: shows(f, center, BLUE), 10, "the next file")
        next_file = time.time()
        wait_until(lambda: seen[-1][0] > next_file + 2.0, 10, what="2 s of the next file")
    finally:
        frames.stop()
    later = [s for s in seen if s[0] > changed]
    yellow = [s for s in later if s[1] == "yellow"]
    blue = [s for s in later if s[1] == "blue"]
    assert len(yellow) >= 5 and len(blue) >= 15, (len(yellow), len(blue))
    assert all(s[2] and not s[3] for s in yellow), \
        "the file playing changed its logo mid-file: %s" % yellow
    assert all(s[3] and not s[2] for s in blue), \
        "the next file did not start with the new logo: %s" % blue[:5]
    metric("frames of the file playing kept as they were after the change", len(yellow))
    assert nginx.publish_count("dst", "out") == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
