#!/usr/bin/env bash
# run_default.sh — the default benchmark set (about 10 minutes on 2 cores): builds ferryd
# from a clean tree of HEAD (unless FERRYD is set), runs every benchmark with its defaults,
# writes bench/results/*.json and bench/results/tables.md (the tables of
# docs/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-/usr/bin/python3}"
export FERRYD="${FERRYD:-$(bench/build_ferryd.sh)}"
echo "ferryd: $FERRYD"
start=$(date +%s)
for b in relay_cost latency faults api capacity; do
    t=$(date +%s)
    "$py" bench/$b.py
    echo "[$b took $(( $(date +%s) - t )) s]"
done
"$py" bench/report.py >bench/results/tables.md
echo "default set: $(( $(date +%s) - start )) s; tables in bench/results/tables.md"
