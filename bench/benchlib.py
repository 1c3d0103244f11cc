"""benchlib.py — what every benchmark shares: the test bed (a source nginx-rtmp that fans one
publisher out, a sink nginx-rtmp that receives every destination and records it on demand),
the three contenders (an ffmpeg process per relay, an nginx-rtmp relay, ferryd), process
CPU and memory from /proc, frame accounting by payload hash, tables and JSON reports.

Python 3 standard library only. Every process started here is registered and ended by PID
when the benchmark exits (normally, by exception or by SIGINT/SIGTERM)."""

import atexit
import datetime
import hashlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
WORK_DIR = os.environ.get("FERRY_BENCH_WORK", os.path.join(REPO_ROOT, "build", "bench"))
RESULTS_DIR = os.environ.get("FERRY_BENCH_RESULTS", os.path.join(BENCH_DIR, "results"))
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"  # from libnginx-mod-rtmp
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------- the test streams

# Pre-encoded once, then published with `-re -stream_loop -1 -c copy` so the publisher
# costs next to nothing. 60 s long so that a recording window never holds the same frame
# twice (frames are matched by the hash of their payload). GOP 1 s, constant frame rate.
PROFILES = {
    "720p": {"size": "1280x720", "fps": 30, "video_kbps": 1872, "audio_kbps": 128,
             "desc": "1280x720 30 fps H.264 High 1.87 Mbit/s + AAC 128 kbit/s = 2.0 Mbit/s"},
    "360p": {"size": "640x360", "fps": 30, "video_kbps": 436, "audio_kbps": 64,
             "desc": "640x360 30 fps H.264 High 436 kbit/s + AAC 64 kbit/s = 0.5 Mbit/s"},
}
MEDIA_SECONDS = 60


def media_file(profile):
    """The pre-encoded FLV of a profile, encoded on first use (about 15 s for 720p)."""
    p = PROFILES[profile]
    d = os.path.join(WORK_DIR, "media")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s-%ds.flv" % (profile, MEDIA_SECONDS))
    if os.path.exists(path):
        return path
    vk = p["video_kbps"]
    tmp = path + ".part.flv"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (p["size"], p["fps"]),
           "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:sample_rate=44100:seed=7",
           "-t", str(MEDIA_SECONDS), "-map", "0:v", "-map", "1:a",
           "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
           "-b:v", "%dk" % vk, "-maxrate", "%dk" % vk, "-bufsize", "%dk" % vk,
           "-g", str(p["fps"]), "-keyint_min", str(p["fps"]), "-sc_threshold", "0",
           "-c:a", "aac", "-b:a", "%dk" % p["audio_kbps"], "-ac", "2", "-f", "flv", tmp]
    log("encoding the %s test stream (once): %s" % (profile, p["desc"]))
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- small utilities


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.05):
    """Calls pred until it is true or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def iso(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def percentile(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def raise_nofile():
    """Hundreds of relays need thousands of descriptors (inherited by children)."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 65536)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


# ---------------------------------------------------------------- processes we own


class Procs:
    """Every process a benchmark starts. Ended by PID at exit; never by name."""

    def __init__(self):
        self.procs = []
        self.lock = threading.Lock()

    def spawn(self, cmd, logpath=None, **kw):
        err = open(logpath, "ab") if logpath else subprocess.DEVNULL
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", err),
                                 stderr=err, **kw)
        finally:
            if logpath:
                err.close()
        with self.lock:
            self.procs.append(p)
        return p

    def stop(self, p, timeout=5.0, sig=signal.SIGTERM):
        if p is None:
            return None
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with self.lock:
            if p in self.procs:
                self.procs.remove(p)
        return p.returncode

    def stop_many(self, ps, timeout=5.0):
        """SIGTERM to all, then wait, then SIGKILL what is left."""
        for p in ps:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.monotonic() + timeout
        for p in ps:
            try:
                p.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with self.lock:
            for p in ps:
                if p in self.procs:
                    self.procs.remove(p)

    def cleanup(self):
        with self.lock:
            ps = list(self.procs)
        for p in ps:
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
        for p in ps:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        with self.lock:
            self.procs = []


PROCS = Procs()
atexit.register(PROCS.cleanup)


def _on_signal(signum, frame):
    PROCS.cleanup()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


# ---------------------------------------------------------------- /proc


def cpu_ns(pid):
    """CPU time of a process in ns: the sum of its threads' /proc/PID/task/*/schedstat
    (ns-precise; only threads alive now count), and /proc/PID/stat utime+stime (all
    threads, dead ones too, in clock ticks) for a cross-check. (schedstat_ns, stat_ns)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return None, None
    return total, ticks * 1_000_000_000 // CLK_TCK


def cpu_ns_sum(pids):
    a = b = 0
    for pid in pids:
        x, y = cpu_ns(pid)
        a += x or 0
        b += y or 0
    return a, b


def smaps_rollup(pid):
    """{Pss, Rss, Private} in KiB from /proc/PID/smaps_rollup."""
    out = {"Pss": 0, "Rss": 0, "Private": 0}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, rest = line.partition(":")
                v = rest.split()
                if not v:
                    continue
                if k in ("Pss", "Rss"):
                    out[k] = int(v[0])
                elif k in ("Private_Clean", "Private_Dirty"):
                    out["Private"] += int(v[0])
    except OSError:
        pass
    return out


def mem_sum(pids):
    tot = {"Pss": 0, "Rss": 0, "Private": 0}
    for pid in pids:
        m = smaps_rollup(pid)
        for k in tot:
            tot[k] += m[k]
    return tot


def machine_busy():
    """(busy jiffies, total jiffies) of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def thread_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


# ---------------------------------------------------------------- the machine


def machine():
    model = ""
    mhz = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])

    def first_line(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return ((r.stdout or r.stderr).strip().splitlines() or [""])[0]
        except (OSError, subprocess.SubprocessError):
            return ""

    binary = ferryd_binary()
    # A ferryd built from a clean tree of a commit (see bench/README.md) says which.
    commit_file = os.path.join(os.path.dirname(binary), "FERRY_COMMIT")
    if os.path.exists(commit_file):
        rev, dirty = open(commit_file).read().strip(), ""
    else:
        rev = first_line(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"])
        dirty = first_line(["git", "-C", REPO_ROOT, "status", "--porcelain",
                            "--untracked-files=no", "--", "src"])
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "cpu_mhz": mhz,
        "mem_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "ffmpeg": first_line(["ffmpeg", "-hide_banner", "-version"]).split(" Copyright")[0],
        "nginx": first_line(["nginx", "-v"]),
        "nginx_rtmp": first_line(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-rtmp"]),
        "ferry_commit": rev + (" (src modified)" if dirty else ""),
        "ferryd": os.path.relpath(binary, REPO_ROOT) if binary.startswith(REPO_ROOT)
        else "$FERRYD",
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


# ---------------------------------------------------------------- nginx-rtmp


def _nginx_conf(d, http_port, rtmp_port, rtmp_body, workers_conn):
    temp = "".join("    %s_temp_path %s/%s;\n" % (k, d, k)
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""load_module {RTMP_MODULE};
daemon off;
master_process off;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections {workers_conn}; }}
http {{
    access_log off;
{temp}    server {{
        listen 127.0.0.1:{http_port};
        location /stat {{ rtmp_stat all; }}
        location /control {{ rtmp_control all; }}
    }}
}}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        chunk_size 4096;
{rtmp_body}
    }}
}}
"""


class Nginx:
    """One private nginx process (master_process off: one process does all the work, so
    its /proc figures are the whole server's), with /stat and /control on HTTP."""

    def __init__(self, workdir, name, rtmp_body, connections=8192):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.rtmp_body = rtmp_body
        self.connections = connections
        self.proc = None
        self._http = None

    def url(self, app, stream):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.rtmp_port, app, stream)

    def start(self, timeout=10):
        with open(self.conf, "w") as f:
            f.write(_nginx_conf(self.dir, self.http_port, self.rtmp_port, self.rtmp_body,
                                self.connections))
        self.proc = PROCS.spawn(["nginx", "-p", self.dir + "/", "-c", self.conf],
                                os.path.join(self.dir, "stderr.log"))
        ok = wait_until(lambda: self.proc.poll() is not None or
                        (port_open(self.rtmp_port) and port_open(self.http_port)), timeout)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("nginx %s did not start:\n%s%s" % (
                self.name, tail(os.path.join(self.dir, "error.log")),
                tail(os.path.join(self.dir, "stderr.log"))))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        PROCS.stop(self.proc)
        if self._http:
            self._http.close()
            self._http = None

    def http_get(self, path, timeout=10):
        for attempt in range(2):
            if self._http is None:
                self._http = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                                        timeout=timeout)
            try:
                self._http.request("GET", path)
                r = self._http.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self._http.close()
                self._http = None
                if attempt:
                    raise
        return None, b""

    def stat(self):
        """{(app, stream): {bytes_in, publishing, nclients, time_ms}}"""
        st, body = self.http_get("/stat")
        out = {}
        root = ET.fromstring(body)
        for a in root.iter("application"):
            app = a.findtext("name")
            for s in a.iter("stream"):
                pub = any(c.find("publishing") is not None for c in s.findall("client"))
                out[(app, s.findtext("name"))] = {
                    "bytes_in": int(s.findtext("bytes_in") or 0),
                    "publishing": pub,
                    "nclients": int(s.findtext("nclients") or 0),
                    "time_ms": int(s.findtext("time") or 0),
                }
        return out

    def record(self, action, app, stream, rec="rec"):
        """Starts or stops the manual recorder `rec` of app/stream through /control."""
        q = urllib.parse.urlencode({"app": app, "name": stream, "rec": rec})
        st, body = self.http_get("/control/record/%s?%s" % (action, q))
        return st == 200, body.decode(errors="replace").strip()

    def publish_count(self, app, stream):
        """How many times app/stream was published (the info log names each publish)."""
        import re
        conn_app, n = {}, 0
        with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"\*(\d+) connect: app='([^']*)'", line)
                if m:
                    conn_app[m.group(1)] = m.group(2)
                    continue
                m = re.search(r"\*(\d+) publish: name='([^']*)'", line)
                if m and m.group(2) == stream and conn_app.get(m.group(1)) == app:
                    n += 1
        return n


def recorder_block(path):
    return ("recorder rec { record all manual; record_path %s; record_unique off; "
            "record_suffix .flv; }" % path)


def record_dir(profile, streams, seconds, fallback):
    """tmpfs for the recordings when it can hold them twice over (streams + the source,
    at the profile's bit rate, for `seconds` plus a minute of margin); else the work
    directory on disk, so that a large N cannot fill memory and wake the OOM killer."""
    shm = "/dev/shm"
    if not os.path.isdir(shm):
        return fallback
    p = PROFILES[profile]
    need = (streams + 1) * (p["video_kbps"] + p["audio_kbps"]) * 125 * (seconds + 60) * 2
    st = os.statvfs(shm)
    return shm if st.f_bavail * st.f_frsize > need else fallback


LIVE_BYTES = 4096  # more than an RTMP connect + publish; less than one keyframe


class TestBed:
    """The source server (app `src`, one publisher, N relays play from it) and the sink
    (app `dst`, every relay publishes one stream into it). Both record on demand into
    a tmpfs directory for the frame accounting."""

    def __init__(self, workdir, profile, idle_streams=True, streams=1, record_s=0):
        self.workdir = workdir
        self.profile = profile
        # idle_streams off: when the publisher goes, the source server drops its players
        self.src_options = "" if idle_streams else " idle_streams off;"
        self.recdir = tempfile.mkdtemp(prefix="ferry-bench-rec-",
                                       dir=record_dir(profile, streams, record_s, workdir))
        os.makedirs(os.path.join(self.recdir, "src"))
        os.makedirs(os.path.join(self.recdir, "dst"))
        self.src = Nginx(workdir, "nginx-src", "")
        self.src_pushes = []  # the nginx contender is fed by pushes from the source
        self.sink = Nginx(workdir, "nginx-sink", "        application dst { live on; %s }" %
                          recorder_block(os.path.join(self.recdir, "dst")))
        self.publisher = None
        self.src_url = self.src.url("src", "in")

    def dst_url(self, i):
        return self.sink.url("dst", "out%d" % i)

    def start(self):
        pushes = "".join(" push %s;" % u for u in self.src_pushes)
        self.src.rtmp_body = "        application src { live on;%s %s%s }" % (
            self.src_options, recorder_block(os.path.join(self.recdir, "src")), pushes)
        self.src.connections = max(1024, 4 * len(self.src_pushes) + 8192)
        self.src.start()
        self.sink.start()
        self.start_publisher()
        ok = wait_until(lambda: self.src.stat().get(("src", "in"), {}).get("publishing"), 10,
                        interval=0.01)
        self.published_at = time.time()
        if not ok:
            raise RuntimeError("the publisher did not reach the source server:\n" +
                               tail(os.path.join(self.workdir, "publisher.log")))
        return self

    def start_publisher(self):
        self.publisher = PROCS.spawn(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
             "-stream_loop", "-1", "-i", media_file(self.profile), "-c", "copy",
             "-f", "flv", self.src_url], os.path.join(self.workdir, "publisher.log"))
        return self.publisher

    def kill_publisher(self):
        PROCS.stop(self.publisher, sig=signal.SIGKILL)

    def stop(self):
        PROCS.stop(self.publisher, 2)
        self.src.stop()
        self.sink.stop()
        shutil.rmtree(self.recdir, ignore_errors=True)

    def live_streams(self, names):
        """The destination streams (of names) published now and carrying media: more
        than LIVE_BYTES received (a publish alone, or a session opened ahead of its start
        time, does not count)."""
        st = self.sink.stat()
        return {n: st[("dst", n)] for n in names
                if ("dst", n) in st and st[("dst", n)]["publishing"] and
                st[("dst", n)]["bytes_in"] > LIVE_BYTES}

    # --- frame accounting

    def record_window(self, names, seconds):
        """Records the source and every destination for `seconds`; returns the paths
        and wall times. The source records from before the first destination starts until
        after the last one stops, so it holds every frame a destination may hold."""
        t0 = time.time()
        ok, src_path = self.src.record("start", "src", "in")
        if not ok:
            raise RuntimeError("could not record the source: %s" % src_path)
        time.sleep(0.5)
        paths, failed, began, lasted = {}, [], {}, {}
        for n in names:
            ok, p = self.sink.record("start", "dst", n)
            if ok and p:
                paths[n] = p
                began[n] = time.time()
            else:
                failed.append(n)
        # Every recording lasts at least `seconds`, however long starting them all took
        # (hundreds of /control requests to a busy sink take seconds).
        time.sleep(seconds)
        for n in paths:
            self.sink.record("stop", "dst", n)
            lasted[n] = time.time() - began[n]
        time.sleep(0.5)
        self.src.record("stop", "src", "in")
        return {"src": src_path, "dst": paths, "not_recording": failed, "lasted": lasted,
                "window_s": round(time.time() - t0, 2)}

    def frame_report(self, rec):
        """Per destination: frames received / frames the source sent over the same span,
        by video and audio, matched by payload hash; plus DTS monotonicity."""
        src = read_flv_frames(rec["src"])
        index = {}
        for i, (kind, h, _dts) in enumerate(src):
            index.setdefault(h, []).append(i)
        per = {}
        for n, path in rec["dst"].items():
            per[n] = match_frames(src, index, read_flv_frames(path))
            # A relay that keeps up covers the recording but for the wait for the first
            # keyframe (GOP 1 s); one that falls behind covers less and less.
            per[n]["behind_s"] = round(rec["lasted"][n] - per[n]["span_s"], 2)
            try:
                os.unlink(path)
            except OSError:
                pass
        for n in rec["not_recording"]:
            per[n] = {"frames_ratio": 0.0, "error": "not live (recorder did not start)"}
        try:
            os.unlink(rec["src"])
        except OSError:
            pass
        return per


# ---------------------------------------------------------------- FLV recordings


def read_flv_frames(path):
    """[(kind 'v'|'a', payload hash, dts ms)] of a recorded FLV file, codec headers left
    out. The hash covers the coded data only (after the FLV video/audio tag header bytes),
    which a relay copies unchanged even when it rewrites timestamps."""
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return out
    pos = 13 if data[:3] == b"FLV" else 0
    n = len(data)
    while pos + 11 <= n:
        ttype = data[pos] & 0x1F
        size = (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
        ts = ((data[pos + 4] << 16) | (data[pos + 5] << 8) | data[pos + 6] |
              (data[pos + 7] << 24))
        body = pos + 11
        end = body + size
        if end > n:
            break
        if ttype == 9 and size > 5:
            codec = data[body] & 0x0F
            if codec == 7 and data[body + 1] == 0:
                pass  # AVC sequence header
            else:
                off = 5 if codec == 7 else 1
                out.append(("v", hashlib.blake2b(data[body + off:end], digest_size=8).digest(),
                            ts))
        elif ttype == 8 and size > 2:
            fmt = data[body] >> 4
            if fmt == 10 and data[body + 1] == 0:
                pass  # AAC sequence header
            else:
                off = 2 if fmt == 10 else 1
                out.append(("a", hashlib.blake2b(data[body + off:end], digest_size=8).digest(),
                            ts))
        pos = end + 4
    return out


def match_frames(src, index, dst):
    """Frames of dst found in src, against what src sent between the first and the last
    frame dst got, per kind."""
    got = {"v": set(), "a": set()}
    unmatched = 0
    last = -1
    dts_back = {"v": 0, "a": 0}
    prev_dts = {}
    for kind, h, dts in dst:
        cands = index.get(h)
        if not cands:
            unmatched += 1
        else:
            i = min(cands, key=lambda c: abs(c - last - 1))
            got[kind].add(i)
            last = i
        if kind in prev_dts and dts < prev_dts[kind]:
            dts_back[kind] += 1
        prev_dts[kind] = dts
    res = {"unmatched": unmatched, "dts_regressions": dts_back["v"] + dts_back["a"]}
    exp_total = got_total = 0
    for kind in ("v", "a"):
        if got[kind]:
            lo, hi = min(got[kind]), max(got[kind])
            expected = sum(1 for i in range(lo, hi + 1) if src[i][0] == kind)
        else:
            expected = 0
        res["%s_received" % kind] = len(got[kind])
        res["%s_expected" % kind] = expected
        exp_total += expected
        got_total += len(got[kind])
    worst = 1.0
    for kind in ("v", "a"):
        e = res["%s_expected" % kind]
        r = res["%s_received" % kind] / e if e else 0.0
        worst = min(worst, r)
    res["frames_ratio"] = round(worst, 4)  # the worse of video and audio
    res["span_s"] = round(res["v_expected"] / 30.0, 2)
    return res


# ---------------------------------------------------------------- contenders


class Contender:
    """N relays of the bed's source, relay i pushing to the bed's dst/out<i>."""
    name = ""
    label = ""

    def __init__(self, bed, workdir):
        self.bed = bed
        self.workdir = workdir
        self.n = 0

    def relay_pids(self):
        raise NotImplementedError

    def idle_pss_kb(self):
        """PSS of the relaying process(es) with no relay (0 when a relay is a process)."""
        return 0

    def prepare(self, n):
        """What must happen before the bed starts (nothing, except for nginx)."""

    def start(self, n):
        """Starts n relays; returns the wall time they were asked to start."""
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def describe(self):
        return ""


class FfmpegRelays(Contender):
    name = "ffmpeg"
    label = "ffmpeg per relay"

    def __init__(self, bed, workdir, restart_delay=None):
        super().__init__(bed, workdir)
        self.procs = []
        self.restart_delay = restart_delay  # supervise: restart an exited relay after this
        self._stop = threading.Event()
        self._sup = None
        self.restarts = 0

    def command(self, i):
        return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                "-i", self.bed.src_url, "-c", "copy", "-f", "flv", self.bed.dst_url(i)]

    def describe(self):
        return "one `%s` process per relay" % " ".join(
            ["ffmpeg", "-i", "SRC", "-c", "copy", "-f", "flv", "DST"])

    def _spawn(self, i):
        return PROCS.spawn(self.command(i), os.path.join(self.workdir, "ffmpeg-%d.log" % i))

    def start(self, n):
        self.n = n
        t = time.time()
        self.procs = [self._spawn(i) for i in range(n)]
        if self.restart_delay is not None:
            self._sup = threading.Thread(target=self._supervise, daemon=True)
            self._sup.start()
        return t

    def _supervise(self):
        """What a process-per-stream manager does: restart a relay that exited."""
        exited = {}
        while not self._stop.wait(0.05):
            for i, p in enumerate(self.procs):
                if p.poll() is None:
                    continue
                t = exited.setdefault(i, time.monotonic())
                if time.monotonic() - t >= self.restart_delay:
                    self.restarts += 1
                    self.procs[i] = self._spawn(i)
                    exited.pop(i, None)

    def relay_pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self):
        self._stop.set()
        if self._sup:
            self._sup.join(2)
        PROCS.stop_many(self.procs)
        self.procs = []


class NginxRelay(Contender):
    """nginx-rtmp's in-process relay: one nginx (master_process off, so one process does
    all the relaying) with one application that receives each relay's stream and
    `push`es it, under its own name, to the destination.

    nginx-rtmp cannot push a stream it pulled: its relay code skips `push` for relayed
    sessions, so `pull SRC name=s static; push DST;` in one application publishes nothing
    (checked with this module). The stream therefore comes in by the source server's
    `push` (one `push rtmp://RELAY/relay/outI;` line per relay in the source application)
    instead of a `pull`. Per relay the relay process then does what a pull relay would:
    one inbound RTMP session, one outbound relay session, chunks parsed and forwarded."""
    name = "nginx"
    label = "nginx-rtmp relay"

    def __init__(self, bed, workdir):
        super().__init__(bed, workdir)
        self.nginx = None

    def describe(self):
        return ("one nginx process (master_process off): `application relay { live on; "
                "push rtmp://SINK/dst; }`, fed by `push rtmp://RELAY/relay/outI;` lines in "
                "the source application (nginx-rtmp does not push a stream it pulled)")

    def _body(self):
        return "        application relay { live on; push rtmp://127.0.0.1:%d/dst; }" % (
            self.bed.sink.rtmp_port)

    def prepare(self, n):
        """Before the bed starts: the relay server up, the source told to push n copies."""
        self.n = n
        self.nginx = Nginx(self.workdir, "nginx-relay-%d" % n, self._body(),
                           connections=self._connections())
        self.nginx.start()
        self.bed.src_pushes = ["rtmp://127.0.0.1:%d/relay/out%d" % (self.nginx.rtmp_port, i)
                               for i in range(n)]

    def start(self, n):
        """The relays start when the source is published: returns when it was."""
        assert n == self.n, "prepare(n) first"
        return self.bed.published_at

    def relay_pids(self):
        return [self.nginx.pid] if self.nginx and self.nginx.proc.poll() is None else []

    def _connections(self):
        return max(1024, 4 * self.n + 64)

    def idle_pss_kb(self):
        """The same server with the same worker_connections, relaying nothing."""
        idle = Nginx(self.workdir, "nginx-relay-idle", self._body(), self._connections())
        idle.start()
        time.sleep(0.3)
        pss = smaps_rollup(idle.pid)["Pss"]
        idle.stop()
        return pss

    def stop(self):
        if self.nginx:
            self.nginx.stop()
            self.nginx = None


def ferryd_binary():
    env = os.environ.get("FERRYD")
    if env:
        return env if os.path.isabs(env) else os.path.join(REPO_ROOT, env)
    return os.path.join(REPO_ROOT, "build", "ferryd")


class Api:
    """ferryd's native API over one keep-alive connection."""

    def __init__(self, port, token):
        self.port = port
        self.token = token
        self.conn = None

    def call(self, method, path, body=None, timeout=30):
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                raw = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, (json.loads(raw) if raw else None)
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return None, None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class Ferryd:
    """A private ferryd: its own data dir, config and account."""
    TOKEN = "bench-token-0123456789abcdef"

    def __init__(self, workdir, extra=None):
        self.dir = os.path.join(workdir, "ferryd")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "ferry.conf")
        # preroll = 0: a task starts at its start_time, not 3 s before (the default), so
        # "start to live" is measured like ffmpeg's spawn to live.
        settings = {"log_level": "warn", "task_quota": 20000, "retry_interval_min": 1,
                    "max_running_tasks": 5000, "stall_timeout": 10, "connect_timeout": 10,
                    "preroll": 0,
                    # the peers run on loopback, which the address policy refuses unless
                    # allowed
                    "source_allow": "127.0.0.0/8", "destination_allow": "127.0.0.0/8"}
        settings.update(extra or {})
        # FERRY_BENCH_SETTINGS="push_engine=ffmpeg,engine_loops=1": config keys for an A/B
        for item in filter(None, os.environ.get("FERRY_BENCH_SETTINGS", "").split(",")):
            key, _, value = item.partition("=")
            settings[key.strip()] = value.strip()
        with open(self.conf, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
            f.write("\n[account bench]\ntoken = %s\ntask_quota = 20000\n" % self.TOKEN)
        self.proc = None
        self.api = None

    def start(self):
        binary = ferryd_binary()
        if not os.path.exists(binary):
            raise RuntimeError("ferryd not built: %s (run `ninja -C build`)" % binary)
        self.proc = PROCS.spawn([binary, "--listen", "127.0.0.1:%d" % self.port,
                                 "--data-dir", self.data, "--config", self.conf],
                                os.path.join(self.dir, "ferryd.log"), cwd=self.dir)
        self.api = Api(self.port, self.TOKEN)

        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError("ferryd exited:\n" + tail(os.path.join(self.dir, "ferryd.log")))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
                return ok
            except OSError:
                return False

        if not wait_until(healthy, 15):
            raise RuntimeError("ferryd not healthy:\n" + tail(os.path.join(self.dir, "ferryd.log")))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.api:
            self.api.close()
        PROCS.stop(self.proc, 10)


def relay_task_body(src, dst, start, end, **extra):
    body = {"name": "bench relay", "source_type": "live", "source_urls": [src],
            "destination": dst, "start_time": iso(start), "end_time": iso(end),
            "retry_count": 10, "retry_interval": 1}
    body.update(extra)
    return body


class FerryRelays(Contender):
    name = "ferry"
    label = "ferry"

    def __init__(self, bed, workdir):
        super().__init__(bed, workdir)
        self.ferryd = Ferryd(workdir).start()
        time.sleep(0.3)
        self._idle = smaps_rollup(self.ferryd.pid)["Pss"]
        self.start_at = None

    def describe(self):
        return ("one ferryd; each relay a task `{source_type: live, source_urls: [SRC], "
                "destination: DST}`, all with the same start_time")

    def start(self, n):
        """Creates n tasks whose start_time is the next whole second at least 1 s away (or
        now for a single task), so they all start together; returns that start time."""
        self.n = n
        now = time.time()
        start = int(now) + (1 if n == 1 else 2 + n // 200)
        for i in range(n):
            st, doc = self.ferryd.api.call("POST", "/v1/tasks", relay_task_body(
                self.bed.src_url, self.bed.dst_url(i), start, start + 7200, id="relay-%d" % i))
            if st != 201:
                raise RuntimeError("create task %d: HTTP %s %s" % (i, st, doc))
        self.start_at = float(start)
        return self.start_at

    def relay_pids(self):
        return [self.ferryd.pid] if self.ferryd.proc.poll() is None else []

    def describe_tasks(self, indexes):
        """State, reason and last error of some tasks (why they are not live)."""
        out = {}
        for i in indexes:
            st, doc = self.ferryd.api.call("GET", "/v1/tasks/relay-%d" % i)
            doc = doc or {}
            prog = doc.get("progress") or {}
            out["relay-%d" % i] = {"state": doc.get("state"), "reason": doc.get("reason"),
                                   "last_error": doc.get("last_error"),
                                   "packets": prog.get("packets")}
        return out

    def idle_pss_kb(self):
        return self._idle

    def stop(self):
        for i in range(self.n):
            self.ferryd.api.call("DELETE", "/v1/tasks/relay-%d" % i)
        self.n = 0

    def close(self):
        self.ferryd.stop()


CONTENDERS = {"ffmpeg": FfmpegRelays, "nginx": NginxRelay, "ferry": FerryRelays}


# ---------------------------------------------------------------- output


def print_table(title, headers, rows):
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print()
    print(title)
    for j, r in enumerate(cells):
        print("  " + "  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i])
                               for i, c in enumerate(r)))
        if j == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def markdown_table(headers, rows):
    out = ["| " + " | ".join(str(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join("" if c is None else str(c) for c in r) + " |")
    return "\n".join(out)


def write_report(name, doc, out_dir=None):
    out_dir = out_dir or RESULTS_DIR
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print("\nwrote %s" % os.path.relpath(path, os.getcwd()))
    return path


def report_header(benchmark, argv, settings):
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": ("bench/%s.py %s" % (benchmark, " ".join(argv))).strip(),
        "machine": machine(),
        "settings": settings,
    }


def make_workdir(name):
    os.makedirs(WORK_DIR, exist_ok=True)
    d = tempfile.mkdtemp(prefix=name + "-", dir=WORK_DIR)
    return d


# ---------------------------------------------------------------- one relay trial

# A destination "keeps up" when its recording covers the window but for at most this much
# (the recorder starts at a keyframe: up to one GOP, 1 s, plus scheduling slack).
KEEP_UP_S = 1.5


def end_trial(contender, bed, wd=None):
    """Stops what a trial started, whatever state it got to: the contender (None when it
    never started), the test bed, and the trial's scratch directory when given."""
    if contender is not None:
        contender.stop()
        if hasattr(contender, "close"):
            contender.close()
    bed.stop()
    if wd is not None:
        shutil.rmtree(wd, ignore_errors=True)


def relay_trial(profile, contender, n, warmup=3.0, window=8.0, live_timeout=None,
                require_live=False):
    """N relays of one contender on a fresh bed: start, wait until every destination is
    published, warm up, then over one window measure the relaying process(es)' CPU and
    memory and record every destination for the frame accounting. Returns a dict."""
    wd = make_workdir("%s-%s-%d" % (profile, contender, n))
    names = ["out%d" % i for i in range(n)]
    live_timeout = live_timeout or (20 + 0.15 * n)
    bed = TestBed(wd, profile, streams=n, record_s=warmup + window)
    c = None
    res = {"contender": contender, "profile": profile, "n": n}
    try:
        if contender != "nginx":
            bed.start()
        c = CONTENDERS[contender](bed, wd)
        c.prepare(n)
        if contender == "nginx":
            bed.start()
        t_start = c.start(n)
        live_at = {}

        def all_live():
            now = time.time()
            for name in bed.live_streams(names):
                live_at.setdefault(name, now)
            return len(live_at) == n

        wait_until(all_live, live_timeout, interval=0.02 if n <= 10 else 0.1)
        delays = sorted(t - t_start for t in live_at.values())
        res["start"] = {
            "live": len(live_at),
            "p50_s": round(percentile(delays, 50), 3) if delays else None,
            "max_s": round(delays[-1], 3) if len(delays) == n else None,
            "from": {"ffmpeg": "processes spawned", "ferry": "the tasks' start_time",
                     "nginx": "the source published (the relay server already up)"}[contender],
        }
        if len(live_at) < n and contender == "ferry":
            res["not_live_tasks"] = c.describe_tasks(
                [i for i in range(n) if "out%d" % i not in live_at][:5])
        if require_live and len(live_at) < n:
            res["pass"] = False
            res["error"] = "only %d of %d destinations live after %.0f s" % (
                len(live_at), n, live_timeout)
            return res
        time.sleep(warmup)
        pids = c.relay_pids()
        bed_pids = [bed.src.pid, bed.sink.pid, bed.publisher.pid]
        bed0 = cpu_ns_sum(bed_pids)
        busy0 = machine_busy()
        st0 = bed.sink.stat()
        src0 = bed.src.stat().get(("src", "in"), {}).get("bytes_in", 0)
        cpu0 = cpu_ns_sum(pids)
        t0 = time.monotonic()
        rec = bed.record_window(names, window)
        cpu1 = cpu_ns_sum(pids)
        t1 = time.monotonic()
        bed1 = cpu_ns_sum(bed_pids)
        busy1 = machine_busy()
        mem = mem_sum(pids)
        st1 = bed.sink.stat()
        src1 = bed.src.stat().get(("src", "in"), {}).get("bytes_in", 0)
        threads = sum(thread_count(p) for p in pids)
        secs = t1 - t0
        frames = bed.frame_report(rec)
        live_end = sum(1 for nm in names if st1.get(("dst", nm), {}).get("publishing"))
        src_bytes = max(1, src1 - src0)
        byte_ratios = [(st1.get(("dst", nm), {}).get("bytes_in", 0) -
                        st0.get(("dst", nm), {}).get("bytes_in", 0)) / src_bytes for nm in names]
        ratios = [frames.get(nm, {}).get("frames_ratio", 0.0) for nm in names]
        behind = [frames.get(nm, {}).get("behind_s", 99.0) for nm in names]
        idle = c.idle_pss_kb()
        res.update({
            "processes": len(pids),
            "threads": threads,
            "window_s": round(secs, 2),
            "cpu_ms_per_s_per_relay": round((cpu1[0] - cpu0[0]) / 1e6 / secs / n, 3),
            "cpu_ms_per_s_per_relay_stat": round((cpu1[1] - cpu0[1]) / 1e6 / secs / n, 3),
            "cpu_ms_per_s_total": round((cpu1[0] - cpu0[0]) / 1e6 / secs, 1),
            "bed_cpu_ms_per_s": round((bed1[0] - bed0[0]) / 1e6 / secs, 1),
            "machine_busy_pct": round(100.0 * (busy1[0] - busy0[0]) /
                                      max(1, busy1[1] - busy0[1]), 1),
            # what neither the relays nor the bed used: other work on the machine
            "others_cpu_ms_per_s": round(
                (busy1[0] - busy0[0]) * 1000.0 / CLK_TCK / secs -
                ((cpu1[0] - cpu0[0]) + (bed1[0] - bed0[0])) / 1e6 / secs, 1),
            "pss_kib_total": mem["Pss"],
            "pss_kib_per_relay": round(mem["Pss"] / n, 1),
            "pss_kib_idle": idle,
            "pss_kib_per_relay_marginal": round((mem["Pss"] - idle) / n, 1),
            "private_kib_per_relay": round(mem["Private"] / n, 1),
            "live_at_end": live_end,
            "frames_min_ratio": round(min(ratios), 4) if ratios else None,
            "frames_ok": sum(1 for r in ratios if r >= 0.99),
            "behind_s_max": max(behind) if behind else None,
            "bytes_min_ratio": round(min(byte_ratios), 4) if byte_ratios else None,
            "unmatched_frames": sum(frames.get(nm, {}).get("unmatched", 0) for nm in names),
            "dts_regressions": sum(frames.get(nm, {}).get("dts_regressions", 0) for nm in names),
            "recorded_span_s_min": min((frames.get(nm, {}).get("span_s", 0) for nm in names),
                                       default=None),
        })
        res["pass"] = (live_end == n and res["frames_ok"] == n and
                       res["behind_s_max"] <= KEEP_UP_S)
        worst = sorted(names, key=lambda nm: frames.get(nm, {}).get("frames_ratio", 0))[:3]
        res["worst"] = {nm: frames.get(nm) for nm in worst}
    except Exception as e:  # a failed trial is a result too
        res["error"] = "%s: %s" % (type(e).__name__, e)
        if isinstance(e, (TimeoutError, socket.timeout)):
            res["error"] += " (the test bed's /stat or /control did not answer in time: " \
                            "the machine is overloaded)"
        res["pass"] = False
    finally:
        end_trial(c, bed, wd)
    return res


# ---------------------------------------------------------------- the C probe


def probe_binary():
    """bench/probe.c built into the work dir (again whenever the source is newer)."""
    src = os.path.join(BENCH_DIR, "probe.c")
    out = os.path.join(WORK_DIR, "probe")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    os.makedirs(WORK_DIR, exist_ok=True)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libavformat", "libavcodec",
                            "libavutil"], capture_output=True, text=True, check=True).stdout
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-o", out, src] + \
        flags.split() + ["-lpthread"]
    log("building the probe: %s" % " ".join(cmd))
    subprocess.run(cmd, check=True)
    return out
