#!/usr/bin/python3
"""callgrind_relay.py — instructions per relayed packet, ferry against nginx-rtmp's relay,
under valgrind's callgrind: N relays of one source on a fresh test bed, the relaying
process run under callgrind with collection off until every destination is live and warm,
then on for one window. Instruction counts do not depend on the machine's load, so this is
the figure to compare two commits with on a shared machine (CPU time is not).

    bench/callgrind_relay.py                          # 720p, N = 4, both contenders
    bench/callgrind_relay.py --profile 360p --contenders ferry
    bench/callgrind_relay.py --profile 720p,360p --out bench/results/COMMIT   # with a JSON report
    callgrind_annotate build/bench/callgrind/ferry-720p-4.out.1 | head -60   # where they go

Packets: ferry's own count of packets its outputs sent (ferry_relay_sent_packets_total in
/metrics) over the window; for nginx-rtmp, (30 video + 43.07 AAC frames/s) x seconds x N,
as syscalls.py counts them. Diagnostic, not part of the default set: it prints a table,
writes callgrind_relay.json with --out, and leaves the callgrind files in
build/bench/callgrind/.
"""

import argparse
import glob
import http.client
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

OUT_DIR = os.path.join(B.REPO_ROOT, "build", "bench", "callgrind")
AAC_FPS = 44100 / 1024.0


# valgrind 3.19 does not know RDTSCP, which libhwy (FFmpeg -> libjxl -> libhwy) runs while
# it loads: a stub of that one timer function, preloaded, lets ferryd start under valgrind.
HWY_STUB = """#include <stdint.h>
uint64_t _ZN3hwy8platform15TimerResolutionEv(void) { return 1; }
"""


def hwy_stub():
    """The preload stub's path (built once), or None."""
    so = os.path.join(OUT_DIR, "hwy_timer_stub.so")
    if not os.path.exists(so):
        src = so[:-3] + ".c"
        with open(src, "w") as f:
            f.write(HWY_STUB)
        if subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", so, src]).returncode != 0:
            return None
    return so


def under_callgrind(binary_name, out_file):
    """Wraps B.PROCS.spawn so that the command whose program is binary_name runs under
    callgrind, with instrumentation off until callgrind_control turns it on."""
    spawn = B.PROCS.spawn

    def wrapped(cmd, logpath=None, **kw):
        if os.path.basename(cmd[0]) == binary_name:
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                   "--callgrind-out-file=" + out_file] + list(cmd)
            stub = hwy_stub()
            if stub:
                kw["env"] = dict(os.environ, LD_PRELOAD=stub)
        return spawn(cmd, logpath, **kw)

    B.PROCS.spawn = wrapped
    return spawn


def callgrind(pid, *args):
    subprocess.run(["callgrind_control"] + list(args) + [str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def total_ir(path):
    """The Ir total of one callgrind dump."""
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2))
    return 0


def ferry_sent(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics", headers={"Authorization": "Bearer " + B.Ferryd.TOKEN})
    body = c.getresponse().read().decode()
    c.close()
    m = re.search(r"^ferry_relay_sent_packets_total (\d+)", body, re.M)
    return int(m.group(1)) if m else 0


def trial(profile, contender, n, warmup, window):
    wd = B.make_workdir("callgrind-%s-%s-%d" % (profile, contender, n))
    os.makedirs(OUT_DIR, exist_ok=True)
    out_file = os.path.join(OUT_DIR, "%s-%s-%d.out" % (contender, profile, n))
    for old in glob.glob(out_file + "*"):
        os.unlink(old)
    binary = os.path.basename(B.ferryd_binary()) if contender == "ferry" else "nginx"
    bed = B.TestBed(wd, profile)
    names = ["out%d" % i for i in range(n)]
    c = None
    res = {"contender": contender, "profile": profile, "n": n}
    try:
        if contender == "ferry":
            bed.start()
        spawn = under_callgrind(binary, out_file)
        try:
            c = B.CONTENDERS[contender](bed, wd)
            c.prepare(n)
        finally:
            B.PROCS.spawn = spawn
        if contender == "nginx":
            bed.start()
        c.start(n)
        if not B.wait_until(lambda: len(bed.live_streams(names)) == n, 60 + 5 * n, 0.2):
            raise RuntimeError("only %d of %d destinations live" %
                               (len(bed.live_streams(names)), n))
        time.sleep(warmup)
        pid = c.relay_pids()[0]
        sent0 = ferry_sent(c.ferryd.port) if contender == "ferry" else 0
        callgrind(pid, "--instr=on")
        t0 = time.monotonic()
        time.sleep(window)
        callgrind(pid, "--dump")  # the window's counts, into out_file.1
        secs = time.monotonic() - t0
        callgrind(pid, "--instr=off")
        sent1 = ferry_sent(c.ferryd.port) if contender == "ferry" else 0
        live = len(bed.live_streams(names))
        ir = total_ir(out_file + ".1")
        estimate = (B.PROFILES[profile]["fps"] + AAC_FPS) * secs * n
        packets = sent1 - sent0 if contender == "ferry" else estimate
        res.update({"seconds": round(secs, 2), "instructions": ir, "packets": round(packets),
                    "packets_estimate": round(estimate), "live_at_end": live,
                    "ir_per_packet": round(ir / max(1, packets)), "out_file": out_file + ".1"})
    except Exception as e:  # noqa: BLE001 - the table says what failed
        res["error"] = str(e)
    finally:
        B.end_trial(c, bed, wd)
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="720p", help="one profile or a comma list (720p,360p)")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--contenders", default="ferry,nginx")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--out", default=None,
                    help="directory of the JSON report (callgrind_relay.json); none without it")
    args = ap.parse_args(argv)
    if not shutil.which("valgrind"):
        sys.exit("valgrind not found: apt-get install valgrind")
    B.raise_nofile()
    results = []
    for profile in args.profile.split(","):
        B.media_file(profile)
        rows = []
        for name in args.contenders.split(","):
            B.log("callgrind: %s %s N=%d" % (profile, name, args.n))
            r = trial(profile, name, args.n, args.warmup, args.window)
            B.log("  -> %s" % r)
            if r.get("out_file"):
                r["out_file"] = os.path.relpath(r["out_file"], B.REPO_ROOT)
            results.append(r)
            rows.append([name, r.get("ir_per_packet"), r.get("packets"),
                         r.get("packets_estimate"), r.get("instructions"),
                         "%s/%d" % (r.get("live_at_end"), args.n), r.get("error", "")])
        B.print_table("Instructions per relayed packet (callgrind, %s, N=%d)" % (profile, args.n),
                      ["contender", "Ir/packet", "packets", "packets (rate x time)", "Ir",
                       "live", "error"], rows)
    if args.out:
        doc = B.report_header("callgrind_relay", argv, {
            "profiles": args.profile, "n": args.n, "warmup": args.warmup,
            "window": args.window,
            "method": "valgrind --tool=callgrind on the relaying process, instrumentation on "
                      "for the window only; packets: ferry's sent-packet counter, for nginx "
                      "(30 video + 43.07 AAC frames/s) x seconds x N"})
        doc["results"] = results
        B.write_report("callgrind_relay", doc, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
