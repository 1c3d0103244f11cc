"""media.py — test media the suites share: short generated clips (H.264 or another codec +
AAC, 30 fps) and a static HTTP file server with byte ranges, forced 404s and first requests
that fail (HTTP 500, or a body cut short), which logs every GET, on loopback."""

import functools
import http.server
import os
import re
import subprocess
import threading
import time


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args), check=True,
                   stdin=subprocess.DEVNULL, timeout=120)


def make_clip(path, size, seconds, vcodec="libx264", extra=()):
    """A testsrc2 + sine clip of `seconds`, GOP 1 s, no B-frames (ultrafast)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=%s:rate=30" % size, "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
           "-c:v", vcodec, "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "64k", *extra, path)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges (MP4 demuxers seek to the index at the end), as real
    file servers have."""
    missing = ()
    fail_first = {}  # path -> "500" | "cut": how the first GET of that path fails
    slow = {}  # path -> seconds every GET of that path waits before it is answered
    server_log = None  # the FileServer's: (list of requests, lock, paths seen)

    def _note(self, path, outcome):
        requests, lock, _ = self.server_log
        with lock:
            requests.append({"path": path, "outcome": outcome,
                             "range": self.headers.get("Range", ""),
                             "agent": self.headers.get("User-Agent", "")})

    def _first(self, path):
        _, lock, seen = self.server_log
        with lock:
            first = path not in seen
            seen.add(path)
        return first

    def _cut_short(self, path):
        """The headers of the whole file, then half of it and the connection closes."""
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(path, "rb") as f:
            try:
                self.wfile.write(f.read(size // 2))
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
        self.close_connection = True

    def do_GET(self):
        name = self.path.split("?")[0]
        if name in self.slow:
            time.sleep(self.slow[name])
        if name in self.missing:
            self._note(name, "404")
            self.send_error(404)
            return
        fault = self.fail_first.get(name) if self._first(name) else None
        m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if fault == "500":
            self._note(name, "500")
            self.send_error(500)
            return
        if fault == "cut" and os.path.isfile(path):
            self._note(name, "cut")
            self._cut_short(path)
            return
        self._note(name, "range" if m else "whole")
        if not m or not os.path.isfile(path):
            super().do_GET()
            return
        size = os.path.getsize(path)
        first = int(m.group(1))
        last = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if first >= size:
            self.send_error(416)
            return
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size))
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(first)
            try:
                self.wfile.write(f.read(last - first + 1))
            except (BrokenPipeError, ConnectionResetError):
                pass

    def log_message(self, *args):
        pass


class FileServer:
    """A static HTTP server of a directory on 127.0.0.1 (in a thread); paths in `missing`
    answer 404 even when the file exists; the first GET of a path in `fail_first` fails:
    "500" answers HTTP 500, "cut" announces the whole file and closes after half of it.
    `requests` lists every GET: path, outcome (whole, range, 404, 500, cut), Range and
    User-Agent headers. Paths in `slow` are answered that many seconds late."""

    def __init__(self, root, missing=(), fail_first=None, host="127.0.0.1", port=0, slow=None):
        self.requests = []
        handler = type("Handler", (_Handler,), {
            "missing": tuple(missing), "fail_first": dict(fail_first or {}),
            "slow": dict(slow or {}),
            "server_log": (self.requests, threading.Lock(), set())})
        self.host = host
        self.httpd = http.server.ThreadingHTTPServer(
            (host, port), functools.partial(handler, directory=root))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://%s:%d/%s" % (self.host, self.httpd.server_address[1], path)

    def gets(self, path):
        """The logged GETs of /path, oldest first."""
        return [r for r in list(self.requests) if r["path"] == "/" + path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
