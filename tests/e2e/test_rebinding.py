"""test_rebinding.py — DNS rebinding against a real ferryd: a host name whose answer flips
between an allowed and a refused address at every lookup (TTL 0), given to ferryd by an
LD_PRELOAD resolver shim (tests/tools/rebind_resolver.c). ferryd resolves once, checks and
connects to the checked address, so a listener on the refused address never sees a
connection, while the allowed one serves the relay. Covered: http sources (pinned by the
address guard), rtmp:// destinations and rtmp:// sources (ferry's own RTMP client), srt://
and rtsp:// sources (the checked address in place of the name)."""

import copy
import os
import socket
import threading

import pytest

from conftest import ACCOUNTS, ALICE_TOKEN, FERRYD_SETTINGS
from harness import (Api, Blackhole, Ferryd, files_task, free_port, live_task, wait_until,
                     whole_seconds_from_now)
from media import FileServer, ffmpeg
from test_live_protocols import RtspCamera, ffmpeg_protocols, listener


def shim():
    build = os.path.dirname(os.environ.get("FERRYD") or "build/ferryd")
    path = os.path.abspath(os.path.join(build, "tests", "tools", "librebind_resolver.so"))
    if not os.path.exists(path):
        pytest.fail("the resolver shim is not built: %s" % path)
    return path


def rebinding_name(first, then):
    """The name that answers first, then then, then first again, ..."""
    return "a%s.b%s.rebind.test" % (first.replace(".", "-"), then.replace(".", "-"))


@pytest.fixture
def start_ferryd(tmp_path):
    """start_ferryd(**settings): a ferryd whose resolver is the shim."""
    made = []

    def make(**settings):
        env = {"LD_PRELOAD": shim(),
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        d = Ferryd(str(tmp_path / "ferryd"), copy.deepcopy(ACCOUNTS),
                   dict(FERRYD_SETTINGS, **settings), env=env)
        made.append(d.start())
        return d, Api(d.port, ALICE_TOKEN)

    yield make
    for d in made:
        rc, _ = d.terminate()
        assert rc == 0
        assert not d.sanitizer_reports()


def listener_beside(host, port):
    """A Blackhole on host at port (the port of a server on another loopback address)."""
    return Blackhole(host=host, port=port)


def answers(d):
    text = open(d.stderr_path, errors="replace").read()
    return [line for line in text.splitlines() if line.startswith("rebind_resolver: ")]


def test_http_source_connects_to_the_checked_address(start_ferryd, nginx, tmp_path):
    """Sources may reach 127.0.0.2 only; the name answers 127.0.0.2, then 127.0.0.1. The
    file plays from 127.0.0.2, and 127.0.0.1 on the same port never gets a connection."""
    root = tmp_path / "www"
    os.makedirs(root)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
           "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
           str(root / "clip.mp4"))
    files = FileServer(str(root), host="127.0.0.2")
    trap = listener_beside("127.0.0.1", files.httpd.server_address[1])
    try:
        d, api = start_ferryd(source_allow="127.0.0.2/32", destination_allow="127.0.0.1/32")
        url = "http://%s:%d/clip.mp4" % (rebinding_name("127.0.0.2", "127.0.0.1"),
                                          files.httpd.server_address[1])
        api.create_task(**files_task(nginx, [url], retry_count=5))
        wait_until(lambda: nginx.is_published("dst", "out"), 20, what="dst/out published")
        assert files.gets("clip.mp4"), "the allowed address served nothing"
        assert len(answers(d)) >= 1, answers(d)
        assert trap.conns == [], "%d connection(s) reached the refused address" % len(trap.conns)
    finally:
        trap.close()
        files.stop()


def test_rtmp_destination_connects_to_the_checked_address(start_ferryd, nginx, publisher):
    """Destinations may reach 127.0.0.1 only; the name answers 127.0.0.1, then 127.0.0.3.
    The push reaches nginx on 127.0.0.1, never the listener on 127.0.0.3."""
    publisher("cam")
    nginx.wait_published("src", "cam")
    trap = listener_beside("127.0.0.3", nginx.rtmp_port)
    try:
        d, api = start_ferryd(source_allow="127.0.0.1/32", destination_allow="127.0.0.1/32")
        start = whole_seconds_from_now(0)
        dst = "rtmp://%s:%d/dst/out" % (rebinding_name("127.0.0.1", "127.0.0.3"), nginx.rtmp_port)
        api.create_task(**live_task(nginx, start, start + 600, destination=dst))
        wait_until(lambda: nginx.is_published("dst", "out"), 20, what="dst/out published")
        assert answers(d), "the shim was not asked"
        assert trap.conns == [], "%d connection(s) reached the refused address" % len(trap.conns)
    finally:
        trap.close()


def test_rtmp_source_connects_to_the_checked_address(start_ferryd, nginx, publisher):
    """Sources may reach 127.0.0.1 only; the name answers 127.0.0.1, then 127.0.0.3. The
    pull plays from nginx on 127.0.0.1, never from the listener on 127.0.0.3."""
    publisher("cam")
    nginx.wait_published("src", "cam")
    trap = listener_beside("127.0.0.3", nginx.rtmp_port)
    try:
        d, api = start_ferryd(source_allow="127.0.0.1/32", destination_allow="127.0.0.1/32")
        start = whole_seconds_from_now(0)
        src = "rtmp://%s:%d/src/cam" % (rebinding_name("127.0.0.1", "127.0.0.3"), nginx.rtmp_port)
        api.create_task(**live_task(nginx, start, start + 600, source_urls=[src]))
        wait_until(lambda: nginx.is_published("dst", "out"), 20, what="dst/out published")
        assert answers(d), "the shim was not asked"
        assert trap.conns == [], "%d connection(s) reached the refused address" % len(trap.conns)
    finally:
        trap.close()


class UdpTrap:
    """A UDP socket on host:port that records every datagram it gets."""

    def __init__(self, host, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.got, self.closed = [], False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while not self.closed:
            try:
                self.got.append(self.sock.recvfrom(2048))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.closed = True
        self.sock.close()


def test_srt_source_connects_to_the_checked_address(start_ferryd, nginx, tmp_path):
    """Sources may reach 127.0.0.1 only; the name answers 127.0.0.1, then 127.0.0.3. The
    SRT caller plays from the ffmpeg listener on 127.0.0.1, and a UDP socket on 127.0.0.3
    at the same port never gets a datagram: the caller connects to the checked address."""
    if "srt" not in ffmpeg_protocols():
        pytest.skip("this ffmpeg has no srt protocol")
    port = free_port()
    pub = listener(tmp_path, "srt", ["-f", "mpegts",
                                     "srt://127.0.0.1:%d?mode=listener&latency=120000" % port])
    trap = UdpTrap("127.0.0.3", port)
    try:
        d, api = start_ferryd(source_allow="127.0.0.1/32", destination_allow="127.0.0.1/32")
        start = whole_seconds_from_now(0)
        src = "srt://%s:%d?mode=caller&latency=120000&streamid=cam" % (
            rebinding_name("127.0.0.1", "127.0.0.3"), port)
        api.create_task(**live_task(nginx, start, start + 600, source_urls=[src]))
        wait_until(lambda: nginx.is_published("dst", "out"), 30, what="dst/out published")
        assert answers(d), "the shim was not asked"
        assert trap.got == [], "%d datagram(s) reached the refused address" % len(trap.got)
    finally:
        trap.close()
        pub.kill()


def test_rtsp_source_connects_to_the_checked_address(start_ferryd, nginx, tmp_path):
    """Sources may reach 127.0.0.1 only; the name answers 127.0.0.1, then 127.0.0.3. The
    RTSP session goes to the camera on 127.0.0.1, never to the listener on 127.0.0.3."""
    cam = RtspCamera(str(tmp_path / "rtsp_server.log"))
    trap = None
    try:
        cam.wait_ready()
        trap = listener_beside("127.0.0.3", cam.port)
        d, api = start_ferryd(source_allow="127.0.0.1/32", destination_allow="127.0.0.1/32")
        start = whole_seconds_from_now(0)
        src = "rtsp://%s:%d/cam" % (rebinding_name("127.0.0.1", "127.0.0.3"), cam.port)
        api.create_task(**live_task(nginx, start, start + 600, source_urls=[src]))
        wait_until(lambda: nginx.is_published("dst", "out"), 30, what="dst/out published")
        assert answers(d), "the shim was not asked"
        assert cam.setups(), "the camera saw no SETUP"
        assert trap.conns == [], "%d connection(s) reached the refused address" % len(trap.conns)
    finally:
        if trap:
            trap.close()
        cam.stop()
