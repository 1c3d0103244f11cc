"""frames.py — what a viewer sees of the destination, for the watermark tests: one ffmpeg
decoding it to RGB frames, the mean colour of a rectangle, and where Tencent's rules put a
logo."""

import subprocess
import threading
import time

from harness import wait_until

W, H = 640, 360  # the harness publisher's picture; frames are grabbed at this size
COLOR_TOL = 24  # x264 and YUV 4:2:0 round a flat colour by a few units; edges excluded


class Frames:
    """One ffmpeg decoding the destination for the whole test: the latest RGB frame, with the
    wall time it arrived."""

    def __init__(self, url, logpath, on_frame=None):
        self.on_frame = on_frame  # called with (wall time, frame) for every frame
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
            if self.on_frame:
                self.on_frame(*self.latest)

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
