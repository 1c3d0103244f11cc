#!/usr/bin/python3
"""capacity.py — the largest number of relays each contender holds on this machine with
every destination live and receiving at least 99% of the source's frames. A bounded
search: climb a ladder of N until the first failure, then (with --refine K) bisect K times
between the last N that held and the first that did not. Each step is one relay-cost
trial (bench/relay_cost.py) on a fresh test bed.

    bench/capacity.py                               # default: 720p, ladder 250,300
    bench/capacity.py --ladder 100,200,300,400,600,800,1000 --refine 2
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def search(profile, contender, ladder, refine, warmup, window, step):
    trials = []

    def trial(n):
        B.log("capacity: %s N=%d" % (contender, n))
        t = time.monotonic()
        r = B.relay_trial(profile, contender, n, warmup=warmup, window=window,
                          live_timeout=20 + 0.05 * n, require_live=True)
        r["trial_s"] = round(time.monotonic() - t, 1)
        B.log("  -> %s (frames min %s, live %s, cpu %s ms/s/relay, machine busy %s%%)%s" % (
            "holds" if r["pass"] else "does NOT hold", r.get("frames_min_ratio"),
            r.get("live_at_end", (r.get("start") or {}).get("live")),
            r.get("cpu_ms_per_s_per_relay"), r.get("machine_busy_pct"),
            (" " + r["error"]) if "error" in r else ""))
        trials.append(r)
        return r["pass"]

    lo, hi = 0, None
    for n in ladder:
        if trial(n):
            lo = n
        else:
            hi = n
            break
    for _ in range(refine):
        if hi is None or hi - lo <= step:
            break
        mid = (lo + hi) // 2 // step * step
        if mid <= lo:
            break
        if trial(mid):
            lo = mid
        else:
            hi = mid
    return {"contender": contender, "holds": lo, "fails_at": hi, "trials": trials}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="720p")
    ap.add_argument("--ladder", default="250,300")
    ap.add_argument("--refine", type=int, default=0, help="bisection steps after a failure")
    ap.add_argument("--step", type=int, default=20, help="resolution of the bisection")
    ap.add_argument("--contenders", default="ffmpeg,nginx,ferry")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    B.raise_nofile()
    B.media_file(args.profile)
    ladder = [int(x) for x in args.ladder.split(",")]
    results = []
    t0 = time.monotonic()
    for c in args.contenders.split(","):
        results.append(search(args.profile, c, ladder, args.refine, args.warmup, args.window,
                              args.step))
    rows = []
    for r in results:
        held = [t for t in r["trials"] if t["pass"]]
        best = max(held, key=lambda t: t["n"]) if held else {}
        rows.append([r["contender"], r["holds"] or "< %d" % ladder[0],
                     r["fails_at"] or "none up to %d" % ladder[-1],
                     best.get("cpu_ms_per_s_total"), best.get("bed_cpu_ms_per_s"),
                     best.get("machine_busy_pct"),
                     " ".join("%d:%s" % (t["n"], "ok" if t["pass"] else "FAIL")
                              for t in r["trials"])])
    B.print_table("Capacity, %s: largest N with every destination live and >= 99%% frames"
                  % args.profile,
                  ["contender", "holds N", "fails at N", "relay CPU ms/s (at held N)",
                   "bed CPU ms/s", "machine busy %", "trials"], rows)
    by = {r["contender"]: r for r in results}
    ratios = {}
    if "ferry" in by:
        for peer in ("ffmpeg", "nginx"):
            if peer in by and by[peer]["holds"]:
                ratios[peer] = B.ratio(by["ferry"]["holds"], by[peer]["holds"])
    if ratios:
        print("\ncapacity ratio ferry/peer (lower bounds of the search): %s" % ratios)
    doc = B.report_header("capacity", argv, {
        "profile": B.PROFILES[args.profile]["desc"], "ladder": ladder, "refine": args.refine,
        "warmup_s": args.warmup, "window_s": args.window,
        "criterion": "all N destinations published at the end of the window and each "
                     "received >= 99% of the source's frames (video and audio) within it; "
                     "all N live within 20 s + 0.05 s x N of the start",
        "note": "the test bed (source and sink nginx, publisher) runs on the same 2 cores",
    })
    doc["results"] = results
    doc["capacity_ratio_ferry_over_peer"] = ratios
    doc["total_s"] = round(time.monotonic() - t0, 1)
    B.write_report("capacity", doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
