"""test_mark_file.py — the watermark transcode stage (src/engine/transcode.c, driven by the test
tool mark_file) against ffmpeg's own `overlay` filter: for each Location, a frame of the marked
file matches a reference made by ffmpeg with the same logo, scaled to the same size and put at
the same place (mean absolute difference of the YUV planes below a bound), and the logo is
really there (the same frame without it differs much more)."""

import os
import subprocess

import pytest

from harness import default_binary
from media import ffmpeg, make_clip

W, H = 320, 240
FRAME = 45  # a frame in the second GOP: the encoder's rate control has settled
# x264 (veryfast, CRF 23 here) against an unencoded reference: a few units of 255.
MAD_FRAME = 2.0   # the whole frame (measured 0.21-0.39)
MAD_LOGO = 4.0    # the logo's rectangle alone (measured 0.24-1.43)
MIN_LOGO_GAIN = 3.0  # without the logo, the rectangle differs at least this much more


def tool_path():
    """mark_file sits in the build dir of the ferryd under test: <builddir>/tests/tools/."""
    builddir = os.path.dirname(default_binary())
    for cand in (os.path.join(builddir, "tests", "tools", "mark_file"),
                 os.path.join(os.path.dirname(builddir), "tests", "tools", "mark_file")):
        if os.access(cand, os.X_OK):
            return cand
    return None


MARK_FILE = tool_path()
pytestmark = pytest.mark.skipif(MARK_FILE is None, reason="mark_file was not built next to $FERRYD")


def even(num, den):
    v = (num + den // 2) // den
    return (v + 1) & ~1


def place(fw, fh, iw, ih, x, y, w, h, loc):
    """Tencent's rule, written again here: percent sizes (one alone keeps the aspect), percent
    offsets from the anchor corner (0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left)."""
    if w and h:
        mw, mh = even(fw * w, 100), even(fh * h, 100)
    elif w:
        mw = even(fw * w, 100)
        mh = even(mw * ih, iw)
    elif h:
        mh = even(fh * h, 100)
        mw = even(mh * iw, ih)
    else:
        mw, mh = even(iw, 1), even(ih, 1)
    dx, dy = even(fw * x, 100), even(fh * y, 100)
    px = fw - mw - dx if loc in (1, 2) else dx
    py = fh - mh - dy if loc in (2, 3) else dy
    return px, py, mw, mh


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("marks")
    clip = str(d / "clip.mp4")
    make_clip(clip, "%dx%d" % (W, H), 2)
    logo = str(d / "logo.png")  # RGBA, 60% opaque, with a fully transparent border
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x48:rate=1", "-frames:v", "1", "-vf",
           "format=rgba,colorchannelmixer=aa=0.6,pad=112:64:8:8:color=black@0", logo)
    jpeg = str(d / "logo.jpg")  # opaque
    ffmpeg("-f", "lavfi", "-i", "smptebars=size=64x48:rate=1", "-frames:v", "1", jpeg)
    return d, clip, {"png": (logo, 112, 64), "jpg": (jpeg, 64, 48)}


def grab(path, overlay=None, logo=None):
    """Frame FRAME of path as raw YUV 4:2:0 bytes; with overlay=(x, y, w, h), ffmpeg's overlay
    of logo scaled to w x h at x, y is drawn on it first."""
    cmd = ["ffmpeg", "-v", "error", "-i", path]
    sel = "select=eq(n\\,%d)" % FRAME
    if overlay:
        x, y, w, h = overlay
        cmd += ["-i", logo, "-filter_complex",
                "[1:v]scale=%d:%d[l];[0:v][l]overlay=%d:%d:format=yuv420,%s,format=yuv420p"
                % (w, h, x, y, sel)]
    else:
        cmd += ["-vf", sel + ",format=yuv420p"]
    cmd += ["-frames:v", "1", "-f", "rawvideo", "-"]
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout
    assert len(out) == W * H * 3 // 2, "grabbed %d bytes" % len(out)
    return out


def mad(a, b, rect=None):
    if rect is None:
        return sum(abs(p - q) for p, q in zip(a, b)) / len(a)
    x, y, w, h = rect
    total, n = 0, 0
    for row in range(max(y, 0), min(y + h, H)):
        s, e = row * W + max(x, 0), row * W + min(x + w, W)
        total += sum(abs(p - q) for p, q in zip(a[s:e], b[s:e]))
        n += e - s
    return total / n


def run_tool(clip, out, *marks):
    args = [MARK_FILE, clip, out]
    for m in marks:
        args += [str(v) for v in m]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("location", [0, 1, 2, 3])
@pytest.mark.parametrize("kind,x,y,w,h", [("png", 5, 10, 25, 0), ("jpg", 10, 5, 0, 20)])
def test_logo_matches_ffmpeg_overlay(media, location, kind, x, y, w, h):
    d, clip, logos = media
    logo, iw, ih = logos[kind]
    out = str(d / ("out-%s-%d.mp4" % (kind, location)))
    run_tool(clip, out, (logo, x, y, w, h, location))
    rect = place(W, H, iw, ih, x, y, w, h, location)
    got = grab(out)
    want = grab(clip, overlay=rect, logo=logo)
    bare = grab(clip)
    whole, inside, without = mad(got, want), mad(got, want, rect), mad(got, bare, rect)
    print("location %d %s rect %s: MAD frame %.2f, logo %.2f, without logo %.2f"
          % (location, kind, rect, whole, inside, without))
    assert whole < MAD_FRAME
    assert inside < MAD_LOGO
    assert without > inside + MIN_LOGO_GAIN, "the logo is not where it should be"


def test_four_marks_and_none(media):
    d, clip, logos = media
    logo, iw, ih = logos["png"]
    out = str(d / "out-four.mp4")
    marks = [(logo, 2, 2, 20, 0, loc) for loc in range(4)]
    run_tool(clip, out, *marks)
    got = grab(out)
    bare = grab(clip)
    for loc in range(4):
        rect = place(W, H, iw, ih, 2, 2, 20, 0, loc)
        assert mad(got, bare, rect) > MIN_LOGO_GAIN, "mark %d missing" % loc
    plain = str(d / "out-none.mp4")
    run_tool(clip, plain)  # no marks: re-encoded as it is
    assert mad(grab(plain), bare) < MAD_FRAME


def test_output_timing(media):
    """Every frame comes out, with increasing DTS, and the audio is copied."""
    d, clip, logos = media
    out = str(d / "out-timing.mp4")
    run_tool(clip, out, (logos["png"][0], 0, 0, 10, 0, 0))
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "packet=codec_type,dts", "-of", "csv=p=0", out],
                           check=True, capture_output=True, text=True).stdout.split()
    video = [int(l.split(",")[1]) for l in probe if l.startswith("video")]
    audio = [l for l in probe if l.startswith("audio")]
    assert len(video) == 60
    assert all(b > a for a, b in zip(video, video[1:]))
    assert len(audio) > 80


def test_resolution_change_rescales_the_logo(media):
    """A source that goes from 320x240 to 480x270 mid-stream (new SPS in band): the encoder
    re-opens, its new header goes out in the same FLV, and the logo is placed and sized again
    for the new frame (width 20%: 64 px, then 96 px)."""
    d, _, logos = media
    logo, iw, ih = logos["png"]
    parts = []
    for i, size in enumerate(("320x240", "480x270")):
        part = str(d / ("part%d.ts" % i))
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=%s:rate=30" % size, "-t", "1", "-c:v",
               "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p",
               "-output_ts_offset", str(i), part)
        parts.append(part)
    src = str(d / "two-sizes.ts")
    with open(src, "wb") as f:
        for part in parts:
            with open(part, "rb") as p:
                f.write(p.read())
    out = str(d / "two-sizes.flv")
    run_tool(src, out, (logo, 5, 5, 20, 0, 2))
    rect = place(480, 270, iw, ih, 5, 5, 20, 0, 2)

    def grab_late(path, overlay=None):
        cmd = ["ffmpeg", "-v", "error", "-i", path]
        tail = "scale=480:270,format=yuv420p"  # the frames before the change, scaled too
        if overlay:
            x, y, w, h = overlay
            # the logo looped: ffmpeg rebuilds the graph at the size change
            cmd += ["-loop", "1", "-i", logo, "-filter_complex",
                    "[1:v]scale=%d:%d[l];[0:v][l]overlay=%d:%d:shortest=1:"
                    "format=yuv420,%s" % (w, h, x, y, tail)]
        else:
            cmd += ["-vf", tail]
        cmd += ["-ss", "1.5", "-frames:v", "1", "-f", "rawvideo", "-"]  # 0.5 s after it
        data = subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout
        assert len(data) == 480 * 270 * 3 // 2
        return data

    got, want, bare = grab_late(out), grab_late(src, rect), grab_late(src)

    def mad_rect(a, b):
        x, y, w, h = rect
        diffs = [abs(a[r * 480 + c] - b[r * 480 + c]) for r in range(y, y + h)
                 for c in range(x, x + w)]
        return sum(diffs) / len(diffs)
    inside, without = mad_rect(got, want), mad_rect(got, bare)
    print("after the size change, rect %s: MAD logo %.2f, without logo %.2f"
          % (rect, inside, without))
    assert inside < MAD_LOGO
    assert without > inside + MIN_LOGO_GAIN
    sizes = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                            "frame=width,height", "-of", "csv=p=0", out], check=True,
                           capture_output=True, text=True).stdout.split()
    sizes = [v.strip(",") for v in sizes]
    assert sizes[0] == "320,240" and sizes[-1] == "480,270", (sizes[0], sizes[-1])
