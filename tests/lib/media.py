"""media.py — test media the suites share: short generated clips (H.264 or another codec +
AAC, 30 fps) and a static HTTP file server with byte ranges and forced 404s, on loopback."""

import functools
import http.server
import os
import re
import subprocess
import threading


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

    def do_GET(self):
        if self.path.split("?")[0] in self.missing:
            self.send_error(404)
            return
        m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
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
    answer 404 even when the file exists."""

    def __init__(self, root, missing=()):
        handler = type("Handler", (_Handler,), {"missing": tuple(missing)})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=root))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.httpd.server_address[1], path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
