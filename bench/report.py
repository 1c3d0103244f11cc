#!/usr/bin/python3
"""report.py — Markdown tables from the JSON reports of the bench scripts (bench/results/
by default), with every target of the benchmark issue checked against the figures. The
tables in docs/PERFORMANCE.md are this script's output.

    bench/report.py [RESULTS_DIR] > tables.md
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def load(d, name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def mib(kib):
    return None if kib is None else "%.2f" % (kib / 1024.0)


def fmt(v, spec="%.2f"):
    if v is None:
        return "–"
    if isinstance(v, float):
        return spec % v
    return str(v)


def relay_cost(doc, out):
    out.append("### Relay cost\n")
    out.append("`%s` — %s, window %s s after a %s s warm-up.\n" % (
        doc["command"], doc["date"], doc["settings"]["window_s"], doc["settings"]["warmup_s"]))
    rows = []
    for r in doc["results"]:
        st = r.get("start") or {}
        rows.append([r["profile"], r["n"], r["contender"], fmt(r.get("cpu_ms_per_s_per_relay")),
                     mib(r.get("pss_kib_per_relay")), mib(r.get("pss_kib_per_relay_marginal")),
                     mib(r.get("private_kib_per_relay")), r.get("threads"),
                     fmt(st.get("p50_s")), fmt(st.get("max_s")),
                     "%s/%s" % (r.get("live_at_end"), r["n"]), fmt(r.get("frames_min_ratio"),
                                                                     "%.4f"),
                     fmt(r.get("behind_s_max")), fmt(r.get("machine_busy_pct"), "%.0f"),
                     "yes" if r.get("pass") else "**no**" + (
                         " (%s)" % r["error"] if r.get("error") else "")])
    out.append(B.markdown_table(
        ["profile", "N", "contender", "CPU ms/s per relay", "PSS MiB per relay",
         "PSS MiB per relay, marginal", "private MiB per relay", "threads", "start p50 s",
         "start max s", "live", "frames, worst destination", "behind s, worst",
         "machine busy %", "all ≥ 99%"], rows))
    out.append("")
    rows = [[x["profile"], x["n"], x.get("round", 1), x["peer"], fmt(x["cpu"], "%.2f"),
             fmt(x["pss"], "%.2f"), fmt(x["pss_marginal"], "%.2f")]
            for x in doc["ratios_ferry_over_peer"]]
    out.append("Ratios ferry / peer (below 1: ferry uses less; rounds alternate the order):\n")
    out.append(B.markdown_table(["profile", "N", "round", "peer", "CPU", "PSS", "PSS marginal"],
                                rows))
    out.append("")


def capacity(doc, out):
    out.append("### Capacity\n")
    out.append("`%s` — %s, %s.\n" % (doc["command"], doc["date"], doc["settings"]["profile"]))
    rows = []
    for r in doc["results"]:
        held = [t for t in r["trials"] if t.get("pass")]
        best = max(held, key=lambda t: t["n"]) if held else {}
        trials = ", ".join("%d %s" % (t["n"], "held" if t.get("pass") else "failed (%s)" % (
            t.get("error") or "frames %s, behind %s s, live %s" % (
                t.get("frames_min_ratio"), t.get("behind_s_max"), t.get("live_at_end"))))
            for t in r["trials"])
        rows.append([r["contender"], r["holds"] or "< %s" % r["fails_at"],
                     r["fails_at"] or "none tried",
                     fmt(best.get("cpu_ms_per_s_per_relay")), fmt(best.get("cpu_ms_per_s_total"),
                                                                   "%.0f"),
                     fmt(best.get("bed_cpu_ms_per_s"), "%.0f"),
                     fmt(best.get("others_cpu_ms_per_s"), "%.0f"),
                     fmt(best.get("machine_busy_pct"), "%.0f"), trials])
    out.append(B.markdown_table(
        ["contender", "holds N", "fails at N", "CPU ms/s per relay at held N",
         "relay CPU ms/s total", "test bed CPU ms/s", "other work on the machine, CPU ms/s",
         "machine busy %", "trials"], rows))
    ratios = {k: v for k, v in (doc.get("capacity_ratio_ferry_over_peer") or {}).items() if v}
    if ratios:
        out.append("\nCapacity ratio ferry / peer (lower bounds of the search): %s\n" %
                   ", ".join("%s %.2f" % kv for kv in ratios.items()))
    out.append("")


def latency(doc, out):
    out.append("### Added latency\n")
    out.append("`%s` — %s, %s, %s relay(s), %s rounds of %s s; each figure the median "
               "over the rounds, max the largest.\n" % (
                   doc["command"], doc["date"], doc["settings"]["profile"],
                   doc["settings"]["n"], doc["settings"].get("rounds", 1),
                   doc["settings"]["seconds"]))
    rows = [[r["contender"], r.get("matched"), r.get("unmatched"), fmt(r.get("p50_ms"), "%.3f"),
             fmt(r.get("p90_ms"), "%.3f"), fmt(r.get("p99_ms"), "%.3f"),
             fmt(r.get("max_ms"), "%.3f"),
             ", ".join("%.1f" % x for x in r.get("p99_ms_rounds", [])), r.get("error", "")]
            for r in doc["results"]]
    out.append(B.markdown_table(["contender", "packets matched", "unmatched", "p50 ms", "p90 ms",
                                 "p99 ms", "max ms", "p99 of each round", "error"], rows))
    out.append("")


def marks(doc, out):
    out.append("### Watermarks\n")
    st = doc["settings"]
    out.append("`%s` — %s, %s relay(s) per trial, %s s window; ffmpeg with %s thread(s); "
               "the goal: ferry's CPU at most 1.0x ffmpeg's and less added latency.\n" % (
                   doc["command"], doc["date"], st["n"], st["window_s"],
                   st.get("ffmpeg_threads")))
    rows = []
    for r in doc["results"]:
        lat = r.get("latency") or {}
        rows.append([r["profile"], r["contender"], fmt(r.get("cpu_ms_per_s_per_relay")),
                     r.get("frames_ratio"), fmt(lat.get("p50_ms"), "%.1f"),
                     fmt(lat.get("p99_ms"), "%.1f"), fmt(lat.get("max_ms"), "%.1f"),
                     "yes" if r.get("pass") else "NO", r.get("error", "")])
    out.append(B.markdown_table(["profile", "contender", "CPU ms/s/relay", "frames",
                                 "latency p50 ms", "p99 ms", "max ms", "pass", "error"], rows))
    out.append("")
    rows = [[x["profile"], x["cpu"], x["latency_p50"], x["ferry_added_by_mark_p50_ms"]]
            for x in doc.get("ratios_ferry_over_ffmpeg", [])]
    out.append(B.markdown_table(["profile", "CPU ferry/ffmpeg", "latency p50 ferry/ffmpeg",
                                 "the mark adds to ferry's p50, ms"], rows))
    out.append("")


def faults(doc, out):
    out.append("### Continuity under faults\n")
    out.append("`%s` — %s, publisher killed (SIGKILL) and restarted after %s s.\n" % (
        doc["command"], doc["date"], doc["settings"]["down_s"]))
    rows = []
    for r in doc["results"]:
        s, d = r.get("source", {}), r.get("destination", {})
        extra = ""
        if "ffmpeg_exit_status" in r:
            if r["ffmpeg_exit_status"] is None:
                extra = "the ffmpeg relay kept running"
            else:
                extra = "the ffmpeg relay exited with status %s; restarts %s" % (
                    r["ffmpeg_exit_status"], r.get("ffmpeg_restarts"))
        if "ferry_task" in r:
            extra = "task %s, discontinuities %s" % (r["ferry_task"]["state"],
                                                     r["ferry_task"]["discontinuities"])
        rows.append([r["mode"], r["contender"], r.get("destination_publishes"),
                     "yes" if r.get("session_survived") else "no", fmt(s.get("largest_gap_s"),
                                                                       "%.3f"),
                     fmt(d.get("largest_gap_s"), "%.3f"),
                     fmt(r.get("output_gap_minus_source_gap_s"), "%.3f"),
                     "%s / %s" % (fmt(s.get("first_packet_after_restart_s"), "%.2f"),
                                  fmt(d.get("first_packet_after_restart_s"), "%.2f")),
                     "%s / %s" % (d.get("dts_regressions_within_session"),
                                  d.get("dts_regressions_across_sessions")),
                     d.get("largest_dts_step_ms"), "yes" if r.get("pass") else "no",
                     extra or r.get("error", "")])
    out.append(B.markdown_table(
        ["source server", "contender", "destination publishes", "one session", "source gap s",
         "output gap s", "output − source s", "first packet after the restart s (source / destination)",
         "DTS regressions (same / new viewer session)",
         "largest DTS step ms", "meets target", "notes"], rows))
    out.append("")


def api(doc, out):
    out.append("### API\n")
    res = doc["results"]
    out.append("`%s` — %s, %s stored tasks, wrk -t%s -c%s -d%ss on the same machine.\n" % (
        doc["command"], doc["date"], res.get("stored_tasks"), doc["settings"]["wrk_threads"],
        doc["settings"]["wrk_connections"], doc["settings"]["wrk_seconds"]))
    rows = [[w["endpoint"], "`%s`" % w["path"], fmt(w.get("requests_per_s"), "%.0f"),
             fmt(w.get("p50_ms"), "%.2f"), fmt(w.get("p99_ms"), "%.2f"), w.get("non_2xx"),
             fmt(w.get("ferryd_cpu_cores"))] for w in res["wrk"]]
    c = res["create"]
    rows.append(["create task (durable commit)", "`POST /v1/tasks`", fmt(c["per_s"], "%.0f"),
                 fmt(c["p50_ms"], "%.2f"), fmt(c["p99_ms"], "%.2f"), 0, "–"])
    out.append(B.markdown_table(["request", "path", "req/s", "p50 ms", "p99 ms", "non-2xx",
                                 "ferryd CPU cores"], rows))
    out.append("\nCreation: %d tasks by %s; max %.2f ms.\n" % (c["count"], c["client"],
                                                              c["max_ms"]))


def targets(d, out):
    rc, cap, lat, flt, ap = (load(d, n) for n in ("relay_cost", "capacity", "latency",
                                                    "faults", "api"))
    rows = []

    def add(what, target, measured, ok):
        rows.append([what, target, measured, "met" if ok else "**missed**" if ok is not None
                     else "–"])

    if rc:
        for profile in ("720p", "360p"):
            for n in sorted({r["n"] for r in rc["results"]}, reverse=True):
                rs = {r["contender"]: r for r in rc["results"]
                      if r["profile"] == profile and r["n"] == n}
                if "ferry" in rs and "nginx" in rs and "ffmpeg" in rs:
                    f = rs["ferry"]["cpu_ms_per_s_per_relay"]
                    g = rs["nginx"]["cpu_ms_per_s_per_relay"]
                    h = rs["ffmpeg"]["cpu_ms_per_s_per_relay"]
                    add("CPU per relay vs nginx-rtmp (%s, N=%d)" % (profile, n), "≤ 1.0×",
                        "%.2f / %.2f ms/s = %.2f×" % (f, g, f / g), f / g <= 1.0)
                    add("CPU per relay vs ffmpeg (%s, N=%d)" % (profile, n), "≤ 0.4×",
                        "%.2f / %.2f ms/s = %.2f×" % (f, h, f / h), f / h <= 0.4)
                    m = rs["ferry"]["pss_kib_per_relay_marginal"] / 1024
                    add("memory per relay (%s, N=%d, PSS marginal)" % (profile, n), "≤ 1 MiB",
                        "%.2f MiB (ffmpeg %.2f, nginx %.2f)" % (
                            m, rs["ffmpeg"]["pss_kib_per_relay"] / 1024,
                            rs["nginx"]["pss_kib_per_relay_marginal"] / 1024), m <= 1.0)
                    break
        for r in rc["results"]:
            if r["contender"] == "ferry" and r.get("start") and r["n"] in (1, 100):
                st = r["start"]
                lim = 1.0 if r["n"] == 1 else 3.0
                add("start to live, %d task(s) at once (%s)" % (r["n"], r["profile"]),
                    "≤ %.0f s" % lim, "max %s s (ffmpeg %s s, nginx %s s)" % (
                        st.get("max_s"), _start(rc, r, "ffmpeg"), _start(rc, r, "nginx")),
                    st.get("max_s") is not None and st["max_s"] <= lim)
    if cap:
        by = {r["contender"]: r for r in cap["results"]}
        if "ferry" in by and "ffmpeg" in by and by["ffmpeg"]["holds"]:
            f, g = by["ferry"], by["ffmpeg"]
            def bound(r):
                if not r["holds"]:
                    return "< %s" % r["fails_at"]
                return "%s%s" % (r["holds"], "" if r["fails_at"] else "+")
            ratio = (f["holds"] or f["fails_at"]) / g["holds"]
            add("capacity vs ffmpeg", "≥ 3×", "%s vs %s relays = %s%.2f×%s" % (
                bound(f), bound(g), "< " if not f["holds"] else "", ratio,
                " (ffmpeg's bound not reached)" if not g["fails_at"] else ""),
                f["holds"] >= 3 * g["holds"] if g["fails_at"] else None)
    if lat:
        by = {r["contender"]: r for r in lat["results"]}
        f = by.get("ferry", {})
        if "p50_ms" in f:
            add("added latency p50", "≤ 1 ms", "%.3f ms (ffmpeg %s, nginx %s)" % (
                f["p50_ms"], by.get("ffmpeg", {}).get("p50_ms"),
                by.get("nginx", {}).get("p50_ms")), f["p50_ms"] <= 1.0)
            add("added latency p99", "≤ 10 ms", "%.3f ms (ffmpeg %s, nginx %s)" % (
                f["p99_ms"], by.get("ffmpeg", {}).get("p99_ms"),
                by.get("nginx", {}).get("p99_ms")), f["p99_ms"] <= 10.0)
    if flt:
        for r in flt["results"]:
            if r["contender"] == "ferry" and "destination" in r:
                add("fault (%s): one session, gap ≤ source + 1 s, no DTS regression" % r["mode"],
                    "all three", "%s session(s), +%.3f s, %s DTS regressions" % (
                        r["destination_publishes"], r["output_gap_minus_source_gap_s"],
                        r["destination"]["dts_regressions_within_session"] +
                        r["destination"]["dts_regressions_across_sessions"]), r["pass"])
    if ap:
        res = ap["results"]
        g = next((w for w in res["wrk"] if w["endpoint"] == "get one task"), None)
        if g:
            add("API get-one-task", "≥ 5,000 req/s", "%.0f req/s (p50 %s ms, p99 %s ms)" % (
                g["requests_per_s"], g.get("p50_ms"), g.get("p99_ms")),
                g["requests_per_s"] >= 5000)
        add("API create p99 (durable commit)", "≤ 20 ms", "%.2f ms" % res["create"]["p99_ms"],
            res["create"]["p99_ms"] <= 20)
    out.append("### Targets\n")
    out.append(B.markdown_table(["target", "goal", "measured", "verdict"], rows))
    out.append("")


def _start(rc, r, peer):
    for q in rc["results"]:
        if q["contender"] == peer and q["n"] == r["n"] and q["profile"] == r["profile"]:
            return (q.get("start") or {}).get("max_s")
    return None


def main(argv):
    d = argv[0] if argv else B.RESULTS_DIR
    out = []
    first = None
    for name in ("relay_cost", "capacity", "latency", "faults", "api"):
        doc = load(d, name)
        if doc and first is None:
            first = doc
    if first:
        m = first["machine"]
        out.append("Machine: %s cores, %s, %s GiB, %s; %s; %s; nginx-rtmp %s; ferry %s.\n" % (
            m["cores"], m["cpu_model"], m["mem_gib"], m["os"], m["kernel"], m["ffmpeg"],
            m["nginx_rtmp"], m["ferry_commit"]))
    targets(d, out)
    for name, fn in (("relay_cost", relay_cost), ("capacity", capacity), ("latency", latency),
                     ("faults", faults), ("api", api), ("marks", marks)):
        doc = load(d, name)
        if doc:
            fn(doc, out)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
