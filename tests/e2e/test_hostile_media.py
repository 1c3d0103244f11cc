"""test_hostile_media.py — a live source that sends hostile media, against a real ferryd: huge
onMetaData, a GOP that never ends, absurd timestamps, and (RTMP only) many chunk streams each
holding most of a huge message. Through ferry's RTMP client, libavformat's RTMP client
(pull_engine = ffmpeg) and an http-flv source (libavformat's FLV demuxer), ferryd's memory
stays bounded and the task either keeps running or fails with a clear error; the daemon
stays healthy."""

import http.server
import os
import random
import struct
import threading
import time

import pytest

from fake_rtmp import FakeRtmpServer, amf_str, read_flv
from conftest import ACCOUNTS, ALICE_TOKEN
from harness import Api, Ferryd, live_task, rss_mb, under_asan, whole_seconds_from_now
from media import ffmpeg

SECONDS = 10  # how long each hostile source sends


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """An FLV clip, H.264 (keyframe every second) + AAC, 10 s at 320x240."""
    path = str(tmp_path_factory.mktemp("clip") / "clip.flv")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=44100", "-t", "10", "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-b:a", "64k", "-f", "flv", path)
    return read_flv(path)


def huge_metadata(serial):
    """An onMetaData script tag of about 7 MB: 60,000 string members, new names each time."""
    items = b"".join(b"%s\x02\x00\x64%s" % (
        struct.pack(">H", len(k)) + k, b"m" * 100) for k in
        (("k%d_%d" % (serial, i)).encode() for i in range(60000)))
    return amf_str("onMetaData") + b"\x08" + struct.pack(">I", 60000) + items + b"\x00\x00\x09"


def is_header(tag):
    t, _, b = tag
    return t == 18 or (t == 9 and b[1] == 0) or (t == 8 and b[1] == 0)


def hostile_tags(case, tags):
    """What the source sends for SECONDS: (type, timestamp ms, body), the pacing done by the
    caller from timestamps except where a case says so (pace=False)."""
    headers = [t for t in tags if is_header(t) and t[0] != 18]
    media = [t for t in tags if not is_header(t)]
    span = tags[-1][1] + 33
    if case == "metadata":
        yield from headers
        k = 0
        while True:
            for i, (t, ts, b) in enumerate(media):
                if i % 60 == 0:
                    yield (18, ts + k * span, huge_metadata(k * 1000 + i))
                yield (t, ts + k * span, b)
            k += 1
    elif case == "endless-gop":
        yield from headers
        key = next(t for t in media if t[0] == 9 and t[2][0] >> 4 == 1)
        yield key
        filler = struct.pack(">I", 40000) + b"\x0c" + b"\xff" * 39999  # a filler NAL unit
        inter = [t for t in media if t[0] == 9 and t[2][0] >> 4 == 2]
        ts = key[1]
        while True:  # 40 KB frames, 30 a second (10 Mb/s), never a keyframe again
            for t, _, b in inter:
                ts += 33
                yield ("fast", ts, b + filler)
    elif case == "absurd-timestamps":
        rnd = random.Random(7)
        yield from headers
        while True:
            for t, ts, b in media:
                yield ("paced", rnd.choice([0, 1, 0x7fffffff, 0xffffffff, rnd.getrandbits(32)]),
                       (t, b))


def send_all(case, tags, send):
    """Plays hostile_tags through send(type, ts, body) for SECONDS."""
    t0 = time.monotonic()
    until = t0 + SECONDS
    first = None
    for t, ts, b in hostile_tags(case, tags):
        if time.monotonic() > until:
            return
        if t == "fast":
            time.sleep(1 / 30)
            send(9, ts, b)
            continue
        if t == "paced":
            (t, b), wall = b, None
        else:
            first = ts if first is None else first
            wall = t0 + (ts - first) / 1000.0
        ahead = wall - time.monotonic() if wall else 0  # one clock reading: never negative
        if ahead > 0:
            time.sleep(min(ahead, 1))
        elif t == "paced" or wall is None:
            time.sleep(0.01)
        send(t, ts, b)


def partial_messages(conn):
    """61 chunk streams, each declaring an 8 MB - 1 video message and sending its first 127
    chunks of 64 KiB (a chunk is never cut short): a client that keeps every partial message
    holds 500 MB."""
    conn.set_chunk_size(65536)
    size = 8 * 1024 * 1024 - 1
    body = b"\x27\x01" + bytes(127 * 65536 - 2)
    for csid in range(3, 64):
        out = bytearray([csid]) + b"\0\0\0" + size.to_bytes(3, "big") + b"\x09"
        out += (1).to_bytes(4, "little")
        for i in range(0, len(body), 65536):
            if i:
                out += bytes([0xc0 | csid])
            out += body[i:i + 65536]
        conn.sock.sendall(bytes(out))


def rtmp_server(case, tags):
    def serve(conn):
        conn.handshake()
        conn.accept_play()
        if case == "partial-messages":
            partial_messages(conn)
            time.sleep(SECONDS)
            return
        conn.out_chunk = 65536
        conn.set_chunk_size(65536)
        send_all(case, tags, conn.send_tag)
        time.sleep(2)

    return FakeRtmpServer(serve)


class FlvServer:
    """An http-flv source on 127.0.0.1 that sends hostile_tags as one FLV stream."""

    def __init__(self, case, tags):
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "video/x-flv")
                self.end_headers()

                def tag(t, ts, b):
                    ts &= 0xffffffff
                    head = bytes([t]) + len(b).to_bytes(3, "big") + (ts & 0xffffff).to_bytes(
                        3, "big") + bytes([ts >> 24]) + b"\0\0\0"
                    self.wfile.write(head + b + (11 + len(b)).to_bytes(4, "big"))
                try:
                    self.wfile.write(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
                    send_all(case, tags, tag)
                except OSError:
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/live.flv" % self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# 61 chunk streams of 8 MB messages cut short took ferryd from 32 MB to 374-422 MB with
# ferry's client before its buffers were bounded in total (RTMP_MAX_HELD, 24 MiB per
# connection, rtmp_chunk.c): now the source fails with that limit named. libavformat's
# client keeps them all (518 MB, until the open timed out) and cannot be bounded from
# outside: pull_engine = ffmpeg stays exposed.
UNBOUNDED_LAVF = pytest.mark.xfail(strict=True, reason="libavformat's RTMP client keeps "
                                   "unfinished messages of any size")
CASES = [("rtmp", "metadata"), ("rtmp", "endless-gop"), ("rtmp", "absurd-timestamps"),
         ("rtmp", "partial-messages"),
         ("rtmp-ffmpeg", "metadata"), ("rtmp-ffmpeg", "endless-gop"),
         ("rtmp-ffmpeg", "absurd-timestamps"),
         pytest.param("rtmp-ffmpeg", "partial-messages", marks=UNBOUNDED_LAVF),
         ("http-flv", "metadata"), ("http-flv", "endless-gop"), ("http-flv", "absurd-timestamps")]


@pytest.mark.parametrize("path,case", CASES)
def test_hostile_media_keeps_memory_bounded(nginx, ferryd_settings, tmp_path, clip, metric,
                                            path, case):
    settings = dict(ferryd_settings)
    if path == "rtmp-ffmpeg":
        settings["pull_engine"] = "ffmpeg"
    lead = 0
    if case == "endless-gop":  # the whole GOP arrives in pre-roll, where it is buffered
        settings["preroll"] = lead = SECONDS
    # under ASan, freed memory would count for up to 256 MB unless the quarantine is small
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8").lstrip(":")
    d = Ferryd(str(tmp_path / "ferryd"), ACCOUNTS, settings, env={"ASAN_OPTIONS": asan})
    d.start()
    srv = FlvServer(case, clip) if path == "http-flv" else rtmp_server(case, clip)
    try:
        a = Api(d.port, ALICE_TOKEN)
        base = rss_mb(d.proc.pid)
        start = whole_seconds_from_now(lead)
        body = live_task(nginx, start, start + 300, retry_count=0)
        body["source_urls"] = [srv.url()]
        tid = a.create_task(**body)["id"]
        peak, t0, task = base, time.time(), None
        while time.time() < t0 + SECONDS + 1:
            peak = max(peak, rss_mb(d.proc.pid))
            if task is None and time.time() > t0 + SECONDS - 1:
                task = a.task(tid)  # while the source still sends
            time.sleep(0.1)
        metric("%s %s: RSS before / peak (MB)" % (path, case), "%.0f / %.0f" % (base, peak))
        metric("%s %s: state, error" % (path, case), "%s, %s" % (task["state"],
                                                                 task.get("last_error", "")))
        assert a.raw("GET", "/healthz", token=None)[0] == 200
        # ASan's redzones and allocator metadata about double a heap of many small blocks
        # (libavformat's metadata dictionary: 152 MB under ASan, 55 MB without); unbounded
        # growth, the failure looked for, went to 374-596 MB either way
        bound = 300 if under_asan(d.proc.pid) else 150
        assert peak - base < bound, "ferryd grew by %.0f MB, more than %d (%s)" % (
            peak - base, bound, task)
        live = ("idle",) if lead else ("running",)  # a task in pre-roll is idle
        assert task["state"] in live + ("recovering", "offline"), task
        if task["state"] not in live:
            assert task.get("last_error"), task
    finally:
        srv.close()
        d.terminate()
