# SPDX-License-Identifier: ISC
"""Shared fixtures for the integration tests: where the binaries are, how to
run netdiagd once on a config, and loopback peers (open, closed, silent,
resetting, echo) that the tests start themselves. All traffic stays on
loopback or inside a network namespace a test creates."""

import heapq
import json
import os
import re
import select
import signal
import shutil
import socket
import subprocess
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NETDIAG_BUILD", os.path.join(REPO, "build"))
NETDIAGD = os.path.join(BUILD, "netdiagd")
NETDIAG = os.path.join(BUILD, "netdiag")


def run_once(tmp_path, body, timeout=60, extra_args=(), header=None):
    """Write a config with `body` (target sections) and run
    `netdiagd --once --format json`; return (exit code, results by target
    name -> list of result dicts, stderr)."""
    cfg = tmp_path / "netdiag.ini"
    head = header if header is not None else (
        "[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 10s\ntimeout = 1s\n\n"
        % (tmp_path / "db.sqlite"))
    cfg.write_text(head + body)
    proc = subprocess.run([NETDIAGD, "--once", "--format", "json", "-c", str(cfg), *extra_args],
                          capture_output=True, text=True, timeout=timeout)
    results = {}
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        results.setdefault(obj["target"], []).append(obj)
    return proc.returncode, results, proc.stderr


def one(results, name):
    assert name in results, "no result for %s: %s" % (name, results)
    assert len(results[name]) == 1, results[name]
    return results[name][0]


def closed_port(family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A loopback port with nothing bound to it (bound, then released)."""
    s = socket.socket(family, kind)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """netdiagd -c CFG [ARGS] in the background, its stderr in CFG.stderr.
    append: the file keeps earlier runs' lines and log() reads this run's
    only. A test file subclasses it for what only it needs."""

    def __init__(self, cfg, args=(), env=None, cwd=None, user=None, append=False):
        self.errpath = str(cfg) + ".stderr"
        self.errfile = open(self.errpath, "a" if append else "w")
        self.mark = os.path.getsize(self.errpath) if append else 0
        self.started = time.time()
        kw = {"user": user, "group": user} if user is not None else {}
        self.proc = subprocess.Popen([NETDIAGD, "-c", str(cfg), *args], env=self.environ(env),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.errfile, cwd=cwd, **kw)

    def environ(self, env):
        """The environment it runs in (None: the tests' own)."""
        return env

    def log(self):
        with open(self.errpath) as f:
            f.seek(self.mark)
            return f.read()

    def count(self, pattern, flags=0):
        return len(re.findall(pattern, self.log(), flags))

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Whether `pattern` is in the log `count` times, within `timeout`
        seconds or by the time the daemon exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(pattern) >= count:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        return self.count(pattern) >= count

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal, wait (killed after `timeout` s), return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def signal(self, sig):  # after stop(): it hides the module in the class body
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.errfile.closed:
            self.errfile.close()


def daemons_of(cls):
    """A `daemons` fixture: start(cfg, ...) runs cls(cfg, ...); whatever is
    still running at the end is killed."""

    @pytest.fixture
    def daemons():
        made = []

        def start(cfg, *args, **kw):
            d = cls(cfg, *args, **kw)
            made.append(d)
            return d

        yield start
        for d in made:
            d.kill()

    return daemons


daemons = daemons_of(Daemon)


def fill_backlog(port):
    """Fill the queue of a listen(0) socket on 127.0.0.1:port that does not
    accept: backlog 0 holds one completed connection; fill it and one SYN,
    so later SYNs go unanswered. Returns the sockets that hold it (close
    them to free it)."""
    fillers = []
    for _ in range(2):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    return fillers


class Server:
    """A TCP peer on 127.0.0.1 running in a thread: 'accept' (accept and
    close with FIN), 'echo' (echo what it reads), 'reset' (accept, then
    close with SO_LINGER 0 so the peer sees a RST), 'read_reset' (read what
    comes, then the same RST), 'full' (listen(0) with the queue filled so
    SYNs go unanswered), 'trickle' (one byte a second)."""

    def __init__(self, mode, reply=b""):
        self.mode = mode
        self.reply = reply
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.fillers = []
        if mode == "full":
            self.sock.listen(0)
            self.fillers = fill_backlog(self.port)
            self.thread = None
            return
        self.sock.listen(4096)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                conn.close()
                return
            conn.settimeout(5)
            if self.mode == "read_reset":
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                conn.close()
                return
            if self.mode == "echo":
                data = conn.recv(65536)
                conn.sendall(self.reply or data)
            elif self.mode == "trickle":
                for b in self.reply:
                    if self.stop.is_set():
                        break
                    conn.sendall(bytes([b]))
                    self.stop.wait(1.0)
            conn.close()
        except OSError:
            pass

    def close(self):
        self.stop.set()
        for c in self.fillers:
            c.close()
        self.sock.close()
        if self.thread:
            self.thread.join(timeout=2)


@pytest.fixture
def server():
    made = []

    def make(mode, reply=b""):
        s = Server(mode, reply)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


class UdpEcho:
    def __init__(self, reply=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.sock.sendto(self.reply if self.reply is not None else data, peer)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def udp_echo():
    made = []

    def make(reply=None):
        u = UdpEcho(reply)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


class DelayedEcho:
    """A UDP responder on 127.0.0.1 that echoes each datagram after the
    next delay of its cycle `delays` (seconds), from one thread: requests
    wait in a heap until their time. Setting `delay` makes every later
    request wait that long (0: at once)."""

    def __init__(self, delays=(0.0,)):
        self.delays = list(delays)
        self.n = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def delay(self):
        return self.delays[0]

    @delay.setter
    def delay(self, seconds):
        self.delays = [seconds]

    def _run(self):
        due = []  # (time, seq, data, peer)
        while not self.stopping.is_set():
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, _, data, peer = heapq.heappop(due)
                try:
                    self.sock.sendto(data, peer)
                except OSError:
                    pass
            wait = min(0.05, max(0.0, due[0][0] - now)) if due else 0.05
            r, _, _ = select.select([self.sock], [], [], wait)
            if not r:
                continue
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                continue
            delays = self.delays
            d = delays[self.n % len(delays)]
            self.n += 1
            heapq.heappush(due, (time.monotonic() + d, self.n, data, peer))

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


def can_unshare():
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    r = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return r.returncode == 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))
