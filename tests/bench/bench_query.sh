#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Times the netdiag queries on a large database (tests/bench/gen_db.py: 10
# million failures over 30 days, 1,000 targets): best of 5 wall-clock runs
# of each, after one warm-up run, printing one JSON line per figure:
#   {"figure":"query_summary_24h_ms","value":12.3,"goal":20}
# Usage: tests/bench/bench_query.sh [DB]   (default: $BENCH_DB, else
# build/bench/query.db, generated when missing).
# The history ends at BENCH_END and queries run with NETDIAG_NOW (the
# client's test hook for "now") 30.5 s later, so ranges do not start on a
# minute boundary.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${NETDIAG_BUILD:-build}
DB=${1:-${BENCH_DB:-$BUILD/bench/query.db}}
BENCH_END=${BENCH_END:-2026-11-24T10:00:00Z}
export NETDIAG_NOW=${NETDIAG_NOW:-2026-11-24T10:00:30.500Z}
export TZ=UTC0

if [ ! -x "$BUILD/netdiag" ]; then
    echo "bench_query: $BUILD/netdiag is missing; run make first" >&2
    exit 1
fi
if [ ! -f "$DB" ]; then
    mkdir -p "$(dirname "$DB")"
    echo "bench_query: generating $DB (a few minutes)" >&2
    NETDIAG_BUILD=$BUILD /usr/bin/python3 tests/bench/gen_db.py "$DB" --now "$BENCH_END"
fi

/usr/bin/python3 - "$BUILD/netdiag" "$DB" <<'EOF'
import json
import subprocess
import sys
import time

netdiag, db = sys.argv[1], sys.argv[2]
RUNS = 5
cases = [
    ("query_summary_24h_ms", 20, ["summary", "--since", "24h"]),
    ("query_failures_1h_target_ms", 200,
     ["failures", "--since", "1h", "--target", "web0007", "--limit", "100"]),
    ("query_timeline_7d_ms", 200, ["timeline", "--since", "7d"]),
    ("query_latency_24h_ms", 200, ["latency", "--since", "24h"]),
    ("query_latency_chart_24h_ms", 200, ["latency", "--chart", "--since", "24h"]),
]
for figure, goal, args in cases:
    cmd = [netdiag, "--db", db, *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
    best = None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ms = (time.perf_counter() - t0) * 1000.0
        best = ms if best is None else min(best, ms)
    print(json.dumps({"figure": figure, "value": round(best, 1), "goal": goal}))
EOF
