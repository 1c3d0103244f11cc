#!/usr/bin/python3
"""relay_cost.py — N relays of one source, side by side: an ffmpeg process per relay, an
nginx-rtmp relay and ferry. For each (stream profile, N, contender) on a fresh test bed:
time until every destination is live, then over one window the CPU (ms of CPU per second
per relay) and memory (PSS per relay) of the relaying process(es) only, and the frames
every destination received against what the source sent.

    bench/relay_cost.py                       # default: 720p and 360p, N = 1, 10, 100
    bench/relay_cost.py --n 500 --profiles 720p --contenders ferry,nginx
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", default="720p,360p")
    ap.add_argument("--n", default="1,10,100", help="relay counts, comma separated")
    ap.add_argument("--contenders", default="ffmpeg,nginx,ferry")
    ap.add_argument("--warmup", type=float, default=1.5, help="seconds after all are live")
    ap.add_argument("--window", type=float, default=5.0, help="measurement window, seconds")
    ap.add_argument("--out", default=None, help="directory of the JSON report")
    args = ap.parse_args(argv)
    B.raise_nofile()
    profiles = args.profiles.split(",")
    ns = [int(x) for x in args.n.split(",")]
    contenders = args.contenders.split(",")
    for p in profiles:
        B.media_file(p)

    results = []
    t_all = time.monotonic()
    for p in profiles:
        for n in ns:
            for c in contenders:
                B.log("relay cost: %s N=%d %s" % (p, n, c))
                t = time.monotonic()
                r = B.relay_trial(p, c, n, warmup=args.warmup, window=args.window)
                r["trial_s"] = round(time.monotonic() - t, 1)
                B.log("  -> cpu %.2f ms/s/relay, pss %s KiB/relay, frames min %s, %s%s" % (
                    r.get("cpu_ms_per_s_per_relay") or -1, r.get("pss_kib_per_relay"),
                    r.get("frames_min_ratio"), "pass" if r["pass"] else "FAIL",
                    (" (" + r["error"] + ")") if "error" in r else ""))
                results.append(r)

    rows = []
    for r in results:
        st = r.get("start") or {}
        rows.append([r["profile"], r["n"], r["contender"], st.get("p50_s"), st.get("max_s"),
                     r.get("cpu_ms_per_s_per_relay"), _mib(r.get("pss_kib_per_relay")),
                     _mib(r.get("pss_kib_per_relay_marginal")),
                     _mib(r.get("private_kib_per_relay")), r.get("threads"),
                     "%s/%d" % (r.get("live_at_end"), r["n"]), r.get("frames_min_ratio"),
                     "yes" if r["pass"] else "NO"])
    headers = ["profile", "N", "contender", "start p50 s", "start max s", "CPU ms/s/relay",
               "PSS MiB/relay", "PSS MiB/relay (marginal)", "private MiB/relay", "threads",
               "live", "frames min", ">=99% all"]
    B.print_table("Relay cost (CPU and memory of the relaying processes only)", headers, rows)

    ratios = []
    for p in profiles:
        for n in ns:
            by = {r["contender"]: r for r in results if r["profile"] == p and r["n"] == n}
            f = by.get("ferry")
            if not f:
                continue
            for peer in ("ffmpeg", "nginx"):
                q = by.get(peer)
                if not q:
                    continue
                ratios.append({
                    "profile": p, "n": n, "peer": peer,
                    "cpu": B.ratio(f.get("cpu_ms_per_s_per_relay"),
                                   q.get("cpu_ms_per_s_per_relay")),
                    "pss": B.ratio(f.get("pss_kib_per_relay"), q.get("pss_kib_per_relay")),
                    "pss_marginal": B.ratio(f.get("pss_kib_per_relay_marginal"),
                                            q.get("pss_kib_per_relay_marginal")),
                })
    B.print_table("Ratios ferry/peer (below 1: ferry uses less)",
                  ["profile", "N", "peer", "CPU", "PSS", "PSS marginal"],
                  [[x["profile"], x["n"], x["peer"], x["cpu"], x["pss"], x["pss_marginal"]]
                   for x in ratios])

    doc = B.report_header("relay_cost", argv, {
        "profiles": {p: B.PROFILES[p]["desc"] for p in profiles},
        "n": ns, "warmup_s": args.warmup, "window_s": args.window,
        "contenders": {c: B.CONTENDERS[c].label for c in contenders},
        "method": {
            "cpu": "sum over the relaying processes' threads of /proc/PID/task/TID/schedstat "
                   "(ns) across the window, divided by window and N; "
                   "cpu_ms_per_s_per_relay_stat is the same from /proc/PID/stat utime+stime",
            "memory": "/proc/PID/smaps_rollup at the end of the window: Pss summed over the "
                      "relaying processes, divided by N; 'marginal' first subtracts the same "
                      "process with no relay (ferryd with no task; nginx with no stream)",
            "frames": "the source and every destination recorded by nginx-rtmp over the "
                      "window; each destination frame matched to a source frame by a hash of "
                      "its coded payload; ratio = frames received / frames the source sent "
                      "between the first and last matched frame, the worse of video and audio",
            "pass": "every destination published at the end, frames ratio >= 0.99, and "
                    "each recording covers its window but for at most %.1f s (the wait for "
                    "the first keyframe): a relay falling behind fails" % B.KEEP_UP_S,
        },
    })
    doc["results"] = results
    doc["ratios_ferry_over_peer"] = ratios
    doc["total_s"] = round(time.monotonic() - t_all, 1)
    B.write_report("relay_cost", doc, args.out)
    return 0


def _mib(kib):
    return None if kib is None else round(kib / 1024.0, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
