#!/usr/bin/python3
"""syscalls.py — where a relay's CPU goes, counted: the system calls the relaying process
makes per relayed packet (strace -c -f over a few seconds), per contender. Diagnostic,
not part of the default set: strace slows the traced process, the counts stay exact.

    bench/syscalls.py                    # 720p, N = 10, 5 s traced
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def trace(pids, seconds, workdir):
    """strace -c -f of every pid at once; {syscall: calls} summed."""
    procs, outs = [], []
    for pid in pids:
        out = os.path.join(workdir, "strace-%d.txt" % pid)
        outs.append(out)
        procs.append(subprocess.Popen(["timeout", "-s", "INT", str(seconds), "strace", "-c",
                                       "-f", "-p", str(pid), "-o", out],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        p.wait(seconds + 20)
    calls = {}
    for out in outs:
        try:
            text = open(out).read()
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m and m.group(2) != "total":
                calls[m.group(2)] = calls.get(m.group(2), 0) + int(m.group(1))
    return calls


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="720p")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--contenders", default="ffmpeg,nginx,ferry")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if not shutil.which("strace"):
        sys.exit("strace not found: apt-get install strace")
    B.raise_nofile()
    B.media_file(args.profile)
    results = []
    for name in args.contenders.split(","):
        wd = B.make_workdir("syscalls-%s" % name)
        bed = B.TestBed(wd, args.profile)
        c = None
        try:
            if name != "nginx":
                bed.start()
            c = B.CONTENDERS[name](bed, wd)
            c.prepare(args.n)
            if name == "nginx":
                bed.start()
            c.start(args.n)
            names = ["out%d" % i for i in range(args.n)]
            B.wait_until(lambda: len(bed.live_streams(names)) == args.n, 30, 0.1)
            time.sleep(2)
            B.log("strace: %s" % name)
            t0 = time.monotonic()
            calls = trace(c.relay_pids(), args.seconds, wd)
            secs = time.monotonic() - t0
        finally:
            B.end_trial(c, bed)
        p = B.PROFILES[args.profile]
        pkts = (p["fps"] + 44100 / 1024.0) * secs * args.n  # video frames + AAC frames
        total = sum(calls.values())
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        results.append({"contender": name, "seconds": round(secs, 2), "packets": round(pkts),
                         "syscalls_per_packet": round(total / pkts, 2),
                         "by_call_per_packet": {k: round(v / pkts, 2) for k, v in top}})
        shutil.rmtree(wd, ignore_errors=True)
    B.print_table("System calls per relayed packet (%s, N=%d)" % (args.profile, args.n),
                  ["contender", "per packet", "largest"],
                  [[r["contender"], r["syscalls_per_packet"],
                    ", ".join("%s %.2f" % kv for kv in r["by_call_per_packet"].items())]
                   for r in results])
    doc = B.report_header("syscalls", argv, {"profile": B.PROFILES[args.profile]["desc"],
                                             "n": args.n, "seconds": args.seconds,
                                             "method": "strace -c -f -p PID of the relaying "
                                                       "process(es); packets = (30 video + "
                                                       "43.07 AAC frames/s) x seconds x N"})
    doc["results"] = results
    B.write_report("syscalls", doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
