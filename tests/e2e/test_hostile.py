"""test_hostile.py — a hostile tenant against a real ferryd: URLs that would read local files
(file:, concat:, subfile:, data:, HLS segments pointing at files), pads and live sources that
would make the relay spin, and a picture that would take all memory. Each gets a clear error,
nothing reaches the destination, and the daemon stays healthy."""

import http.client
import http.server
import json
import os
import resource
import socket
import sqlite3
import struct
import threading
import time
import zlib

import pytest

from harness import Api, Blackhole, free_port, iso, live_task, files_task, idle_task, wait_until, whole_seconds_from_now
from media import FileServer, ffmpeg

LOCAL_URLS = [
    "file:///etc/passwd",
    "concat:http://127.0.0.1:9/a.mp4|file:///etc/passwd",
    "subfile,,start,0,end,100,,:/etc/passwd",
    "data:video/mp4;base64,AAAAIGZ0eXBpc29t",
    "/etc/passwd",
]


def healthy(ferryd):
    return Api(ferryd.port).raw("GET", "/healthz", token=None)[0] == 200


def make_secret_clip(path):
    """A local MPEG-TS clip: what a tenant would like ferryd to read and push for him."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=44100", "-t", "2", "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-f", "mpegts", path)


def headers_only_flv(tmp_path):
    """An FLV file that opens (H.264 and AAC with their headers) but holds no frame."""
    full = str(tmp_path / "full.flv")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
           "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "flv",
           full)
    data = open(full, "rb").read()
    out, i = bytearray(data[:13]), 13
    while i + 11 <= len(data):
        kind, size = data[i], int.from_bytes(data[i + 1:i + 4], "big")
        body = data[i + 11:i + 11 + size]
        header = (kind == 18 or (kind == 9 and body[0] & 0xF == 7 and body[1] == 0) or
                  (kind == 8 and body[0] >> 4 == 10 and body[1] == 0))
        if header:
            out += data[i:i + 15 + size]
        i += 15 + size
    return bytes(out)


def task_body(nginx, field, url):
    start = whole_seconds_from_now(60)
    if field == "pad_url":
        return live_task(nginx, start, start + 60, pad_url=url)
    if field == "backup_source_url":
        return live_task(nginx, start, start + 60, backup_source_url=url,
                         backup_source_type="files")
    kind = field.split(":")[1]
    body = live_task(nginx, start, start + 60, source_type=kind, source_urls=[url])
    if kind == "files":
        body["source_urls"] = ["http://127.0.0.1:9/a.mp4", url]
    return body


@pytest.mark.parametrize("url", LOCAL_URLS, ids=["file", "concat", "subfile", "data", "path"])
@pytest.mark.parametrize("field", ["pad_url", "backup_source_url", "source_urls:live",
                                   "source_urls:files", "source_urls:picture"])
def test_local_urls_are_refused_at_create(api, nginx, ferryd, field, url):
    before = api.total()
    st, doc = api.post("/v1/tasks", task_body(nginx, field, url))
    assert st == 400, (st, doc)
    assert doc["error"]["field"] == field.split(":")[0], doc
    assert api.total() == before
    assert healthy(ferryd)


def test_tencent_backup_vod_url_file_is_refused(api, nginx):
    """The same rule through a modification: PATCH pad_url to a local file."""
    tid = api.create_task(**task_body(nginx, "pad_url", "http://127.0.0.1:9/pad.mp4"))["id"]
    st, doc = api.patch("/v1/tasks/" + tid, {"pad_url": "concat:/etc/passwd|/etc/hosts"})
    assert st == 400 and doc["error"]["field"] == "pad_url", doc
    assert api.task(tid)["pad_url"] == "http://127.0.0.1:9/pad.mp4"


def test_srt_listener_is_refused(api, nginx):
    st, doc = api.post("/v1/tasks", task_body(
        nginx, "source_urls:live", "srt://0.0.0.0:%d?mode=listener" % free_port()))
    assert st == 400 and doc["error"]["field"] == "source_urls", doc


def hls_with_file_segments(secret):
    return ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXTINF:2.0,\nfile://%s\n#EXTINF:2.0,\n%s\n#EXT-X-ENDLIST\n" % (secret, secret))


@pytest.mark.parametrize("name,local_mode", [("evil.mp4", 1), ("evil.mp4", 0),
                                             ("evil.m3u8", 0)])
def test_playlist_cannot_reach_local_files(api, nginx, ferryd, tmp_path, name, local_mode):
    """An HLS playlist, served as .mp4 (downloaded by VodLocalMode, then opened as a local
    file) or as .m3u8, whose segments are local files: nothing is read, nothing pushed."""
    root = tmp_path / "www"
    os.makedirs(root)
    secret = str(tmp_path / "secret.ts")
    make_secret_clip(secret)
    (root / name).write_text(hls_with_file_segments(secret))
    files = FileServer(str(root))
    try:
        tid = api.create_task(**files_task(nginx, [files.url(name)], vod_local_mode=local_mode,
                                           loop_count=1, retry_count=0))["id"]
        done, _ = api.wait_state(tid, ("offline", "finished"), 30)
        assert done["state"] == "offline", done
        assert "refused by the URL policy" in done["last_error"], done
        assert files.gets(name), "the playlist was never fetched"
        assert nginx.publish_count("dst", "out") == 0, "a local file reached the destination"
        assert healthy(ferryd)
    finally:
        files.stop()


def test_empty_pad_is_not_reopened_in_a_loop(api, nginx, ferryd, publisher, tmp_path):
    """A pad that opens but gives no packet, once the main source is gone: the pad counts as
    failed, and it is opened again only after the main source was retried (before: 31,000
    requests in 10 s)."""
    root = tmp_path / "www"
    os.makedirs(root)
    (root / "pad.flv").write_bytes(headers_only_flv(tmp_path))
    files = FileServer(str(root))
    try:
        main = publisher("cam")
        nginx.wait_published("src", "cam")
        start = whole_seconds_from_now(1)
        tid = api.create_task(**live_task(nginx, start, start + 120, retry_count=100,
                                          retry_interval=1, pad_url=files.url("pad.flv")))["id"]
        api.wait_state(tid, ("running",), 15)
        main.kill()
        wait_until(lambda: files.gets("pad.flv"), 15, what="the pad fetched")
        n0 = len(files.gets("pad.flv"))
        time.sleep(10)
        n = len(files.gets("pad.flv")) - n0
        assert 1 <= n <= 20, "the pad was fetched %d times in 10 s" % n
        task = api.task(tid)
        assert task["state"] == "recovering", task
        errors = [h.get("detail", "") + h.get("error", "") for h in api.history(tid)]
        assert any("without a packet" in e for e in errors), api.history(tid)
        assert healthy(ferryd)
    finally:
        files.stop()


def test_live_source_that_ends_spends_its_retry_budget(api, nginx, ferryd, tmp_path):
    """A static .ts as a live source: it ends at once each time. The retry budget is spent
    across these recoveries and the task goes offline (before: 2,200 reconnects in 10 s,
    forever, with a history line and a callback each)."""
    root = tmp_path / "www"
    os.makedirs(root)
    make_secret_clip(str(root / "clip.ts"))
    files = FileServer(str(root))
    try:
        start = whole_seconds_from_now(1)
        body = live_task(nginx, start, start + 120, retry_count=3, retry_interval=1)
        body["source_urls"] = [files.url("clip.ts")]
        tid = api.create_task(**body)["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert done["reason"] == "PullStreamFailed", done
        n = len(files.gets("clip.ts"))
        # 4 opens (the first and 3 retries); each open's probe makes up to 4 requests
        assert 2 <= n <= 4 * 4, "clip.ts was fetched %d times" % n
        rows = api.history(tid)
        assert len(rows) <= 16, "%d history lines" % len(rows)
        time.sleep(3)
        assert len(files.gets("clip.ts")) == n, "fetched again after offline"
        assert healthy(ferryd)
    finally:
        files.stop()


def png_bomb(path, side=16000):
    """A small PNG that declares side x side RGB pixels (all black)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    z = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * side)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2,
                                                                  0, 0, 0)))
        f.write(chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def picture_task(nginx, url):
    start = whole_seconds_from_now(1)
    """A picture task of url that starts in a second and is not retried."""
    return {"name": "picture", "source_type": "picture", "source_urls": [url],
            "destination": nginx.url("dst", "out"), "start_time": iso(start),
            "end_time": iso(start + 60), "retry_count": 0, "retry_interval": 1}


def test_picture_decompression_bomb_is_refused(api, nginx, ferryd, tmp_path):
    root = tmp_path / "www"
    os.makedirs(root)
    png_bomb(str(root / "bomb.png"))
    assert os.path.getsize(root / "bomb.png") < 1 << 20
    files = FileServer(str(root))
    try:
        tid = api.create_task(**picture_task(nginx, files.url("bomb.png")))["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert "16000x16000" in done["last_error"], done
        peak = rss_mb(ferryd.proc.pid)
        assert peak < 400, "ferryd peaked at %d MB" % peak
        assert nginx.publish_count("dst", "out") == 0
        assert healthy(ferryd)
    finally:
        files.stop()


def big_png_head():
    """The start of a "picture" of 100 MB: a PNG whose one IDAT chunk says 100 MB."""
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" +
            struct.pack(">IIBBBBB", 1000, 1000, 8, 2, 0, 0, 0) + b"\0" * 4 +
            struct.pack(">I", 100 << 20) + b"IDAT")


class EndlessPicture:
    """An HTTP server that sends `head` (a JPEG up to its scan data) and then zeros, with no
    Content-Length: a scan that never ends. It counts what the client took before it hung
    up."""

    def __init__(self, head):
        rec = self
        self.sent = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the end of the body is the end of the connection

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                try:
                    self.wfile.write(head)
                    while rec.sent < 100 << 20:
                        self.wfile.write(b"\0" * 65536)
                        rec.sent += 65536
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/big.jpg" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_100_mb_picture_is_refused(api, nginx, ferryd, tmp_path):
    """A 100 MB "picture" is refused past picture_max_mb (16 MiB) with a clear error before a
    byte of it is read when its length is known. When it is not (a JPEG scan that never
    ends, sent without a length), ferryd stops reading long before 100 MB: FFmpeg's image
    reader gives up first here, and the picture's byte budget would stop it at 16 MiB."""
    root = tmp_path / "www"
    os.makedirs(root)
    with open(root / "big.png", "wb") as f:
        f.write(big_png_head())
        f.truncate(100 << 20)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", str(root / "a.jpg"))
    jpeg = open(root / "a.jpg", "rb").read()
    sos = jpeg.index(b"\xff\xda")
    head = jpeg[:sos + 2 + struct.unpack(">H", jpeg[sos + 2:sos + 4])[0]]
    files, endless = FileServer(str(root)), EndlessPicture(head)
    try:
        tid = api.create_task(**picture_task(nginx, files.url("big.png")))["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert "larger than 16 MiB (picture_max_mb)" in done["last_error"], done
        tid = api.create_task(**picture_task(nginx, endless.url()))["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert "big.jpg: " in done["last_error"], done
        assert endless.sent < 40 << 20, "%d MB sent before ferryd hung up" % (endless.sent >> 20)
        peak = rss_mb(ferryd.proc.pid)
        assert peak < 200, "ferryd peaked at %d MB" % peak
        assert nginx.publish_count("dst", "out") == 0
        assert healthy(ferryd)
    finally:
        files.stop()
        endless.stop()


def over_limit_call(port, path, headers, body=b""):
    """One whole request from 127.0.0.2: (status, headers, body text); None when the
    connection was closed without an answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=("127.0.0.2", 0))
    try:
        conn.request("POST" if body else "GET", path, body=body or None, headers=headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


TC_HEADERS = {"Content-Type": "application/json", "X-TC-Action": "DescribeLivePullStreamTasks",
              "X-TC-Version": "2018-08-01", "X-TC-Timestamp": "1700000000",
              "Authorization": "TC3-HMAC-SHA256 Credential=AKIDnone/2026-01-01/live/"
                               "tc3_request, SignedHeaders=content-type;host, Signature=00"}
ALI_PATH = ("/?Action=DescribeCasterStreamUrl&Format=JSON&Version=2016-11-01"
            "&AccessKeyId=none&SignatureMethod=HMAC-SHA1&Signature=x")


def assert_told_too_many(port, token):
    """A whole request from the address over http_connections_per_ip gets 429 (native),
    RequestLimitExceeded (Tencent) or Throttling.User (Alibaba), with Retry-After, naming
    the limit, and its connection is closed after the answer."""
    native = over_limit_call(port, "/v1/tasks", {"Authorization": "Bearer " + token})
    assert native is not None, "closed without an answer"
    st, hdrs, body = native
    assert st == 429 and hdrs.get("Retry-After") == "1", native
    assert hdrs.get("Connection", "").lower() == "close", native
    err = json.loads(body)["error"]
    assert err["code"] == "rate_limited" and "http_connections_per_ip" in err["message"], err
    tc = over_limit_call(port, "/", TC_HEADERS, b"{}")
    assert tc and tc[0] == 200, tc
    assert json.loads(tc[2])["Response"]["Error"]["Code"] == "RequestLimitExceeded", tc
    ali = over_limit_call(port, ALI_PATH, {})
    assert ali and json.loads(ali[2])["Code"] == "Throttling.User", ali


def hold_half_open(n, port, held, every=None):
    """Opens n connections from 127.0.0.2, each a request that never ends (slowloris), into
    held; every(i) is called after each 100. Returns how many were connected."""
    connected = 0
    for i in range(n):
        s = socket.socket()
        s.settimeout(1)
        try:
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            s.send(b"GET /v1/tasks HTTP/1.1\r\nHost: ferry\r\nX-Slow: ")
            connected += 1
        except OSError:
            pass  # refused or closed past the per-address limit: as it should be
        held.append(s)
        if every and i % 100 == 99:
            every(i)
    return connected


def test_half_open_connections_do_not_lock_others_out(api, ferryd):
    """1,200 connections from one address (127.0.0.2), each a request that never ends
    (slowloris), held open while a normal client on 127.0.0.1 keeps working. Before: about
    1,100 of them made the API, /healthz included, unavailable to everyone. A whole request
    from that address, once it holds more than http_connections_per_ip (64), is told so
    (429) instead of being closed without a word."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    held, slowest = [], [0.0]

    def normal_client(i):
        t0 = time.time()
        st, doc = api.get("/v1/tasks")
        slowest[0] = max(slowest[0], time.time() - t0)
        assert st == 200, (i, st, doc)
        assert healthy(ferryd)
        if i == 99:  # 100 held, over the 64 of one address: its next request is told
            assert_told_too_many(ferryd.port, api.token)

    try:
        connected = hold_half_open(1200, ferryd.port, held, normal_client)
        assert connected >= 64, "only %d connections were made" % connected
        assert slowest[0] < 2.0, "the normal client waited %.1f s" % slowest[0]
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    assert over_limit_call(ferryd.port, "/v1/tasks", {"Authorization": "Bearer " + api.token})[0] == 200


@pytest.mark.ferryd_settings(http_max_connections=64, http_connections_per_ip=0)
def test_a_full_server_answers_busy(api, ferryd):
    """When all clients together hold most of http_max_connections (64 here; no limit per
    address), a new request gets 503 server_busy with Retry-After (Tencent
    ResourceUnavailable, Alibaba ServiceUnavailable) rather than a silent close, and is
    served again once the connections are gone."""
    held = []
    try:
        hold_half_open(60, ferryd.port, held)
        time.sleep(0.3)
        st, doc = api.get("/v1/tasks")
        assert st == 503 and doc["error"]["code"] == "server_busy", (st, doc)
        assert "http_max_connections" in doc["error"]["message"], doc
        tc = over_limit_call(ferryd.port, "/", TC_HEADERS, b"{}")
        assert tc and json.loads(tc[2])["Response"]["Error"]["Code"] == "ResourceUnavailable", tc
        ali = over_limit_call(ferryd.port, ALI_PATH, {})
        assert ali and ali[0] == 503 and json.loads(ali[2])["Code"] == "ServiceUnavailable", ali
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    assert api.get("/v1/tasks")[0] == 200
    assert healthy(ferryd)


@pytest.mark.parametrize("field,size", [("region", 65), ("created_by", 256),
                                        ("source_protocol", 33), ("region", 1 << 19)])
def test_free_text_fields_are_bounded(api, nginx, field, size):
    """40 tasks with 1 MB in such a field once filled the disk all accounts share."""
    before = api.total()
    body = task_body(nginx, "pad_url", "http://127.0.0.1:9/pad.mp4")
    body[field] = "x" * size
    st, doc = api.post("/v1/tasks", body)
    assert st in (400, 413), (st, doc)
    if st == 400:
        assert doc["error"]["field"] == field, doc
    assert api.total() == before
    body[field] = "x" * (size - 1 if size < 1000 else 8)
    if field == "source_protocol":
        body[field] = "rtmp"
    st, doc = api.post("/v1/tasks", body)
    assert st == 201, (st, doc)


def test_an_unreadable_row_is_quarantined_and_the_others_resume(ferryd, api, bob, nginx,
                                                                  publisher, viewer):
    """One task row whose stored spec cannot be read once stopped the resume of every task,
    silently, and could not be deleted. Now it reads as an offline task (reason Quarantined)
    that can only be deleted, and the other tasks run on."""
    main = publisher("cam")
    nginx.wait_published("src", "cam")
    out = viewer("dst", "out")
    start = whole_seconds_from_now(1)
    good = api.create_task(**live_task(nginx, start, start + 300))["id"]
    bad = bob.create_task(**task_body(nginx, "pad_url", "http://127.0.0.1:9/pad.mp4"))["id"]
    api.wait_state(good, ("running",), 15)
    rc, _ = ferryd.terminate()
    assert rc == 0
    db = sqlite3.connect(os.path.join(ferryd.data_dir, "ferry.db"))
    db.execute("UPDATE tasks SET spec = '{\"source_urls\": [' WHERE id = ?", (bad,))
    db.commit()
    db.close()
    ferryd.start()
    api.wait_state(good, ("running",), 20)
    wait_until(lambda: out.count("video") > 0, 20, what="video after the restart")
    st, doc = bob.get("/v1/tasks")
    assert st == 200 and [t["id"] for t in doc["tasks"]] == [bad], doc
    task = bob.task(bad)
    assert task["state"] == "offline" and task["reason"] == "Quarantined", task
    st, doc = bob.patch("/v1/tasks/" + bad, {"name": "again"})
    assert st == 409 and "quarantined" in doc["error"]["message"], (st, doc)
    st, _ = bob.delete("/v1/tasks/" + bad)
    assert st in (200, 204)
    assert bob.get("/v1/tasks/" + bad)[0] == 404
    assert "quarantined" in open(ferryd.stderr_path).read()
    main.kill()


# ---------------------------------------------------------------- the address policy


class Redirector:
    """An HTTP server on 127.0.0.2 (the one address these tests allow): every GET of a
    path in `routes` answers with that body, any other GET redirects to `target`."""

    def __init__(self, target, routes=None):
        rec = self
        self.gets = []
        self.target, self.routes = target, dict(routes or {})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rec.gets.append(self.path)
                body = rec.routes.get(self.path)
                if body is None:
                    self.send_response(302)
                    self.send_header("Location", rec.target + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.2:%d%s" % (self.httpd.server_address[1], path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def loopback_name():
    """A host name (not localhost) that resolves to 127.0.0.1 here: the machine's own."""
    name = socket.gethostname()
    addrs = {a[4][0] for a in socket.getaddrinfo(name, None)}
    if addrs != {"127.0.0.1"}:
        pytest.skip("%s resolves to %s, not only to 127.0.0.1" % (name, sorted(addrs)))
    return name


POLICY = dict(source_allow="127.0.0.2/32", destination_allow="127.0.0.0/8")


@pytest.mark.ferryd_settings(source_allow="", destination_allow="")
@pytest.mark.parametrize("field,url,kind", [
    ("source_urls", "rtmp://127.0.0.1/src/cam", "loopback"),
    ("source_urls", "http://169.254.169.254/latest/meta-data/", "link-local"),
    ("source_urls", "rtmp://localhost/src/cam", "loopback"),
    ("pad_url", "http://[::1]:8080/pad.mp4", "loopback"),
    ("destination", "rtmp://10.0.0.1/live/out", "private"),
    ("destination", "rtmp://192.168.1.10:1935/live/out", "private"),
    ("destination", "rtmps://[fd00::1]/live/out", "private"),
])
def test_special_addresses_are_refused_at_create(api, ferryd, field, url, kind):
    start = whole_seconds_from_now(60)
    body = {"source_type": "live", "source_urls": ["rtmp://203.0.114.1/src/cam"],
            "destination": "rtmp://203.0.114.1/live/out", "start_time": iso(start),
            "end_time": iso(start + 60)}
    body[field] = [url] if field == "source_urls" else url
    before = api.total()
    st, doc = api.post("/v1/tasks", body)
    assert st == 400, (st, doc)
    assert doc["error"]["field"] == field, doc
    key = "destination_allow" if field == "destination" else "source_allow"
    assert kind in doc["error"]["message"] and key in doc["error"]["message"], doc
    assert api.total() == before
    assert healthy(ferryd)


@pytest.mark.ferryd_settings(**POLICY)
@pytest.mark.parametrize("local_mode", [0, 1])
def test_a_redirect_to_loopback_is_not_followed(api, nginx, ferryd, local_mode):
    """An allowed file server redirects to a loopback listener that records connections:
    nobody connects there, whether FFmpeg streams the file or the cache downloads it."""
    trap = Blackhole()
    red = Redirector("http://127.0.0.1:%d" % trap.port)
    try:
        tid = api.create_task(**files_task(nginx, [red.url("/a.mp4")], loop_count=1,
                                           retry_count=0, vod_local_mode=local_mode))["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert red.gets, "the allowed server was never asked"
        time.sleep(0.5)
        assert trap.conns == [], "ferryd connected to the loopback listener"
        errors = " ".join(h.get("detail", "") for h in api.history(tid))
        assert "refused by the address policy: 127.0.0.1 is a loopback address" in errors
        assert healthy(ferryd)
    finally:
        red.stop()
        trap.close()


def test_a_redirect_to_an_allowed_address_is_followed(api, nginx, ferryd, tmp_path):
    """Redirects are followed, each hop checked: 127.0.0.2 sends the player to the file
    server on 127.0.0.1, which this config allows, and the file plays."""
    root = tmp_path / "www"
    os.makedirs(root)
    make_secret_clip(str(root / "a.ts"))
    files = FileServer(str(root))
    red = Redirector(files.url("").rstrip("/"))
    try:
        tid = api.create_task(**files_task(nginx, [red.url("/a.ts")], loop_count=1,
                                           retry_count=0))["id"]
        done, _ = api.wait_state(tid, ("finished", "offline"), 30)
        assert done["state"] == "finished", done
        assert files.gets("a.ts") and nginx.publish_count("dst", "out") == 1
    finally:
        red.stop()
        files.stop()


@pytest.mark.ferryd_settings(**POLICY)
def test_hls_segments_on_loopback_are_not_fetched(api, nginx, ferryd):
    trap = Blackhole()
    seg = "http://127.0.0.1:%d/seg%%d.ts" % trap.port
    playlist = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                "#EXT-X-KEY:METHOD=AES-128,URI=\"http://127.0.0.1:%d/key\"\n" % trap.port +
                "".join("#EXTINF:2.0,\n%s\n" % (seg % i) for i in range(3)) + "#EXT-X-ENDLIST\n")
    red = Redirector("http://127.0.0.1:%d" % trap.port, {"/live.m3u8": playlist.encode()})
    try:
        start = whole_seconds_from_now(1)
        body = live_task(nginx, start, start + 60, retry_count=0)
        body["source_urls"] = [red.url("/live.m3u8")]
        tid = api.create_task(**body)["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert "/live.m3u8" in red.gets
        time.sleep(0.5)
        assert trap.conns == [], "ferryd fetched a segment or key from loopback"
        assert nginx.publish_count("dst", "out") == 0
    finally:
        red.stop()
        trap.close()


@pytest.mark.ferryd_settings(source_allow="127.0.0.0/8", destination_allow="127.0.0.2/32")
def test_a_destination_name_on_a_refused_address(api, nginx, ferryd, publisher):
    """A destination host name that resolves to loopback (not allowed for destinations
    here): the task fails naming the rule, and the listener sees no connection."""
    name = loopback_name()
    trap = Blackhole()
    publisher("cam")
    nginx.wait_published("src", "cam")
    try:
        start = whole_seconds_from_now(1)
        body = live_task(nginx, start, start + 60, retry_count=0)
        body["destination"] = "rtmp://%s:%d/live/out" % (name, trap.port)
        tid = api.create_task(**body)["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert ("refused by the address policy: 127.0.0.1 is a loopback address, not in "
                "destination_allow") in done["last_error"], done
        assert trap.conns == []
    finally:
        trap.close()


@pytest.mark.ferryd_settings(**POLICY)
def test_a_source_name_on_a_refused_address(api, nginx, ferryd):
    name = loopback_name()
    trap = Blackhole()
    try:
        start = whole_seconds_from_now(1)
        body = live_task(nginx, start, start + 60, retry_count=0)
        body["source_urls"] = ["rtmp://%s:%d/src/cam" % (name, trap.port)]
        tid = api.create_task(**body)["id"]
        done, _ = api.wait_state(tid, ("offline",), 30)
        assert "refused by the address policy" in done["last_error"], done
        assert trap.conns == []
    finally:
        trap.close()


def test_a_flood_of_bad_credentials_is_throttled_per_address(api, ferryd):
    """One address (127.0.0.2) sends bad tokens and bad Tencent and Alibaba signatures as fast
    as it can: past auth_failures_per_ip (10/s, bursts of 20) it gets 429 with Retry-After
    (RequestLimitExceeded / Throttling.User in the cloud dialects) before its credentials
    are checked, while a client on 127.0.0.1 is served all along; a second later the
    address may try again."""
    def call(path, headers, body=b""):
        conn = http.client.HTTPConnection("127.0.0.1", ferryd.port, timeout=5,
                                          source_address=("127.0.0.2", 0))
        try:
            conn.request("POST" if body else "GET", path, body=body or None, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheader("Retry-After"), r.read().decode()
        finally:
            conn.close()

    bad = {"Authorization": "Bearer not-a-token"}
    seen = [call("/v1/tasks", bad) for _ in range(40)]
    statuses = [s for s, _, _ in seen]
    assert statuses[:20] == [401] * 20, statuses
    assert statuses[-10:] == [429] * 10, statuses
    st, retry, body = seen[-1]
    assert retry == "1" and json.loads(body)["error"]["code"] == "rate_limited", body
    assert api.get("/v1/tasks")[0] == 200  # another address is not held back

    tc = call("/", {"Content-Type": "application/json", "X-TC-Action": "DescribeLivePullStreamTasks",
                    "X-TC-Version": "2018-08-01", "X-TC-Timestamp": str(int(time.time())),
                    "Authorization": "TC3-HMAC-SHA256 Credential=AKIDnone/2026-01-01/live/"
                                     "tc3_request, SignedHeaders=content-type;host, "
                                     "Signature=00"}, b"{}")
    assert tc[0] == 200 and "RequestLimitExceeded" in tc[2], tc
    ali = call("/?Action=DescribeCasterStreamUrl&Format=JSON&Version=2016-11-01"
               "&AccessKeyId=none&SignatureMethod=HMAC-SHA1&Signature=x", {})
    assert "Throttling.User" in ali[2], ali

    time.sleep(1.2)  # the bucket refills: the address may try again
    assert call("/v1/tasks", {"Authorization": "Bearer " + api.token})[0] == 200
    assert healthy(ferryd)


def test_a_chosen_id_tells_nothing_of_other_accounts(api, bob, ferryd):
    """Task ids are unique per account. bob choosing an id alice holds gets exactly what a
    free id gets (201 and the id he chose), so the answer is no oracle of alice's ids; his
    own duplicate is still 409 already_exists. The two tasks stay apart through reads,
    changes, lists, audit lines and deletes, and across a restart."""
    alices = api.create_task(**idle_task(name="alice's", id="chosen-1"))
    assert alices["id"] == "chosen-1"
    free = bob.post("/v1/tasks", idle_task(name="bob's free", id="free-1"))
    taken = bob.post("/v1/tasks", idle_task(name="bob's", id="chosen-1"))
    assert (free[0], taken[0]) == (201, 201), (free, taken)
    assert taken[1]["id"] == "chosen-1" and set(taken[1]) == set(free[1]), taken
    st, doc = bob.post("/v1/tasks", idle_task(name="again", id="chosen-1"))
    assert st == 409 and doc["error"]["code"] == "already_exists", doc
    assert "chosen-1" in doc["error"]["message"] and "." not in doc["error"]["message"], doc

    assert api.task("chosen-1")["name"] == "alice's"
    assert bob.task("chosen-1")["name"] == "bob's"
    assert bob.patch("/v1/tasks/chosen-1", {"name": "bob's, renamed"})[0] == 200
    assert api.task("chosen-1")["name"] == "alice's"
    st, listed = bob.get("/v1/tasks")
    assert sorted(t["id"] for t in listed["tasks"]) == ["chosen-1", "free-1"], listed
    st, trail = bob.get("/v1/audit?task_id=chosen-1")
    assert [a["action"] for a in trail["audit"]][:1] and all(
        a["task_id"] == "chosen-1" for a in trail["audit"]), trail

    ferryd.restart()
    assert bob.task("chosen-1")["name"] == "bob's, renamed"
    assert api.task("chosen-1")["name"] == "alice's"
    assert bob.delete("/v1/tasks/chosen-1")[0] in (200, 204)
    assert api.task("chosen-1")["name"] == "alice's"
    assert bob.get("/v1/tasks/chosen-1")[0] == 404
    assert api.delete("/v1/tasks/chosen-1")[0] in (200, 204)
    assert bob.post("/v1/tasks", idle_task(name="bob's", id="chosen-1"))[0] == 201
