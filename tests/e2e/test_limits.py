"""test_limits.py — relay slots: max_running_tasks of the node and of an account, against a
real ferryd, nginx-rtmp and an ffmpeg publisher. A task due to run when no slot is free waits
(idle, reason WaitingForSlot, the limit named in its history) and starts when a slot frees."""

import copy
import http.server
import os
import threading
import time

import pytest

from conftest import ACCOUNTS, ALICE_TOKEN, BOB_TOKEN, FERRYD_SETTINGS
from harness import Api, Ferryd, files_task, live_task, wait_until, whole_seconds_from_now


@pytest.fixture
def limited(tmp_path):
    """A ferryd whose node runs at most 2 relays and whose account alice at most 1."""
    accounts = copy.deepcopy(ACCOUNTS)
    accounts["alice"]["max_running_tasks"] = 1
    d = Ferryd(str(tmp_path / "ferryd"), accounts, dict(FERRYD_SETTINGS, max_running_tasks=2))
    d.start()
    yield d
    rc, _ = d.terminate()
    assert rc == 0
    assert not d.sanitizer_reports()


def relay(api, nginx, dst):
    start = whole_seconds_from_now(0)
    return api.create_task(**live_task(nginx, start, start + 600, dst=dst))["id"]


def waits(api, nginx, tid, dst, words):
    """The task waits for a slot: idle, WaitingForSlot with the limit in its history, and
    nothing reaches its destination."""
    wait_until(lambda: api.task(tid).get("reason") == "WaitingForSlot", 10,
               what="task %s waiting for a slot" % tid)
    t = api.task(tid)
    assert t["state"] == "idle", t
    lines = api.history(tid, "WaitingForSlot")
    assert len(lines) == 1 and words in lines[0]["detail"], lines
    time.sleep(2)
    assert not nginx.is_published("dst", dst)
    assert len(api.history(tid, "WaitingForSlot")) == 1  # told once, not at every retry


def test_relay_slots_of_the_node_and_of_an_account(limited, nginx, publisher):
    alice, bob = Api(limited.port, ALICE_TOKEN), Api(limited.port, BOB_TOKEN)
    publisher("cam")
    nginx.wait_published("src", "cam")

    a = relay(alice, nginx, "a")
    alice.wait_state(a, "running", 15)
    b = relay(alice, nginx, "b")
    waits(alice, nginx, b, "b", "account alice runs its max_running_tasks of 1")

    c = relay(bob, nginx, "c")  # another account is not held back by alice's limit
    bob.wait_state(c, "running", 15)
    d = relay(bob, nginx, "d")
    waits(bob, nginx, d, "d", "this node runs its max_running_tasks of 2")

    # alice's relay ends: her waiting task takes the slot (it waited first), bob's waits on
    st, _ = alice.delete("/v1/tasks/" + a)
    assert st in (200, 204)
    t0 = time.monotonic()
    alice.wait_state(b, "running", 15)
    nginx.wait_published("dst", "b")
    took = time.monotonic() - t0
    assert took < 8, "slot freed -> waiting task running took %.1f s" % took
    time.sleep(1)
    assert bob.task(d)["state"] == "idle" and not nginx.is_published("dst", "d")

    # a paused relay frees its slot too
    st, _ = bob.post("/v1/tasks/%s/pause" % c)
    assert st == 200
    bob.wait_state(d, "running", 15)
    nginx.wait_published("dst", "d")
    assert nginx.publish_count("dst", "b") == 1 and nginx.publish_count("dst", "d") == 1
    assert limited.running()


@pytest.fixture
def metered(tmp_path):
    """A ferryd where alice's relays may take 100 kb/s from a source (bob: the default)."""
    accounts = copy.deepcopy(ACCOUNTS)
    accounts["alice"]["max_ingest_kbps"] = 100
    d = Ferryd(str(tmp_path / "ferryd"), accounts, dict(FERRYD_SETTINGS))
    d.start()
    yield d
    rc, _ = d.terminate()
    assert rc == 0
    assert not d.sanitizer_reports()


def test_a_source_over_the_accounts_ingest_limit_is_cut_off(metered, nginx, publisher):
    """alice may take 100 kb/s from a source; the test stream sends far more. Her relay
    ends after the first 5 s window with the rate and the limit in its error; bob's relay
    of the same stream, under the default limit, goes on."""
    alice, bob = Api(metered.port, ALICE_TOKEN), Api(metered.port, BOB_TOKEN)
    publisher("cam")
    nginx.wait_published("src", "cam")
    start = whole_seconds_from_now(0)
    a = alice.create_task(**live_task(nginx, start, start + 600, dst="a", retry_count=0))["id"]
    b = bob.create_task(**live_task(nginx, start, start + 600, dst="b"))["id"]
    alice.wait_state(a, "running", 15)
    bob.wait_state(b, "running", 15)
    done, _ = alice.wait_state(a, "offline", 20)
    err = done["last_error"]
    assert "over max_ingest_kbps 100" in err and "the source sends" in err, done
    sent = int(err.split("the source sends ")[1].split(" kb/s")[0])
    assert sent > 100, err
    assert bob.task(b)["state"] == "running"
    assert nginx.is_published("dst", "b") and not nginx.is_published("dst", "a")


class BigFile:
    """A hostile HTTP server on 127.0.0.1: /declared.mp4 announces 200 MB in Content-Length,
    /chunked.mp4 sends a chunked body with no end, /small.mp4 is 2 MiB. It counts the bytes
    it managed to send and the GETs of each path."""

    def __init__(self):
        self.sent, self.gets = {}, {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send_some(self, data):
                self.wfile.write(data)
                owner.sent[self.path] = owner.sent.get(self.path, 0) + len(data)

            def do_GET(self):
                owner.gets[self.path] = owner.gets.get(self.path, 0) + 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                block = b"\0" * 65536
                try:
                    if self.path == "/chunked.mp4":
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        while owner.sent.get(self.path, 0) < 200 << 20:
                            self.send_some(b"%x\r\n%s\r\n" % (len(block), block))
                        return
                    size = 200 << 20 if self.path == "/declared.mp4" else 2 << 20
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    while owner.sent.get(self.path, 0) < size:
                        self.send_some(block)
                except OSError:
                    pass  # the client hung up: what a bounded download does

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sized(tmp_path):
    """A ferryd where alice's VodLocalMode downloads may be 1 MiB (bob: the default)."""
    accounts = copy.deepcopy(ACCOUNTS)
    accounts["alice"]["download_max_mb"] = 1
    d = Ferryd(str(tmp_path / "ferryd"), accounts, dict(FERRYD_SETTINGS))
    d.start()
    yield d
    rc, _ = d.terminate()
    assert rc == 0
    assert not d.sanitizer_reports()


@pytest.mark.parametrize("path", ["/declared.mp4", "/chunked.mp4"])
def test_a_download_over_the_accounts_limit_is_a_task_error(sized, nginx, path):
    """A VodLocalMode file larger than the account's download_max_mb (1 MiB for alice) is a
    task error naming the limit, whether the server declares its size or sends it chunked:
    the download stops at the limit, the file is not streamed instead, nothing stays in the
    cache and nothing reaches the destination. bob's default limit lets a 2 MiB file through."""
    server = BigFile()
    alice, bob = Api(sized.port, ALICE_TOKEN), Api(sized.port, BOB_TOKEN)
    try:
        tid = alice.create_task(**files_task(nginx, [server.url(path)], vod_local_mode=1,
                                             retry_count=0))["id"]
        done, _ = alice.wait_state(tid, ("offline", "finished"), 30)
        assert "larger than 1 MiB (download_max_mb)" in done["last_error"], done
        assert server.sent.get(path, 0) < 16 << 20, "%d bytes sent" % server.sent[path]
        assert server.gets[path] <= 2, server.gets  # the retry budget, never a stream
        assert "streaming it instead" not in open(sized.stderr_path, errors="replace").read()
        cache = os.path.join(sized.data_dir, "cache")
        assert not os.path.isdir(cache) or os.listdir(cache) == [], os.listdir(cache)
        assert nginx.publish_count("dst", "out") == 0

        other = bob.create_task(**files_task(nginx, [server.url("/small.mp4")], vod_local_mode=1,
                                             retry_count=0))["id"]
        wait_until(lambda: server.sent.get("/small.mp4", 0) >= 2 << 20, 20,
                   what="bob's 2 MiB download")
        time.sleep(1)
        assert "download_max_mb" not in bob.task(other).get("last_error", "")
    finally:
        server.stop()


class HugePlaylists:
    """A hostile HLS server on 127.0.0.1: /declared.m3u8 is a 4 MB media playlist with its
    Content-Length, /chunked.m3u8 a chunked one that never ends, /master.m3u8 a small
    master playlist whose one variant is /chunked.m3u8. It counts the bytes sent per path."""

    LINES = b"".join(b"#EXTINF:2.0,\nsegment-%08d.ts\n" % i for i in range(1000))

    def __init__(self):
        self.sent = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def count(self, n):
                owner.sent[self.path] = owner.sent.get(self.path, 0) + n

            def do_GET(self):
                head = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.apple.mpegurl")
                try:
                    if self.path == "/master.m3u8":
                        body = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nchunked.m3u8\n"
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                    elif self.path == "/declared.m3u8":
                        body = head + owner.LINES * 110  # about 4 MB
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        for i in range(0, len(body), 65536):
                            self.wfile.write(body[i:i + 65536])
                            self.count(len(body[i:i + 65536]))
                    else:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        block = head
                        while owner.sent.get(self.path, 0) < 200 << 20:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                            self.wfile.flush()
                            self.count(len(block))
                            block = owner.LINES
                            time.sleep(0.03)  # about 1 MB/s: socket buffers stay empty
                except OSError:
                    pass  # the client hung up: what a bounded reader does

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def small_playlists(tmp_path):
    """A ferryd where alice's HLS playlists may be 64 KiB (bob: the default 8 MiB)."""
    accounts = copy.deepcopy(ACCOUNTS)
    accounts["alice"]["playlist_max_kb"] = 64
    d = Ferryd(str(tmp_path / "ferryd"), accounts, dict(FERRYD_SETTINGS))
    d.start()
    yield d
    rc, _ = d.terminate()
    assert rc == 0
    assert not d.sanitizer_reports()


@pytest.mark.parametrize("path", ["/declared.m3u8", "/chunked.m3u8", "/master.m3u8"])
def test_an_hls_playlist_over_the_accounts_limit_is_a_task_error(small_playlists, nginx, path):
    """An HLS playlist larger than the account's playlist_max_kb (64 KiB for alice) is a
    task error naming the limit: refused unread when its Content-Length says so, cut at the
    limit when it is chunked, and the same for a variant playlist nested in a master one.
    The reader stops early (not the 200 MB the server would send; a chunked playlist comes at
    1 MB/s, so what was sent is what was read) and the daemon is healthy."""
    server = HugePlaylists()
    alice = Api(small_playlists.port, ALICE_TOKEN)
    try:
        start = whole_seconds_from_now(0)
        body = live_task(nginx, start, start + 300, retry_count=0)
        body["source_urls"] = [server.url(path)]
        tid = alice.create_task(**body)["id"]
        done, _ = alice.wait_state(tid, ("offline",), 30)
        assert "larger than 64 KiB (playlist_max_kb)" in done["last_error"], done
        sent = sum(server.sent.values())
        limit = 8 << 20 if path == "/declared.m3u8" else 2 << 20  # declared: unpaced
        assert sent < limit, "%d bytes sent" % sent
        assert alice.raw("GET", "/healthz", token=None)[0] == 200
        assert nginx.publish_count("dst", "out") == 0
    finally:
        server.stop()
