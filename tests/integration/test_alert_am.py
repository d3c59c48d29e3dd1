# SPDX-License-Identifier: ISC
"""The Alertmanager client against peers that are not Alertmanagers: an
endless body, an endless header, an answer trickled a byte every 5 s, a
peer that accepts and never answers, one that accepts and closes at once
(a new connection for every retry). Each runs against the real netdiagd
while it probes a healthy loopback target and a refused one (whose alert
keeps the client posting). Checked: the daemon's memory stays bounded
(VmRSS from /proc), it never holds more than a few descriptors for
Alertmanager, probing keeps its pace with no false failure of the healthy
target, and delivery resumes to a good peer. With two URLs (an HA pair),
a stuck one holds back nothing sent to the other.

Figures (stored rate, false failures, RSS) are printed per phase; run
with -s to see them."""

import json
import os
import re
import signal
import socket
import sqlite3
import threading
import time

import pytest

from conftest import closed_port
from test_alert import Daemon, Listener, connect_target, write_config

TRICKLE_S = 5.0


class Peer:
    """A loopback HTTP peer whose behaviour is `mode` (changeable at any
    time): good (reads the post, records it, answers 200), body (200, then
    an endless body), header (an endless header line), trickle (a valid
    answer, one byte every TRICKLE_S), silent (reads, never answers),
    close (accepts and closes at once)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.posts = []  # parsed JSON bodies of the posts answered in good mode
        self.conns = 0
        self.auth = []  # Authorization headers seen
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.conns += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _read_request(self, c):
        c.settimeout(2)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 1 << 20:
            chunk = c.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(body) < n:
            chunk = c.recv(65536)
            if not chunk:
                return None
            body += chunk
        a = re.search(rb"(?i)\r\nauthorization: *([^\r]*)", head)
        if a:
            with self.lock:
                self.auth.append(a.group(1).decode())
        return body

    def _serve(self, c):
        try:
            mode = self.mode
            if mode == "close":
                return
            body = self._read_request(c)
            if body is None:
                return
            c.settimeout(10)
            if mode == "good":
                with self.lock:
                    self.posts.append(json.loads(body))
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            elif mode == "body":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                junk = b"x" * 65536
                while not self.stopping.is_set() and self.mode == "body":
                    c.sendall(junk)
            elif mode == "header":
                c.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
                junk = b"a" * 65536
                while not self.stopping.is_set() and self.mode == "header":
                    c.sendall(junk)
            elif mode == "trickle":
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                for i in range(len(answer)):
                    if self.stopping.wait(TRICKLE_S):
                        return
                    c.sendall(answer[i:i + 1])
            elif mode == "silent":
                self.stopping.wait(120)
        except OSError:
            pass  # the client went away: what it should do
        finally:
            c.close()

    def ours(self):
        """Alerts (label dicts) posted to this peer, firing or resolved."""
        with self.lock:
            return [a["labels"] for post in self.posts for a in post]

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


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


@pytest.fixture
def peers():
    made = []

    def make(mode):
        p = Peer(mode)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


def status(pid):
    """(VmRSS in kB, open descriptors) of a process."""
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def config(tmp_path, healthy_port, refused_port, urls):
    return write_config(tmp_path, [
        ("healthy", dict(connect_target(healthy_port), timeout="90ms")),
        ("refused", connect_target(refused_port))],
        "alertmanager_url = %s\nhost_min_targets = 0" % urls)


def rows_between(db, target, t0, t1):
    """Failure rows of a target with ts in [t0, t1) (ms)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT count(*) FROM failures f JOIN targets t ON t.id = f.target_id "
                           "WHERE t.name = ? AND f.ts >= ? AND f.ts < ?",
                           (target, t0, t1)).fetchone()[0]
    finally:
        con.close()


def test_hostile_alertmanager_peers(tmp_path, peers, listener):
    """Each hostile peer in turn (a reload points the daemon at it, so
    every phase starts with a fresh client and no backoff), then a good
    one. RSS and descriptors are sampled all along; an RSS growth of more
    than 64 MB ends the test at once (the old client reached 2 GB)."""
    healthy = listener(backlog=128)
    refused = closed_port()
    good = peers("good")
    phases = [("baseline", good)] + [(m, peers(m)) for m in
                                     ("body", "header", "trickle", "silent", "close")]
    phases.append(("after", good))
    cfg = config(tmp_path, healthy.port, refused, good.url)
    d = Daemon(cfg)
    figures = []
    try:
        assert d.wait_log(r"alert: refused WSAECONNREFUSED \(10061\) firing", timeout=20), d.log()
        assert wait_for(lambda: good.ours(), 20), d.log()
        rss0, _ = status(d.proc.pid)
        for name, peer in phases:
            if name not in ("baseline", "after"):
                config(tmp_path, healthy.port, refused, peer.url)
                d.signal(signal.SIGHUP)
            elif name == "after":
                config(tmp_path, healthy.port, refused, good.url)
                d.signal(signal.SIGHUP)
                n0 = len(good.ours())
            t0 = int(time.time() * 1000)
            end = time.monotonic() + (2.5 * TRICKLE_S if name not in ("baseline", "after")
                                      else 4)
            peak_rss, peak_fds = 0, 0
            while time.monotonic() < end:
                rss, fds = status(d.proc.pid)
                peak_rss, peak_fds = max(peak_rss, rss), max(peak_fds, fds)
                assert rss - rss0 < 64 * 1024, "%s: RSS %d kB (started at %d kB)" % (
                    name, rss, rss0)
                assert d.proc.poll() is None, d.log()
                time.sleep(0.2)
            t1 = int(time.time() * 1000)
            figures.append((name, t0, t1, peak_rss, peak_fds, peer.conns))
        # delivery resumed: the good peer got the firing alert again
        assert wait_for(lambda: len(good.ours()) > n0, 20), d.log()
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.stop()
    db = tmp_path / "db.sqlite"
    log = d.log()
    print()
    for name, t0, t1, rss, fds, conns in figures:
        secs = (t1 - t0) / 1000.0
        rate = rows_between(db, "refused", t0, t1) / secs
        false = rows_between(db, "healthy", t0, t1)
        print("am-abuse %-8s %5.1f s: stored %.1f probes/s (refused target, 10/s configured), "
              "%d false failures of the healthy target, peak RSS %d kB (start %d kB), "
              "peak fds %d, peer connections %d" % (name, secs, rate, false, rss, rss0, fds,
                                                     conns))
        assert false == 0, (name, log)
        assert rate >= 5, (name, rate)  # half the configured pace, on a loaded machine
        assert fds < 40, (name, fds)
    # every hostile peer was actually tried, and failed for its own reason
    for name, why in (("body", r"response too long"), ("header", r"invalid response"),
                      ("trickle", r"no complete answer within 10000 ms"),
                      ("silent", r"no complete answer within 10000 ms"),
                      ("close", r"connection closed|cannot connect, or no response")):
        port = dict(phases)[name].port
        assert re.search(r"alertmanager http://127\.0\.0\.1:%d: post failed \((%s)" % (port, why),
                         log), (name, log)


def test_stuck_alertmanager_holds_back_nothing(tmp_path, peers, listener):
    """An HA pair where one answers a byte every 5 s: the other gets every
    alert at once, a later alert too; when the stuck one mends, delivery
    to it resumes. Credentials from alertmanager_basic_auth_file are sent
    to both as HTTP Basic and never appear in the log."""
    healthy = listener(backlog=128)
    stuck, good = peers("trickle"), peers("good")
    cred = tmp_path / "am.cred"
    cred.write_text("netdiag:s3cret\n")
    os.chmod(cred, 0o600)
    stuck_url = "%s\nalertmanager_basic_auth_file = %s\n" % (stuck.url, cred)
    refused, later = closed_port(), closed_port()
    cfg = config(tmp_path, healthy.port, refused, "%s, %s" % (good.url, stuck_url))
    d = Daemon(cfg)
    try:
        assert d.wait_log(r"alert: refused WSAECONNREFUSED \(10061\) firing", timeout=20), d.log()
        assert wait_for(lambda: any(l["target"] == "refused" for l in good.ours()), 10), d.log()
        # a later alert, while the first post to the stuck one still trickles
        write_config(tmp_path, [
            ("healthy", dict(connect_target(healthy.port), timeout="90ms")),
            ("refused", connect_target(refused)),
            ("later", connect_target(later))],
            "alertmanager_url = %s, %s\nhost_min_targets = 0" % (good.url, stuck_url))
        d.signal(signal.SIGHUP)
        assert wait_for(lambda: any(l["target"] == "later" for l in good.ours()), 15), d.log()
        assert stuck.ours() == []
        # the stuck one fails by its deadline, then mends: both alerts reach it
        assert d.wait_log(r"alertmanager http://127\.0\.0\.1:%d: post failed \(no complete "
                          r"answer within 10000 ms\)" % stuck.port, timeout=30), d.log()
        stuck.mode = "good"
        assert wait_for(lambda: {"refused", "later"} <= {l["target"] for l in stuck.ours()},
                        90), d.log()
        assert d.wait_log(r"alertmanager http://127\.0\.0\.1:%d: reachable again"
                          % stuck.port, timeout=10), d.log()
        assert stuck.auth and all(a == "Basic bmV0ZGlhZzpzM2NyZXQ=" for a in stuck.auth)
        assert good.auth and all(a == "Basic bmV0ZGlhZzpzM2NyZXQ=" for a in good.auth)
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.stop()
    assert "s3cret" not in d.log(), d.log()
