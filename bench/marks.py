#!/usr/bin/python3
"""marks.py — the cost of a watermark, side by side in one run: ferry relays with a logo
(its own decode, blend and libx264 encode) against one `ffmpeg -filter_complex overlay`
process per relay doing the same job (the same logo at the same place and size, the same
libx264 preset, tune, bit rate and keyframes, audio copied), with ferry's plain copy relay
as a reference. For each (stream profile, contender) on a fresh test bed: over one window
the CPU of the relaying process(es) (ms of CPU per second of stream, per relay), the video
frames the watched destination received against the source's, and the latency a relay adds
to a video frame (its arrival at the destination minus the arrival at the source of the
packet with the same presentation time).

    bench/marks.py                                  # default: 360p and 720p, N = 1, 20 s
    bench/marks.py --n 4 --window 30 --profiles 720p
    bench/marks.py --n 1 --window 10 --warmup 2    # a smoke run
"""

import argparse
import bisect
import functools
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

# The logo: 256x128 RGBA, half-transparent magenta, drawn top-right, 5 % in from the corner,
# 20 % of the frame's width (its height keeps the picture's shape).
LOGO_SIZE = (256, 128)
MARK = {"x": 5, "y": 5, "width": 20, "height": 0, "location": 1}


def even(num, den):
    v = (num + den // 2) // den
    return (v + 1) & ~1


def mark_rect(fw, fh):
    """Where ferry draws MARK on a fw x fh frame (src/engine/watermark_place.c): x, y, w, h."""
    iw, ih = LOGO_SIZE
    w = even(fw * MARK["width"], 100)
    h = even(w * ih, iw)
    return fw - w - even(fw * MARK["x"], 100), even(fh * MARK["y"], 100), w, h


def make_logo(d):
    path = os.path.join(d, "logo.png")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f",
                    "lavfi", "-i", "color=c=0xFF00FF@0.5:size=%dx%d,format=rgba" % LOGO_SIZE,
                    "-frames:v", "1", path], check=True)
    return path


class LogoServer:
    """The logo over HTTP on 127.0.0.1 (ferry fetches its pictures over http(s))."""

    def __init__(self, d):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=d))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/logo.png" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def encode_settings(profile, preset):
    kbps = B.PROFILES[profile]["video_kbps"]
    return {"preset": preset, "kbps": kbps, "maxrate_kbps": kbps * 3 // 2,
            "bufsize_kbps": kbps * 2, "gop": 2 * B.PROFILES[profile]["fps"]}


class FfmpegOverlay(B.Contender):
    name = "ffmpeg-overlay"
    label = "ffmpeg -filter_complex overlay per relay"

    def __init__(self, bed, workdir, logo, enc, threads):
        super().__init__(bed, workdir)
        self.logo, self.enc, self.threads = logo, enc, threads
        self.procs = []

    def command(self, i):
        fw, fh = (int(v) for v in B.PROFILES[self.bed.profile]["size"].split("x"))
        x, y, w, h = mark_rect(fw, fh)
        graph = "movie=%s,scale=%d:%d[logo];[0:v][logo]overlay=x=%d:y=%d[v]" % (
            self.logo, w, h, x, y)
        e, t = self.enc, str(self.threads)
        return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", t,
                "-i", self.bed.src_url, "-filter_complex", graph, "-filter_complex_threads", t,
                "-map", "[v]", "-map", "0:a", "-fps_mode", "passthrough",
                "-c:v", "libx264", "-threads", t, "-preset", e["preset"],
                "-tune", "zerolatency", "-bf", "0", "-b:v", "%dk" % e["kbps"],
                "-maxrate", "%dk" % e["maxrate_kbps"], "-bufsize", "%dk" % e["bufsize_kbps"],
                "-g", str(e["gop"]), "-force_key_frames", "source", "-c:a", "copy",
                "-f", "flv", self.bed.dst_url(i)]

    def start(self, n):
        self.n = n
        t = time.time()
        self.procs = [B.PROCS.spawn(self.command(i), os.path.join(self.workdir,
                                                                  "ffmpeg-%d.log" % i))
                      for i in range(n)]
        return t

    def relay_pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self):
        B.PROCS.stop_many(self.procs)
        self.procs = []


class FerryMarks(B.Contender):
    name = "ferry"
    label = "ferry, a watermark per relay"

    def __init__(self, bed, workdir, logo_url, enc, marked=True):
        super().__init__(bed, workdir)
        self.logo_url, self.marked = logo_url, marked
        self.ferryd = B.Ferryd(workdir, {"watermark_preset": enc["preset"],
                                         "watermark_bitrate_kbps": enc["kbps"]}).start()

    def start(self, n):
        self.n = n
        start = int(time.time()) + 1
        marks = [dict(MARK, picture_url=self.logo_url)] if self.marked else []
        for i in range(n):
            st, doc = self.ferryd.api.call("POST", "/v1/tasks", B.relay_task_body(
                self.bed.src_url, self.bed.dst_url(i), start, start + 7200,
                id="relay-%d" % i, watermarks=marks))
            if st != 201:
                raise RuntimeError("create task %d: HTTP %s %s" % (i, st, doc))
        return float(start)

    def relay_pids(self):
        return [self.ferryd.pid] if self.ferryd.proc.poll() is None else []

    def stop(self):
        for i in range(self.n):
            self.ferryd.api.call("DELETE", "/v1/tasks/relay-%d" % i)
        self.n = 0

    def close(self):
        self.ferryd.stop()


def watch_lines(out):
    """probe watch output: (url index, t, kind, dts, key, session, size, pts, hash)."""
    rows = []
    for ln in out.splitlines():
        f = ln.split()
        if len(f) == 9:
            rows.append((int(f[0]), float(f[1]), f[2], int(f[3]), int(f[4]), int(f[5]),
                         int(f[6]), int(f[7]), f[8]))
    return rows


# ffmpeg rounds video timestamps through the frame rate: a frame's PTS may move by a few ms
# against the audio's. Frames are 33 ms apart at 30 fps.
MATCH_SLACK_MS = 10


def added_latency(rows):
    """Video latency by presentation time. The offset between the destination's clock and
    the source's comes from the audio, which every contender copies (matched by payload);
    a destination video frame is then the source frame whose PTS is nearest its PTS plus that
    offset (within MATCH_SLACK_MS)."""
    src_audio = {r[8]: r for r in rows if r[0] == 0 and r[2] == "a"}
    offsets = [src_audio[r[8]][3] - r[3] for r in rows
               if r[0] == 1 and r[2] == "a" and r[8] in src_audio]
    out = {"audio_matched": len(offsets)}
    if not offsets:
        return out
    off = int(statistics.median(offsets))
    src_video = sorted((r[7], r[1]) for r in rows if r[0] == 0 and r[2] == "v")
    keys = [v[0] for v in src_video]
    lat, unmatched = [], 0
    for r in rows:
        if r[0] != 1 or r[2] != "v":
            continue
        want = r[7] + off
        i = bisect.bisect_left(keys, want)
        near = [j for j in (i - 1, i) if 0 <= j < len(keys)]
        j = min(near, key=lambda k: abs(keys[k] - want)) if near else None
        if j is None or abs(keys[j] - want) > MATCH_SLACK_MS:
            unmatched += 1
            continue
        lat.append((r[1] - src_video[j][1]) * 1000.0)
    out.update({"video_matched": len(lat), "video_unmatched": unmatched,
                "offset_ms": off})
    if lat:
        out.update({"p50_ms": round(B.percentile(lat, 50), 1),
                    "p99_ms": round(B.percentile(lat, 99), 1),
                    "max_ms": round(max(lat), 1), "mean_ms": round(statistics.mean(lat), 1)})
    return out


def trial(profile, contender, n, warmup, window, enc, threads):
    wd = B.make_workdir("marks-%s-%s-%d" % (profile, contender, n))
    bed = B.TestBed(wd, profile)
    logo_dir = os.path.join(wd, "logo")
    os.makedirs(logo_dir)
    logo = make_logo(logo_dir)
    server = LogoServer(logo_dir)
    c = None
    res = {"contender": contender, "profile": profile, "n": n}
    try:
        bed.start()
        if contender == "ffmpeg-overlay":
            c = FfmpegOverlay(bed, wd, logo, enc, threads)
        else:
            c = FerryMarks(bed, wd, server.url, enc, marked=contender == "ferry")
        c.start(n)
        names = ["out%d" % i for i in range(n)]
        if not B.wait_until(lambda: len(bed.live_streams(names)) == n, 20 + 0.5 * n, 0.05):
            raise RuntimeError("only %d of %d destinations went live" % (
                len(bed.live_streams(names)), n))
        time.sleep(warmup)
        pids = c.relay_pids()
        probe = subprocess.Popen([B.probe_binary(), "watch", str(window), bed.src_url,
                                  bed.dst_url(0)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        cpu0, t0 = B.cpu_ns_sum(pids), time.monotonic()
        out, _ = probe.communicate(timeout=window + 30)
        cpu1, t1 = B.cpu_ns_sum(pids), time.monotonic()
        secs = t1 - t0
        rows = watch_lines(out)
        src_v = sum(1 for r in rows if r[0] == 0 and r[2] == "v")
        dst_v = sum(1 for r in rows if r[0] == 1 and r[2] == "v")
        live_end = len(bed.live_streams(names))
        res.update({
            "window_s": round(secs, 2),
            "cpu_ms_per_s_per_relay": round((cpu1[0] - cpu0[0]) / 1e6 / secs / n, 2),
            "cpu_ms_per_s_per_relay_stat": round((cpu1[1] - cpu0[1]) / 1e6 / secs / n, 2),
            "threads": sum(B.thread_count(p) for p in pids),
            "live_at_end": live_end,
            "src_video_frames": src_v,
            "dst_video_frames": dst_v,
            "frames_ratio": round(dst_v / src_v, 3) if src_v else None,
            "latency": added_latency(rows),
        })
        res["pass"] = live_end == n and (res["frames_ratio"] or 0) >= 0.97
    except Exception as e:  # a failed trial is a result too
        res["error"] = "%s: %s" % (type(e).__name__, e)
        res["pass"] = False
    finally:
        server.stop()
        B.end_trial(c, bed, wd)
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default="360p,720p")
    ap.add_argument("--n", type=int, default=1, help="watermarked relays per trial")
    ap.add_argument("--contenders", default="ffmpeg-overlay,ferry,ferry-copy")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds after all are live")
    ap.add_argument("--window", type=float, default=20.0, help="measurement window, seconds")
    ap.add_argument("--preset", default="veryfast", help="libx264 preset of both")
    ap.add_argument("--ffmpeg-threads", type=int, default=1,
                    help="ffmpeg's decoder, filter and encoder threads (ferry uses one each); "
                         "0 = ffmpeg's own choice")
    ap.add_argument("--out", default=None, help="directory of the JSON report")
    args = ap.parse_args(argv)
    B.raise_nofile()
    profiles = args.profiles.split(",")
    contenders = args.contenders.split(",")
    for p in profiles:
        B.media_file(p)
    B.probe_binary()

    results = []
    t_all = time.monotonic()
    for p in profiles:
        enc = encode_settings(p, args.preset)
        for c in contenders:
            B.log("marks: %s N=%d %s" % (p, args.n, c))
            r = trial(p, c, args.n, args.warmup, args.window, enc, args.ffmpeg_threads)
            lat = r.get("latency") or {}
            B.log("  -> cpu %s ms/s/relay, frames %s, latency p50 %s ms%s" % (
                r.get("cpu_ms_per_s_per_relay"), r.get("frames_ratio"), lat.get("p50_ms"),
                (" (" + r["error"] + ")") if "error" in r else ""))
            results.append(r)

    rows = []
    for r in results:
        lat = r.get("latency") or {}
        rows.append([r["profile"], r["n"], r["contender"], r.get("cpu_ms_per_s_per_relay"),
                     r.get("threads"), r.get("frames_ratio"), lat.get("p50_ms"),
                     lat.get("p99_ms"), lat.get("max_ms"), lat.get("video_matched"),
                     "yes" if r["pass"] else "NO"])
    B.print_table("Watermark cost (CPU of the relaying processes; latency of the video)",
                  ["profile", "N", "contender", "CPU ms/s/relay", "threads", "frames",
                   "latency p50 ms", "p99 ms", "max ms", "frames matched", "pass"], rows)

    ratios = []
    for p in profiles:
        by = {r["contender"]: r for r in results if r["profile"] == p}
        f, q, copy = by.get("ferry"), by.get("ffmpeg-overlay"), by.get("ferry-copy")
        if not f or not q:
            continue
        fl, ql = f.get("latency") or {}, q.get("latency") or {}
        cl = (copy or {}).get("latency") or {}
        ratios.append({
            "profile": p,
            "cpu": B.ratio(f.get("cpu_ms_per_s_per_relay"), q.get("cpu_ms_per_s_per_relay")),
            "latency_p50": B.ratio(fl.get("p50_ms"), ql.get("p50_ms")),
            "ferry_added_by_mark_p50_ms": (round(fl["p50_ms"] - cl["p50_ms"], 1)
                                           if "p50_ms" in fl and "p50_ms" in cl else None),
        })
    B.print_table("Ratios ferry/ffmpeg overlay (below 1: ferry uses less)",
                  ["profile", "CPU", "latency p50", "ferry: the mark adds p50 ms"],
                  [[x["profile"], x["cpu"], x["latency_p50"], x["ferry_added_by_mark_p50_ms"]]
                   for x in ratios])

    doc = B.report_header("marks", argv, {
        "profiles": {p: B.PROFILES[p]["desc"] for p in profiles},
        "n": args.n, "warmup_s": args.warmup, "window_s": args.window,
        "encode": {p: encode_settings(p, args.preset) for p in profiles},
        "ffmpeg_threads": args.ffmpeg_threads,
        "logo": "%dx%d RGBA PNG, magenta at 50 %% alpha; %s" % (LOGO_SIZE + (MARK,)),
        "contenders": {
            "ffmpeg-overlay": "one `ffmpeg -i SRC -filter_complex movie=logo,scale[l];"
                              "[0:v][l]overlay -c:v libx264 -tune zerolatency -bf 0 "
                              "-force_key_frames source -c:a copy` per relay",
            "ferry": "one ferryd; each relay a live task with the logo in `watermarks` "
                     "(watermark_preset and watermark_bitrate_kbps as ffmpeg's)",
            "ferry-copy": "the same tasks without watermarks (the reference: a copy relay)"},
        "method": {
            "cpu": "sum over the relaying processes' threads of /proc/PID/task/TID/schedstat "
                   "across the window, divided by window and N",
            "latency": "bench/probe.c watch plays SRC and DST/out0; the audio (copied by every "
                       "contender, matched by payload hash) gives the offset between the two "
                       "clocks; each destination video frame is matched to the source packet "
                       "with the same PTS; latency = arrival at DST - arrival at SRC",
            "pass": "every destination published at the end and >= 97 % of the source's "
                    "video frames reached DST/out0 in the window",
        },
    })
    doc["results"] = results
    doc["ratios_ferry_over_ffmpeg"] = ratios
    doc["total_s"] = round(time.monotonic() - t_all, 1)
    B.write_report("marks", doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
