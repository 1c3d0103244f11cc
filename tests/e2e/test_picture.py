"""test_picture.py — a still picture pushed as a live stream, as its viewers see it: H.264
at 25 fps in the picture's shape (scaled into 1920x1080) with a silent AAC track, keyframes
every 2 s, in one session from start_time; a picture that cannot be fetched is retried."""

import os
import time

import pytest

from harness import dts_report, iso, probe, wait_until, whole_seconds_from_now
from media import FileServer, ffmpeg


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pictures"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1",
           os.path.join(d, "card.png"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=3000x1000", "-frames:v", "1",
           os.path.join(d, "wide.jpg"))
    server = FileServer(d)
    yield server
    server.stop()


def picture_task(nginx, url, start, **extra):
    body = {"name": "e2e picture", "source_type": "picture", "source_urls": [url],
            "destination": nginx.url("dst", "out"), "start_time": iso(start),
            "end_time": iso(start + 300), "retry_count": 5, "retry_interval": 1}
    body.update(extra)
    return body


@pytest.mark.parametrize("name,size", [("card.png", (640, 360)), ("wide.jpg", (1920, 640))])
def test_picture_becomes_a_live_stream(api, nginx, viewer, pictures, metric, name, size):
    out = viewer("dst", "out")
    start = whole_seconds_from_now(2)
    tid = api.create_task(**picture_task(nginx, pictures.url(name), start))["id"]
    _, seen = api.wait_state(tid, ("running",), start - time.time() + 10)
    metric("running after start_time (s)", round(seen - start, 3))
    assert seen - start < 0.8, "running %.2fs after start_time" % (seen - start)
    streams, packets = probe(nginx.url("dst", "out"), 4, timeout=15)
    by_type = {s.get("codec_type"): s for s in streams}
    assert sorted(by_type) == ["audio", "video"], streams
    assert by_type["video"].get("codec_name") == "h264"
    assert by_type["audio"].get("codec_name") == "aac"
    meta = nginx.stream_stat("dst", "out").find("meta")
    got = (int(meta.findtext("video/width")), int(meta.findtext("video/height")))
    assert got == size, got
    video = [p for p in packets if p["codec_type"] == "video"]
    span_s = (video[-1]["dts"] - video[0]["dts"]) / 1000
    fps = (len(video) - 1) / span_s
    metric("frame rate at the destination", round(fps, 2))
    assert len(video) >= 50 and 24 <= fps <= 26, (len(video), span_s)
    keys = [p for p in video if p.get("flags", "").startswith("K")]
    assert len(keys) >= 1, "no keyframe in 4 s"
    wait_until(lambda: out.count("video") >= 100, 15, 0.1, what="4 s at the viewer")
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], report[kind]
        assert report[kind]["max_step"] <= 100, report[kind]
    assert nginx.publish_count("dst", "out") == 1
    p = api.task(tid)["progress"]
    assert p["source_url"] == pictures.url(name) and p["fps"] > 15, p


def test_missing_picture_is_retried_then_offline(api, nginx, pictures):
    start = whole_seconds_from_now(1)
    tid = api.create_task(**picture_task(nginx, pictures.url("nope.png"), start,
                                         retry_count=2))["id"]
    done, _ = api.wait_state(tid, ("offline",), 20)
    assert done["reason"] == "PullStreamFailed", done
    assert "nope.png" in done["last_error"] and "404" in done["last_error"], done
