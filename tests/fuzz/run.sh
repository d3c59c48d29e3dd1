#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs one libFuzzer target for a while and records a one-line summary
# (`make fuzz`), or prints the summaries of several (--summary).
#
#   sh tests/fuzz/run.sh FUZZDIR SECONDS TARGET [libFuzzer flags...]
#   sh tests/fuzz/run.sh --summary FUZZDIR TARGET...
#
# New inputs go to FUZZDIR/corpus/TARGET (the committed seeds in
# tests/fuzz/corpus/TARGET are read, never written); a crash is saved in
# FUZZDIR/artifacts/TARGET/ and becomes a regression case once copied into
# tests/fuzz/corpus/TARGET/ with its fix. The full log is FUZZDIR/TARGET.log.
set -u

if [ "${1:-}" = "--summary" ]; then
    dir=$2
    shift 2
    bad=0
    echo "fuzz summary:"
    for t in "$@"; do
        if [ -f "$dir/$t.summary" ]; then
            cat "$dir/$t.summary"
            grep -q ' FAILED' "$dir/$t.summary" && bad=$((bad + 1))
        else
            echo "  $t: did not run"
            bad=$((bad + 1))
        fi
    done
    [ $bad -eq 0 ] || echo "fuzz: $bad target(s) failed; see the artifacts and logs in $dir"
    exit $((bad != 0))
fi

dir=$1
secs=$2
t=$3
shift 3
bin=$dir/fuzz/fuzz_$t
seeds=tests/fuzz/corpus/$t
log=$dir/$t.log
mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
set --  -max_total_time="$secs" -print_final_stats=1 -close_fd_mask=3 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/$t/" "$@"
[ -f "tests/fuzz/$t.dict" ] && set -- -dict="tests/fuzz/$t.dict" "$@"

echo "fuzz: $t for ${secs}s (log: $log)"
"$bin" "$@" "$dir/corpus/$t" "$seeds" >"$log" 2>&1
rc=$?

# libFuzzer's last status line ("#123 DONE cov: 456 ft: 789 corp: 12/3456b
# ...") and its final stats.
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
if [ $rc -eq 0 ]; then
    state=ok
else
    art=$(ls -t "$dir/artifacts/$t" 2>/dev/null | head -n 1)
    state="FAILED (exit $rc, artifact: $dir/artifacts/$t/$art)"
fi
line=$(printf '  %-9s %ss, %s execs (%s/s), cov: %s ft: %s, corpus %s, rss %s MB: %s' \
    "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" \
    "$state")
printf '%s\n' "$line" | tee "$dir/$t.summary"
if [ $rc -ne 0 ]; then
    grep -E 'ERROR: |SUMMARY: |invariant failed' "$log" | head -n 5
fi
exit 0
