#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""make bench, part two: netdiag web on the generated 10-million-row
database (tests/bench/gen_db.py: 1,000 targets, 30 days), and its HTTP
server beside libevent's evhttp. Loopback only; every step bounded.
Prints one JSON object per figure, then a table.

- page_* / api_*: the time of a request whose body is rendered anew (a
  fresh server, warmed by two other requests so that the page cache and
  the per-process facts of counts.c are what a running server has), best
  of 3, and the server's CPU time for it (`cpu_ms`, in clock ticks: the
  machine may be shared); then the same request again at once (the shared
  body, `shared_ms`). Goal: 100 ms.
- facts_first_request: what the first counting request of a process
  pays once (counts.c checks that the oldest hour of minute counts is
  whole, reading an hour of every target's minutes, and keeps the answer
  while that hour stays the oldest).
- concurrent: 200 requests at once over the pages and API routes, the
  server's peak RSS while they are answered, and how many got 200 or 503.
- server_vs_evhttp: 400 idle connections, and one head dripped a byte
  every 0.5 s: descriptors and RSS of each server, and when each closed
  the slow one (evhttp's timeout restarts at every byte).

Usage: bench_web.py [--build DIR] [--db FILE] [--quick]"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NOW = "2026-11-24T10:00:30.500Z"
END = "2026-11-24T10:00:00Z"
GOAL_MS = 100
FIGURES = []

ROUTES = [
    ("page_overview", "/"),
    ("page_target_1h", "/target/web0007?range=1h"),
    ("page_target_24h", "/target/web0007"),
    ("page_target_7d", "/target/web0007?range=7d"),
    ("page_target_30d", "/target/web0007?range=30d"),
    ("page_alerts", "/alerts"),
    ("page_codes", "/codes"),
    ("page_api_index", "/api/"),
    ("api_status", "/api/status"),
    ("api_targets", "/api/targets"),
    ("api_failures", "/api/failures"),
    ("api_summary", "/api/summary"),
    ("api_timeline", "/api/timeline"),
    ("api_alerts", "/api/alerts"),
    ("api_codes", "/api/codes"),
    ("api_explain", "/api/explain/10061"),
    ("api_latency", "/api/latency"),
    # what the pages ask, as the API asks it
    ("api_targets_7d", "/api/targets?since=7d"),
    ("api_timeline_by_target_24h", "/api/timeline?by=target&since=24h&bucket=1h"),
    ("api_timeline_target_30d", "/api/timeline?target=web0007&since=30d&bucket=12h&by=code"),
    ("api_latency_24h", "/api/latency?since=24h"),
    ("api_latency_chart_target_30d", "/api/latency?target=web0007&since=30d&chart&bucket=12h"),
    ("api_latency_chart_target_24h", "/api/latency?target=web0007&since=24h&chart&bucket=30m"),
]
WARM = ["/api/alerts?since=1h", "/api/targets?since=1m&target=web0001"]


def emit(figure, value, unit, goal=None, **extra):
    obj = {"figure": figure, "value": value, "unit": unit}
    if goal is not None:
        obj["goal"] = goal
    obj.update(extra)
    FIGURES.append(obj)
    print(json.dumps(obj), flush=True)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ms(pid):
    """user + system CPU time of a process, ms (clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def get(port, path, timeout=60):
    """One GET; (status, bytes, seconds)."""
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
        n, first = 0, b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            if not first:
                first = b[:16]
            n += len(b)
    finally:
        s.close()
    status = int(first[9:12]) if first.startswith(b"HTTP/1.1 ") else 0
    return status, n, time.perf_counter() - t0


class Web:
    def __init__(self, build, db):
        self.port = free_port()
        env = dict(os.environ, NETDIAG_NOW=NOW, TZ="UTC0")
        self.log = open(os.devnull, "w")
        self.proc = subprocess.Popen([os.path.join(build, "netdiag"), "--db", db, "web",
                                      "--listen", "127.0.0.1:%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("bench_web: netdiag web did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def bench_facts(build, db, runs):
    best = None
    for _ in range(runs):
        w = Web(build, db)
        try:
            get(w.port, WARM[0])
            status, _, sec = get(w.port, WARM[1])
            if status != 200:
                sys.exit("bench_web: %s answered %d" % (WARM[1], status))
            _, _, after = get(w.port, WARM[1].replace("since=1m", "since=2m"))
        finally:
            w.stop()
        best = sec if best is None else min(best, sec)
    emit("facts_first_request_ms", round(best * 1000, 1), "ms", path=WARM[1],
         then_ms=round(after * 1000, 1))


def bench_routes(build, db, runs):
    for figure, path in ROUTES:
        best, shared, size, cpu = None, None, 0, None
        for _ in range(runs):
            w = Web(build, db)
            try:
                # the facts, the page cache: as a running server has them
                for warm in WARM:
                    get(w.port, warm)
                c0 = cpu_ms(w.proc.pid)
                status, size, sec = get(w.port, path)
                c1 = cpu_ms(w.proc.pid)
                if status != 200:  # a build without the route: said, not timed
                    break
                _, _, again = get(w.port, path)
            finally:
                w.stop()
            if status != 200:
                break
            best = sec if best is None else min(best, sec)
            cpu = c1 - c0 if cpu is None else min(cpu, c1 - c0)
            shared = again if shared is None else min(shared, again)
        if best is None:
            emit(figure + "_ms", None, "ms", GOAL_MS, path=path, status=status)
            continue
        emit(figure + "_ms", round(best * 1000, 1), "ms", GOAL_MS, path=path, bytes=size,
             cpu_ms=round(cpu), shared_ms=round(shared * 1000, 2))


def bench_concurrent(build, db, n=200):
    w = Web(build, db)
    try:
        for warm in WARM:
            get(w.port, warm)
        rss0 = rss_kb(w.proc.pid)
        results, lock = [], threading.Lock()
        paths = [p for _, p in ROUTES]

        def one(i):
            try:
                st, _, sec = get(w.port, paths[i % len(paths)], timeout=120)
            except OSError:
                st, sec = 0, 0
            with lock:
                results.append((st, sec))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        peak, t0 = rss0, time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads) and time.monotonic() - t0 < 180:
            peak = max(peak, rss_kb(w.proc.pid))
            time.sleep(0.01)
        for t in threads:
            t.join(timeout=1)
        took = time.monotonic() - t0
        lat = sorted(s for st, s in results if st == 200)
        emit("concurrent_200_peak_rss_kb", peak, "kB", rss_before_kb=rss0,
             ok=sum(1 for st, _ in results if st == 200),
             busy_503=sum(1 for st, _ in results if st == 503),
             other=sum(1 for st, _ in results if st not in (200, 503)),
             all_answered_s=round(took, 2),
             p50_ms=round(lat[len(lat) // 2] * 1000, 1) if lat else None,
             max_ms=round(lat[-1] * 1000, 1) if lat else None)
    finally:
        w.stop()


def abuse(pid, port, idle=400, drip_max_s=20):
    """Idle connections and a slow head against one server: its
    descriptors and RSS with the idle ones open, and when it closed the
    slow one (None: still open after drip_max_s)."""
    rss0, fds0 = rss_kb(pid), nfds(pid)
    socks = []
    for _ in range(idle):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(c)
    time.sleep(1.5)
    fds, rss = nfds(pid), rss_kb(pid)
    for c in socks:
        c.close()
    time.sleep(0.5)
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    head = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 1000
    t0, closed = time.monotonic(), None
    try:
        for ch in head:
            if time.monotonic() - t0 > drip_max_s:
                break
            try:
                s.send(bytes([ch]))
            except OSError:
                closed = time.monotonic() - t0
                break
            s.settimeout(0.5)
            try:
                if s.recv(4096) == b"":
                    closed = time.monotonic() - t0
                    break
                closed = time.monotonic() - t0  # an answer (408) then the close
                break
            except socket.timeout:
                continue
            except OSError:
                closed = time.monotonic() - t0
                break
    finally:
        s.close()
    return {"idle_connections": idle, "fds_before": fds0, "fds_with_idle": fds,
            "rss_before_kb": rss0, "rss_with_idle_kb": rss,
            "slow_head_closed_after_s": round(closed, 1) if closed is not None else None}


def bench_vs_evhttp(build, db, quick):
    idle = 100 if quick else 400
    drip = 8 if quick else 20
    w = Web(build, db)
    try:
        ours = abuse(w.proc.pid, w.port, idle, drip)
    finally:
        w.stop()
    probe = os.path.join(build, "bench", "evhttp_probe")
    port = free_port()
    p = subprocess.Popen([probe, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        p.stdout.readline()
        theirs = abuse(p.pid, port, idle, drip)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    emit("server_ours_fds_with_idle", ours["fds_with_idle"], "fds", **ours)
    emit("server_evhttp_fds_with_idle", theirs["fds_with_idle"], "fds", **theirs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--db", default=os.environ.get("BENCH_DB"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    db = args.db or os.path.join(build, "bench", "query.db")
    if not os.path.exists(db):
        os.makedirs(os.path.dirname(db), exist_ok=True)
        print("bench_web: generating %s (a few minutes)" % db, file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_db.py"), db, "--now", END],
                       check=True, env=dict(os.environ, NETDIAG_BUILD=build))
    bench_facts(build, db, 1 if args.quick else 3)
    bench_routes(build, db, 1 if args.quick else 3)
    bench_concurrent(build, db, 50 if args.quick else 200)
    bench_vs_evhttp(build, db, args.quick)
    print()
    print("%-36s %12s %8s %10s  %s" % ("figure", "value", "cpu", "shared", "goal"))
    for f in FIGURES:
        print("%-36s %10s %s %8s %10s  %s" % (f["figure"], f["value"], f["unit"],
                                              f.get("cpu_ms", ""), f.get("shared_ms", ""),
                                              f.get("goal", "")))


if __name__ == "__main__":
    main()
