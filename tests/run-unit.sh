#!/bin/sh
# SPDX-License-Identifier: ISC
# Runs the unit test binaries (`make unit`, `make test-unit`) and prints one
# line, "unit: N passed, M failed". A binary that fails, or that does not
# end with its own "NAME: N passed, M failed" line, has its whole output
# shown with a "FAILED:" line naming it.
#
#   sh tests/run-unit.sh [-v] [-d] BINARY...
#
# -v prints each binary's own summary line as well; -d is handed to every
# binary, which then writes its log lines (expected errors included) to
# standard error instead of keeping them in memory.
set -u

verbose=0
debug=
while [ $# -gt 0 ]; do
    case $1 in
        -v) verbose=1 ;;
        -d) debug=-d ;;
        *) break ;;
    esac
    shift
done

pass=0
fail=0
bad=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for t in "$@"; do
    # shellcheck disable=SC2086 # $debug is empty or one word
    "$t" $debug >"$out" 2>&1
    rc=$?
    line=$(tail -n 1 "$out")
    p=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    pass=$((pass + ${p:-0}))
    fail=$((fail + ${f:-0}))
    if [ $rc -ne 0 ] || [ -z "$p" ]; then
        cat "$out"
        echo "FAILED: $t (exit $rc)"
        bad=$((bad + 1))
    elif [ $verbose -eq 1 ]; then
        printf '%s\n' "$line"
    fi
done
# a binary that crashed counts as a failure even with no failed check
if [ $bad -ne 0 ] && [ $fail -eq 0 ]; then
    fail=$bad
fi
echo "unit: $pass passed, $fail failed"
[ $bad -eq 0 ]
