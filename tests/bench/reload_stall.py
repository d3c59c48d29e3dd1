#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""How long a SIGHUP reload holds netdiagd's event loop, at a large config.

Starts netdiagd -d on N loopback targets (connects to a closed port, every
10 minutes: a light load), then sends one SIGHUP, then 20 SIGHUPs within a
second, and reads the daemon's own loop-lag probe (a 10 ms timer; "loop:
busy for X ms" at debug when it ran 50 ms or more late) and its "reloaded:"
lines. Prints one JSON object per step. Loopback only; every wait is
bounded.

    python3 tests/bench/reload_stall.py --build build --targets 200000
    python3 tests/bench/reload_stall.py --targets 200000 --change 0.1

/metrics is served (on a free loopback port) unless --no-metrics.
--change F renames that share of the targets at each reload (F of them
retired, as many added), instead of reloading the same file."""

import argparse
import json
import os
import re
import signal
import subprocess
import shutil
import tempfile
import time

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUSY = re.compile(r"loop: busy for (\d+) ms")
DETAIL = re.compile(r"reload: read, checked and recorded in (\d+) ms off the loop; the swap held "
                    r"the loop (\d+) ms; the loop's longest stall meanwhile (\d+) ms")
RELOADED = re.compile(r"reloaded: (\d+) targets")
PARTS = re.compile(r"reload: the swap's parts: engine (\d+) ms, alerts (\d+) ms, metrics (\d+) ms")


def write_config(path, db, n, port, generation, change, metrics_port):
    renamed = int(n * change)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("[daemon]\ndatabase = %s\nmetrics_listen = %s\n\n"
                "[defaults]\ninterval = 10m\ntimeout = 1s\n\n"
                % (db, "127.0.0.1:%d" % metrics_port if metrics_port else ""))
        for i in range(n):
            name = "t%06d" % i if i >= renamed else "g%d-%06d" % (generation, i)
            f.write("[target %s]\nkind = connect\nhost = 127.0.0.1\nport = %d\n\n" % (name, port))
    os.rename(tmp, path)


class Log:
    def __init__(self, path):
        self.path = path

    def text(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def wait(self, pattern, count, timeout, proc):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(re.findall(pattern, self.text())) >= count:
                return True
            if proc.poll() is not None:
                raise SystemExit("netdiagd exited:\n" + self.text()[-3000:])
            time.sleep(0.1)
        raise SystemExit("timed out waiting for %r" % pattern)


def busy_after(text, mark):
    return max([int(m) for m in BUSY.findall(text[mark:])] or [0])


def details(text, mark):
    """(off-loop ms, swap ms, longest stall ms) of each reload after mark."""
    return [tuple(int(x) for x in m) for m in DETAIL.findall(text[mark:])]


def parts(text, mark):
    """(engine, alerts, metrics) ms of each swap after mark (netdiagd -d)."""
    return [tuple(int(x) for x in m) for m in PARTS.findall(text[mark:])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--targets", type=int, default=200000)
    ap.add_argument("--change", type=float, default=0.0)
    ap.add_argument("--storm", type=int, default=20)
    ap.add_argument("--no-metrics", action="store_true", help="metrics_listen off")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="nd-reload-")
    cfg, db, logpath = (os.path.join(tmp, x) for x in ("netdiag.ini", "netdiag.db", "log"))
    port = free_port()
    mport = 0 if args.no_metrics else free_port()
    gen = 0
    write_config(cfg, db, args.targets, port, gen, args.change, mport)
    logf = open(logpath, "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([os.path.join(args.build, "netdiagd"), "-d", "-c", cfg],
                            stdout=subprocess.DEVNULL, stderr=logf, stdin=subprocess.DEVNULL)
    log = Log(logpath)
    try:
        log.wait(r"started: ", 1, 600, proc)
        print(json.dumps({"step": "start", "targets": args.targets,
                          "seconds": round(time.monotonic() - t0, 2)}), flush=True)
        time.sleep(3.0)

        # one SIGHUP
        gen += 1
        write_config(cfg, db, args.targets, port, gen, args.change, mport)
        mark = len(log.text())
        t1 = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        log.wait(RELOADED.pattern, 1, 600, proc)
        took = time.monotonic() - t1
        time.sleep(2.5)  # the lag report comes once a second
        text = log.text()
        print(json.dumps({"step": "one SIGHUP", "reload_seconds": round(took, 2),
                          "longest_loop_stall_ms": busy_after(text, mark),
                          "reloads_offloop_swap_stall_ms": details(text, mark),
                          "swap_engine_alerts_metrics_ms": parts(text, mark),
                          "reloaded_line": RELOADED.search(text, mark) and
                          text[text.index("reloaded:", mark):].split("\n", 1)[0]}), flush=True)

        # a storm: args.storm SIGHUPs within a second
        gen += 1
        write_config(cfg, db, args.targets, port, gen, args.change, mport)
        mark = len(log.text())
        before = len(RELOADED.findall(log.text()))
        t2 = time.monotonic()
        for _ in range(args.storm):
            proc.send_signal(signal.SIGHUP)
            time.sleep(1.0 / args.storm)
        # settled: no new "reloaded:" line for 10 s
        last, last_change = before, time.monotonic()
        while time.monotonic() - last_change < 10.0 and time.monotonic() - t2 < 900:
            n = len(RELOADED.findall(log.text()))
            if n != last:
                last, last_change = n, time.monotonic()
            if proc.poll() is not None:
                raise SystemExit("netdiagd exited:\n" + log.text()[-3000:])
            time.sleep(0.1)
        text = log.text()
        print(json.dumps({"step": "%d SIGHUPs in 1 s" % args.storm,
                          "reloads": last - before,
                          "seconds_until_settled": round(last_change - t2, 2),
                          "longest_loop_stall_ms": busy_after(text, mark),
                          "reloads_offloop_swap_stall_ms": details(text, mark),
                          "swap_engine_alerts_metrics_ms": parts(text, mark)}), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
    sched = re.search(r"schedule: .*", log.text())
    print(json.dumps({"step": "stop", "rc": proc.returncode,
                      "schedule": sched.group(0) if sched else None}), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)  # a 200,000-target database


if __name__ == "__main__":
    main()
