#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs every committed corpus file once through its fuzz target (no
# fuzzing): the seeds and the inputs that once crashed stay fixed
# (`make fuzz-regress`, part of `make check`).
#
#   sh tests/fuzz/regress.sh FUZZDIR TARGET...
#
# One process per target runs all its files; when it fails, each file is
# run alone to name every one that fails. Prints "fuzz-regress: N passed,
# M failed" (N and M count files).
set -u

dir=$1
shift
pass=0
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for t in "$@"; do
    bin=$dir/fuzz/fuzz_$t
    files=$(find "tests/fuzz/corpus/$t" -type f | LC_ALL=C sort)
    n=$(printf '%s\n' "$files" | grep -c .)
    if [ ! -x "$bin" ] || [ "$n" -eq 0 ]; then
        echo "FAILED: $t: no binary $bin or no corpus in tests/fuzz/corpus/$t"
        fail=$((fail + 1))
        continue
    fi
    # shellcheck disable=SC2086 # corpus file names have no blanks
    if "$bin" -timeout=10 -rss_limit_mb=2048 $files >"$out" 2>&1; then
        ran=$(grep -c '^Executed ' "$out")
        if [ "$ran" -eq "$n" ]; then
            echo "fuzz-regress: $t: $n files ok"
            pass=$((pass + n))
            continue
        fi
        echo "FAILED: $t: $ran of $n files ran"
    fi
    for f in $files; do
        if "$bin" -timeout=10 -rss_limit_mb=2048 "$f" >"$out" 2>&1; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAILED: $t: $f"
            grep -E 'ERROR: |SUMMARY: |invariant failed|^    #[0-9] ' "$out" | head -n 12
        fi
    done
done
echo "fuzz-regress: $pass passed, $fail failed"
[ $fail -eq 0 ]
