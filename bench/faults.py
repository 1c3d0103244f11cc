#!/usr/bin/python3
"""faults.py — continuity when the source goes away: the publisher is killed (SIGKILL) and
restarted after 3 s. A probe (bench/probe.c watch) plays the source and the destination
throughout, reconnecting at once when a session ends. Reported per contender: whether the
destination kept one publish session (nginx-rtmp's log of the sink counts publishes), the
largest gap at the source and at the destination, and DTS regressions at the destination.

Two kinds of source server: "stall" keeps its players while the publisher is away (so a
relay sees a 3 s stall), "drop" disconnects them (so a relay must reconnect).

The ffmpeg contender is supervised as process-per-stream managers do: an ffmpeg that exits
is started again after 1 s (ferry's tasks use retry_interval 1 s).

    bench/faults.py                 # default: 720p, one relay, down 3 s
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def analyse(lines, t_kill, t_restart):
    """Per URL (0 = source, 1 = destination): packets, sessions, largest gap, DTS steps."""
    out = {}
    for idx in (0, 1):
        pk = [ln for ln in lines if ln[0] == idx]
        times = [p[1] for p in pk]
        gap, gap_at = 0.0, None
        for a, b in zip(times, times[1:]):
            if b - a > gap:
                gap, gap_at = b - a, a
        within = across = 0
        max_fwd = 0
        last = {}
        back_steps = []
        for (_, t, kind, dts, key, sess, size) in pk:
            if dts < 0:
                continue
            if kind in last:
                pdts, psess = last[kind]
                if dts < pdts:
                    if sess == psess:
                        within += 1
                    else:
                        across += 1
                    back_steps.append(dts - pdts)
                elif sess == psess:
                    max_fwd = max(max_fwd, dts - pdts)
            last[kind] = (dts, sess)
        after = [t for t in times if t > t_restart]
        out["source" if idx == 0 else "destination"] = {
            "first_packet_after_restart_s": round(after[0] - t_restart, 3) if after else None,
            "packets": len(pk),
            "viewer_sessions": max((p[5] for p in pk), default=0),
            "largest_gap_s": round(gap, 3),
            "gap_starts_after_kill_s": round(gap_at - t_kill, 3) if gap_at else None,
            "packets_after_restart": sum(1 for t in times if t > t_restart),
            "dts_regressions_within_session": within,
            "dts_regressions_across_sessions": across,
            "dts_backward_steps_ms": back_steps[:6],
            "largest_dts_step_ms": max_fwd,
        }
    return out


def run(profile, contender, mode, down_s, before_s, after_s):
    wd = B.make_workdir("faults-%s-%s" % (mode, contender))
    bed = B.TestBed(wd, profile, idle_streams=(mode == "stall"))
    c = None
    res = {"contender": contender, "mode": mode, "profile": profile, "down_s": down_s}
    try:
        if contender != "nginx":
            bed.start()
        if contender == "ffmpeg":
            c = B.FfmpegRelays(bed, wd, restart_delay=1.0)
        else:
            c = B.CONTENDERS[contender](bed, wd)
        c.prepare(1)
        if contender == "nginx":
            bed.start()
        c.start(1)
        if not B.wait_until(lambda: bed.live_streams(["out0"]), 20, 0.05):
            raise RuntimeError("the destination did not go live")
        time.sleep(1.0)
        total = before_s + down_s + after_s
        probe = subprocess.Popen([B.probe_binary(), "watch", str(total), bed.src_url,
                                  bed.dst_url(0)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        time.sleep(before_s)
        first_ffmpeg = c.procs[0] if contender == "ffmpeg" else None
        t_kill = time.time()
        bed.kill_publisher()
        time.sleep(down_s)
        t_restart = time.time()
        bed.start_publisher()
        out, _ = probe.communicate(timeout=total + 30)
        lines = []
        for ln in out.splitlines():
            f = ln.split()
            if len(f) >= 7:  # then pts and hash, unused here
                lines.append((int(f[0]), float(f[1]), f[2], int(f[3]), int(f[4]), int(f[5]),
                              int(f[6])))
        res.update(analyse(lines, t_kill, t_restart))
        publishes = bed.sink.publish_count("dst", "out0")
        res["destination_publishes"] = publishes
        res["session_survived"] = publishes == 1
        src_gap = res["source"]["largest_gap_s"]
        dst_gap = res["destination"]["largest_gap_s"]
        res["output_gap_minus_source_gap_s"] = round(dst_gap - src_gap, 3)
        d = res["destination"]
        res["dts_regression"] = (d["dts_regressions_within_session"] +
                                 d["dts_regressions_across_sessions"]) > 0
        res["live_after"] = d["packets_after_restart"] > 0
        if first_ffmpeg is not None:
            res["ffmpeg_exit_status"] = first_ffmpeg.returncode
            res["ffmpeg_restarts"] = c.restarts
        if contender == "ferry":
            st, task = c.ferryd.api.call("GET", "/v1/tasks/relay-0")
            prog = (task or {}).get("progress") or {}
            res["ferry_task"] = {"state": task.get("state"), "reason": task.get("reason"),
                                 "discontinuities": prog.get("discontinuities"),
                                 "last_error": task.get("last_error")}
        res["pass"] = (res["session_survived"] and not res["dts_regression"] and
                       res["live_after"] and dst_gap <= src_gap + 1.0)
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
        res["pass"] = False
    finally:
        B.end_trial(c, bed, wd)
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="720p")
    ap.add_argument("--down", type=float, default=3.0, help="seconds the publisher is away")
    ap.add_argument("--before", type=float, default=2.0)
    ap.add_argument("--after", type=float, default=6.0)
    ap.add_argument("--contenders", default="ffmpeg,nginx,ferry")
    ap.add_argument("--modes", default="stall,drop",
                    help="stall: the source server keeps its players while the publisher is "
                         "away (nginx-rtmp's default); drop: it disconnects them "
                         "(idle_streams off), so every relay must reconnect")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    B.media_file(args.profile)
    B.probe_binary()
    results = []
    for mode in args.modes.split(","):
        for c in args.contenders.split(","):
            B.log("faults: %s, %s" % (mode, c))
            results.append(run(args.profile, c, mode, args.down, args.before, args.after))
    rows = []
    for r in results:
        s, d = r.get("source", {}), r.get("destination", {})
        rows.append([r["mode"], r["contender"], r.get("destination_publishes"),
                     "yes" if r.get("session_survived") else "no", s.get("largest_gap_s"),
                     d.get("largest_gap_s"), r.get("output_gap_minus_source_gap_s"),
                     "%s / %s" % (s.get("first_packet_after_restart_s"),
                                  d.get("first_packet_after_restart_s")),
                     d.get("dts_regressions_within_session"),
                     d.get("dts_regressions_across_sessions"),
                     "yes" if r.get("live_after") else "no",
                     "yes" if r.get("pass") else "no", r.get("error", "")])
    B.print_table("Publisher killed, back after %.0f s" % args.down,
                  ["source server", "contender", "dst publishes", "one session", "source gap s", "output gap s",
                   "output - source s", "back after restart s (src / dst)",
                   "DTS back (in session)", "DTS back (new session)",
                   "live after", "meets target", "error"], rows)
    doc = B.report_header("faults", argv, {
        "profile": B.PROFILES[args.profile]["desc"], "down_s": args.down,
        "modes": {"stall": "the source server keeps its players while the publisher is away "
                           "(nginx-rtmp default, idle_streams on): relays see a 3 s stall",
                  "drop": "the source server disconnects its players when the publisher "
                          "goes (idle_streams off): relays must reconnect"},
        "before_s": args.before, "after_s": args.after,
        "ffmpeg_supervisor": "restart an exited ffmpeg after 1 s",
        "ferry_task": "retry_count 10, retry_interval 1 s, stall_timeout 10 s",
        "target": "one destination session, output gap <= source gap + 1 s, no DTS regression",
    })
    doc["results"] = results
    B.write_report("faults", doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
