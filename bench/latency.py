#!/usr/bin/python3
"""latency.py — the delay a relay adds. One probe process (bench/probe.c, libavformat)
plays the source and the destination at once and matches packets by a hash of their
payload; the added latency of a packet is its arrival at the destination minus its
arrival at the source. p50 / p99 / max per contender. The contenders take turns for a few
rounds and each figure is the median over the rounds (max: the largest), so a burst of
other work on the machine during one round does not decide the result.

    bench/latency.py                         # default: 720p, one relay, 3 rounds of 4 s
    bench/latency.py --n 100 --seconds 20    # the measured relay is one of 100
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def measure(profile, contender, n, seconds, warmup):
    wd = B.make_workdir("latency-%s-%s" % (contender, n))
    bed = B.TestBed(wd, profile)
    c = None
    res = {"contender": contender, "profile": profile, "n": n}
    try:
        if contender != "nginx":
            bed.start()
        c = B.CONTENDERS[contender](bed, wd)
        c.prepare(n)
        if contender == "nginx":
            bed.start()
        c.start(n)
        names = ["out%d" % i for i in range(n)]
        if not B.wait_until(lambda: len(bed.live_streams(names)) == n, 20 + 0.15 * n, 0.05):
            raise RuntimeError("not every destination went live")
        time.sleep(warmup)
        r = subprocess.run([B.probe_binary(), "latency", str(seconds), bed.src_url,
                            bed.dst_url(0)], capture_output=True, text=True,
                           timeout=seconds + 30)
        res.update(json.loads(r.stdout))
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        B.end_trial(c, bed, wd)
    return res


def combine(contender, rs):
    """Median over the rounds of each percentile; the largest max; counts summed."""
    ok = [r for r in rs if "p50_ms" in r]
    out = {"contender": contender, "profile": rs[0]["profile"], "n": rs[0]["n"], "rounds": rs}
    if not ok:
        out["error"] = "; ".join(r.get("error", "no result") for r in rs)
        return out
    for k in ("min_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms"):
        v = sorted(r[k] for r in ok)
        out[k] = v[len(v) // 2]
    out["max_ms"] = max(r["max_ms"] for r in ok)
    for k in ("matched", "unmatched", "src_packets", "dst_packets"):
        out[k] = sum(r[k] for r in ok)
    out["p99_ms_rounds"] = [r["p99_ms"] for r in ok]
    if len(ok) < len(rs):
        out["error"] = "%d of %d rounds failed" % (len(rs) - len(ok), len(rs))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="720p")
    ap.add_argument("--n", type=int, default=1, help="relays running; the probe watches one")
    ap.add_argument("--seconds", type=float, default=4.0, help="per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--contenders", default="ffmpeg,nginx,ferry")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    B.raise_nofile()
    B.media_file(args.profile)
    B.probe_binary()
    contenders = args.contenders.split(",")
    rounds = {c: [] for c in contenders}
    for k in range(args.rounds):
        for c in contenders:
            B.log("latency: round %d, %s (%d relay(s), %s, %.0f s)" % (
                k + 1, c, args.n, args.profile, args.seconds))
            rounds[c].append(measure(args.profile, c, args.n, args.seconds, args.warmup))
    results = [combine(c, rounds[c]) for c in contenders]
    rows = [[r["contender"], r.get("matched"), r.get("unmatched"), r.get("p50_ms"),
             r.get("p99_ms"), r.get("max_ms"), r.get("p99_ms_rounds"), r.get("error", "")]
            for r in results]
    B.print_table("Added latency, ms (arrival at destination - arrival at source)",
                  ["contender", "packets matched", "unmatched", "p50", "p99", "max",
                   "p99 of each round", "error"],
                  rows)
    by = {r["contender"]: r for r in results}
    ratios = {}
    if "ferry" in by:
        for peer in ("ffmpeg", "nginx"):
            if peer in by:
                ratios[peer] = {k: B.ratio(by["ferry"].get(k), by[peer].get(k))
                                for k in ("p50_ms", "p99_ms", "max_ms")}
    doc = B.report_header("latency", argv, {
        "profile": B.PROFILES[args.profile]["desc"], "n": args.n, "seconds": args.seconds,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "method": "bench/probe.c plays SRC and DST/out0 in one process (a thread each, "
                  "AVFMT_FLAG_NOBUFFER|NOPARSE); packets matched by FNV-1a of the payload",
    })
    doc["results"] = results
    doc["ratios_ferry_over_peer"] = ratios
    B.write_report("latency", doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
