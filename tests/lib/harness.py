"""harness.py — the real components the end-to-end tests drive: a private nginx-rtmp
server, ffmpeg publishers, ffprobe viewers, the ferryd process and its HTTP API.
Everything listens on 127.0.0.1 on ports picked at run time; nothing here needs a
third-party Python package."""

import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"  # from libnginx-mod-rtmp
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"  # from libnginx-mod-stream
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


# ---------------------------------------------------------------- small utilities


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Blackhole:
    """A TCP server (on 127.0.0.1 unless told) that accepts connections and never answers
    them: a client (an RTMP connect, a callback POST) hangs there until its own deadline.
    conns lists every connection it took."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Calls pred until it returns a true value; returns that value or raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_value(get, ok, timeout, interval=0.2, what="value"):
    """Polls get() until ok(value); returns that value. On timeout the AssertionError shows
    the last value seen, which is what a failing status wait needs to say."""
    last = []

    def check():
        last[:] = [get()]
        return ok(last[0])
    try:
        wait_until(check, timeout, interval, what=what)
    except TimeoutError as e:
        raise AssertionError("%s; last: %s" % (e, last[0] if last else None))
    return last[0]


def iso(ts):
    """Unix seconds -> 'YYYY-MM-DDThh:mm:ssZ' (whole seconds, UTC)."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def whole_seconds_from_now(delta):
    """A whole-second Unix time at least delta seconds from now."""
    return int(time.time() + delta) + 1


def tail(path, n=60):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no %s)" % path


def stop_process(proc, sig=signal.SIGTERM, timeout=5.0):
    """Signals proc and waits; SIGKILL if it does not exit in time. Returns the exit code."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    try:
        proc.send_signal(sig)
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def rss_mb(pid):
    """The resident memory of process pid, in MB (0 when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def under_asan(pid):
    """Whether process pid runs with AddressSanitizer (a sanitized ferryd)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def backup_takes_over_at_once(api, tid, lost, metric, label):
    """The main source of task tid went at time.time() == lost: its backup must be playing
    within 1 s (not after failover_timeout of silence), and the history must say the source
    was gone. Records the seconds it took as `label` and returns them."""
    wait_until(lambda: api.task(tid)["progress"].get("source_role") == "backup", 10, 0.02,
               what="the backup playing")
    took = time.time() - lost
    metric(label, round(took, 3))
    assert took < 1.0, "the backup took over %.2fs after the unpublish" % took
    errors = " ".join(h.get("error", "") + h.get("detail", "") for h in api.history(tid))
    assert "source gone" in errors, api.history(tid)
    return took


# ---------------------------------------------------------------- nginx-rtmp


class NginxRtmp:
    """A private nginx with the RTMP module: applications `src` (where publishers push)
    and `dst` (where ferryd pushes), an http server with the RTMP stat page, and an
    info-level error log from which publish sessions are counted."""

    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        self.proc = None
        self.hls_dir = None  # enable_hls: src/<name> also as HLS at /hls/<name>.m3u8
        self.tls_port = None  # enable_rtmps: RTMPS (TLS in front of the RTMP port)
        self.tls_files = None

    def enable_hls(self):
        """Before start: the src application also writes HLS (1 s fragments), served by
        the http server under /hls/."""
        self.hls_dir = os.path.join(self.dir, "hls")
        os.makedirs(self.hls_dir, exist_ok=True)
        return self

    def hls_url(self, name):
        return "http://127.0.0.1:%d/hls/%s.m3u8" % (self.http_port, name)

    def enable_rtmps(self, cert, key):
        """Before start: nginx's stream module terminates TLS on tls_port and passes the
        bytes on to the RTMP port."""
        self.tls_port = free_port()
        self.tls_files = (cert, key)
        return self

    def rtmps_url(self, app, name):
        return "rtmps://127.0.0.1:%d/%s/%s" % (self.tls_port, app, name)

    def url(self, app, name):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.rtmp_port, app, name)

    def _write_conf(self):
        d = self.dir
        temp = "".join("    %s_temp_path %s/%s;\n" % (k, d, k)
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        hls_app = hls_http = stream = load_stream = ""
        if self.hls_dir:
            hls_app = f" hls on; hls_path {self.hls_dir}; hls_fragment 1s; hls_playlist_length 4s;"
            hls_http = ("        location /hls/ { root %s; types { "
                        "application/vnd.apple.mpegurl m3u8; video/mp2t ts; } }\n" % d)
        if self.tls_port:
            load_stream = f"load_module {STREAM_MODULE};\n"
            stream = (f"stream {{ server {{ listen 127.0.0.1:{self.tls_port} ssl; "
                      f"ssl_certificate {self.tls_files[0]}; "
                      f"ssl_certificate_key {self.tls_files[1]}; "
                      f"proxy_pass 127.0.0.1:{self.rtmp_port}; }} }}\n")
        with open(self.conf, "w") as f:
            f.write(f"""load_module {RTMP_MODULE};
{load_stream}daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
{temp}    server {{
        listen 127.0.0.1:{self.http_port};
        location /stat {{ rtmp_stat all; }}
{hls_http}    }}
}}
{stream}rtmp {{
    server {{
        listen 127.0.0.1:{self.rtmp_port};
        chunk_size 4096;
        application src {{ live on;{hls_app} }}
        application dst {{ live on; }}
    }}
}}
""")

    def start(self):
        self._write_conf()
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.dir + "/", "-e", self.error_log, "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "nginx.stderr"), "w"))
        try:
            wait_until(lambda: self.proc.poll() is not None or
                       (port_open(self.rtmp_port) and port_open(self.http_port)),
                       10, what="nginx ports")
        except TimeoutError:
            pass
        if self.proc.poll() is not None or not port_open(self.rtmp_port):
            raise RuntimeError("nginx did not start:\n" + tail(self.error_log) +
                               tail(os.path.join(self.dir, "nginx.stderr")))
        return self

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, 5)

    # --- what the server saw

    def stat(self):
        """The parsed /stat XML."""
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                "http://127.0.0.1:%d/stat" % self.http_port, timeout=5) as r:
            return ET.fromstring(r.read())

    def stream_stat(self, app, name):
        """The <stream> element of app/name, or None when the stream does not exist."""
        for a in self.stat().iter("application"):
            if a.findtext("name") != app:
                continue
            for s in a.iter("stream"):
                if s.findtext("name") == name:
                    return s
        return None

    def publisher_client(self, app, name):
        """(client id, connected ms) of the client publishing app/name, or None."""
        s = self.stream_stat(app, name)
        if s is None:
            return None
        for c in s.findall("client"):
            if c.find("publishing") is not None:
                return (c.findtext("id"), int(c.findtext("time") or 0))
        return None

    def player_clients(self, app, name):
        """Ids of the clients playing app/name."""
        s = self.stream_stat(app, name)
        if s is None:
            return []
        return [c.findtext("id") for c in s.findall("client")
                if c.find("publishing") is None]

    def is_published(self, app, name):
        return self.publisher_client(app, name) is not None

    def wait_published(self, app, name, published=True, timeout=15):
        """Until app/name is published (or gone, published=False); returns the time."""
        what = "%s/%s %s" % (app, name, "published" if published else "gone")
        wait_until(lambda: self.is_published(app, name) == published, timeout, 0.05, what=what)
        return time.time()

    def bytes_in(self, app, name):
        """Bytes nginx has received for app/name (0 when the stream does not exist)."""
        s = self.stream_stat(app, name)
        return int(s.findtext("bytes_in") or 0) if s is not None else 0

    def publish_count(self, app, name):
        """How many times app/name was published since nginx started: each RTMP
        connection logs `connect: app='..'` then `publish: name='..'` under its own
        connection number (`*N`) in the info-level error log."""
        conn_app = {}
        count = 0
        with open(self.error_log, errors="replace") as f:
            for line in f:
                m = re.search(r"\*(\d+) connect: app='([^']*)'", line)
                if m:
                    conn_app[m.group(1)] = m.group(2)
                    continue
                m = re.search(r"\*(\d+) publish: name='([^']*)'", line)
                if m and m.group(2) == name and conn_app.get(m.group(1)) == app:
                    count += 1
        return count


# ---------------------------------------------------------------- ffmpeg / ffprobe


def test_stream_args(tracks=("video", "audio")):
    """ffmpeg arguments of a live test picture (H.264, 30 fps, keyframe every second) and a
    440 Hz tone (AAC), in real time, or of only one of them (tracks); the output's format
    and URL follow. -re paces the first input; ffmpeg interleaves the second with it (an
    input left unpaced and alone would be read as fast as the CPU goes)."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re"]
    if "video" in tracks:
        args += ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]
    if "audio" in tracks:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    if "video" in tracks:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
                 "-pix_fmt", "yuv420p"]
    if "audio" in tracks:
        args += ["-c:a", "aac", "-b:a", "64k"]
    return args


class Publisher:
    """An ffmpeg pushing the test stream (test_stream_args) to a URL: FLV over RTMP unless
    out_args say otherwise (e.g. ["-f", "mpegts", "srt://...?mode=listener"]); video and
    audio unless tracks names only one."""

    def __init__(self, url, logpath, out_args=None, tracks=("video", "audio")):
        self.url = url
        self.logpath = logpath
        self.out_args = out_args or ["-f", "flv", url]
        self.tracks = tracks
        self.proc = None

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "publisher already running"
        cmd = test_stream_args(self.tracks) + self.out_args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.logpath, "a"))
        return self

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.kill()
        return self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None


def probe(url, seconds, timeout=None):
    """Plays url for about `seconds` of stream time with ffprobe and returns
    (streams, packets): streams as [{codec_type, codec_name}], packets as dicts with
    codec_type, stream_index, dts, pts, flags."""
    timeout = timeout or seconds + 10
    cmd = ["timeout", "-s", "KILL", str(int(timeout)),
           "ffprobe", "-v", "error", "-rw_timeout", "%d" % (timeout * 1000000),
           "-show_entries", "stream=index,codec_type,codec_name:"
           "packet=stream_index,codec_type,dts,pts,flags,size",
           "-of", "json", "-read_intervals", "%%+%d" % seconds, url]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    try:
        data = json.loads(r.stdout or "{}")
    except ValueError:
        data = {}
    return data.get("streams", []), data.get("packets", [])


class Viewer:
    """One long-lived ffprobe playing a URL for the whole test: every packet is recorded
    with the wall-clock time it arrived, so a test can check that a single session saw
    the stream before and after an event, with continuous timestamps."""

    def __init__(self, url, logpath):
        self.url = url
        self.logpath = logpath
        self.packets = []  # dicts: t (wall), type, dts, pts, key, size
        self.proc = None
        self.ended_at = None
        self._lock = threading.Lock()
        self._thread = None

    def start(self):
        cmd = ["stdbuf", "-oL", "ffprobe", "-v", "error", "-rw_timeout", "600000000",
               "-rtmp_live", "live",
               "-show_entries", "packet=stream_index,codec_type,dts,pts,flags,size",
               "-of", "compact=p=0:nk=0", self.url]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(self.logpath, "a"), text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            now = time.time()
            kv = dict(p.split("=", 1) for p in line.strip().split("|") if "=" in p)
            if "codec_type" not in kv:
                continue
            try:
                dts = int(kv.get("dts", ""))
            except ValueError:
                dts = None
            with self._lock:
                self.packets.append({"t": now, "type": kv["codec_type"], "dts": dts,
                                     "pts": kv.get("pts"), "key": "K" in kv.get("flags", ""),
                                     "size": int(kv.get("size") or 0)})
        self.ended_at = time.time()

    def snapshot(self):
        with self._lock:
            return list(self.packets)

    def count(self, codec_type=None):
        with self._lock:
            return sum(1 for p in self.packets if codec_type in (None, p["type"]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._thread is not None:
            self._thread.join(5)


def dts_report(packets):
    """Per codec type: (monotonic, largest DTS step in ms, packet count, list of
    non-monotonic steps)."""
    out = {}
    for ctype in ("video", "audio"):
        ds = [p["dts"] for p in packets if p["type"] == ctype and p["dts"] is not None]
        steps = [b - a for a, b in zip(ds, ds[1:])]
        bad = [(i, s) for i, s in enumerate(steps) if s < 0]
        out[ctype] = {"monotonic": not bad, "max_step": max(steps) if steps else 0,
                      "count": len(ds), "backwards": bad[:10]}
    return out


def largest_wall_gap(packets, codec_type):
    """(gap seconds, index after the gap) between consecutive arrivals of codec_type."""
    ts = [(i, p["t"]) for i, p in enumerate(packets) if p["type"] == codec_type]
    best = (0.0, None)
    for (_, a), (j, b) in zip(ts, ts[1:]):
        if b - a > best[0]:
            best = (b - a, j)
    return best


# ---------------------------------------------------------------- ferryd and its API


def redact_url(url):
    """url as ferryd shows it in logs, errors, history lines and alarms (docs/security.md,
    "Secrets"), for the URLs the tests use: user info becomes ***@, the stream key (the last
    path element of an rtmp(s) or srt URL) keeps its first 2 characters when it has 8 or
    more, then ***, and every query value becomes ***."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(.*)$", url)
    if not m:
        return url
    scheme, auth, path, rest = m.groups()
    if "@" in auth:
        auth = "***@" + auth.rsplit("@", 1)[1]
    if scheme.lower() in ("rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpts", "rtmpte", "srt") and \
            "/" in path:
        head, key = path.rsplit("/", 1)
        if key:
            path = head + "/" + (key[:2] if len(key) >= 8 else "") + "***"
    if rest.startswith("?"):
        items = [(i.split("=", 1)[0] + "=" + ("***" if i.split("=", 1)[1] else "")) if "=" in i
                 else ("***" if i else "") for i in rest[1:].split("&")]
        rest = "?" + "&".join(items)
    elif rest.startswith("#") and len(rest) > 1:
        rest = "#***"
    return "%s://%s%s%s" % (scheme, auth, path, rest)


def brief(task):
    """The parts of a task that explain its state, for failure messages."""
    if not isinstance(task, dict):
        return repr(task)
    prog = task.get("progress") or {}
    return json.dumps({"state": task.get("state"), "reason": task.get("reason"),
                       "last_error": task.get("last_error"),
                       "progress": {k: prog.get(k) for k in ("active", "frames", "packets",
                                                              "discontinuities", "last_error")}})


class Api:
    """A tiny HTTP client for ferryd's native API. Returns (status, parsed JSON or None).
    Uses http.client so no proxy settings of the environment get in the way."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token

    def as_(self, token):
        return Api(self.port, token)

    def raw(self, method, path, body=None, headers=None, token="__default__"):
        token = self.token if token == "__default__" else token
        h = {"Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            try:
                conn.request(method, path, body=body, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413) before reading a large body
            r = conn.getresponse()
            data = r.read()
            return r.status, data
        finally:
            conn.close()

    def call(self, method, path, body=None, **kw):
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        status, data = self.raw(method, path, body, **kw)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = {"_raw": data.decode(errors="replace")}
        return status, doc

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # --- task helpers

    def create_task(self, **fields):
        st, doc = self.post("/v1/tasks", fields)
        assert st == 201, "create task: HTTP %s %s" % (st, doc)
        return doc

    def task(self, tid):
        st, doc = self.get("/v1/tasks/" + tid)
        assert st == 200, "get task %s: HTTP %s %s" % (tid, st, doc)
        return doc

    def history(self, tid, reason=None):
        """The task's history lines, oldest first (only those of `reason` when given)."""
        st, doc = self.get("/v1/tasks/%s/history" % tid)
        assert st == 200, "history of %s: HTTP %s %s" % (tid, st, doc)
        return [h for h in doc["history"] if reason is None or h.get("reason") == reason]

    def total(self):
        st, doc = self.get("/v1/tasks?page=1&page_size=1")
        assert st == 200, "list tasks: HTTP %s %s" % (st, doc)
        return doc["total"]

    def wait_state(self, tid, states, timeout, interval=0.02):
        """Polls until the task's state is one of states. Returns (task, wall time seen)."""
        if isinstance(states, str):
            states = (states,)
        last = {}

        def check():
            last["t"] = self.task(tid)
            return last["t"].get("state") in states

        try:
            wait_until(check, timeout, interval, what="task %s state in %s" % (tid, states))
        except TimeoutError as e:
            raise AssertionError("%s; last seen: %s" % (e, brief(last.get("t"))))
        return last["t"], time.time()


def default_binary():
    """$FERRYD (relative to the repo root), else build/ferryd or meson's build/src/ferryd."""
    env = os.environ.get("FERRYD")
    if env:
        return env if os.path.isabs(env) else os.path.join(REPO_ROOT, env)
    for rel in ("build/ferryd", "build/src/ferryd"):
        if os.path.exists(os.path.join(REPO_ROOT, rel)):
            return os.path.join(REPO_ROOT, rel)
    return os.path.join(REPO_ROOT, "build/ferryd")


class Ferryd:
    """The ferryd under test (see default_binary), with its own data dir
    and config file. accounts maps a name to its token, or to a dict of its account
    keys. Every run's stderr goes to its own file, checked for sanitizer
    reports when the fixture ends."""

    def __init__(self, workdir, accounts, settings, env=None):
        self.dir = workdir
        self.env = env  # extra environment of the process (e.g. LD_PRELOAD), None = none
        self.data_dir = os.path.join(workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.config = os.path.join(workdir, "ferry.conf")
        self.binary = default_binary()
        self.port = free_port()
        self.proc = None
        self.runs = 0
        self.stderr_paths = []
        # Everything runs on loopback, which the address policy refuses unless allowed:
        # the tests allow it explicitly (a test may narrow it again).
        settings = dict({"source_allow": "127.0.0.0/8", "destination_allow": "127.0.0.0/8"},
                        **settings)
        # owner-only, as a config holding account secrets should be (ferryd warns otherwise)
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
            for name, acct in accounts.items():
                keys = acct if isinstance(acct, dict) else {"token": acct}
                f.write("\n[account %s]\n" % name)
                f.write("".join("%s = %s\n" % kv for kv in keys.items()))

    @property
    def stderr_path(self):
        return self.stderr_paths[-1]

    def start(self, ready_timeout=15):
        if not os.path.exists(self.binary):
            raise RuntimeError("ferryd binary not found: %s (build it or set FERRYD)" %
                               self.binary)
        self.runs += 1
        path = os.path.join(self.dir, "ferryd.%d.stderr" % self.runs)
        self.stderr_paths.append(path)
        self.proc = subprocess.Popen(
            [self.binary, "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data_dir,
             "--config", self.config],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=open(path + ".out", "w"),
            stderr=open(path, "w"), env=dict(os.environ, **self.env) if self.env else None)
        api = Api(self.port)

        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError("ferryd exited with %s:\n%s" %
                                   (self.proc.returncode, tail(path)))
            try:
                return api.raw("GET", "/healthz", token=None)[0] == 200
            except OSError:
                return False

        try:
            wait_until(healthy, ready_timeout, what="ferryd /healthz")
        except TimeoutError:
            raise RuntimeError("ferryd not healthy in %ds:\n%s" % (ready_timeout, tail(path)))
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout=5.0):
        """SIGTERM; returns (exit code or None if it did not exit in time, seconds taken)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.proc.kill()
            self.proc.wait()
        return rc, time.monotonic() - t0

    def restart(self):
        if self.running():
            self.terminate()
        return self.start()

    def sanitizer_reports(self):
        found = []
        for p in self.stderr_paths:
            text = open(p, errors="replace").read()
            if any(m in text for m in SANITIZER_MARKERS):
                found.append("%s:\n%s" % (os.path.basename(p), text[-6000:]))
        return found


# ---------------------------------------------------------------- task bodies


def live_task(nginx, start, end, src="cam", dst="out", **extra):
    """The body of a live relay task from src/<src> to dst/<dst>."""
    body = {
        "name": "e2e relay",
        "source_type": "live",
        "source_urls": [nginx.url("src", src)],
        "destination": nginx.url("dst", dst),
        "start_time": iso(start),
        "end_time": iso(end),
        "retry_count": 10,
        "retry_interval": 1,
    }
    body.update(extra)
    return body


def files_task(nginx, urls, lead=1, **extra):
    """The body of a playlist task of `urls` to dst/out, starting `lead` s from now."""
    start = whole_seconds_from_now(lead)
    body = {"name": "e2e playlist", "source_type": "files", "source_urls": urls,
            "destination": nginx.url("dst", "out"), "start_time": iso(start),
            "end_time": iso(start + 600), "retry_count": 1, "retry_interval": 1}
    body.update(extra)
    return body


def idle_task(**extra):
    """A valid task body an hour in the future: it never starts during a test."""
    start = whole_seconds_from_now(3600)
    body = {
        "name": "later",
        "source_type": "live",
        "source_urls": ["rtmp://127.0.0.1:9/src/none"],
        "destination": "rtmp://127.0.0.1:9/dst/none",
        "start_time": iso(start),
        "end_time": iso(start + 600),
        "retry_count": 10,
        "retry_interval": 1,
    }
    body.update(extra)
    return body
