"""test_live_protocols.py — one relay per live protocol ferry pulls (rtmp, rtmps, hls,
srt, http-flv, rtsp over UDP and over TCP), each checked at the destination for H.264 +
AAC with its start-to-first-packet time; an RTMPS destination; audio-only and video-only sources, relayed as
that one track; and BackupToUrl with one destination down: the other keeps flowing, an
alarm is noted, the dead one gets the stream back."""

import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from harness import (REPO_ROOT, Blackhole, NginxRtmp, Publisher, backup_takes_over_at_once,
                     dts_report, free_port,
                     largest_wall_gap,
                     port_open, probe, stop_process, tail, wait_until, whole_seconds_from_now,
                     iso)

TASK_LENGTH = 120


@pytest.fixture(autouse=True)
def no_preroll(monkeypatch):
    """ferryd with preroll 0: the worker connects the source at start_time, so the time to
    the first packet at the destination is the protocol's connect, probe and first keyframe
    (with pre-roll it would only show the pre-roll's own accuracy)."""
    import conftest
    monkeypatch.setitem(conftest.FERRYD_SETTINGS, "preroll", 0)


def relay_task(nginx, source_url, start, **extra):
    body = {
        "name": "e2e live protocol",
        "source_type": "live",
        "source_urls": [source_url],
        "destination": nginx.url("dst", "out"),
        "start_time": iso(start),
        "end_time": iso(start + TASK_LENGTH),
        "retry_count": 10,
        "retry_interval": 1,
    }
    body.update(extra)
    return body


# per track: (ffprobe's codec name, nginx-rtmp's stat name, fewest packets in 3 s of a
# 30 fps picture and a 44.1 kHz AAC tone)
TRACKS = {"video": ("h264", "H264", 45), "audio": ("aac", "AAC", 60)}


def relay_and_check(api, nginx, source_url, metric, kinds=("video", "audio"), burst=1.0):
    """Relays source_url to dst/out from a whole second about 1 s from now; asserts that
    the destination carries exactly the tracks in kinds (H.264 video, AAC audio), frames
    of each arriving in real time with increasing DTS, in one publish session. Returns
    start-to-first-packet in seconds: from start_time to the first media bytes nginx
    counts on dst/out."""
    start = whole_seconds_from_now(1)
    task = api.create_task(**relay_task(nginx, source_url, start))
    wait_until(lambda: time.time() >= start, 5, 0.005, what="start time")
    wait_until(lambda: nginx.bytes_in("dst", "out") > 0, 20, 0.01,
               what="media at the destination (task %s)" % api.task(task["id"]))
    first = time.time() - start
    metric("start to first packet (s)", first)
    t0 = time.time()
    streams, packets = probe(nginx.url("dst", "out"), 3, timeout=15)
    took = time.time() - t0
    metric("3 s of stream read in (s)", took)
    # live, not a burst: what ferry holds for a new session (a GOP, or what the source
    # gives at once: `burst` seconds) comes at once, the rest as the source makes it
    assert took >= 3.0 - burst, "3 s of stream arrived in %.2fs" % took
    assert sorted(s.get("codec_type") for s in streams) == sorted(kinds), streams
    counts = []
    for kind in kinds:
        codec, _, fewest = TRACKS[kind]
        assert [s.get("codec_name") for s in streams if s.get("codec_type") == kind] == [
            codec], streams
        dts = [p["dts"] for p in packets if p["codec_type"] == kind]
        counts.append(len(dts))
        assert len(dts) >= fewest, "only %d %s packets in 3 s" % (len(dts), kind)
        assert all(b > a for a, b in zip(dts, dts[1:])), "%s DTS not increasing" % kind
    assert {p["codec_type"] for p in packets} == set(kinds), "packets of a track not announced"
    metric("%s packets in 3 s" % "/".join(kinds), "/".join(map(str, counts)))
    meta = nginx.stream_stat("dst", "out").find("meta")
    for kind, (_, name, _) in TRACKS.items():
        assert meta.findtext(kind + "/codec") == (name if kind in kinds else None), (
            kind, ET.tostring(meta))
    assert nginx.publish_count("dst", "out") == 1, "more than one destination session"
    assert api.task(task["id"])["state"] == "running"
    return first


def listener(tmp_path, name, out_args):
    """An ffmpeg serving the test stream itself (it starts encoding when ferry connects)."""
    return Publisher(name, str(tmp_path / ("%s.log" % name)), out_args).start()


def ffmpeg_protocols():
    r = subprocess.run(["ffmpeg", "-hide_banner", "-protocols"], capture_output=True, text=True)
    return r.stdout.split()


# ---------------------------------------------------------------- one case per protocol


def test_rtmp(api, nginx, publisher, metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    relay_and_check(api, nginx, nginx.url("src", "cam"), metric)


@pytest.fixture
def tls_nginx(tmp_path):
    """nginx with RTMPS: TLS (a self-signed certificate made now) in front of RTMP. ferry
    accepts it because FFmpeg's TLS does not verify the peer unless told to (tls_verify=1)."""
    d = tmp_path / "tls"
    d.mkdir()
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    server = NginxRtmp(str(tmp_path / "nginx-tls")).enable_rtmps(cert, key).start()
    wait_until(lambda: port_open(server.tls_port), 5, what="nginx TLS port")
    yield server
    server.stop()


def test_rtmps(api, tls_nginx, tmp_path, metric):
    pub = Publisher(tls_nginx.url("src", "cam"), str(tmp_path / "pub.log")).start()
    try:
        wait_until(lambda: tls_nginx.is_published("src", "cam"), 15, 0.1, what="src/cam")
        relay_and_check(api, tls_nginx, tls_nginx.rtmps_url("src", "cam"), metric)
    finally:
        pub.kill()


def test_rtmps_destination(api, nginx, tls_nginx, publisher, metric):
    """An RTMPS push: the destination behind TLS gets H.264 + AAC in one session."""
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    task = api.create_task(**relay_task(nginx, nginx.url("src", "cam"), start,
                                        destination=tls_nginx.rtmps_url("dst", "out")))
    wait_until(lambda: tls_nginx.bytes_in("dst", "out") > 0, 20, 0.01,
               what="media at the RTMPS destination (task %s)" % api.task(task["id"]))
    metric("start to first packet, RTMPS push (s)", time.time() - start)
    streams, packets = probe(tls_nginx.url("dst", "out"), 3, timeout=15)
    assert sorted(s.get("codec_name") for s in streams) == ["aac", "h264"], streams
    video = [p["dts"] for p in packets if p["codec_type"] == "video"]
    assert len(video) >= 45 and all(b > a for a, b in zip(video, video[1:])), video[:10]
    assert tls_nginx.publish_count("dst", "out") == 1
    client = tls_nginx.publisher_client("dst", "out")
    assert client, "no publisher on the TLS nginx's dst/out"
    assert api.task(task["id"])["state"] == "running"


@pytest.mark.ferryd_settings(failover_timeout=5, stall_timeout=10)
def test_rtmps_source_gone_fails_over_at_once(api, tls_nginx, tmp_path, metric):
    """An rtmps:// source runs on ferry's own RTMP client, TLS included: when its publisher
    stops cleanly, the UnpublishNotify that comes through TLS hands over to the backup at
    once, well before failover_timeout (5 s; libavformat's client would wait for it)."""
    bak = Publisher(tls_nginx.url("src", "bak"), str(tmp_path / "bak.log")).start()
    main = Publisher(tls_nginx.url("src", "cam"), str(tmp_path / "main.log")).start()
    try:
        tls_nginx.wait_published("src", "cam")
        tls_nginx.wait_published("src", "bak")
        start = whole_seconds_from_now(1)
        tid = api.create_task(**relay_task(tls_nginx, tls_nginx.rtmps_url("src", "cam"), start,
                                           backup_source_url=tls_nginx.url("src", "bak")))["id"]
        api.wait_state(tid, ("running",), 15)
        assert api.task(tid)["progress"].get("source_role") == "main"
        time.sleep(1.5)
        main.proc.send_signal(signal.SIGINT)
        lost = time.time()
        backup_takes_over_at_once(api, tid, lost, metric,
                                  "rtmps main unpublished -> backup playing (s)")
        assert tls_nginx.publish_count("dst", "out") == 1
    finally:
        main.kill()
        bak.kill()


def test_rtmps_to_a_server_without_tls_is_a_clear_error(api, nginx, publisher):
    """rtmps:// to a port that speaks plain RTMP (nginx-rtmp waits for a C1 that never comes):
    the TLS handshake fails or times out, the task says so (source and destination alike)
    and retries; ferryd stays healthy."""
    publisher("cam")
    nginx.wait_published("src", "cam")
    plain = "rtmps://127.0.0.1:%d/%s/%s"
    start = whole_seconds_from_now(1)
    src = api.create_task(**relay_task(nginx, plain % (nginx.rtmp_port, "src", "cam"), start,
                                       destination=nginx.url("dst", "a")))["id"]
    dst = api.create_task(**relay_task(nginx, nginx.url("src", "cam"), start,
                                       destination=plain % (nginx.rtmp_port, "dst", "b")))["id"]
    for tid in (src, dst):
        wait_until(lambda: "TLS" in (api.task(tid).get("last_error") or ""), 40, 0.1,
                   what="a TLS error on task %s" % tid)
        err = api.task(tid)["last_error"]
        assert "handshake" in err, err
        assert api.task(tid)["state"] in ("running", "recovering", "idle"), api.task(tid)
    assert not nginx.is_published("dst", "b")
    assert api.raw("GET", "/healthz", token=None)[0] == 200


@pytest.fixture
def hls_nginx(tmp_path):
    server = NginxRtmp(str(tmp_path / "nginx-hls")).enable_hls().start()
    yield server
    server.stop()


def test_hls(api, hls_nginx, tmp_path, metric):
    pub = Publisher(hls_nginx.url("src", "cam"), str(tmp_path / "pub.log")).start()
    try:
        playlist = os.path.join(hls_nginx.hls_dir, "cam.m3u8")

        def three_fragments():
            return os.path.exists(playlist) and open(playlist).read().count("#EXTINF") >= 3

        wait_until(three_fragments, 20, 0.2, what="an HLS playlist of 3 fragments")
        # an HLS source starts at a fragment boundary behind the live edge: its first 1 s
        # fragment and the GOP before it come at once (3 s read in 1.98 s once, on CI)
        relay_and_check(api, hls_nginx, hls_nginx.hls_url("cam"), metric, burst=1.5)
    finally:
        pub.kill()


def test_srt(api, nginx, tmp_path, metric):
    if "srt" not in ffmpeg_protocols():
        pytest.skip("this ffmpeg has no srt protocol")
    port = free_port()
    # SRT's latency option is in microseconds in FFmpeg's URL
    src = "srt://127.0.0.1:%d?mode=listener&latency=120000" % port
    pub = listener(tmp_path, "srt", ["-f", "mpegts", src])
    try:
        url = "srt://127.0.0.1:%d?mode=caller&latency=120000&streamid=cam" % port
        relay_and_check(api, nginx, url, metric)
    finally:
        pub.kill()


def test_http_flv(api, nginx, tmp_path, metric):
    port = free_port()
    url = "http://127.0.0.1:%d/live.flv" % port
    pub = listener(tmp_path, "httpflv", ["-f", "flv", "-listen", "1", url])
    try:
        # no port probe: this listener serves one client and then ends
        relay_and_check(api, nginx, url, metric)
    finally:
        pub.kill()


RTSP_SERVER = os.path.join(REPO_ROOT, "tests", "lib", "rtsp_server.py")
GI_PYTHON = "/usr/bin/python3"  # Debian's python3, where python3-gi is installed
NO_INTROSPECTION = 3  # rtsp_server.py's exit code when python3-gi or the typelibs are missing


class RtspCamera:
    """tests/lib/rtsp_server.py in its own process: an RTSP camera (GStreamer's RTSP server)
    at rtsp://127.0.0.1:<port>/cam with H.264 + AAC, started when ferry asks for it.
    tcp_only: it refuses RTP over UDP, as a camera behind a firewall does. running: its
    stream runs before ferry comes, as a real camera's does (its RTP clocks are then far
    from where FFmpeg starts counting, and each track jumps at its first RTCP report)."""

    def __init__(self, logpath, tcp_only=False, running=False):
        self.port = free_port()
        self.url = "rtsp://127.0.0.1:%d/cam" % self.port
        self.logpath = logpath
        self.proc = subprocess.Popen(
            [GI_PYTHON, RTSP_SERVER, str(self.port)] + (["--tcp-only"] if tcp_only else []) +
            (["--prestart"] if running else []),
            stdin=subprocess.DEVNULL, stdout=open(logpath, "w"), stderr=subprocess.STDOUT)

    def wait_ready(self):
        """Until the port accepts. Skips when the GStreamer introspection modules are
        missing; raises when the server failed otherwise."""
        wait_until(lambda: self.proc.poll() is not None or port_open(self.port), 30, 0.05,
                   what="the RTSP server on port %d" % self.port)
        if self.proc.poll() == NO_INTROSPECTION:
            pytest.skip("no GStreamer RTSP server from Python: " + tail(self.logpath, 3))
        if self.proc.poll() is not None:
            raise RuntimeError("the RTSP server exited %s:\n%s" % (self.proc.returncode,
                                                                  tail(self.logpath)))
        return self

    def setups(self):
        """The transports of the SETUPs the server accepted, in order."""
        with open(self.logpath, errors="replace") as f:
            return [line.split()[3] for line in f if line.startswith("rtsp_server: SETUP ")]

    def stop(self):
        stop_process(self.proc)


@pytest.mark.parametrize("camera", ["udp", "tcp-only", "running"])
def test_rtsp(api, nginx, viewer, tmp_path, metric, camera):
    """ferry has no setting for the RTSP transport and FFmpeg 5 reads none from the URL, so
    FFmpeg's RTSP client chooses: RTP over UDP first, RTP interleaved in the RTSP TCP
    connection when the camera refuses UDP (461). Both cameras are tried, each for 8 s of
    video: past the first RTCP sender reports, on which FFmpeg re-syncs the tracks."""
    cam = RtspCamera(str(tmp_path / "rtsp_server.log"), tcp_only=camera == "tcp-only",
                     running=camera == "running")
    try:
        cam.wait_ready()
        if camera == "running":
            time.sleep(5)  # the camera has been streaming a while
        out = viewer("dst", "out")
        relay_and_check(api, nginx, cam.url, metric)
        wait_until(lambda: out.count("video") >= 240, 15, 0.1,
                   what="8 s of video at the destination")
        report = dts_report(out.snapshot())
        metric("largest DTS step video/audio (ms)",
               "%d/%d" % (report["video"]["max_step"], report["audio"]["max_step"]))
        for kind in ("video", "audio"):
            assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
            assert report[kind]["max_step"] <= 200, "%s DTS jumped: %s" % (kind, report[kind])
        assert out.alive() and nginx.publish_count("dst", "out") == 1
        setups = cam.setups()
        # one RTSP session for the whole relay: a SETUP per track, never a reconnect
        assert len(setups) == 2, setups
        if camera != "tcp-only":
            assert all(t.startswith("RTP/AVP/UDP;unicast;client_port=") for t in setups), setups
        else:
            assert all(t.startswith("RTP/AVP/TCP;unicast;interleaved=") for t in setups), setups
    finally:
        cam.stop()


# ---------------------------------------------------------------- one track only


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_one_track(api, nginx, tmp_path, metric, kind):
    """A live source with only AAC audio or only H.264 video: the destination carries
    exactly that track. ferry's probe waits for the absent track until its limit
    (connect_timeout - 1 s, 4 s here), hence the longer start."""
    url = nginx.url("src", "cam")
    pub = Publisher(url, str(tmp_path / "pub.log"), tracks=(kind,)).start()
    try:
        wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
        relay_and_check(api, nginx, url, metric, kinds=(kind,))
    finally:
        pub.kill()


# ---------------------------------------------------------------- BackupToUrl


def start_backup_relay(api, nginx, publisher, viewer, backup_url):
    out = viewer("dst", "out")
    src = viewer("src", "cam")
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    task = api.create_task(**relay_task(nginx, nginx.url("src", "cam"), start,
                                        backup_destination=backup_url))
    api.wait_state(task["id"], ("running",), start - time.time() + 10)
    wait_until(lambda: out.count("video") >= 30, 10, what="1 s of video at the destination")
    return task, out, src


def history_reasons(api, tid):
    st, doc = api.get("/v1/tasks/%s/history" % tid)
    assert st == 200, doc
    return [h["reason"] for h in doc["history"]]


def check_primary_smooth(out, src, metric, since):
    """No gap over 200 ms at the live destination, unless the source itself (as a viewer
    of src/cam sees it: a loaded machine) had one as long: ferry adds none."""
    packets = [p for p in out.snapshot() if p["t"] >= since]
    src_packets = [p for p in src.snapshot() if p["t"] >= since]
    gap, after = largest_wall_gap(packets, "video")
    src_gap, _ = largest_wall_gap(src_packets, "video")
    metric("largest video gap at the live destination / source (s)", "%.3f/%.3f" % (gap, src_gap))
    assert len(packets) > 0 and gap < max(0.2, src_gap + 0.1), (
        "the destination stalled %.3fs (source %.3fs) until %s" % (
            gap, src_gap, time.strftime("%H:%M:%S", time.gmtime(packets[after]["t"]))))


def test_backup_down_then_back(api, nginx, publisher, viewer, tmp_path, metric):
    """The backup destination's server is down at the start and comes up later."""
    backup = NginxRtmp(str(tmp_path / "nginx-backup"))  # ports picked, nothing listening
    backup_url = backup.url("dst", "bak")
    task, out, src = start_backup_relay(api, nginx, publisher, viewer, backup_url)
    t0 = time.time()
    players = nginx.player_clients("src", "cam")  # ferry and the viewer of src/cam
    primary = nginx.publisher_client("dst", "out")
    wait_until(lambda: "PushStreamUnstable" in history_reasons(api, task["id"]), 5, 0.1,
               what="a PushStreamUnstable alarm in the history")
    time.sleep(2)
    backup.start()
    try:
        came = time.time()
        wait_until(lambda: backup.bytes_in("dst", "bak") > 0, 10, 0.05,
                   what="media at the backup destination once it is back")
        metric("backup receives after its server is back (s)", time.time() - came)
        streams, _ = probe(backup.url("dst", "bak"), 2, timeout=12)
        assert {s.get("codec_name") for s in streams} >= {"h264", "aac"}, streams
        check_primary_smooth(out, src, metric, t0)
        assert nginx.player_clients("src", "cam") == players, "the source was reconnected"
        assert nginx.publisher_client("dst", "out")[0] == primary[0]
        assert nginx.publish_count("dst", "out") == 1
        assert api.task(task["id"])["state"] == "running"
    finally:
        backup.stop()


def test_backup_hanging_does_not_stall(api, nginx, publisher, viewer, metric):
    """The backup destination accepts TCP and never answers: each connect attempt hangs
    until connect_timeout, on the backup's own thread only."""
    hole = Blackhole()
    try:
        task, out, src = start_backup_relay(api, nginx, publisher, viewer,
                                       "rtmp://127.0.0.1:%d/dst/bak" % hole.port)
        t0 = time.time()
        # connect_timeout is 5 s in these tests: wait through one timeout and a retry
        wait_until(lambda: "PushStreamUnstable" in history_reasons(api, task["id"]), 10, 0.2,
                   what="a PushStreamUnstable alarm in the history")
        time.sleep(2)
        check_primary_smooth(out, src, metric, t0)
        assert nginx.publish_count("dst", "out") == 1
        assert api.task(task["id"])["state"] == "running"
    finally:
        hole.close()
