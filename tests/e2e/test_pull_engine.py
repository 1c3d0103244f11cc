"""test_pull_engine.py — rtmp:// sources on ferry's event loops (pull_engine = ferry), as the
destination and the task's state show them: a source unpublished cleanly hands over to the
backup at once; sources from nginx-rtmp, from ffmpeg as an RTMP server and from a scripted
server (chunk size changes, timestamps past 2^24 ms and across 2^32 ms, a new sequence header
mid-stream) reach the destination whole, in one session with rising DTS; a hostile server
gets a clear task error and retries while another relay on the same event loop keeps
flowing. `pull_engine = ffmpeg` still pulls with libavformat."""

import os
import signal
import subprocess
import threading
import time

import pytest

from fake_rtmp import FakeRtmpServer, read_flv
from harness import (Publisher, backup_takes_over_at_once, dts_report, free_port,
                     largest_wall_gap, live_task, probe, rss_mb, stop_process, under_asan,
                     wait_until, whole_seconds_from_now)
from media import ffmpeg

EXT_OFFSET_S = 16800  # past 2^24 ms: every timestamp needs the extended field


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """FLV clips, H.264 (B-frames, keyframe every second) + AAC: 10 s at 320x240, and 10 s at
    640x360 (another resolution: other sequence headers)."""
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for name, size in (("small", "320x240"), ("big", "640x360")):
        path = str(d / (name + ".flv"))
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=%s:rate=30" % size, "-f", "lavfi",
               "-i", "sine=frequency=440:sample_rate=44100", "-t", "10", "-c:v", "libx264",
               "-preset", "ultrafast", "-bf", "2", "-g", "30", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "64k", "-f", "flv", path)
        out[name] = path
    return out


def relay_to(api, nginx, source, dst="out", **extra):
    start = whole_seconds_from_now(1)
    body = live_task(nginx, start, start + 300, dst=dst, **extra)
    body["source_urls"] = [source]
    return api.create_task(**body)["id"]


def destination(nginx, seconds, name="out"):
    """What a player of dst/<name> gets in `seconds`: codec names and the packets as
    dts_report reads them."""
    streams, packets = probe(nginx.url("dst", name), seconds, timeout=seconds + 15)
    pk = [{"type": p.get("codec_type"), "dts": int(p["dts"])} for p in packets
          if p.get("dts") not in (None, "N/A")]
    return sorted(s.get("codec_name") for s in streams), pk


def assert_whole(nginx, seconds=3, min_video=None, name="out"):
    codecs, packets = destination(nginx, seconds, name)
    assert codecs == ["aac", "h264"], codecs
    report = dts_report(packets)
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], report[kind]
    want = min_video if min_video is not None else int(seconds * 30 * 0.6)
    assert report["video"]["count"] >= want, report["video"]
    return report


def sizes_at(url, seconds):
    """The decoded video frame sizes a player of url sees in `seconds` ("WxH" strings)."""
    r = subprocess.run(["timeout", "-s", "KILL", str(seconds + 15), "ffprobe", "-v", "error",
                        "-select_streams", "v", "-show_entries", "frame=width,height", "-of",
                        "csv=p=0", "-read_intervals", "%%+%d" % seconds, url],
                       capture_output=True, text=True)
    return [line.strip().replace(",", "x") for line in r.stdout.splitlines() if line.strip()]


def scripted(tags, **play):
    """A fake server that plays tags to every player (play: Conn.play_tags arguments)."""
    def serve(conn):
        conn.handshake()
        conn.accept_play()
        conn.play_tags(tags, **play)
        time.sleep(1)
    return FakeRtmpServer(serve)


# ---------------------------------------------------------------- a source that goes


@pytest.mark.ferryd_settings(failover_timeout=5, stall_timeout=10)
def test_unpublished_source_fails_over_at_once(api, nginx, publisher, viewer, metric, tmp_path):
    """The main publisher stops cleanly (ffmpeg ends on SIGINT, nginx-rtmp tells its players
    with StreamEOF and UnpublishNotify): the backup plays well before failover_timeout (5 s
    here), in the same destination session."""
    publisher("bak")
    main = Publisher(nginx.url("src", "cam"), str(tmp_path / "main.log")).start()
    try:
        out = viewer("dst", "out")
        nginx.wait_published("src", "cam")
        nginx.wait_published("src", "bak")
        tid = relay_to(api, nginx, nginx.url("src", "cam"),
                       backup_source_url=nginx.url("src", "bak"))
        api.wait_state(tid, ("running",), 15)
        wait_until(lambda: out.count("video") >= 60, 15, what="2 s of video at the destination")
        main.proc.send_signal(signal.SIGINT)
        lost = time.time()
        backup_takes_over_at_once(api, tid, lost, metric, "main unpublished -> backup playing (s)")
        wait_until(lambda: sum(1 for p in out.snapshot() if p["type"] == "video" and
                               p["t"] > lost + 0.5) >= 60, 15, what="the backup's video")
        assert nginx.publish_count("dst", "out") == 1
        assert dts_report(out.snapshot())["video"]["monotonic"]
    finally:
        main.kill()


# ---------------------------------------------------------------- servers


def test_source_from_nginx_with_extended_timestamps(api, nginx, tmp_path):
    """A publisher to nginx-rtmp whose timestamps start past 2^24 ms: the destination gets
    H.264 + AAC with rising DTS."""
    url = nginx.url("src", "ext")
    pub = Publisher(url, str(tmp_path / "ext.log"),
                    out_args=["-output_ts_offset", str(EXT_OFFSET_S), "-f", "flv", url]).start()
    try:
        nginx.wait_published("src", "ext")
        tid = relay_to(api, nginx, url)
        api.wait_state(tid, ("running",), 15)
        assert_whole(nginx, 4)
        assert nginx.publish_count("dst", "out") == 1
    finally:
        pub.kill()


def test_source_from_ffmpeg_as_the_server(api, nginx, clips, tmp_path):
    """ffmpeg -listen 1 serves a clip to its one player, ferry: the destination gets it."""
    port = free_port()
    url = "rtmp://127.0.0.1:%d/app/key" % port
    srv = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
                            "-i", clips["small"], "-c", "copy", "-f", "flv", "-listen", "1", url],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=open(str(tmp_path / "server.log"), "w"))
    try:
        time.sleep(0.5)  # listening
        tid = relay_to(api, nginx, url, retry_count=0)
        api.wait_state(tid, ("running",), 15)
        assert_whole(nginx, 4)
        assert nginx.publish_count("dst", "out") == 1
    finally:
        stop_process(srv)


def test_chunk_size_changes_mid_stream(api, nginx, clips):
    """The server changes its chunk size every 40 messages (128, 4096, 7, 65536, 300)."""
    holder = {}

    def serve(conn):
        conn.handshake()
        conn.accept_play()
        sizes = [128, 4096, 7, 65536, 300]
        conn.play_tags(read_flv(clips["small"]),
                       every=lambda i: i % 40 == 0 and conn.set_chunk_size(sizes[i // 40 % 5]))
        holder["done"] = True
        time.sleep(1)

    srv = FakeRtmpServer(serve)
    try:
        tid = relay_to(api, nginx, srv.url(), retry_count=0)
        api.wait_state(tid, ("running",), 15)
        assert_whole(nginx, 5)
        assert api.task(tid)["state"] == "running"
    finally:
        srv.close()


def test_timestamps_across_2_32_ms(api, nginx, clips):
    """RTMP timestamps are 32 bits: a source whose clock wraps (here 3 s in) keeps one
    epoch — no discontinuity, rising DTS at the destination."""
    srv = scripted(read_flv(clips["small"]), ts_offset=2**32 - 3000)
    try:
        tid = relay_to(api, nginx, srv.url(), retry_count=0)
        api.wait_state(tid, ("running",), 15)
        time.sleep(2)
        assert_whole(nginx, 5)
        assert api.task(tid)["progress"].get("discontinuities", 0) == 0, api.task(tid)
    finally:
        srv.close()


def test_new_sequence_header_mid_stream(api, nginx, clips):
    """The source switches from 320x240 to 640x360 without a new publish (new sequence
    headers mid-stream): the destination's player decodes both sizes, in one session."""
    small, big = read_flv(clips["small"]), read_flv(clips["big"])
    last = small[-1][1] + 33
    tags = small + [(t, ts + last, b) for t, ts, b in big if t != 18]
    srv = scripted(tags)
    try:
        tid = relay_to(api, nginx, srv.url(), retry_count=0)
        api.wait_state(tid, ("running",), 15)
        sizes = set(sizes_at(nginx.url("dst", "out"), 14))
        assert {"320x240", "640x360"} <= sizes, sizes
        assert nginx.publish_count("dst", "out") == 1
    finally:
        srv.close()


@pytest.mark.ferryd_settings(pull_engine="ffmpeg")
def test_the_ffmpeg_pull_engine_is_still_there(api, nginx, publisher):
    publisher("cam")
    nginx.wait_published("src", "cam")
    tid = relay_to(api, nginx, nginx.url("src", "cam"))
    api.wait_state(tid, ("running",), 15)
    assert_whole(nginx, 3)


# ---------------------------------------------------------------- hostile servers


def _hostile_raw(case):
    hs_after = {
        "chunk-size-0": b"\x02\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x00\x00",
        "chunk-size-2^31": b"\x02\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00\x80\x00\x00\x00",
        "unknown-chunk-stream": b"\x49\x00\x00\x00\x00\x00\x03\x08abc",
    }
    if case in hs_after:
        return hs_after[case]
    body = b"\x02\x00\x08onStatus" + b"\x03\x00\x01a" * 10000  # amf-10000-deep
    out = b"\x03\x00\x00\x00" + len(body).to_bytes(3, "big") + b"\x14" + bytes(4)
    for i in range(0, len(body), 128):
        out += (b"" if i == 0 else b"\xc3") + body[i:i + 128]
    return out


HOSTILE = {
    "garbage-handshake": "handshake: the server answered version 72, not RTMP version 3",
    "chunk-size-0": "the server set a chunk size of 0",
    "chunk-size-2^31": "the server set a chunk size of 2147483648",
    "unknown-chunk-stream": "chunk stream 9 starts with a type 1 header",
    "amf-10000-deep": "AMF nesting deeper than 16",
    "no-keyframe": "video without a keyframe",
}


def hostile_server(case, clip):
    inter = [(t, ts, b) for t, ts, b in read_flv(clip) if t == 9 and b[0] >> 4 == 2]
    header = [(t, ts, b) for t, ts, b in read_flv(clip) if t == 9 and b[1] == 0][:1]

    def serve(conn):
        if case == "garbage-handshake":
            conn._need(1537)
            conn.sock.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" + bytes(3000))
        elif case == "no-keyframe":
            conn.handshake()
            conn.accept_play()
            conn.play_tags(header + inter)
        else:
            conn.handshake()
            conn.sock.sendall(_hostile_raw(case))
        time.sleep(3)  # the connection stays open: ferry must end it by itself

    return FakeRtmpServer(serve)


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.ferryd_settings(engine_loops=1)
def test_hostile_server_fails_its_task_and_spares_the_others(api, nginx, publisher, viewer,
                                                             clips, metric, case):
    """One event loop carries both relays: the hostile source's task gets the clear reason
    and retries every second (four times, then it goes offline), while the other relay's
    viewer sees no gap."""
    publisher("cam")
    out = viewer("dst", "out")
    nginx.wait_published("src", "cam")
    good = relay_to(api, nginx, nginx.url("src", "cam"))
    api.wait_state(good, ("running",), 15)
    wait_until(lambda: out.count("video") >= 30, 15, what="the good relay's video")
    srv = hostile_server(case, clips["small"])
    try:
        t0 = time.time()
        bad = relay_to(api, nginx, srv.url(), dst="out2", retry_count=4, retry_interval=1)
        done, _ = api.wait_state(bad, ("offline",), 60)
        assert HOSTILE[case] in done["last_error"], done
        assert srv.connections >= 5, "no retry: %d connection(s)" % srv.connections
        metric("hostile task offline after (s)", round(time.time() - t0, 2))
        recent = [p for p in out.snapshot() if p["t"] >= t0]
        gap, _ = largest_wall_gap(recent, "video")
        metric("largest video gap of the other relay (s)", round(gap, 3))
        assert gap < 0.5, "the other relay stalled for %.2fs" % gap
        assert api.task(good)["state"] == "running"
        assert nginx.publish_count("dst", "out") == 1
    finally:
        srv.close()


@pytest.mark.ferryd_settings(engine_loops=1)
def test_a_flooding_source_keeps_memory_bounded(api, nginx, ferryd, publisher, viewer, clips,
                                                metric, monkeypatch):
    """A server that sends as fast as TCP lets it (no pacing, for 8 s) on the loop that also
    carries another relay: ferryd's memory stays bounded (the source queue stops reading
    the socket when full) and the other relay's viewer sees no gap."""
    if under_asan(ferryd.proc.pid):  # ASan keeps 256 MB of freed memory unless told not to
        opts = os.environ.get("ASAN_OPTIONS", "")
        monkeypatch.setenv("ASAN_OPTIONS", (opts + ":quarantine_size_mb=8").lstrip(":"))
        ferryd.restart()
    publisher("cam")
    out = viewer("dst", "out")
    nginx.wait_published("src", "cam")
    good = relay_to(api, nginx, nginx.url("src", "cam"))
    api.wait_state(good, ("running",), 15)
    wait_until(lambda: out.count("video") >= 30, 15, what="the good relay's video")
    tags = read_flv(clips["small"])
    span = tags[-1][1] + 33
    sent = {"bytes": 0}

    def serve(conn):
        conn.handshake()
        conn.accept_play()
        conn.out_chunk = 65536
        conn.set_chunk_size(65536)
        k, until = 0, time.monotonic() + 8
        while time.monotonic() < until:
            conn.play_tags(tags, ts_offset=k * span, pace=False)
            sent["bytes"] += sum(len(b) for _, _, b in tags)
            k += 1

    srv = FakeRtmpServer(serve)
    try:
        base = rss_mb(ferryd.proc.pid)
        t0 = time.time()
        relay_to(api, nginx, srv.url(), dst="out2", retry_count=0)
        peak = base
        while time.time() < t0 + 10:
            peak = max(peak, rss_mb(ferryd.proc.pid))
            time.sleep(0.1)
        metric("flood sent by the server (MB)", round(sent["bytes"] / 1e6, 1))
        metric("ferryd RSS before / peak (MB)", "%.0f / %.0f" % (base, peak))
        assert sent["bytes"] > 20e6, "the flood was too small to tell: %d bytes" % sent["bytes"]
        assert peak - base < 120, "ferryd grew by %.0f MB" % (peak - base)
        recent = [p for p in out.snapshot() if p["t"] >= t0]
        gap, _ = largest_wall_gap(recent, "video")
        metric("largest video gap of the other relay (s)", round(gap, 3))
        assert gap < 0.5, "the other relay stalled for %.2fs" % gap
        assert api.task(good)["state"] == "running"
    finally:
        srv.close()
