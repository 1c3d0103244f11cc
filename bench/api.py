#!/usr/bin/python3
"""api.py — ferryd's native API under load with 10,000 stored tasks. The tasks are created
one after another over one keep-alive connection (each a durable commit: SQLite WAL,
synchronous=FULL), which gives the creation latency; then `wrk` (Debian package) drives
get-one-task and list-tasks. With `--stores sqlite,postgresql` the same run is made on each
store in turn (PostgreSQL: a throw-away server from scripts/pg_test.sh, loopback, fsync on),
so the two stores are compared in one run on one machine.

    bench/api.py                          # default: 10,000 tasks, wrk 2 threads 16 conns 6 s
    bench/api.py --stores sqlite,postgresql --out DIR
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    """Requests/s, latency percentiles (ms) and errors from `wrk --latency` output."""
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_s"] = float(m.group(1)) if m else None
    for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out["p%s_ms" % p] = round(float(v) * UNITS[u], 3)
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else ""
    return out


def run_wrk(base, path, token, threads, conns, seconds):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency",
           "--timeout", "5s", "-H", "Authorization: Bearer " + token, base + path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    res = parse_wrk(r.stdout)
    res["command"] = ("wrk -t%d -c%d -d%ds --latency --timeout 5s "
                      "-H 'Authorization: Bearer TOKEN' http://127.0.0.1:PORT%s"
                      % (threads, conns, seconds, path))
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--seconds", type=int, default=6, help="wrk duration per endpoint")
    ap.add_argument("--stores", default="sqlite",
                    help="comma-separated: sqlite, postgresql (each gets the same run)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk (see bench/README.md)")
    stores = [x.strip() for x in args.stores.split(",") if x.strip()]
    for st in stores:
        if st not in ("sqlite", "postgresql"):
            sys.exit("--stores: sqlite or postgresql, not %r" % st)
    by_store = {}
    for st in stores:
        B.log("store: %s" % st)
        by_store[st] = run_store(args, st)
    for st, results in by_store.items():
        print_results(args, st, results)
    doc = B.report_header("api", argv, {
        "tasks": args.tasks, "wrk_threads": args.threads, "wrk_connections": args.connections,
        "wrk_seconds": args.seconds, "stores": stores,
        "note": "wrk and ferryd (and PostgreSQL) share the machine's cores",
        "targets": {"get_one_task_rps": 5000, "create_p99_ms": 20},
    })
    # the first store's figures stay where reports before --stores had them
    doc["results"] = dict(by_store[stores[0]], store=stores[0])
    doc["by_store"] = by_store
    B.write_report("api", doc, args.out)
    return 0


class Postgres:
    """A throw-away PostgreSQL server (scripts/pg_test.sh) for the length of a run."""
    SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts",
                          "pg_test.sh")

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ferry-bench-pg.")
        os.chmod(self.dir, 0o755)  # the server may run as the postgres user
        out = subprocess.run(["bash", self.SCRIPT, "start", self.dir], capture_output=True,
                             text=True, check=False)
        m = re.search(r"FERRY_TEST_PG=(\S+)", out.stdout)
        if out.returncode != 0 or not m:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("PostgreSQL did not start: %s" % out.stderr.strip())
        self.url = m.group(1)

    def stop(self):
        subprocess.run(["bash", self.SCRIPT, "stop", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_store(args, store):
    pg = Postgres() if store == "postgresql" else None
    wd = B.make_workdir("api")
    fd = B.Ferryd(wd, {"store": pg.url} if pg else None).start()
    results = {}
    try:
        # --- seed, timing every create
        start = int(time.time()) + 30 * 86400  # far in the future: no task runs
        lat = []
        t0 = time.monotonic()
        for i in range(args.tasks):
            body = B.relay_task_body("rtmp://127.0.0.1:9/src/cam%d" % i,
                                     "rtmp://127.0.0.1:9/dst/out%d" % i, start + i,
                                     start + i + 3600, id="t%05d" % i,
                                     name="bench task %d" % i)
            a = time.perf_counter()
            st, doc = fd.api.call("POST", "/v1/tasks", body)
            lat.append((time.perf_counter() - a) * 1000)
            if st != 201:
                raise RuntimeError("create %d: HTTP %s %s" % (i, st, doc))
        seed_s = time.monotonic() - t0
        results["create"] = {
            "count": len(lat), "seconds": round(seed_s, 1),
            "per_s": round(len(lat) / seed_s, 1),
            "p50_ms": round(B.percentile(lat, 50), 3), "p99_ms": round(B.percentile(lat, 99), 3),
            "max_ms": round(max(lat), 3),
            "client": "one client, one keep-alive connection, sequential (Python http.client)",
        }
        B.log("created %d tasks in %.1f s: p50 %.2f ms, p99 %.2f ms" % (
            len(lat), seed_s, results["create"]["p50_ms"], results["create"]["p99_ms"]))
        st, doc = fd.api.call("GET", "/v1/tasks?page=1&page_size=1")
        results["stored_tasks"] = doc.get("total") if doc else None
        base = "http://127.0.0.1:%d" % fd.port
        mid = args.tasks // 2
        endpoints = [
            ("get one task", "/v1/tasks/t%05d" % mid),
            ("list tasks, page 1 (20)", "/v1/tasks?page=1&page_size=20"),
            ("list tasks, page 1 (100)", "/v1/tasks?page=1&page_size=100"),
            ("list tasks, middle page (20)", "/v1/tasks?page=%d&page_size=20" %
             max(1, args.tasks // 40)),
        ]
        results["wrk"] = []
        for name, path in endpoints:
            B.log("wrk: %s" % name)
            cpu0 = B.cpu_ns(fd.pid)[0]
            r = run_wrk(base, path, fd.TOKEN, args.threads, args.connections, args.seconds)
            r["ferryd_cpu_cores"] = round((B.cpu_ns(fd.pid)[0] - cpu0) / 1e9 / args.seconds, 2)
            r["endpoint"] = name
            r["path"] = path
            results["wrk"].append(r)
        results["ferryd_pss_kib"] = B.smaps_rollup(fd.pid)["Pss"]
    finally:
        fd.stop()
        shutil.rmtree(wd, ignore_errors=True)
        if pg:
            pg.stop()
    return results


def print_results(args, store, results):
    rows = [[w["endpoint"], w.get("requests_per_s"), w.get("p50_ms"), w.get("p99_ms"),
             w.get("non_2xx"), w.get("ferryd_cpu_cores")] for w in results["wrk"]]
    c = results["create"]
    rows.append(["create task (durable commit)", c["per_s"], c["p50_ms"], c["p99_ms"], 0, None])
    B.print_table("Native API on %s with %s stored tasks (wrk -t%d -c%d -d%ds)" % (
        store, results.get("stored_tasks"), args.threads, args.connections, args.seconds),
        ["endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "ferryd cores"], rows)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
