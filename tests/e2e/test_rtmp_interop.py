"""test_rtmp_interop.py — ferry's own RTMP client (src/engine/rtmp*.c, driven by the test tool
rtmp_cat) against real servers on 127.0.0.1: nginx-rtmp, and ffmpeg acting as an RTMP server
(`-listen 1`) that receives or sends. It plays (ffprobe must see H.264 + AAC frames with
increasing DTS in what it recorded) and publishes (what the server got must be every frame
of the file), with timestamps past 2^24 ms too, and it hears at once when a source is gone.
A hostile or silent server (garbage handshake, chunk size 0 or 2^31, an unknown chunk stream,
AMF nesting 10,000 deep, a huge message) gets a clear error at once, never a crash or a hang."""

import json
import os
import subprocess
import time

import pytest

from harness import (SANITIZER_MARKERS, Blackhole, default_binary, free_port, probe, stop_process, tail,
                     wait_until)

EXT_OFFSET_S = 16800  # past 2^24 ms (16777.216 s): every timestamp needs the extended field


def rtmp_cat_path():
    """rtmp_cat sits in the build dir of the ferryd under test: <builddir>/tests/tools/."""
    builddir = os.path.dirname(default_binary())
    for cand in (os.path.join(builddir, "tests", "tools", "rtmp_cat"),
                 os.path.join(os.path.dirname(builddir), "tests", "tools", "rtmp_cat")):
        if os.access(cand, os.X_OK):
            return cand
    return None


RTMP_CAT = rtmp_cat_path()
pytestmark = pytest.mark.skipif(RTMP_CAT is None,
                                reason="rtmp_cat was not built next to $FERRYD "
                                       "(<builddir>/tests/tools/rtmp_cat)")


@pytest.fixture(scope="module")
def flv_files(tmp_path_factory):
    """Two 6 s test files (H.264 with B-frames at 30 fps, keyframe every second, and AAC):
    one starting at 0, one starting past 2^24 ms."""
    d = tmp_path_factory.mktemp("flv")
    files = {}
    for name, offset in (("plain", 0), ("ext", EXT_OFFSET_S)):
        path = str(d / (name + ".flv"))
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "6",
                        "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
                        "-output_ts_offset", str(offset), "-f", "flv", path],
                       check=True, timeout=60)
        files[name] = path
    return files


def flv_report(path):
    """What ffprobe reads in an FLV file: {codec_type: codec_name}, and per codec type the
    packets' DTS (ms) and keyframe count."""
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "stream=codec_type,codec_name:packet=codec_type,dts,flags",
                        "-of", "json", path], capture_output=True, text=True, timeout=60)
    data = json.loads(r.stdout or "{}")
    codecs = {s["codec_type"]: s["codec_name"] for s in data.get("streams", [])}
    out = {"codecs": codecs}
    for kind in ("video", "audio"):
        pk = [p for p in data.get("packets", []) if p.get("codec_type") == kind]
        out[kind] = {"dts": [int(p["dts"]) for p in pk if p.get("dts", "N/A") != "N/A"],
                     "keys": sum(1 for p in pk if "K" in p.get("flags", ""))}
    return out


def assert_monotonic(dts, what):
    back = [(i, b - a) for i, (a, b) in enumerate(zip(dts, dts[1:])) if b <= a]
    assert not back, "%s: DTS not increasing at %s" % (what, back[:5])


def assert_av(report, what, min_video, min_audio):
    assert report["codecs"] == {"video": "h264", "audio": "aac"}, \
        "%s: ffprobe saw %s" % (what, report["codecs"])
    assert len(report["video"]["dts"]) >= min_video, \
        "%s: %d video frames" % (what, len(report["video"]["dts"]))
    assert len(report["audio"]["dts"]) >= min_audio, \
        "%s: %d audio frames" % (what, len(report["audio"]["dts"]))
    assert report["video"]["keys"] >= 1, "%s: no video keyframe" % what
    assert_monotonic(report["video"]["dts"], what + " video")
    assert_monotonic(report["audio"]["dts"], what + " audio")


class Cat:
    """One rtmp_cat run: `play URL seconds` into out_path, or `publish URL file`; its stderr
    (one "rtmp_cat: ..." line per event) goes to a log file."""

    def __init__(self, tmp_path, name, *args, out_path=None):
        self.log = str(tmp_path / ("rtmp_cat-%s.log" % name))
        self.out_path = out_path
        self.args = [RTMP_CAT] + [str(a) for a in args]
        self.proc = None

    def start(self):
        out = open(self.out_path, "wb") if self.out_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=open(self.log, "w"))
        return self

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            raise AssertionError("rtmp_cat still running after %ss:\n%s" % (timeout, self.text()))
        text = self.text()
        for marker in SANITIZER_MARKERS:
            assert marker not in text, "rtmp_cat sanitizer report:\n" + text
        return rc, text

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)


def run_against_listener(tmp_path, name, *args, out_path=None, timeout=30):
    """rtmp_cat against an ffmpeg that is about to listen: tried again while the port is not
    open yet (connecting to probe the port would take ffmpeg's only connection)."""
    deadline = time.monotonic() + 10
    while True:
        cat = Cat(tmp_path, name, *args, out_path=out_path).start()
        rc, text = cat.wait(timeout)
        if "cannot connect" not in text or time.monotonic() > deadline:
            return rc, text
        time.sleep(0.1)


def frames_of(path):
    r = flv_report(path)
    return len(r["video"]["dts"]), len(r["audio"]["dts"])


# ---------------------------------------------------------------- nginx-rtmp


def test_play_from_nginx(nginx, publisher, tmp_path):
    publisher("cam")
    nginx.wait_published("src", "cam")
    out = str(tmp_path / "out.flv")
    rc, text = Cat(tmp_path, "play", "play", nginx.url("src", "cam"), 5,
                   out_path=out).start().wait(30)
    assert rc == 0, text
    assert "rtmp_cat: ready (NetStream.Play.Start)" in text
    # 5 s of a 30 fps picture and 44.1 kHz AAC, less the wait for the first keyframe
    assert_av(flv_report(out), "played from nginx", 90, 130)


def test_publish_to_nginx(nginx, flv_files, tmp_path):
    """Published with a query on the app and one on the stream, which nginx reads as the
    connect's and the publish's arguments (what its on_connect / on_publish hooks get)."""
    url = "rtmp://127.0.0.1:%d/dst?tok=abc/out?key=1" % nginx.rtmp_port
    cat = Cat(tmp_path, "publish", "publish", url, flv_files["plain"]).start()
    try:
        nginx.wait_published("dst", "out", timeout=10)
        streams, packets = probe(nginx.url("dst", "out"), 3)
        kinds = {s["codec_type"]: s["codec_name"] for s in streams}
        assert kinds == {"video": "h264", "audio": "aac"}, kinds
        video = [int(p["dts"]) for p in packets
                 if p.get("codec_type") == "video" and p.get("dts", "N/A") != "N/A"]
        assert len(video) >= 45, "ffprobe read %d video frames from nginx" % len(video)
        assert_monotonic(video, "read back from nginx")
        rc, text = cat.wait(20)
        assert rc == 0 and "published the whole file" in text, text
    finally:
        cat.stop()
    wait_until(lambda: not nginx.is_published("dst", "out"), 5, what="the publish to end")
    with open(nginx.error_log, errors="replace") as f:
        log = f.read()
    assert "connect: app='dst' args='tok=abc'" in log, tail(nginx.error_log)
    assert "publish: name='out' args='key=1'" in log, tail(nginx.error_log)


def test_extended_timestamps_through_nginx(nginx, flv_files, tmp_path):
    """A file past 2^24 ms published to nginx and played back from it by rtmp_cat: both
    directions carry extended timestamps through nginx's chunk parser."""
    pub = Cat(tmp_path, "publish-ext", "publish", nginx.url("dst", "ext"), flv_files["ext"])
    pub.start()
    try:
        nginx.wait_published("dst", "ext", timeout=10)
        out = str(tmp_path / "ext-out.flv")
        rc, text = Cat(tmp_path, "play-ext", "play", nginx.url("dst", "ext"), 3,
                       out_path=out).start().wait(20)
        assert rc == 0, text
        report = flv_report(out)
        assert_av(report, "extended timestamps via nginx", 45, 60)
        assert report["video"]["dts"][0] > 2**24, report["video"]["dts"][:3]
        rc, text = pub.wait(20)
        assert rc == 0, text
    finally:
        pub.stop()


def test_source_gone_is_reported_at_once(nginx, publisher, tmp_path):
    p = publisher("cam")
    nginx.wait_published("src", "cam")
    cat = Cat(tmp_path, "gone", "play", nginx.url("src", "cam"), 60,
              out_path=str(tmp_path / "gone.flv")).start()
    try:
        wait_until(lambda: "ready" in cat.text(), 10, what="rtmp_cat ready")
        time.sleep(1.5)
        t0 = time.monotonic()
        p.kill()
        rc, text = cat.wait(10)
        elapsed = time.monotonic() - t0
    finally:
        cat.stop()
    assert rc == 0, text
    # nginx-rtmp sends StreamEOF, then NetStream.Play.UnpublishNotify: the first one tells
    assert ("rtmp_cat: source gone: StreamEOF" in text or
            "rtmp_cat: source gone: NetStream.Play.UnpublishNotify" in text), text
    assert elapsed < 1.5, "the source was reported gone %.2fs after the publisher died" % elapsed


# ---------------------------------------------------------------- ffmpeg as the server


@pytest.mark.parametrize("kind", ["plain", "ext"])
def test_publish_to_ffmpeg_listener(flv_files, tmp_path, kind):
    port = free_port()
    url = "rtmp://127.0.0.1:%d/app/key" % port
    got = str(tmp_path / "got.flv")
    srv_log = str(tmp_path / "ffmpeg-listen.log")
    srv = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-y",
                            "-listen", "1", "-i", url, "-c", "copy", "-copyts", "-f", "flv", got],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=open(srv_log, "w"))
    try:
        rc, text = run_against_listener(tmp_path, "publish", "publish", url, flv_files[kind])
        assert rc == 0 and "published the whole file" in text, text
        srv.wait(15)
    finally:
        stop_process(srv)
    report = flv_report(got)
    assert_av(report, "ffmpeg received", 1, 1)
    assert frames_of(got) == frames_of(flv_files[kind]), \
        "ffmpeg got %s frames of %s\n%s" % (frames_of(got), frames_of(flv_files[kind]),
                                            tail(srv_log))
    if kind == "ext":
        assert report["video"]["dts"][0] > 2**24, report["video"]["dts"][:3]


@pytest.mark.parametrize("kind", ["plain", "ext"])
def test_play_from_ffmpeg_listener(flv_files, tmp_path, kind):
    port = free_port()
    url = "rtmp://127.0.0.1:%d/app/key" % port
    srv_log = str(tmp_path / "ffmpeg-listen.log")
    srv = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-re",
                            "-i", flv_files[kind], "-c", "copy", "-copyts", "-f", "flv",
                            "-listen", "1", url],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=open(srv_log, "w"))
    out = str(tmp_path / "played.flv")
    try:
        rc, text = run_against_listener(tmp_path, "play", "play", url, 20, out_path=out)
        assert "rtmp_cat: ready (NetStream.Play.Start)" in text, text + tail(srv_log)
        srv.wait(15)
    finally:
        stop_process(srv)
    report = flv_report(out)
    assert_av(report, "played from ffmpeg", 1, 1)
    assert frames_of(out) == frames_of(flv_files[kind]), \
        "rtmp_cat got %s frames of %s\n%s" % (frames_of(out), frames_of(flv_files[kind]), text)
    if kind == "ext":
        assert report["video"]["dts"][0] > 2**24, report["video"]["dts"][:3]


# ---------------------------------------------------------------- a hostile server


def _chunk0(csid, mtype, body, fmt=0):
    """One message in one chunk (bodies here stay under the default 128 bytes)."""
    hdr = bytes([fmt << 6 | csid]) + b"\x00\x00\x00"
    if fmt <= 1:
        hdr += len(body).to_bytes(3, "big") + bytes([mtype])
    if fmt == 0:
        hdr += b"\x00\x00\x00\x00"
    return hdr + body


def _deep_amf_command():
    body = b"\x02\x00\x08onStatus" + b"\x03\x00\x01a" * 10000
    out = bytes([0x03]) + b"\x00\x00\x00" + len(body).to_bytes(3, "big") + b"\x14" + bytes(4)
    for i in range(0, len(body), 128):
        out += (b"" if i == 0 else b"\xc3") + body[i:i + 128]
    return out


HOSTILE = {
    # what the server answers the client's C0+C1 with -> what rtmp_cat must say
    "garbage-handshake": (b"HTTP/1.0 400 Bad Request\r\n\r\n" + bytes(3000),
                          "handshake: the server answered version 72, not RTMP version 3"),
    "chunk-size-0": (None, "the server set a chunk size of 0 (valid: 1 to 2^31-1)"),
    "chunk-size-2^31": (None, "the server set a chunk size of 2147483648"),
    "unknown-chunk-stream": (None, "chunk stream 9 starts with a type 1 header"),
    "amf-10000-deep": (None, "bad command from the server: AMF nesting deeper than 16"),
    "huge-message": (None, "chunk stream 5 declares a message of 16777215 bytes (the limit is "
                           "8388608)"),
}


def _hostile_bytes(case):
    answer, _ = HOSTILE[case]
    if answer is not None:
        return answer
    hs = b"\x03" + bytes(2 * 1536)
    if case == "chunk-size-0":
        return hs + _chunk0(2, 1, b"\x00\x00\x00\x00")
    if case == "chunk-size-2^31":
        return hs + _chunk0(2, 1, b"\x80\x00\x00\x00")
    if case == "unknown-chunk-stream":
        return hs + _chunk0(9, 8, b"abc", fmt=1)
    if case == "huge-message":
        return hs + b"\x05\x00\x00\x00\xff\xff\xff\x09" + bytes(4) + bytes(128)
    return hs + _deep_amf_command()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_server_gives_a_clear_error(tmp_path, case):
    """A broken or hostile server: rtmp_cat ends at once with the reason, no crash (the ASan
    build checks for sanitizer reports), no hang."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        with conn:
            got = b""
            while len(got) < 1537:
                more = conn.recv(4096)
                if not more:
                    return
                got += more
            conn.sendall(_hostile_bytes(case))
            time.sleep(3)  # keep the connection open: the client must end by itself

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    t0 = time.monotonic()
    rc, text = Cat(tmp_path, case, "play", "rtmp://127.0.0.1:%d/app/key" % port, 10,
                   out_path=str(tmp_path / "hostile.flv")).start().wait(10)
    elapsed = time.monotonic() - t0
    srv.close()
    assert rc == 1, text
    assert "rtmp_cat: error: " + HOSTILE[case][1] in text, text
    assert elapsed < 2, "rtmp_cat took %.1fs to give up" % elapsed


def test_silent_server_times_out(tmp_path):
    """A server that accepts and never answers: rtmp_cat gives up at its deadline."""
    hole = Blackhole()
    try:
        t0 = time.monotonic()
        rc, text = Cat(tmp_path, "silent", "play", "rtmp://127.0.0.1:%d/app/key" % hole.port, 2,
                       out_path=str(tmp_path / "silent.flv")).start().wait(10)
        elapsed = time.monotonic() - t0
    finally:
        hole.close()
    assert rc == 1 and "rtmp_cat: error: no answer from the server in time" in text, text
    assert 1.9 < elapsed < 4, elapsed
