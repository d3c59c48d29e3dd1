#!/bin/sh
# SPDX-License-Identifier: ISC
# `make check-valgrind`: valgrind over the normal build (no sanitizers:
# the two do not mix): every unit test binary, then netdiagd on a
# loopback config for 3 s until SIGTERM, and with --once. A valgrind error
# exits 99, apart from the daemon's own exit codes. Prints
# "check-valgrind: N passed, M failed".
#
#   sh tests/check-valgrind.sh BUILD UNIT_BINARY...
set -u

build=$1
shift
vg() {
    valgrind --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect "$@"
}
pass=0
fail=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

for t in "$@"; do
    vg "$t" >"$dir/vg.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        continue
    fi
    fail=$((fail + 1))
    grep -v '^  ok' "$dir/vg.out"
    if [ $rc -eq 99 ]; then
        echo "FAILED: $t: valgrind found errors"
    else
        echo "FAILED: $t: a test failed under valgrind (exit $rc)"
    fi
done

port=$((20000 + $$ % 20000))
cat >"$dir/vg.ini" <<INI
[daemon]
database = $dir/vg.db
metrics_listen = 127.0.0.1:$port

[defaults]
interval = 500ms
timeout = 200ms

[target self]
kind = connect
host = 127.0.0.1
port = $port

[target refused]
kind = connect
host = 127.0.0.1
port = 1

[target dns]
kind = resolve
name = vg.test
server = 127.0.0.1:1

[target udp]
kind = send
host = 127.0.0.1
port = 9
payload_hex = 6e64
INI

vg "$build/netdiagd" -c "$dir/vg.ini" >"$dir/run.out" 2>&1 &
pid=$!
for _ in $(seq 300); do
    grep -q 'started:' "$dir/run.out" && break
    sleep 0.1
done
sleep 3
kill -TERM $pid
wait $pid
rc=$?
if [ $rc -eq 0 ]; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    cat "$dir/run.out"
    echo "FAILED: valgrind netdiagd -c (exit $rc)"
fi

vg "$build/netdiagd" --once -c "$dir/vg.ini" >"$dir/once.out" 2>&1
rc=$?
if [ $rc -le 1 ]; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    cat "$dir/once.out"
    echo "FAILED: valgrind netdiagd --once (exit $rc)"
fi

echo "check-valgrind: $pass passed, $fail failed"
[ $fail -eq 0 ]
