# SPDX-License-Identifier: ISC
"""Alerting end to end: the real netdiagd against loopback peers that the
tests break and mend (a listener closed and reopened for refused, a full
accept queue for timeouts, a nameserver that never answers), with windows
shortened to 1 s and probes every 100 ms. Checks the log (one line per
fire and per resolve), the alerts table, restart and reload, what an
alert of many targets says (and when it may blame the local network), the
exec hook (with the most hostile value that can reach it, its children,
its timeout and the daemon's shutdown) and a real Alertmanager.

No test times the daemon against the wall clock: where a test needs to
know which window did what, it reads the detector's own debug line per
window ("alert: web WSAECONNREFUSED (10061) window: 10 of 10 attempts,
fire ...: fired")."""

import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

import conftest
from conftest import NETDIAGD, REPO, closed_port, daemons_of, fill_backlog
from dnsserver import DNSServer

WINDOW_S = 1.0
FIRING = r"alert: %s %s \(\d+\) firing"
RESOLVED = r"alert: %s %s \(\d+\) resolved"
TIMEOUT_FIRING = r"alert: %s timeout \(%d %s\) firing"
WINDOW_LINE = (r"alert: %s %s window: (\d+) of (\d+) attempts, (\w+) \(threshold ([\d.]+), "
               r"baseline ([\d.]+)\): (\w+)(?:, clear (\d+) of \d+)?")


def windows(log, target, what):
    """The detector's debug lines for one series, in order: dicts of
    count, attempts, level, step and clear (the clear run, or None)."""
    out = []
    for m in re.finditer(WINDOW_LINE % (re.escape(target), re.escape(what)), log):
        out.append({"count": int(m.group(1)), "attempts": int(m.group(2)), "level": m.group(3),
                    "baseline": float(m.group(5)), "step": m.group(6),
                    "clear": int(m.group(7)) if m.group(7) else None})
    return out
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def write_config(tmp_path, targets, alert_extra="", name="netdiag.ini", log_level="info",
                 latency=False):
    """targets: list of (name, dict of keys). Window 1 s, probes every
    100 ms with a 50 ms timeout: 10 attempts a window. Latency alerts only
    when asked for (test_alert_latency.py): the tests of failure alerts
    count every alert line, and a loaded machine slows loopback too."""
    lines = ["[daemon]", "database = %s" % (tmp_path / "db.sqlite"), "log_level = %s" % log_level,
             "",
             "[defaults]", "interval = 100ms", "timeout = 50ms", "",
             "[alert]", "window = 1s", "baseline = 1m", "clear_after = 2"]
    if not latency:
        lines.append("latency = off")
    lines += [l for l in alert_extra.splitlines() if l.strip()]
    lines.append("")
    for tname, keys in targets:
        lines.append("[target %s]" % tname)
        lines += ["%s = %s" % kv for kv in keys.items()]
        lines.append("")
    path = tmp_path / name
    path.write_text("\n".join(lines))
    return str(path)


def connect_target(port):
    return {"kind": "connect", "host": "127.0.0.1", "port": port}


class Daemon(conftest.Daemon):
    """netdiagd -c CFG, appending to its stderr file (log() is this run's)."""

    def __init__(self, cfg, env=None):
        # run in the test's directory: a hook inherits it, so a relative
        # canary would land there
        super().__init__(cfg, env=env, cwd=os.path.dirname(cfg), append=True)


daemons = daemons_of(Daemon)


def alerts(tmp_path):
    """Rows of alerts_v, oldest first."""
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "db.sqlite"), uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM alerts_v ORDER BY id")]
    finally:
        db.close()


def wait_rows(tmp_path, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        try:
            rows = alerts(tmp_path)
        except sqlite3.Error:
            rows = []
        if pred(rows):
            return rows
        time.sleep(0.05)
    return rows


class Listener:
    """A TCP listener on a fixed 127.0.0.1 port that can be closed
    (refused), made to stop accepting (its one-slot queue filled: SYNs go
    unanswered, connects time out), and mended."""

    def __init__(self, backlog=0):
        self.port = closed_port()
        self.backlog = backlog
        self.sock = None
        self.fillers = []
        self.accepting = threading.Event()
        self.stopping = threading.Event()
        self.thread = None
        self.open()

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(self.backlog)  # 0: one queued connection at most, easy to fill
        s.setblocking(False)
        self.sock = s
        self.accepting.set()
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.02)
            if not r or not self.accepting.is_set():
                continue
            try:
                c, _ = self.sock.accept()
                c.close()
            except OSError:
                pass

    def close(self):
        """Nothing listens: connects are refused."""
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=2)
        self.sock.close()
        for c in self.fillers:
            c.close()
        self.fillers = []

    def stop_accepting(self):
        """The queue fills (our own connects hold it): SYNs are dropped."""
        self.accepting.clear()
        time.sleep(0.05)
        self.fillers += fill_backlog(self.port)

    def resume(self):
        for c in self.fillers:
            c.close()
        self.fillers = []
        self.accepting.set()


@pytest.fixture
def listener():
    made = []

    def make(backlog=0):
        l = Listener(backlog)
        made.append(l)
        return l

    yield make
    for l in made:
        try:
            l.close()
        except OSError:
            pass


def test_refused_fires_once_and_resolves(tmp_path, daemons, listener):
    """The listener closes: one fire, one row; it reopens: one resolve
    after exactly clear_after clear windows. Deterministic under load: the
    windows are followed through the detector's debug lines, not timed.
    The alert's baseline is exactly 0: the few refusals of the window the
    listener closed in are the outage's start, never learnt (they made the
    baseline 1/60 when that window ended before the close had a full
    window, and the test failed 4 of 7 runs on a loaded machine)."""
    # a deep accept queue: the healthy phase cannot time out under load
    srv = listener(backlog=64)
    what = "WSAECONNREFUSED (10061)"
    cfg = write_config(tmp_path, [("web", connect_target(srv.port))], log_level="debug")
    d = daemons(cfg)
    # healthy for a while (no claim on how many windows): no refusal, so
    # no window line and no fire
    assert d.wait_log(r"started: 1 targets", timeout=10), d.log()
    time.sleep(3 * WINDOW_S)
    assert d.count(FIRING % ("web", "WSAECONNREFUSED")) == 0, d.log()
    assert windows(d.log(), "web", what) == [], d.log()

    srv.close()
    assert d.wait_log(FIRING % ("web", "WSAECONNREFUSED"), timeout=20), d.log()
    w = windows(d.log(), "web", what)
    steps = [x["step"] for x in w]
    # fired in the window of the close or the next one, never later
    assert steps in (["fired"], ["quiet", "fired"]), w
    assert w[-1]["count"] >= 5 and w[-1]["level"] == "fire", w
    rows = wait_rows(tmp_path, lambda r: len(r) == 1)
    assert len(rows) == 1, rows
    assert rows[0]["target"] == "web" and rows[0]["wsa_code"] == 10061
    assert rows[0]["wsa_name"] == "WSAECONNREFUSED" and rows[0]["resolved"] is None
    assert rows[0]["count"] == w[-1]["count"] and rows[0]["attempts"] == w[-1]["attempts"]
    assert rows[0]["baseline"] == 0, (rows, w)

    # failing for a few more windows (counted, not timed): still one line, one row
    n_fired = len(w)
    assert d.wait_log(WINDOW_LINE % ("web", re.escape(what)), count=n_fired + 3,
                      timeout=20), d.log()
    srv.open()
    assert d.wait_log(RESOLVED % ("web", "WSAECONNREFUSED"), timeout=20), d.log()
    w = windows(d.log(), "web", what)
    firing = w[n_fired - 1:]
    # resolved on the second clear window in a row (clear_after = 2), the
    # one before it clear too, and no clear window before the reopen
    assert firing[-1]["step"] == "resolved" and firing[-1]["level"] == "clear", firing
    assert firing[-2]["step"] == "firing" and firing[-2]["clear"] == 1, firing
    assert all(x["clear"] is None for x in firing[:-2]), firing
    log = d.log()
    assert len(re.findall(r"alert: [^\n]* firing: ", log)) == 1, log
    assert len(re.findall(r"alert: [^\n]* resolved after", log)) == 1, log
    rows = wait_rows(tmp_path, lambda r: len(r) == 1 and r[0]["resolved"] is not None)
    assert len(rows) == 1 and rows[0]["resolved"] is not None, rows
    # the peak is the fullest window of the outage, as the detector saw it
    assert rows[0]["peak"] == max(x["count"] for x in firing[:-1]), (rows, firing)
    assert rows[0]["resolved"] > rows[0]["started"]
    assert d.stop() == 0


def test_timeouts_fire_once_and_resolve(tmp_path, daemons, listener):
    """Connects that time out (a full accept queue) fire the default
    "timeout" class, stored as WSAETIMEDOUT."""
    srv = listener()
    what = "timeout (10060 WSAETIMEDOUT)"
    cfg = write_config(tmp_path, [("slow", connect_target(srv.port))], log_level="debug")
    d = daemons(cfg)
    assert d.wait_log(r"started: 1 targets", timeout=10), d.log()
    time.sleep(2 * WINDOW_S)
    assert d.count(r"alert: [^\n]* firing: ") == 0, d.log()

    srv.stop_accepting()
    assert d.wait_log(TIMEOUT_FIRING % ("slow", 10060, "WSAETIMEDOUT"), timeout=20), d.log()
    steps = [x["step"] for x in windows(d.log(), "slow", what)]
    assert steps.count("fired") == 1 and steps[-1] == "fired", steps
    assert d.count("WSAECONNREFUSED") == 0, d.log()
    rows = wait_rows(tmp_path, lambda r: len(r) == 1)
    assert [(r["target"], r["wsa_code"], r["resolved"]) for r in rows] == [("slow", 10060, None)]
    assert rows[0]["detail"].startswith("timeout: "), rows

    srv.resume()
    assert d.wait_log(r"alert: slow timeout \(10060 WSAETIMEDOUT\) resolved", timeout=20), d.log()
    rows = wait_rows(tmp_path, lambda r: len(r) == 1 and r[0]["resolved"] is not None)
    assert rows[0]["resolved"] is not None, rows
    assert d.count(r"alert: [^\n]* firing: ") == 1, d.log()


def test_silent_nameserver_fires_the_default_alert(tmp_path, daemons):
    """A nameserver that never answers: every query is WSATRY_AGAIN (11002)
    with raw TIMEOUT, as a Windows program's getaddrinfo would say. The
    default codes ("refused, timeout") watch it: one alert, stored as
    11002 with its detail saying it is the timeout class. A SERVFAIL
    server (also 11002) raises nothing. (Before, the default codes were
    WSAECONNREFUSED and WSAETIMEDOUT, and the most common DNS outage
    raised no alert at all.)"""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # bound, never read: no ICMP, no answer
    try:
        with DNSServer() as answering:
            cfg = write_config(tmp_path, [
                ("dns-silent", {"kind": "resolve", "name": "www.example.test",
                                "server": "127.0.0.1:%d" % silent.getsockname()[1],
                                "timeout": "90ms"}),
                ("dns-servfail", {"kind": "resolve", "name": "fail.test",
                                  "server": "127.0.0.1:%d" % answering.port,
                                  "timeout": "90ms"})], log_level="debug")
            d = daemons(cfg)
            assert d.wait_log(TIMEOUT_FIRING % ("dns-silent", 11002, "WSATRY_AGAIN"),
                              timeout=20), d.log()
            assert answering.count(name="fail.test") >= 10
            rows = wait_rows(tmp_path, lambda r: len(r) == 1)
            assert [(r["target"], r["wsa_code"], r["wsa_name"]) for r in rows] == \
                [("dns-silent", 11002, "WSATRY_AGAIN")], rows
            assert rows[0]["detail"].startswith(
                "timeout: %d of %d attempts got no answer in time" %
                (rows[0]["count"], rows[0]["attempts"])), rows
            assert "WSATRY_AGAIN with raw TIMEOUT" in rows[0]["detail"], rows
            # a few more windows: the SERVFAIL target never fires
            assert d.wait_log(WINDOW_LINE % ("dns-silent", re.escape("timeout (11002 WSATRY_AGAIN)")),
                              count=4, timeout=20), d.log()
            assert re.findall(r"alert: (\S+) [^\n]* firing: ", d.log()) == ["dns-silent"], d.log()
            assert d.stop() == 0
    finally:
        silent.close()


def test_restart_and_reload_keep_one_alert(tmp_path, daemons):
    port = closed_port()
    hook_out = tmp_path / "hook"
    hook_out.mkdir()
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\nexec /usr/bin/env > \"$1/$NETDIAG_EVENT.$$\"\n")
    hook.chmod(0o755)
    extra = "exec = %s %s" % (hook, hook_out)
    cfg = write_config(tmp_path, [("web", connect_target(port))], extra)
    d = daemons(cfg)
    assert d.wait_log(FIRING % ("web", "WSAECONNREFUSED"), timeout=4), d.log()
    rows = wait_rows(tmp_path, lambda r: len(r) == 1)
    first_id = rows[0]["id"]

    # reload twice (one adds a target): the alert carries on
    write_config(tmp_path, [("web", connect_target(port)),
                            ("more", connect_target(closed_port()))],
                 extra + "\nhost_min_targets = 0")
    d.signal(signal.SIGHUP)
    assert d.wait_log(r"reloaded: 2 targets", timeout=5), d.log()
    d.signal(signal.SIGHUP)
    assert d.wait_log(r"reloaded: 2 targets", timeout=5, count=2), d.log()
    assert d.wait_log(FIRING % ("more", "WSAECONNREFUSED"), timeout=4), d.log()
    time.sleep(WINDOW_S)
    assert d.count(FIRING % ("web", "WSAECONNREFUSED")) == 1, d.log()
    assert d.stop() == 0

    # restart: the same two alerts, still firing, no new fire, no hook run
    hooks_before = sorted(os.listdir(hook_out))
    d2 = daemons(cfg)
    assert d2.wait_log(r"alert: web WSAECONNREFUSED \(10061\) still firing since", timeout=5), \
        d2.log()
    assert d2.wait_log(r"alert: more WSAECONNREFUSED \(10061\) still firing since", timeout=5)
    time.sleep(3 * WINDOW_S)
    assert d2.count("firing:") == 0, d2.log()
    assert sorted(os.listdir(hook_out)) == hooks_before
    rows = alerts(tmp_path)
    assert [(r["id"], r["target"], r["resolved"]) for r in rows] == \
        [(first_id, "web", None), (first_id + 1, "more", None)]

    # the target leaves the configuration: its alert resolves (hook told)
    write_config(tmp_path, [("web", connect_target(port))], extra)
    d2.signal(signal.SIGHUP)
    assert d2.wait_log(r"alert: more WSAECONNREFUSED \(10061\) resolved after .*: target removed",
                       timeout=5), d2.log()
    rows = wait_rows(tmp_path, lambda r: r[1]["resolved"] is not None)
    assert rows[0]["resolved"] is None and rows[1]["resolved"] is not None, rows
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and \
            not any(n.startswith("resolved.") for n in os.listdir(hook_out)):
        time.sleep(0.05)
    resolved = [n for n in os.listdir(hook_out) if n.startswith("resolved.")]
    assert len(resolved) == 1, os.listdir(hook_out)
    env = dict(l.split("=", 1) for l in (hook_out / resolved[0]).read_text().splitlines()
               if "=" in l)
    assert env["NETDIAG_TARGET"] == "more" and env["NETDIAG_EVENT"] == "resolved"
    assert env["NETDIAG_ALERT_ID"] == str(first_id + 1)
    assert d2.stop() == 0


def shipped_config(tmp_path):
    """conf/netdiag.ini as shipped (three targets failing on purpose on
    127.0.0.1, one answered from /etc/hosts), with only its database,
    its pace (window 1s, probes every 100 ms) and the closed ports made
    sure of changed."""
    text = open(os.path.join(REPO, "conf", "netdiag.ini")).read()
    tcp, udp, dns = closed_port(), closed_port(kind=socket.SOCK_DGRAM), \
        closed_port(kind=socket.SOCK_DGRAM)
    subs = [(r"(?m)^database = .*$", "database = %s" % (tmp_path / "db.sqlite")),
            (r"(?m)^window = .*$", "window = 1s"),
            (r"(?m)^latency = on$", "latency = off"),
            (r"(?m)^baseline = .*$", "baseline = 1m"),
            (r"(?m)^interval = .*$", "interval = 100ms"),
            (r"(?m)^timeout = .*$", "timeout = 50ms"),
            (r"(?m)^server = 127\.0\.0\.1:5399$", "server = 127.0.0.1:%d" % dns)]
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text)
        assert n >= 1, pat
    # web-closed (tcp 9) and udp-closed (udp 9)
    text = text.replace("[target web-closed]\nkind = connect\n", "[target web-closed]\n"
                        "kind = connect\nport = %d\n" % tcp, 1)
    text = re.sub(r"(\[target web-closed\][^\[]*?)\nport = 9\n", r"\1\n", text, count=1)
    text = re.sub(r"(\[target udp-closed\][^\[]*?)\nport = 9\n", r"\1\nport = %d\n" % udp, text,
                  count=1)
    path = tmp_path / "netdiag.ini"
    path.write_text(text)
    return str(path)


def test_shipped_config_does_not_blame_the_local_network(tmp_path, daemons):
    """`make run`: three closed ports of 127.0.0.1 are refused by that
    host. The first alert warning (after the targets' own "ok -> refused"
    warnings) says so ("refused by 3 of 4 targets on
    127.0.0.1"); it used to say "host-wide ... the local network, not the
    targets", which a refusal (an answer from a host) and one host can
    never show."""
    cfg = shipped_config(tmp_path)
    d = daemons(cfg)
    assert d.wait_log(r"warn: alert: ", timeout=20), d.log()
    first = re.search(r"warn: (alert: .*)", d.log()).group(1)
    assert first.startswith("alert: several targets WSAECONNREFUSED (10061) firing: refused by 3 "
                            "of 4 targets on 127.0.0.1 in 1s ("), first
    assert first.endswith("): answers from that host, not the local network"), first
    for name in ("web-closed", "dns-nobody", "udp-closed"):
        assert name in first, first
    assert "the local network, not the targets" not in d.log(), d.log()
    assert "host-wide" not in d.log(), d.log()
    rows = wait_rows(tmp_path, lambda r: len(r) == 1)
    assert len(rows) == 1 and rows[0]["target_id"] is None and rows[0]["wsa_code"] == 10061, rows
    assert rows[0]["detail"] == first.split("firing: ", 1)[1], rows


def test_host_wide_needs_distinct_hosts(tmp_path, daemons):
    """Nameservers that stay silent: three on one host (127.0.0.1) are one
    host's fault, at most; three on three hosts (127.0.0.2-4) failing alike
    in the same window are evidence against the local network, and only
    then does the alert say so."""
    def config(servers):
        return write_config(tmp_path, [
            ("dns%d" % i, {"kind": "resolve", "name": "x.test", "timeout": "90ms",
                           "server": "%s:%d" % srv.udp.getsockname()[:2]})
            for i, srv in enumerate(servers)], "host_min_targets = 3")

    one = [DNSServer(mode="silent") for _ in range(3)]
    try:
        for srv in one:
            srv.start()
        d = daemons(config(one))
        assert d.wait_log(r"alert: several targets timeout \(11002 WSATRY_AGAIN\) firing: "
                          r"timeout: no answer in time from 3 of 3 targets on 127\.0\.0\.1 in 1s "
                          r"\(dns0, dns1, dns2\): one host, too few to blame the local network",
                          timeout=20), d.log()
        assert "the local network, not the targets" not in d.log()
        assert d.stop() == 0
    finally:
        for srv in one:
            srv.stop()

    (tmp_path / "db.sqlite").unlink()
    three = [DNSServer(host="127.0.0.%d" % (i + 2), mode="silent") for i in range(3)]
    try:
        for srv in three:
            srv.start()
        d = daemons(config(three))
        assert d.wait_log(r"alert: host-wide timeout \(11002 WSATRY_AGAIN\) firing: timeout: no "
                          r"answer in time from 3 of 3 targets across 3 hosts \(127\.0\.0\.\d, "
                          r"127\.0\.0\.\d, 127\.0\.0\.\d\) in 1s \(dns0, dns1, dns2\): the local "
                          r"network, not the targets", timeout=20), d.log()
        # one alert for the three, none of their own
        assert d.count(r"alert: dns\d [^\n]* firing: ") == 0, d.log()
        rows = wait_rows(tmp_path, lambda r: len(r) == 1)
        assert rows[0]["target_id"] is None and rows[0]["wsa_code"] == 11002, rows
        assert d.stop() == 0
    finally:
        for srv in three:
            srv.stop()


def dns_responder(txt):
    """A UDP DNS responder on 127.0.0.1 answering every query with one TXT
    record holding `txt`; returns (port, stop)."""
    from dnslib import QTYPE, RR, TXT, DNSRecord

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    stopping = threading.Event()

    def run():
        while not stopping.is_set():
            try:
                data, peer = sock.recvfrom(4096)
                q = DNSRecord.parse(data)
                a = q.reply()
                a.add_answer(RR(q.q.qname, QTYPE.TXT, rdata=TXT(txt), ttl=5))
                sock.sendto(a.pack(), peer)
            except socket.timeout:
                continue
            except Exception:  # a bad packet: ignore it, keep serving
                continue

    th = threading.Thread(target=run, daemon=True)
    th.start()

    def stop():
        stopping.set()
        th.join(timeout=2)
        sock.close()

    return sock.getsockname()[1], stop


def test_exec_hook_interprets_nothing(tmp_path, daemons):
    """Target names cannot hold shell syntax (config allows [A-Za-z0-9._-]),
    but a DNS answer can: a resolve target whose TXT answer does not hold
    `expect` fails with WSANO_DATA and the answer's text reaches the hook in
    NETDIAG_DETAIL. The exec line's own words carry shell syntax too. The
    hook must see every byte as it was, and no canary may appear."""
    canary = tmp_path / "canary"  # relative names below: the cwd is tmp_path
    hostile = "x'\"; $(touch canary1) `touch canary2` | touch canary3 & ${HOME} \\n *"
    assert len(hostile) < 150  # fits the result's detail whole
    port, stop = dns_responder(hostile)
    out = tmp_path / "out"
    out.mkdir()
    hook = tmp_path / "hook.py"
    hook.write_text("#!/usr/bin/python3\nimport json, os, sys\n"
                    "env = {k: v for k, v in os.environ.items() if k.startswith('NETDIAG_')}\n"
                    "p = os.path.join(sys.argv[1], env['NETDIAG_EVENT'] + '.%d' % os.getpid())\n"
                    "json.dump({'argv': sys.argv, 'env': env}, open(p + '.tmp', 'w'))\n"
                    "os.rename(p + '.tmp', p)\n")
    hook.chmod(0o755)
    words = ["$(touch${IFS}canary4)", "`touch", "canary5`|x&&y>z"]
    extra = "exec = %s %s %s\nhost_min_targets = 0" % (hook, out, " ".join(words))
    try:
        cfg = write_config(tmp_path, [("dns-txt", {
            "kind": "resolve", "name": "hostile.test", "type": "TXT",
            "server": "127.0.0.1:%d" % port, "expect": "never-in-the-answer",
            "codes": "WSANO_DATA"})], extra)
        d = daemons(cfg)
        assert d.wait_log(FIRING % ("dns-txt", "WSANO_DATA"), timeout=5), d.log()
        assert d.wait_log(r"alert: exec \S+hook.py \(dns-txt WSANO_DATA firing\) exited 0",
                          timeout=5), d.log()
    finally:
        stop()
    files = [f for f in os.listdir(out) if f.startswith("firing.")]
    assert len(files) == 1, files
    got = json.loads((out / files[0]).read_text())
    assert got["argv"][1:] == [str(out)] + words
    env = got["env"]
    assert hostile in env["NETDIAG_DETAIL"], env["NETDIAG_DETAIL"]
    assert env["NETDIAG_EVENT"] == "firing" and env["NETDIAG_TARGET"] == "dns-txt"
    assert env["NETDIAG_WSA_CODE"] == "11004" and env["NETDIAG_WSA_NAME"] == "WSANO_DATA"
    assert env["NETDIAG_SCOPE"] == "target" and env["NETDIAG_REPEAT"] == "0"
    assert int(env["NETDIAG_COUNT"]) >= 5 and int(env["NETDIAG_ATTEMPTS"]) >= 5
    assert env["NETDIAG_WINDOW"] == "1s" and env["NETDIAG_MEANING"]
    for i in range(1, 6):
        assert not os.path.exists("%s%d" % (canary, i)), "canary %d: something was interpreted" % i
    # the database keeps the same bytes
    rows = alerts(tmp_path)
    assert hostile in rows[0]["detail"]


def test_exec_renotify_and_clean_environment(tmp_path, daemons):
    """A still-firing alert reminds the hook every `renotify`, never more
    often; NETDIAG_* variables of the daemon's own environment never reach
    the hook (only facts do)."""
    out = tmp_path / "out"
    out.mkdir()
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\n/usr/bin/env > \"$1/$(date +%s%N).$NETDIAG_EVENT.$$\"\n")
    hook.chmod(0o755)
    cfg = write_config(tmp_path, [("web", connect_target(closed_port()))],
                       "exec = %s %s\nrenotify = 2s" % (hook, out))
    env = dict(os.environ, NETDIAG_EVENT="bogus", NETDIAG_STALE="1")
    d = daemons(cfg, env)
    assert d.wait_log(FIRING % ("web", "WSAECONNREFUSED"), timeout=4), d.log()
    # fired, then reminded at 2 s and 4 s (windows are 1 s); stopped once the
    # third run is there, however late a loaded machine shows it (a fourth
    # may come before the stop: what matters is how often, checked below)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(os.listdir(out)) < 3:
        time.sleep(0.1)
    assert d.stop() == 0
    runs = sorted(os.listdir(out))
    envs = [dict(l.split("=", 1) for l in (out / f).read_text().splitlines() if "=" in l)
            for f in runs]
    assert [e["NETDIAG_EVENT"] for e in envs] == ["firing"] * len(envs), runs
    assert len(envs) >= 3, runs
    assert [e["NETDIAG_REPEAT"] for e in envs] == ["0"] + ["1"] * (len(envs) - 1)
    assert len({e["NETDIAG_ALERT_ID"] for e in envs}) == 1
    stamps = [int(f.split(".")[0]) / 1e9 for f in runs]
    assert all(b - a >= 1.9 for a, b in zip(stamps, stamps[1:])), stamps
    assert all("NETDIAG_STALE" not in e for e in envs)
    # the database notes the last notification
    rows = alerts(tmp_path)
    assert rows[0]["last_notified"] >= rows[0]["started"] + 3900, rows


def test_exec_hook_killed_after_timeout(tmp_path, daemons):
    """A hook that hangs is killed with its process group after
    exec_timeout; the loop goes on (the alert still resolves on time)."""
    srv_port = closed_port()
    pidfile = tmp_path / "sleeper.pid"
    hook = tmp_path / "hang.sh"
    # the hook's own child (a grandchild of netdiagd) must die too
    hook.write_text("#!/bin/sh\nsleep 60 &\necho $! > %s\nwait\n" % pidfile)
    hook.chmod(0o755)
    cfg = write_config(tmp_path, [("web", connect_target(srv_port))],
                       "exec = %s\nexec_timeout = 500ms" % hook)
    d = daemons(cfg)
    assert d.wait_log(FIRING % ("web", "WSAECONNREFUSED"), timeout=4), d.log()
    assert d.wait_log(r"alert: exec \S+hang.sh \(web WSAECONNREFUSED firing\) killed after 0\.\d s"
                      r" \(exec_timeout 500 ms\)", timeout=3), d.log()
    sleeper = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % sleeper):
        try:
            with open("/proc/%d/stat" % sleeper) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    alive = os.path.exists("/proc/%d" % sleeper)
    if alive:
        with open("/proc/%d/stat" % sleeper) as f:
            alive = f.read().split(")")[-1].split()[0] != "Z"
    assert not alive, "the hook's child survived"
    # probing went on throughout: results kept flowing into the database
    time.sleep(WINDOW_S)
    assert d.stop() == 0
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "db.sqlite"), uri=True)
    n = db.execute("SELECT count(*) FROM failures").fetchone()[0]
    db.close()
    assert n >= 15, n


def alive(pid):
    """Whether pid runs (a zombie does not count)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_dead(pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def read_pid(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError("%s was not written" % path)


def test_exec_hook_leaves_nothing_behind(tmp_path, daemons):
    """What a hook starts in the background ends when the hook exits (its
    process group goes with it); a hook still running when the daemon
    stops ends with the daemon, its children too. Before, both outlived
    the hook and the daemon."""
    out = tmp_path / "pids"
    out.mkdir()
    hook = tmp_path / "hook.sh"
    # firing: leave a sleeper behind and exit 0; resolved: never happens.
    # Every run writes its own pid files; the first ones are looked at.
    hook.write_text("#!/bin/sh\nsleep 300 &\necho $! > \"$1/child.$$\"\n"
                    "if [ \"$2\" = stay ]; then echo $$ > \"$1/hook.$$\"; wait; fi\nexit 0\n")
    hook.chmod(0o755)
    cfg = write_config(tmp_path, [("web", connect_target(closed_port()))],
                       "exec = %s %s go\nexec_timeout = 1h" % (hook, out))
    d = daemons(cfg)
    assert d.wait_log(r"alert: exec \S+hook.sh \(web WSAECONNREFUSED firing\) exited 0", timeout=20), \
        d.log()
    children = [int(p.read_text()) for p in out.glob("child.*")]
    assert len(children) == 1, children
    assert wait_dead(children) == [], "the hook's background child outlived the hook"
    assert d.stop() == 0

    # a hook that stays: the daemon's stop ends it and its child
    for p in out.iterdir():
        p.unlink()
    (tmp_path / "db.sqlite").unlink()
    cfg = write_config(tmp_path, [("web", connect_target(closed_port()))],
                       "exec = %s %s stay\nexec_timeout = 1h" % (hook, out))
    d = daemons(cfg)
    assert d.wait_log(FIRING % ("web", "WSAECONNREFUSED"), timeout=20), d.log()
    hook_pid = read_pid(next_file(out, "hook."))
    child_pid = read_pid(next_file(out, "child."))
    assert alive(hook_pid) and alive(child_pid)
    assert d.stop() == 0
    assert wait_dead([hook_pid, child_pid]) == [], "the hook or its child outlived the daemon"
    assert re.search(r"alert: exec \S+hook.sh \(web WSAECONNREFUSED firing\) ended at shutdown",
                     d.log()), d.log()


def next_file(directory, prefix, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(directory.glob(prefix + "*"))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no %s* in %s" % (prefix, directory))


def test_exec_dropped_runs_are_counted(tmp_path, daemons):
    """More notifications than 8 running hooks and 64 waiting: the ones
    dropped are logged with their count, at once for the first and then
    at most once per 10 s (never one line per drop, never silently)."""
    hook = tmp_path / "slow.sh"
    hook.write_text("#!/bin/sh\nexec sleep 120\n")
    hook.chmod(0o755)
    targets = [("t%d" % i, connect_target(closed_port())) for i in range(10)]
    # every window reminds the hook of 10 firing alerts: the queue fills
    # in about 8 windows
    cfg = write_config(tmp_path, targets,
                       "exec = %s\nexec_timeout = 1h\nrenotify = 1s\nhost_min_targets = 0" % hook)
    d = daemons(cfg)
    drop = r"alert: exec \S+slow.sh: (\d+) hook runs? dropped \(8 running and 64 waiting; last " \
        r"dropped: t\d WSAECONNREFUSED firing again\)"
    assert d.wait_log(drop, timeout=40), d.log()
    assert d.wait_log(drop, count=2, timeout=40), d.log()
    counts = [int(n) for n in re.findall(drop, d.log())]
    assert counts[0] == 1 and counts[1] > 1, counts  # the second line sums up ~10 s of drops
    assert d.stop() == 0
    log = d.log()
    assert re.search(r"alert: exec: 64 queued hook runs not started: shutting down", log), log
    assert len(re.findall(r"\(t\d WSAECONNREFUSED firing[^)]*\) ended at shutdown", log)) == 8, log


class Alertmanager:
    """prometheus-alertmanager on 127.0.0.1 (a free port), clustering off,
    a temporary storage path and a minimal configuration."""

    def __init__(self, tmp_path, port):
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        d = tmp_path / "am"
        d.mkdir(exist_ok=True)
        (d / "am.yml").write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
        self.logf = open(d / "am.log", "a")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, "--config.file=%s" % (d / "am.yml"),
             "--storage.path=%s" % (d / "data"), "--web.listen-address=127.0.0.1:%d" % port,
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/-/ready", timeout=1).read()
                return
            except OSError:
                assert self.proc.poll() is None, "alertmanager exited"
                time.sleep(0.1)
        raise AssertionError("alertmanager did not become ready")

    def alerts(self):
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=2) as r:
            return json.load(r)

    def ours(self, alertname="NetdiagFailureSpike"):
        return [a for a in self.alerts() if a["labels"].get("alertname") == alertname]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def iso_ms(s):
    """Alertmanager's RFC 3339 time -> ms since the epoch (UTC)."""
    import datetime
    s = re.sub(r"(\.\d{1,6})\d*", r"\1", s.replace("Z", "+00:00"))
    return int(datetime.datetime.fromisoformat(s).timestamp() * 1000)


@pytest.mark.skipif(ALERTMANAGER is None,
                    reason="prometheus-alertmanager is not installed "
                           "(Debian: apt-get install prometheus-alertmanager)")
def test_alertmanager_sees_firing_then_resolved(tmp_path, daemons, listener):
    srv = listener()
    am_port = closed_port()
    cfg = write_config(tmp_path, [("web", connect_target(srv.port))],
                       "alertmanager_url = http://127.0.0.1:%d" % am_port)
    d = daemons(cfg)
    time.sleep(WINDOW_S)
    srv.close()
    assert d.wait_log(FIRING % ("web", "WSAECONNREFUSED"), timeout=4), d.log()
    # Alertmanager is not up yet: the post fails and is retried with backoff
    assert d.wait_log(r"alertmanager http://127\.0\.0\.1:%d: post failed" % am_port,
                      timeout=5), d.log()
    am = Alertmanager(tmp_path, am_port)
    try:
        deadline = time.monotonic() + 15
        ours = []
        while time.monotonic() < deadline and not ours:
            ours = am.ours()
            time.sleep(0.1)
        assert len(ours) == 1, am.alerts()
        a = ours[0]
        assert a["labels"] == {"alertname": "NetdiagFailureSpike", "instance": socket.gethostname(),
                               "scope": "target", "target": "web", "wsa_code": "10061",
                               "wsa_name": "WSAECONNREFUSED", "severity": "warning"}
        assert a["status"]["state"] == "active"
        assert a["annotations"]["meaning"] == "Connection refused."
        assert int(a["annotations"]["count"]) >= 5
        assert d.wait_log(r"alertmanager .*: reachable again", timeout=2), d.log()
        # re-sent while firing: same alert (fingerprint), endsAt ahead of now
        # and moving on
        first_ends = iso_ms(a["endsAt"])
        assert first_ends > time.time() * 1000
        time.sleep(2.5 * WINDOW_S)
        ours = am.ours()
        assert len(ours) == 1 and ours[0]["fingerprint"] == a["fingerprint"], ours
        assert iso_ms(ours[0]["endsAt"]) > first_ends
        assert iso_ms(ours[0]["startsAt"]) == iso_ms(a["startsAt"])
        last_ends = iso_ms(ours[0]["endsAt"])

        srv.open()
        assert d.wait_log(RESOLVED % ("web", "WSAECONNREFUSED"), timeout=6), d.log()
        # gone from the active alerts well before the last endsAt would
        # have expired it: the resolve was posted (endsAt = now)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and am.ours():
            time.sleep(0.05)
        assert am.ours() == [], am.alerts()
        assert time.time() * 1000 < last_ends, "expired rather than resolved"
        # it is kept as resolved: the same fingerprint, with active=false
        with urllib.request.urlopen(am.url + "/api/v2/alerts?active=false&silenced=false"
                                    "&inhibited=false&unprocessed=false",
                                    timeout=2) as r:
            inactive = [x for x in json.load(r) if x["fingerprint"] == a["fingerprint"]]
        assert inactive == [] or inactive[0]["status"]["state"] != "active"
        assert d.stop() == 0
    finally:
        am.stop()
