"""test_watermark.py — watermarks as the destination sees them: a live task with `watermarks`
pushes video with the logo drawn at the place Tencent's rules give; a PATCH that moves it
(another picture, another corner), adds it to a copy relay or clears it shows within 2 s, in
the same destination session, with monotonic DTS; a playlist of files of two sizes gets the
logo placed and sized for each, in one session."""

import os
import subprocess
import threading
import time

import pytest

from harness import dts_report, files_task, live_task, wait_until, whole_seconds_from_now
from media import FileServer, ffmpeg, make_clip

W, H = 640, 360  # the harness publisher's picture
MAGENTA = (255, 0, 255)
GREEN = (0, 255, 0)
COLOR_TOL = 24  # x264 and YUV 4:2:0 round a flat colour by a few units; edges excluded


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


class Frames:
    """One ffmpeg decoding the destination for the whole test: the latest RGB frame, with the
    wall time it arrived."""

    def __init__(self, url, logpath):
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "600000000", "-i", url,
               "-vf", "fps=10,scale=%d:%d" % (W, H), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     stderr=open(logpath, "a"))
        self.latest = (0.0, None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        size = W * H * 3
        while True:
            buf = self.proc.stdout.read(size)
            if not buf or len(buf) < size:
                return
            self.latest = (time.time(), buf)

    def since(self, t):
        at, frame = self.latest
        return frame if frame is not None and at > t else None

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self._thread.join(5)


def mean_rgb(frame, rect, inset=6):
    """Mean colour of rect (x, y, w, h) shrunk by inset on every side."""
    x, y, w, h = rect
    tot, n = [0, 0, 0], 0
    for row in range(y + inset, y + h - inset):
        for col in range(x + inset, x + w - inset, 2):
            i = (row * W + col) * 3
            for c in range(3):
                tot[c] += frame[i + c]
            n += 1
    return tuple(v / n for v in tot)


def shows_band(frame, rect, color):
    return all(abs(a - b) <= COLOR_TOL for a, b in zip(mean_rgb(frame, rect, 0), color))


def shows(frame, rect, color):
    return all(abs(a - b) <= COLOR_TOL for a, b in zip(mean_rgb(frame, rect), color))


def expected_rect(x, y, wpct, loc, iw=64, ih=32, fw=W, fh=H):
    """Tencent's rule for a width in percent (the height keeps the picture's shape), on a
    fw x fh frame, seen in the W x H frames grabbed."""
    def even(num, den):
        v = (num + den // 2) // den
        return (v + 1) & ~1
    mw = even(fw * wpct, 100)
    mh = even(mw * ih, iw)
    dx, dy = even(fw * x, 100), even(fh * y, 100)
    px = fw - mw - dx if loc in (1, 2) else dx
    py = fh - mh - dy if loc in (2, 3) else dy
    kx, ky = W / fw, H / fh
    return int(px * kx), int(py * ky), int(mw * kx), int(mh * ky)


def wait_frame(frames, since, pred, timeout, what):
    holder = {}

    def check():
        f = frames.since(since)
        if f is not None and pred(f):
            holder["t"] = time.time()
            return True
        return False
    wait_until(check, timeout, 0.05, what=what)
    return holder["t"] - since


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
