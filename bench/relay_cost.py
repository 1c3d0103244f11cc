#!/usr/bin/python3
"""relay_cost.py — N relays of one source, side by side: an ffmpeg process per relay, an
nginx-rtmp relay and ferry. For each (stream profile, N, contender) on a fresh test bed:
time until every destination is live, then over one window the CPU (ms of CPU per second
per relay) and memory (PSS per relay) of the relaying process(es) only, and the frames
every destination received against what the source sent.

    bench/relay_cost.py                       # default: 720p and 360p, N = 1, 10, 100
    bench/relay_cost.py --n 500 --profiles 720p --contenders ferry,nginx
    bench/relay_cost.py --n 100 --contenders nginx,ferry --rounds 3 --window 20
                                              # alternating rounds, median ratio

With --rounds K every (profile, N) runs the contenders K times, in reverse order every
other round (A B, B A, A B, ...), so that a machine whose speed drifts over minutes (a
virtual machine's neighbours) weighs on both sides alike; the ratios are given per round
and as the median over the rounds.
"""

import argparse
import os
import statistics
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
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat each (profile, N) this many times, alternating the order")
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
            for rnd, c in _schedule(contenders, args.rounds):
                B.log("relay cost: %s N=%d %s (round %d)" % (p, n, c, rnd + 1))
                t = time.monotonic()
                r = B.relay_trial(p, c, n, warmup=args.warmup, window=args.window)
                r["trial_s"] = round(time.monotonic() - t, 1)
                r["round"] = rnd + 1
                B.log("  -> cpu %.2f ms/s/relay, pss %s KiB/relay, frames min %s, %s%s" % (
                    r.get("cpu_ms_per_s_per_relay") or -1, r.get("pss_kib_per_relay"),
                    r.get("frames_min_ratio"), "pass" if r["pass"] else "FAIL",
                    (" (" + r["error"] + ")") if "error" in r else ""))
                results.append(r)

    rows = []
    for r in results:
        st = r.get("start") or {}
        rows.append([r["profile"], r["n"], r["round"], r["contender"], st.get("p50_s"), st.get("max_s"),
                     r.get("cpu_ms_per_s_per_relay"), _mib(r.get("pss_kib_per_relay")),
                     _mib(r.get("pss_kib_per_relay_marginal")),
                     _mib(r.get("private_kib_per_relay")), r.get("threads"),
                     "%s/%d" % (r.get("live_at_end"), r["n"]), r.get("frames_min_ratio"),
                     "yes" if r["pass"] else "NO"])
    headers = ["profile", "N", "round", "contender", "start p50 s", "start max s", "CPU ms/s/relay",
               "PSS MiB/relay", "PSS MiB/relay (marginal)", "private MiB/relay", "threads",
               "live", "frames min", ">=99% all"]
    B.print_table("Relay cost (CPU and memory of the relaying processes only)", headers, rows)

    ratios = _ratios(results, profiles, ns, args.rounds)
    B.print_table("Ratios ferry/peer (below 1: ferry uses less; 'median' over the rounds)",
                  ["profile", "N", "round", "peer", "CPU", "PSS", "PSS marginal"],
                  [[x["profile"], x["n"], x["round"], x["peer"], x["cpu"], x["pss"],
                    x["pss_marginal"]] for x in ratios])

    doc = B.report_header("relay_cost", argv, {
        "profiles": {p: B.PROFILES[p]["desc"] for p in profiles},
        "n": ns, "warmup_s": args.warmup, "window_s": args.window, "rounds": args.rounds,
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


def _schedule(contenders, rounds):
    """(round, contender) in run order: the contenders' order reversed every other round."""
    for rnd in range(rounds):
        order = contenders if rnd % 2 == 0 else contenders[::-1]
        for c in order:
            yield rnd, c


def _ratios(results, profiles, ns, rounds):
    """ferry/peer per (profile, N, round), then the median of each over the rounds."""
    out = []
    for p in profiles:
        for n in ns:
            per_peer = {}
            for rnd in range(1, rounds + 1):
                by = {r["contender"]: r for r in results
                      if r["profile"] == p and r["n"] == n and r["round"] == rnd}
                f = by.get("ferry")
                for peer in ("ffmpeg", "nginx"):
                    q = by.get(peer)
                    if not f or not q:
                        continue
                    x = {"profile": p, "n": n, "round": rnd, "peer": peer}
                    for key, field in (("cpu", "cpu_ms_per_s_per_relay"),
                                       ("pss", "pss_kib_per_relay"),
                                       ("pss_marginal", "pss_kib_per_relay_marginal")):
                        x[key] = B.ratio(f.get(field), q.get(field))
                    out.append(x)
                    per_peer.setdefault(peer, []).append(x)
            if rounds > 1:
                for peer, xs in per_peer.items():
                    med = {"profile": p, "n": n, "round": "median", "peer": peer}
                    for key in ("cpu", "pss", "pss_marginal"):
                        vals = [x[key] for x in xs if x[key] is not None]
                        med[key] = round(statistics.median(vals), 3) if vals else None
                    out.append(med)
    return out


def _mib(kib):
    return None if kib is None else round(kib / 1024.0, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
