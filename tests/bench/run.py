#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""make bench: netdiagd's figures beside what the kernel can do, measured
in the same run on this machine. Loopback only; every step is bounded in
time and stops by itself. Prints one JSON object per figure, then a table.

Steps: the raw epoll ceiling (open and closed port), connect throughput,
refused throughput (every probe a stored failure), resolve throughput
against a fast loopback responder beside its own raw ceiling, schedule
accuracy (10,000 targets at 1 s, and the scheduler alone), memory per
target (1k/10k/100k targets), ping (attempts/s against loopback beside a
minimal ICMP echo client, RTT medians beside ping and fping, memory per
ping target), the store alone, and the client's queries on a generated
10-million-row database. Throughput runs ask for twice the
goal (2,000 targets at 10 ms) and count results over the measured window
with netdiagd's own /metrics counter."""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TICK = os.sysconf("SC_CLK_TCK")
FIGURES = []


def emit(figure, value, unit, goal=None, ratio=None, **extra):
    obj = {"figure": figure, "value": value, "unit": unit}
    if goal is not None:
        obj["goal"] = goal
    if ratio is not None:
        obj["ratio_to_ceiling"] = round(ratio, 3)
    obj.update(extra)
    FIGURES.append(obj)
    print(json.dumps(obj), flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def start_helper(path, seconds):
    p = subprocess.Popen([path, str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    port = int(p.stdout.readline())
    return p, port


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def scrape(port):
    """netdiagd's own counters from its /metrics (loopback): results handed
    to the store, failure rows committed, results dropped."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for key in ("netdiag_store_results_total", "netdiag_store_rows_written_total",
                "netdiag_store_dropped_total"):
        m = re.search(r"^%s (\d+)" % key, text, re.M)
        out[key] = int(m.group(1)) if m else 0
    return out


def write_config(tmp, name, targets, interval, timeout, body, extra_daemon=""):
    db = os.path.join(tmp, name + ".db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    path = os.path.join(tmp, name + ".ini")
    with open(path, "w") as f:
        f.write("[daemon]\ndatabase = %s\nlog_level = info\n%s\n" % (db, extra_daemon))
        f.write("[defaults]\ninterval = %s\ntimeout = %s\n\n" % (interval, timeout))
        for i in range(targets):
            f.write("[target t%06d]\n%s\n" % (i, body))
    return path, db


def run_daemon(netdiagd, cfg, seconds, warmup=1.0, metrics_port=None):
    """Run netdiagd for `seconds` after `warmup`; return its figures. With
    metrics_port (the config's metrics_listen), the rate is the steady one:
    netdiagd's own result counter read from /metrics at the start and the
    end of the measured window, so start-up and shutdown do not dilute it.
    Totals come from the daemon's exit line, CPU from /proc."""
    # stderr to a file: a pipe nobody reads until the end would fill and
    # block the daemon's logging
    errf = open(cfg + ".log", "w+")
    p = subprocess.Popen([netdiagd, "-c", cfg], stderr=errf, text=True)
    t0 = time.monotonic()
    time.sleep(warmup)
    # each count is taken when its reply is in: an overloaded loop answers
    # /metrics late, alike at both ends, so the window's length holds
    m0 = scrape(metrics_port) if metrics_port else None
    c0, w0 = cpu_seconds(p.pid), time.monotonic()
    time.sleep(seconds)
    m1 = scrape(metrics_port) if metrics_port else None
    c1, w1 = cpu_seconds(p.pid), time.monotonic()
    rss = rss_bytes(p.pid)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    t1 = time.monotonic()
    errf.seek(0)
    err = errf.read()
    errf.close()
    m = re.search(r"stopped: (\d+) results, (\d+) failures, \d+ failure rows stored, (\d+) dropped", err)
    if p.returncode != 0 or m is None:
        sys.exit("netdiagd failed (exit %s):\n%s" % (p.returncode, err[-3000:]))
    sched = re.search(r"schedule: (\d+) starts, lateness p50 (\d+) us, p99 (\d+) us, "
                      r"max (\d+) us, (\d+) early", err)
    return {
        "results": int(m.group(1)), "failures": int(m.group(2)), "dropped": int(m.group(3)),
        "elapsed": t1 - t0, "cpu": c1 - c0, "cpu_wall": w1 - w0, "rss": rss,
        "window_rate": ((m1["netdiag_store_results_total"] - m0["netdiag_store_results_total"]) /
                        (w1 - w0)) if m0 else None,
        "sched": [int(x) for x in sched.groups()] if sched else None, "log": err,
    }


def throughput(netdiagd, tmp, name, body, dur, figure, goal, ceiling, count_stored=False):
    """Steps 2-4: 2,000 targets at 10 ms ask for 200,000 probes/s, more than
    netdiagd can do; the rate is the steady one, netdiagd's own counter
    over the measured window (the whole-run rate is printed beside it)."""
    n, iv = 2000, "10ms"
    mport = free_port()
    cfg, db = write_config(tmp, name, n, iv, "5ms", body, "metrics_listen = 127.0.0.1:%d" % mport)
    r = run_daemon(netdiagd, cfg, dur, metrics_port=mport)
    rate = r["window_rate"]
    extra = {"stored": db_count(db, "SELECT count(*) FROM failures")} if count_stored else {}
    cpu_us = r["cpu"] * 1e6 / max(1, rate * r["cpu_wall"])
    emit(figure, round(rate), "1/s", goal=goal, ratio=rate / ceiling, targets=n, interval=iv,
         asked_per_s=n * 100, dropped=r["dropped"], failures=r["failures"],
         results=r["results"], whole_run_per_s=round(r["results"] / r["elapsed"]),
         cpu_us_per_probe=round(cpu_us, 2), **extra)
    return rate, cpu_us


def icmp_socket_ok():
    """Whether this user may open an ICMP socket (datagram or raw), as
    netdiagd run by the bench would."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except OSError:
            pass
    return False


def rtt_netdiag(netdiagd, tmp, addr, count):
    """netdiagd --once: one ping target, count echoes 10 ms apart; the
    median RTT it records (latency_us), in us."""
    path = os.path.join(tmp, "rtt.ini")
    with open(path, "w") as f:
        f.write("[daemon]\ndatabase = %s\n\n[target rtt]\nkind = ping\nhost = %s\n"
                "count = %d\nspacing = 10ms\ntimeout = %dms\ninterval = 1h\n"
                % (os.path.join(tmp, "rtt.db"), addr, count, count * 10 + 2000))
    out = subprocess.run([netdiagd, "--once", "--format", "json", "-c", path],
                         capture_output=True, text=True, timeout=120).stdout
    r = json.loads(out.splitlines()[0])
    return r["latency_us"] if r["ok"] else None


def rtt_ping(addr, count):
    """iputils ping, count echoes 10 ms apart: the median of its per-reply
    times, in us."""
    out = subprocess.run(["ping", "-n", "-c", str(count), "-i", "0.01", addr],
                         capture_output=True, text=True, timeout=120).stdout
    times = [float(t) * 1000 for t in re.findall(r"time=([0-9.]+) ms", out)]
    return statistics.median(times) if times else None


def rtt_fping(addr, count):
    """fping -C: count echoes 10 ms apart, the median of its per-reply
    times, in us."""
    err = subprocess.run(["fping", "-q", "-C", str(count), "-p", "10", addr],
                         capture_output=True, text=True, timeout=120).stderr
    m = re.search(r":\s*([0-9. -]+)$", err.strip(), re.M)
    times = [float(t) * 1000 for t in m.group(1).split() if t != "-"] if m else []
    return statistics.median(times) if times else None


def ping_steps(b, netdiagd, tmp, dur, quick):
    """Ping: attempts/s against loopback beside a minimal ICMP echo client
    (ceiling_ping) measured now; RTT medians beside ping and fping on the
    same targets; memory per ping target."""
    if not icmp_socket_ok():
        emit("ping_attempts_per_s", None, "1/s", note="skipped: no ICMP socket for this user "
             "(net.ipv4.ping_group_range, CAP_NET_RAW)")
        return
    out = subprocess.run([os.path.join(b, "bench", "ceiling_ping"), "127.0.0.1", str(dur),
                          "256"], capture_output=True, text=True, check=True).stdout
    ceil = json.loads(out)
    emit("ceiling_ping_echoes_per_s", ceil["value"], "1/s", socket=ceil["socket"])
    # one echo an attempt: attempts/s and echoes/s are the same figure
    _, cpu_us = throughput(netdiagd, tmp, "ping", "kind = ping\nhost = 127.0.0.1\ncount = 1\n",
                           dur, "ping_attempts_per_s", ">= 0.8 x ceiling", ceil["value"])
    # the same comparison by CPU per echo, which other work on a shared
    # machine does not move as much as it moves the rates
    emit("ping_cpu_per_attempt_vs_ceiling", round(ceil["cpu_us_per_echo"] / cpu_us, 3), "ratio",
         goal=">= 0.8", netdiag_cpu_us=round(cpu_us, 2),
         ceiling_cpu_us=ceil["cpu_us_per_echo"])

    # RTT medians, three rounds interleaved, the median of the rounds
    count = 20 if quick else 50
    for addr in ("127.0.0.1", "::1"):
        got = {"netdiag": [], "ping": [], "fping": []}
        for _ in range(3):
            got["netdiag"].append(rtt_netdiag(netdiagd, tmp, addr, count))
            if shutil.which("ping"):
                got["ping"].append(rtt_ping(addr, count))
            if shutil.which("fping"):
                got["fping"].append(rtt_fping(addr, count))
        med = {k: statistics.median([x for x in v if x is not None])
               for k, v in got.items() if any(x is not None for x in v)}
        label = "v6" if ":" in addr else "v4"
        nd = med.get("netdiag")
        emit("ping_rtt_median_us_%s" % label, nd, "us", target=addr, echoes=3 * count,
             ping=med.get("ping"), fping=med.get("fping"))
        for tool in ("ping", "fping"):
            if nd is None or tool not in med:
                emit("ping_rtt_vs_%s_%s" % (tool, label), None, "us",
                     note="%s not installed (make deps)" % tool)
                continue
            diff = nd - med[tool]
            ok = abs(diff) <= max(0.05 * med[tool], 20)
            emit("ping_rtt_vs_%s_%s" % (tool, label), round(diff, 1), "us",
                 goal="within 5% or 20 us", ok=ok, netdiag=nd, other=med[tool])

    # memory per ping target: every target has run once (its state made)
    # when RSS is read: interval 20 s, read after 23 s. Beside it the same
    # for connect targets that succeed (an accept-and-close listener): what
    # any target costs once its results flow, so the difference is ping's.
    counts = (1000, 10000) if quick else (1000, 100000)
    lst, lport = start_helper(os.path.join(b, "bench", "listener"), 600)
    per = {}
    for kind, body in (("ping", "kind = ping\nhost = 127.0.0.1\n"),
                       ("connect", "kind = connect\nhost = 127.0.0.1\nport = %d\n" % lport)):
        rss = {}
        for n in counts:
            cfg, db = write_config(tmp, "%smem%d" % (kind, n), n, "20s", "3s", body)
            r = run_daemon(netdiagd, cfg, 1.0, warmup=23.0)
            rss[n] = r["rss"]
            emit("rss_bytes_%d_%s_targets_started" % (n, kind), r["rss"], "B",
                 results=r["results"], failures=r["failures"])
        per[kind] = (rss[counts[1]] - rss[counts[0]]) / (counts[1] - counts[0])
    stop(lst)
    emit("memory_bytes_per_ping_target", round(per["ping"]), "B", goal="<= 1024",
         between="%d-%d" % counts, note="count 5, every target started once",
         connect_target_started=round(per["connect"]),
         ping_share=round(per["ping"] - per["connect"]))


def db_count(db, sql):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    args = ap.parse_args()
    b = args.build
    netdiagd = os.path.join(b, "netdiagd")
    dur = 2.0 if args.quick else args.seconds
    tmp = tempfile.mkdtemp(prefix="netdiag-bench-")
    started = time.monotonic()

    # 1. ceiling: raw epoll prober against the same listener
    lst, lport = start_helper(os.path.join(b, "bench", "listener"), 600)
    cport = free_port()
    ceil = {}
    for label, port in (("open", lport), ("closed", cport)):
        out = subprocess.run([os.path.join(b, "bench", "ceiling"), label, str(port), str(dur),
                              "256"], capture_output=True, text=True, check=True).stdout
        obj = json.loads(out)
        ceil[label] = obj["value"]
        emit("ceiling_%s_connects_per_s" % label, obj["value"], "1/s")

    # 2. connect throughput: open port (accept-and-close listener)
    throughput(netdiagd, tmp, "connect", "kind = connect\nhost = 127.0.0.1\nport = %d\n" % lport,
               dur, "connect_probes_per_s", ">= 0.8 x ceiling", ceil["open"])
    stop(lst)

    # 3. refused throughput: every result is a stored failure row
    throughput(netdiagd, tmp, "refused", "kind = connect\nhost = 127.0.0.1\nport = %d\n" % cport,
               dur, "refused_probes_per_s", ">= 100000, none dropped", ceil["closed"],
               count_stored=True)

    # 4. resolve throughput against a fast loopback responder, beside its
    # own ceiling: a minimal epoll UDP client against the same responder
    dns, dport = start_helper(os.path.join(b, "bench", "dnsresp"), 600)
    out = subprocess.run([os.path.join(b, "bench", "ceiling_dns"), str(dport), str(dur), "256"],
                         capture_output=True, text=True, check=True).stdout
    ceil["resolve"] = json.loads(out)["value"]
    emit("ceiling_resolve_per_s", ceil["resolve"], "1/s")
    throughput(netdiagd, tmp, "resolve", "kind = resolve\nname = bench.test\ntype = A\n"
               "server = 127.0.0.1:%d\n" % dport, dur, "resolve_probes_per_s", ">= 100000",
               ceil["resolve"])
    stop(dns)

    # 4b. ping: throughput beside its ceiling, RTTs beside ping and fping,
    # memory per ping target
    ping_steps(b, netdiagd, tmp, dur, args.quick)

    # 5. schedule accuracy: 10,000 targets at 1 s for 20 s (refused probes)
    sched_n, sched_s = (2000, 4.0) if args.quick else (10000, 20.0)
    cfg, db = write_config(tmp, "sched", sched_n, "1s", "500ms",
                           "kind = connect\nhost = 127.0.0.1\nport = %d\n" % cport)
    r = run_daemon(netdiagd, cfg, sched_s, warmup=1.5)
    if r["sched"]:
        starts, p50, p99, mx, early = r["sched"]
        emit("schedule_lateness_p50_us", p50, "us", targets=sched_n, starts=starts)
        emit("schedule_lateness_p99_us", p99, "us", goal="<= 1000")
        emit("schedule_lateness_max_us", mx, "us")
        emit("schedule_early_wakeups_rearmed", early, "count",
             goal="never started early by > 1 ms")
    emit("schedule_daemon_cpu_percent", round(100 * r["cpu"] / r["cpu_wall"], 1), "%",
         note="whole daemon: probes, classification, storage",
         probes_per_s=round(r["results"] / r["elapsed"]))
    # the scheduler alone: the real engine with a kind that completes at
    # once (tests/bench/bench_sched.c), same targets and interval
    out = subprocess.run([os.path.join(b, "bench", "bench_sched"), str(sched_n), "1000",
                          str(min(sched_s, 10.0))], capture_output=True, text=True,
                         check=True).stdout
    obj = json.loads(out)
    emit("scheduler_cpu_percent", obj["value"], "%", goal="<= 5",
         starts_per_s=obj["starts_per_s"], lateness_p99_us=obj["lateness_p99_us"],
         early=obj["early_wakeups"])

    # 6. memory per target: closed port, long interval
    rss = {}
    for count in ((1000, 10000) if args.quick else (1000, 10000, 100000)):
        cfg, db = write_config(tmp, "mem%d" % count, count, "1h", "1s",
                               "kind = connect\nhost = 127.0.0.1\nport = %d\n" % cport)
        r = run_daemon(netdiagd, cfg, 1.0, warmup=2.0 if count < 100000 else 6.0)
        rss[count] = r["rss"]
        emit("rss_bytes_%d_targets" % count, r["rss"], "B")
    hi = max(rss)
    per = (rss[hi] - rss[1000]) / (hi - 1000)
    emit("memory_bytes_per_target", round(per), "B", goal="<= 1024", between="1000-%d" % hi)

    # 7. the store alone, with the real schema
    out = subprocess.run([os.path.join(b, "bench", "bench_store"),
                          "500000" if args.quick else "2000000", "10", tmp],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            emit(obj.pop("figure"), obj.pop("value"), obj.pop("unit", ""), **obj)

    # 7b. the /metrics body: bytes, series per target and render time on
    # the loop, with the latency histograms and without
    for count in ((10000,) if args.quick else (10000, 100000)):
        for hist in ("histogram", "off"):
            out = subprocess.run([os.path.join(b, "bench", "bench_metrics"), str(count), "10",
                                  hist], capture_output=True, text=True, check=True).stdout
            obj = json.loads(out)
            emit("metrics_render_ms_%d_targets_%s" % (count, hist), obj["render_ms_median"],
                 "ms", bytes=obj["bytes"], series_per_target=obj["series_per_target"],
                 render_ms_max=obj["render_ms_max"])

    # 8. client queries on a generated database
    gen = os.path.join(HERE, "gen_db.py")
    bq = os.path.join(HERE, "bench_query.sh")
    if os.path.exists(gen) and os.path.exists(bq):
        qdb = os.path.join(tmp, "query.db")
        rows = "1000000" if args.quick else "10000000"
        # the history ends at a fixed time; bench_query.sh queries with the
        # client's NETDIAG_NOW 30.5 s later, so ranges do not start on a minute
        subprocess.run([sys.executable, gen, qdb, "--failures", rows,
                        "--now", "2026-11-24T10:00:00Z"], check=True,
                       stdout=subprocess.DEVNULL)
        out = subprocess.run(["bash", bq, qdb], capture_output=True, text=True, check=True,
                             env=dict(os.environ, NETDIAG_BUILD=b)).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                obj = json.loads(line)
                emit(obj.pop("figure"), obj.pop("value"), obj.pop("unit", "ms"), **obj)

    print()
    print("%-34s %14s  %-8s %-26s %s" % ("figure", "value", "unit", "goal", "ratio"))
    for f in FIGURES:
        print("%-34s %14s  %-8s %-26s %s" % (f["figure"], f["value"], f["unit"],
                                             f.get("goal", ""), f.get("ratio_to_ceiling", "")))
    print("\nbench: %d figures in %.0f s (work files in %s)" % (len(FIGURES),
                                                            time.monotonic() - started, tmp))


if __name__ == "__main__":
    main()
