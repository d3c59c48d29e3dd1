# SPDX-License-Identifier: ISC
"""The path at the moment a target failed (netdiag.ini [path], netdiag
path): netdiagd runs inside a chain of network namespaces host -> r1 ->
r2 -> dst (chainns.py); the test lets each target succeed (its baseline
path is traced), breaks the chain from outside (an unreachable route at r2,
a prohibit route at r1, a silent drop at r2, the route moved to another
router), and reads the failure's path from the database and from `netdiag
path`: where it stopped, who said so, and where it left the last good
path. Connect, send, resolve and ping targets, IPv4 and IPv6, and the
bound on traces when 50 targets fail at once. Skips where namespaces
cannot be made."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

import chainns
from conftest import NETDIAG, NETDIAGD

OK, WHY = chainns.available()
pytestmark = pytest.mark.skipif(not OK, reason=WHY or "no network namespaces")

HERE = os.path.dirname(os.path.abspath(__file__))

LISTEN = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(64)
while True:
    s.accept()[0].close()
"""

# a UDP service that answers every datagram (the send target's expect)
UDP_ECHO = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
"""


def config(tmp_path, targets, path_section="hop_timeout = 300ms\nprobes = 2\n", extra=""):
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text(
        "[daemon]\ndatabase = %s\nlog_level = debug\n\n"
        "[defaults]\ninterval = 3s\ntimeout = 2s\n\n"
        "[path]\n%s\n%s\n%s"
        % (tmp_path / "db.sqlite", path_section, extra, targets))
    return str(cfg)


def query(tmp_path, sql, args=()):
    db = tmp_path / "db.sqlite"
    if not db.exists():
        return []
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        con.close()


def wait_rows(tmp_path, sql, args=(), n=1, timeout=40, chain=None):
    """Poll until `sql` gives at least n rows (bounded); the rows."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = query(tmp_path, sql, args)
        if len(rows) >= n:
            return rows
        if chain is not None and chain.proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError("no %d rows of %s within %ss: %r\n%s" % (
        n, sql, timeout, rows, chain.stderr_text()[-3000:] if chain else ""))


def paths_of(tmp_path, target, why):
    return query(tmp_path,
                 "SELECT p.id, p.reached, p.stop_ttl, p.stop_addr, p.protocol, p.port, p.dest, "
                 "p.packets FROM paths p JOIN targets t ON t.id = p.target_id "
                 "WHERE t.name = ? AND p.why = ? ORDER BY p.id", (target, why))


def hops(tmp_path, path_id):
    return query(tmp_path, "SELECT ttl, said, addr, icmp_type, icmp_code FROM path_hops "
                 "WHERE path_id = ? ORDER BY ttl", (path_id,))


def wait_path(tmp_path, target, why, chain, after=0, timeout=40):
    """The newest path of target for why with an id above `after`."""
    wait_rows(tmp_path,
              "SELECT p.id FROM paths p JOIN targets t ON t.id = p.target_id "
              "WHERE t.name = ? AND p.why = ? AND p.id > ?", (target, why, after),
              timeout=timeout, chain=chain)
    return paths_of(tmp_path, target, why)[-1]


def netdiag_path(tmp_path, target, fmt=None):
    argv = [NETDIAG, "--db", str(tmp_path / "db.sqlite"), "path", target]
    if fmt:
        argv += ["--format", fmt]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    print(p.stdout)  # the report pastes these
    return p.stdout


def clean_exit(c):
    """netdiagd stopped by SIGTERM exits 0, and the sanitizers said nothing."""
    assert c.returncode == 0, c.stderr[-3000:]
    assert "Sanitizer" not in c.stderr and "runtime error" not in c.stderr, c.stderr[-5000:]


def run_case(tmp_path, targets, setup, fault, v6=False, names=None, extra="", after=None):
    """The daemon in the chain: setup(c) before it starts, then every
    target's baseline, then fault(c), then every target's failure path
    traced after that baseline (a first attempt may fail while the chain
    settles, IPv6 neighbour discovery: path_hold is short here so that
    the fault still gets its own trace). Returns the chain (stopped)."""
    names = names or []
    cfg = config(tmp_path, targets, "hop_timeout = 300ms\nprobes = 2\npath_hold = 1s\n", extra)
    with chainns.ChainNS([NETDIAGD, "-c", cfg], v6=v6, hold=True) as c:
        setup(c)
        c.start()
        base = {}
        for n in names:
            base[n] = wait_path(tmp_path, n, "baseline", c)
            assert base[n][1] == 1, (n, base[n], hops(tmp_path, base[n][0]))
        last = max([0] + [r[0] for n in names for r in paths_of(tmp_path, n, "failure")])
        fault(c)
        for n in names:
            wait_path(tmp_path, n, "failure", c, after=max(last, base[n][0]))
        if after is not None:
            after(c)
    clean_exit(c)
    return c


def test_unreachable_at_r2_connect(tmp_path):
    targets = "[target web]\nkind = connect\nhost = 10.99.3.2\nport = 7000\n"

    def setup(c):
        c.background("dst", sys.executable, "-c", LISTEN, "10.99.3.2", "7000")

    def fault(c):
        c.run("r2", "ip", "route", "add", "unreachable", "10.99.3.2/32")

    c = run_case(tmp_path, targets, setup, fault, names=["web"])
    pid, reached, stop_ttl, stop_addr, proto, port, dest, packets = \
        paths_of(tmp_path, "web", "failure")[-1]
    assert (reached, stop_ttl, stop_addr, proto, port, dest) == \
        (0, 2, "10.99.2.2", "tcp", 7000, "10.99.3.2"), c.stderr[-2000:]
    h = hops(tmp_path, pid)
    assert h[0] == (1, "ttl", "10.99.1.2", 11, 0)
    assert h[1] == (2, "unreachable", "10.99.2.2", 3, 1)
    base = paths_of(tmp_path, "web", "baseline")[0]
    assert [x[2] for x in hops(tmp_path, base[0])] == ["10.99.1.2", "10.99.2.2", "10.99.3.2"]
    # the failure row and the path are linked
    linked = query(tmp_path, "SELECT count(*) FROM failures f JOIN paths p ON "
                   "p.target_id = f.target_id AND p.failure_ts = f.ts WHERE p.id = ?", (pid,))
    assert linked[0][0] == 1
    out = netdiag_path(tmp_path, "web")
    assert "stops after hop 2 (10.99.2.2, host unreachable); last good path " in out
    assert "went 10.99.1.2 \u2192 10.99.2.2 \u2192 10.99.3.2" in out
    assert "host unreachable (ICMP 3/1)" in out
    assert "path changed" not in out
    # the failure that started the trace says where the path stopped
    p = subprocess.run([NETDIAG, "--db", str(tmp_path / "db.sqlite"), "failures", "--wide"],
                       capture_output=True, text=True, timeout=30)
    assert "path stops after hop 2 (10.99.2.2)" in p.stdout, p.stdout
    rows = [json.loads(line.rstrip(",")) for line in
            netdiag_path(tmp_path, "web", "json").splitlines() if line.startswith("{")]
    assert rows[1]["address"] == "10.99.2.2" and rows[1]["icmp_type"] == 3
    assert rows[2]["address"] is None and rows[2]["good_address"] == "10.99.3.2"


def test_prohibit_at_r1_send(tmp_path):
    targets = ("[target syslog]\nkind = send\nprotocol = udp\nhost = 10.99.3.2\nport = 5514\n"
               "payload = hello\nexpect = hello\n")

    def setup(c):
        c.background("dst", sys.executable, "-c", UDP_ECHO, "10.99.3.2", "5514")

    def fault(c):
        c.run("r1", "ip", "route", "add", "prohibit", "10.99.3.2/32")

    run_case(tmp_path, targets, setup, fault, names=["syslog"])
    pid, reached, stop_ttl, stop_addr, proto, port, dest, _ = \
        paths_of(tmp_path, "syslog", "failure")[-1]
    assert (reached, stop_ttl, stop_addr, proto, port) == (0, 1, "10.99.1.2", "udp", 5514)
    assert hops(tmp_path, pid) == [(1, "unreachable", "10.99.1.2", 3, 13)]
    base = paths_of(tmp_path, "syslog", "baseline")[0]
    assert base[1] == 1 and base[4] == "udp"  # the echo answered: reached
    out = netdiag_path(tmp_path, "syslog")
    assert "stops after hop 1 (10.99.1.2, administratively prohibited)" in out
    assert "administratively prohibited (ICMP 3/13)" in out


def test_silent_drop_at_r2_resolve(tmp_path):
    targets = ("[target dns]\nkind = resolve\nname = ok.test\nserver = 10.99.3.2:5353\n")

    def setup(c):
        c.background("dst", "/usr/bin/python3", os.path.join(HERE, "dnsserver.py"),
                     "--host", "10.99.3.2", "--port", "5353", "--seconds", "300")

    def fault(c):
        # r2 drops everything for dst without a word
        c.run("r2", "ip", "route", "add", "blackhole", "10.99.3.2/32")

    def alert(c):
        wait_rows(tmp_path, "SELECT id FROM alerts", timeout=40, chain=c)

    # an alert after two timeouts in a 4 s window
    run_case(tmp_path, targets, setup, fault, names=["dns"], after=alert,
             extra="[alert]\nwindow = 4s\nmin_failures = 2\nmin_ratio = 0\n")
    pid, reached, stop_ttl, stop_addr, proto, port, _, packets = \
        paths_of(tmp_path, "dns", "failure")[-1]
    assert (reached, stop_ttl, stop_addr, proto, port) == (0, 1, "10.99.1.2", "udp", 5353)
    h = hops(tmp_path, pid)
    assert h[0] == (1, "ttl", "10.99.1.2", 11, 0)
    assert [x[1] for x in h[1:]] == ["silent"] * 3 and all(x[2] is None for x in h[1:])
    assert packets == 1 + 3 * 2  # hop 1 answered at once, 3 silent hops twice each
    out = netdiag_path(tmp_path, "dns")
    assert "stops after hop 1 (10.99.1.2); no answer from hop 2 on; last good path " in out
    # the alert the failures raised says where the path stopped
    p = subprocess.run([NETDIAG, "--db", str(tmp_path / "db.sqlite"), "alerts", "--wide"],
                       capture_output=True, text=True, timeout=30)
    assert "path stops after hop 1 (10.99.1.2)" in p.stdout, p.stdout


def test_route_moved_ping(tmp_path):
    """Between the baseline and the failure r1 sends dst's traffic to r3,
    which has no route there: the path changed at hop 2."""
    targets = "[target icmp]\nkind = ping\nhost = 10.99.3.2\ncount = 2\nspacing = 100ms\n"

    def setup(c):
        c.run("host", "sysctl", "-qw", "net.ipv4.ping_group_range=0 0")

    def fault(c):
        ex = ["ip", "netns", "exec", "r3"]
        c.run("host", "ip", "netns", "add", "r3")
        c.run("r1", "ip", "link", "add", "r1c", "type", "veth", "peer", "name", "r3a",
              "netns", "r3")
        c.run("r1", "ip", "addr", "add", "10.99.4.1/24", "dev", "r1c")
        c.run("r1", "ip", "link", "set", "r1c", "up")
        c.run("host", *ex, "ip", "link", "set", "lo", "up")
        c.run("host", *ex, "ip", "addr", "add", "10.99.4.2/24", "dev", "r3a")
        c.run("host", *ex, "ip", "link", "set", "r3a", "up")
        c.run("host", *ex, "ip", "route", "add", "10.99.1.0/24", "via", "10.99.4.1")
        c.run("host", *ex, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        c.run("host", *ex, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
        c.run("host", *ex, "ip", "route", "add", "unreachable", "10.99.3.0/24")
        c.run("r1", "ip", "route", "replace", "10.99.3.0/24", "via", "10.99.4.2")

    run_case(tmp_path, targets, setup, fault, names=["icmp"])
    pid, reached, stop_ttl, stop_addr, proto, port, _, _ = \
        paths_of(tmp_path, "icmp", "failure")[-1]
    assert (reached, stop_ttl, stop_addr, proto, port) == (0, 2, "10.99.4.2", "icmp", None)
    base = paths_of(tmp_path, "icmp", "baseline")[0]
    assert [x[1:3] for x in hops(tmp_path, base[0])] == \
        [("ttl", "10.99.1.2"), ("ttl", "10.99.2.2"), ("reached", "10.99.3.2")]
    out = netdiag_path(tmp_path, "icmp")
    assert "stops after hop 2 (10.99.4.2, host unreachable)" in out
    assert "path changed at hop 2" in out


def test_unreachable_at_r2_ipv6(tmp_path):
    targets = "[target web6]\nkind = connect\nhost = fd99:3::2\nport = 7000\n"

    def setup(c):
        c.background("dst", sys.executable, "-c", LISTEN, "fd99:3::2", "7000")

    def fault(c):
        c.run("r2", "ip", "-6", "route", "add", "unreachable", "fd99:3::2/128")

    c = run_case(tmp_path, targets, setup, fault, v6=True, names=["web6"])
    pid, reached, stop_ttl, stop_addr, proto, _, dest, _ = \
        paths_of(tmp_path, "web6", "failure")[-1]
    assert (reached, stop_ttl, stop_addr, proto, dest) == (0, 2, "fd99:2::2", "tcp", "fd99:3::2"), \
        (hops(tmp_path, pid), c.stderr[-3000:])
    h = hops(tmp_path, pid)
    assert h[0] == (1, "ttl", "fd99:1::2", 3, 0)
    assert h[1] == (2, "unreachable", "fd99:2::2", 1, 0)
    out = netdiag_path(tmp_path, "web6")
    assert "stops after hop 2 (fd99:2::2, no route); last good path " in out
    assert "went fd99:1::2 \u2192 fd99:2::2 \u2192 fd99:3::2" in out


def test_fifty_failing_at_once_are_bounded(tmp_path):
    """50 targets fail at the same moment (a silent drop at r2 from the
    start): at most max_traces traces run at a time, and one per target."""
    n = 50
    targets = "".join("[target t%02d]\nkind = connect\nhost = 10.99.3.2\nport = %d\n"
                      "interval = 5s\ntimeout = 1500ms\n\n" % (i, 7000 + i) for i in range(n))
    cfg = config(tmp_path, targets,
                 "max_traces = 2\nhop_timeout = 200ms\nprobes = 1\npath_hold = 10m\n")
    with chainns.ChainNS([NETDIAGD, "-c", cfg], hold=True) as c:
        c.run("r2", "ip", "route", "add", "blackhole", "10.99.3.2/32")
        c.start()
        # 2 at a time, each about 4 x 200 ms: 6 in well under a minute
        rows = wait_rows(tmp_path, "SELECT ts, duration_ms, target_id FROM paths "
                         "WHERE why = 'failure'", n=6, timeout=60, chain=c)
        time.sleep(2)
        rows = query(tmp_path, "SELECT ts, duration_ms, target_id FROM paths "
                     "WHERE why = 'failure'")
    clean_exit(c)
    events = sorted([(ts, 1) for ts, d, _ in rows] + [(ts + d, -1) for ts, d, _ in rows],
                    key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, step in events:
        cur += step
        peak = max(peak, cur)
    assert peak <= 2, rows
    ids = [t for _, _, t in rows]
    assert len(ids) == len(set(ids)), "a target traced twice within path_hold"
    packets = query(tmp_path, "SELECT max(packets) FROM paths")[0][0]
    assert packets <= 4, packets  # hop 1, then 3 silent hops, one probe each


def test_reload_changes_the_limits(tmp_path):
    """[path] is read again at a reload: tracing off at start stores no
    path; on after SIGHUP, the failing target is traced with the new
    max_hops; a bad [path] value keeps the running limits."""
    import signal
    targets = "[target web]\nkind = connect\nhost = 10.99.3.2\nport = 7000\n"
    cfg = config(tmp_path, targets, "trace = off\n")
    with chainns.ChainNS([NETDIAGD, "-c", cfg], hold=True) as c:
        c.run("r2", "ip", "route", "add", "blackhole", "10.99.3.2/32")
        c.start()
        wait_rows(tmp_path, "SELECT ts FROM failures", n=2, chain=c)
        assert query(tmp_path, "SELECT count(*) FROM paths")[0][0] == 0
        pid = query(tmp_path, "SELECT pid FROM runs ORDER BY id DESC LIMIT 1")[0][0]
        # a bad value: refused, the old limits (off) stay
        config(tmp_path, targets, "trace = on\nmax_hops = 99\n")
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "reload failed" not in c.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "max_hops" in c.stderr_text()
        n = len(query(tmp_path, "SELECT ts FROM failures"))
        wait_rows(tmp_path, "SELECT ts FROM failures", n=n + 1, chain=c)
        assert query(tmp_path, "SELECT count(*) FROM paths")[0][0] == 0
        config(tmp_path, targets, "trace = on\nmax_hops = 2\nhop_timeout = 200ms\nprobes = 1\n")
        os.kill(pid, signal.SIGHUP)
        rows = wait_rows(tmp_path, "SELECT id, packets FROM paths WHERE why = 'failure'",
                         chain=c)
    clean_exit(c)
    h = hops(tmp_path, rows[0][0])
    assert [x[0] for x in h] == [1, 2] and h[0][2] == "10.99.1.2" and h[1][1] == "silent"
    assert rows[0][1] == 2
