"""test_push_engine.py — rtmp:// pushes on ferry's event loops, as destinations see them:
ffmpeg acting as the RTMP server receives a whole relay (H.264 + AAC, rising DTS); sources
in MPEG-TS (Annex B H.264, ADTS AAC) reach the destination converted; an output costs no
thread of its own (the FFmpeg push engine, kept as `push_engine = ffmpeg`, costs one)."""

import json
import os
import subprocess
import time

import pytest

from harness import (dts_report, files_task, free_port, live_task, probe, wait_until,
                     whole_seconds_from_now)
from media import FileServer, ffmpeg


def threads_of(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def ffprobe_packets(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_packets", "-of",
                        "json", path], capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout or "{}")
    streams = {s["index"]: s for s in doc.get("streams", [])}
    packets = [{"type": streams[p["stream_index"]]["codec_type"],
                "dts": float(p.get("dts_time", "nan"))} for p in doc.get("packets", [])]
    return [s.get("codec_name") for s in streams.values()], packets


def test_ffmpeg_as_the_destination_server(api, nginx, publisher, tmp_path):
    """ffmpeg -listen 1 is the RTMP server ferry publishes to (another server than
    nginx-rtmp): what it records is H.264 + AAC with rising DTS."""
    publisher("cam")
    nginx.wait_published("src", "cam")
    port = free_port()
    out = str(tmp_path / "received.flv")
    server = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-listen", "1",
         "-i", "rtmp://127.0.0.1:%d/live/key" % port, "-t", "4", "-c", "copy", "-y", out],
        stdout=subprocess.DEVNULL, stderr=open(str(tmp_path / "server.log"), "w"))
    try:
        time.sleep(0.5)  # the server listens
        start = whole_seconds_from_now(1)
        body = live_task(nginx, start, start + 60)
        body["destination"] = "rtmp://127.0.0.1:%d/live/key" % port
        tid = api.create_task(**body)["id"]
        server.wait(timeout=30)
        codecs, packets = ffprobe_packets(out)
        assert sorted(codecs) == ["aac", "h264"], codecs
        report = dts_report(packets)
        for kind in ("video", "audio"):
            assert report[kind]["monotonic"], report[kind]
        video = sum(1 for p in packets if p["type"] == "video")
        assert video >= 90, "%d video frames in 4 s" % video
        api.delete("/v1/tasks/" + tid)
    finally:
        server.kill()


def test_annexb_and_adts_sources_are_converted(api, nginx, tmp_path):
    """A playlist of MPEG-TS files (H.264 in Annex B, AAC in ADTS): the FLV the destination
    gets carries them converted (decodable by ffprobe with the right codecs)."""
    root = tmp_path / "www"
    os.makedirs(root)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
           "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac",
           "-f", "mpegts", str(root / "a.ts"))
    files = FileServer(str(root))
    try:
        api.create_task(**files_task(nginx, [files.url("a.ts")], loop_count=3, retry_count=0))
        wait_until(lambda: nginx.is_published("dst", "out"), 15, what="dst/out published")
        streams, packets = probe(nginx.url("dst", "out"), 3, timeout=15)
        assert sorted(s.get("codec_name") for s in streams) == ["aac", "h264"], streams
        assert sum(1 for p in packets if p.get("codec_type") == "video") >= 45
    finally:
        files.stop()


def start_relays(api, nginx, first, n):
    """Relays src/cam to dst/out<first> .. dst/out<first+n-1>, all publishing."""
    start = whole_seconds_from_now(1)
    for i in range(first, first + n):
        api.create_task(**live_task(nginx, start, start + 120, dst="out%d" % i))
    for i in range(first, first + n):
        wait_until(lambda: nginx.is_published("dst", "out%d" % i), 20,
                   what="dst/out%d published" % i)
    time.sleep(1)


@pytest.mark.parametrize("engine,extra_per_relay", [("ferry", 0), ("ffmpeg", 1)])
def test_threads_per_output(request, nginx, publisher, engine, extra_per_relay):
    """Four relays: with ferry's push engine no output adds a thread (the event loops are
    fixed); with FFmpeg's each output has a writer thread."""
    request.node.add_marker(pytest.mark.ferryd_settings(push_engine=engine, preroll=0))
    ferryd = request.getfixturevalue("ferryd")
    api = request.getfixturevalue("api")
    publisher("cam")
    nginx.wait_published("src", "cam")
    start_relays(api, nginx, 0, 1)  # the loops (or the first writer) exist from here on
    before = threads_of(ferryd.proc.pid)
    start_relays(api, nginx, 1, 4)
    grown = threads_of(ferryd.proc.pid) - before
    assert grown == 4 * (1 + extra_per_relay), "4 relays added %d threads (%s)" % (grown,
                                                                                  engine)


def test_frames_larger_than_the_muxers_buffer(api, nginx, tmp_path):
    """720p frames of noise (keyframes of several hundred KB, past the muxer's 64 KB
    buffer, so a tag reaches the session in pieces): every frame arrives whole. The VBV
    buffer keeps each frame under nginx-rtmp's default max_message (1 MB), which closes
    the publisher's connection on a larger one."""
    root = tmp_path / "www"
    os.makedirs(root)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=60:allf=t",
           "-f", "lavfi", "-i", "sine", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast",
           "-g", "15", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "6M", "-c:a", "aac", str(root / "big.mp4"))
    files = FileServer(str(root))
    try:
        api.create_task(**files_task(nginx, [files.url("big.mp4")], loop_count=3, retry_count=0))
        wait_until(lambda: nginx.is_published("dst", "out"), 15, what="dst/out published")
        r = subprocess.run(["ffprobe", "-v", "error", "-rw_timeout", "15000000",
                            "-read_intervals", "%+4", "-show_entries",
                            "packet=codec_type,size,flags", "-of", "json",
                            nginx.url("dst", "out")], capture_output=True, text=True,
                           timeout=40)
        packets = json.loads(r.stdout or "{}").get("packets", [])
        video = [p for p in packets if p.get("codec_type") == "video"]
        keys = [int(p["size"]) for p in video if "K" in p.get("flags", "")]
        assert len(video) >= 60, "%d video packets" % len(video)
        assert keys and max(keys) > 65536, keys
        assert nginx.publish_count("dst", "out") == 1
        assert "error" not in r.stderr.lower(), r.stderr[-2000:]
    finally:
        files.stop()
