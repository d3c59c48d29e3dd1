#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A chain of routers made of network namespaces, for tests that need real
ICMP errors, real hops and real paths:

    host 10.99.1.1 -- 10.99.1.2 r1 10.99.2.1 -- 10.99.2.2 r2 10.99.3.1 -- 10.99.3.2 dst
    (IPv6 with --v6: fd99:1::1, fd99:1::2/fd99:2::1, fd99:2::2/fd99:3::1, fd99:3::2)

Run as

    unshare -rnm python3 chainns.py --control SOCK [--v6] [--hold] -- CMD ...

it mounts a tmpfs on /run, adds r1, r2 and dst with `ip netns add`, joins
them by veth pairs, turns forwarding on in r1 and r2 (and their ICMP rate
limit off: net.ipv4.icmp_ratelimit, net.ipv6.icmp.ratelimit; the route
errors' own limit, net.ipv4.route.error_cost, exists only in the host's
initial namespace and still holds, see /work/shared/NETNS.md), then runs
CMD in the host namespace (the one unshare made; its exit code is ours,
SIGTERM is passed on to it). With --hold, CMD waits for a {"start": true}
request, so that a test sets its faults up first.

Meanwhile it serves on the unix socket SOCK one JSON request per line:

    {"ns": "r2", "argv": ["ip", "route", "add", "unreachable", "10.99.3.2"]}
      -> {"rc": 0, "out": "...", "err": "..."}
    {"ns": "dst", "argv": [...], "background": true}  -> {"rc": 0, "pid": N}
    {"start": true}                                    -> {"rc": 0}

(ns is one of host, r1, r2, dst), so that a test outside adds routes, nft
rules and listeners while the daemon runs inside. The processes started
in the background are killed when CMD ends.

In a test, `ChainNS` does all of that (a context manager), and
`available()` says whether namespaces can be made here, and why not."""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.abspath(__file__)
NAMESPACES = ("host", "r1", "r2", "dst")

# (namespace, its end, the peer namespace, the peer's end, the /24 or /64 index)
LINKS = (("host", "h0", "r1", "r1a", 1),
         ("r1", "r1b", "r2", "r2a", 2),
         ("r2", "r2b", "dst", "d0", 3))

V4 = {"host": "10.99.1.1", "r1": "10.99.1.2", "r2": "10.99.2.2", "dst": "10.99.3.2"}
V6 = {"host": "fd99:1::1", "r1": "fd99:1::2", "r2": "fd99:2::2", "dst": "fd99:3::2"}


def ns_argv(ns, argv):
    if ns == "host":
        return list(argv)
    return ["ip", "netns", "exec", ns] + list(argv)


def sh(ns, argv):
    subprocess.run(ns_argv(ns, argv), check=True, stdin=subprocess.DEVNULL)


def mac(ns, ifname):
    out = subprocess.run(ns_argv(ns, ["ip", "-o", "link", "show", "dev", ifname]), check=True,
                         capture_output=True, text=True).stdout
    return out.split("link/ether", 1)[1].split()[0]


def build(v6):
    """The namespaces, links, addresses and routes."""
    subprocess.run(["mount", "-t", "tmpfs", "none", "/run"], check=True)
    os.makedirs("/run/netns", exist_ok=True)
    for ns in NAMESPACES[1:]:
        subprocess.run(["ip", "netns", "add", ns], check=True)
    for ns in NAMESPACES:
        sh(ns, ["ip", "link", "set", "lo", "up"])
        if v6:
            # no duplicate address detection, on the link-local addresses
            # too: neighbour discovery sends from them, and a router whose
            # link-local is still tentative forwards nothing for a second
            # or two after the chain is up
            sh(ns, ["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0"])
    for a, a_if, b, b_if, n in LINKS:
        cmd = ["ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b]
        sh(a, cmd)
        sh(a, ["ip", "addr", "add", "10.99.%d.%d/24" % (n, 1), "dev", a_if])
        sh(b, ["ip", "addr", "add", "10.99.%d.%d/24" % (n, 2), "dev", b_if])
        if v6:
            sh(a, ["ip", "-6", "addr", "add", "fd99:%d::1/64" % n, "dev", a_if, "nodad"])
            sh(b, ["ip", "-6", "addr", "add", "fd99:%d::2/64" % n, "dev", b_if, "nodad"])
        if v6:
            sh(a, ["sysctl", "-qw", "net.ipv6.conf.%s.accept_dad=0" % a_if])
            sh(b, ["sysctl", "-qw", "net.ipv6.conf.%s.accept_dad=0" % b_if])
        sh(a, ["ip", "link", "set", a_if, "up"])
        sh(b, ["ip", "link", "set", b_if, "up"])
        # each end knows the other's MAC address: no ARP or neighbour
        # discovery, whose first solicitation a fresh veth pair may lose
        # (the first packet then waits a second for the retry)
        mac_a, mac_b = mac(a, a_if), mac(b, b_if)
        for ns, ifname, peer, peer_mac in ((a, a_if, 2, mac_b), (b, b_if, 1, mac_a)):
            addrs = ["10.99.%d.%d" % (n, peer)] + (["fd99:%d::%d" % (n, peer)] if v6 else [])
            for addr in addrs:
                sh(ns, ["ip", "neigh", "replace", addr, "lladdr", peer_mac, "dev", ifname,
                        "nud", "permanent"])
    # towards dst: host -> r1 -> r2; back: dst -> r2 -> r1
    routes = [("host", "default", "10.99.1.2"), ("r1", "default", "10.99.2.2"),
              ("r2", "10.99.1.0/24", "10.99.2.1"), ("dst", "default", "10.99.3.1")]
    if v6:
        routes += [("host", "default", "fd99:1::2"), ("r1", "default", "fd99:2::2"),
                   ("r2", "fd99:1::/64", "fd99:2::1"), ("dst", "default", "fd99:3::1")]
    for ns, prefix, via in routes:
        sh(ns, ["ip"] + (["-6"] if ":" in via else []) + ["route", "add", prefix, "via", via])
    for ns in ("r1", "r2"):
        sh(ns, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0"])
        if v6:
            sh(ns, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1",
                    "net.ipv6.icmp.ratelimit=0"])


class Control:
    """The control socket: one thread accepting, one per connection."""

    def __init__(self, path):
        self.path = path
        self.started = threading.Event()
        self.background = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = path + ".tmp"
        if os.path.exists(tmp):
            os.unlink(tmp)
        self.sock.bind(tmp)
        self.sock.listen(8)
        os.rename(tmp, path)  # it appears only once it accepts
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        with conn, conn.makefile("rwb") as f:
            for line in f:
                try:
                    reply = self.handle(json.loads(line))
                except Exception as e:  # a bad request is answered, never fatal
                    reply = {"rc": -1, "out": "", "err": "bad request: %s" % e}
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def handle(self, req):
        if req.get("start"):
            self.started.set()
            return {"rc": 0}
        ns = req.get("ns", "host")
        argv = req["argv"]
        if ns not in NAMESPACES or not isinstance(argv, list) or not argv:
            return {"rc": -1, "out": "", "err": "ns must be one of %s, argv a list"
                    % ", ".join(NAMESPACES)}
        if req.get("background"):
            p = subprocess.Popen(ns_argv(ns, argv), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            with self.lock:
                self.background.append(p)
            return {"rc": 0, "pid": p.pid}
        try:
            r = subprocess.run(ns_argv(ns, argv), capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=req.get("timeout", 30))
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"rc": -1, "out": "", "err": str(e)}
        return {"rc": r.returncode, "out": r.stdout.decode(errors="replace"),
                "err": r.stderr.decode(errors="replace")}

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        with self.lock:
            for p in self.background:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--control", required=True, help="the unix socket to serve requests on")
    ap.add_argument("--v6", action="store_true", help="IPv6 addresses and routes as well")
    ap.add_argument("--hold", action="store_true",
                    help='start CMD only after a {"start": true} request')
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    build(a.v6)
    ctl = Control(a.control)
    child = None
    term = threading.Event()

    def on_term(*_):
        term.set()
        if child is not None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    if a.hold:
        while not ctl.started.wait(0.2):
            if term.is_set():
                ctl.close()
                sys.exit(143)
    child = subprocess.Popen(cmd)
    if term.is_set():
        child.send_signal(signal.SIGTERM)
    rc = child.wait()
    ctl.close()
    sys.exit(rc if rc >= 0 else 128 - rc)  # killed by a signal: as a shell says it


# ---- for the tests ------------------------------------------------------------

_available = None


def available():
    """(True, "") where a chain can be built here, else (False, why)."""
    global _available
    if _available is None:
        if shutil.which("unshare") is None or shutil.which("ip") is None:
            _available = (False, "unshare or ip (iproute2) is not installed")
        else:
            probe = ("mount -t tmpfs none /run && mkdir -p /run/netns && ip netns add t && "
                     "ip link add va type veth peer name vb netns t && "
                     "ip netns exec t sysctl -qw net.ipv4.ip_forward=1")
            try:
                r = subprocess.run(["unshare", "-rnm", "sh", "-ec", probe], capture_output=True,
                                   text=True, timeout=30)
                _available = (r.returncode == 0, "cannot build a chain of network namespaces "
                              "here (unshare -rnm, ip netns, veth): %s"
                              % (r.stderr.strip() or "exit %d" % r.returncode))
            except (OSError, subprocess.TimeoutExpired) as e:
                _available = (False, "cannot build a chain of network namespaces here: %s" % e)
            if _available[0]:
                _available = (True, "")
    return _available


class ChainError(Exception):
    pass


class ChainNS:
    """The chain running CMD in its host namespace, as a context manager:

        with ChainNS([NETDIAGD, "-c", cfg], hold=True) as c:
            c.run("r2", "ip", "route", "add", "unreachable", "10.99.3.2/32")
            c.start()
            ...
        c.returncode, c.stdout, c.stderr

    stdout and stderr of CMD go to files in a private directory and are read
    back when it ends (stdout_text(), stderr_text() meanwhile)."""

    def __init__(self, cmd, v6=False, hold=False, ready_timeout=30):
        self.cmd = list(cmd)
        self.v6 = v6
        self.hold = hold
        self.ready_timeout = ready_timeout
        # a short directory: a unix socket's path holds at most 107 bytes
        self.dir = tempfile.mkdtemp(prefix="chainns-")
        self.control = os.path.join(self.dir, "ctl")
        self.proc = None
        self.returncode = None
        self.stdout = self.stderr = ""

    def __enter__(self):
        argv = ["unshare", "-rnm", sys.executable, HERE, "--control", self.control]
        argv += (["--v6"] if self.v6 else []) + (["--hold"] if self.hold else [])
        self._out = open(os.path.join(self.dir, "stdout"), "wb")
        self._err = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen(argv + ["--"] + self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)
        deadline = time.monotonic() + self.ready_timeout
        while not os.path.exists(self.control):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                shutil.rmtree(self.dir, ignore_errors=True)
                raise ChainError("the chain did not come up (exit %s): %s"
                                 % (self.proc.returncode, self.stderr_text()))
            time.sleep(0.05)
        return self

    def request(self, req, timeout=60):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control)
            s.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise ChainError("the control socket closed before answering %r" % (req,))
                buf += chunk
        return json.loads(buf)

    def run(self, ns, *argv, check=True):
        """argv in namespace ns; its {"rc", "out", "err"} (check: rc 0 or raise)."""
        r = self.request({"ns": ns, "argv": list(argv)})
        if check and r["rc"] != 0:
            raise ChainError("%s: %s: exit %s: %s" % (ns, " ".join(argv), r["rc"], r["err"]))
        return r

    def background(self, ns, *argv):
        """A long-running argv (a listener, a nameserver) in namespace ns."""
        return self.request({"ns": ns, "argv": list(argv), "background": True})["pid"]

    def start(self):
        """Start CMD (hold=True)."""
        self.request({"start": True})

    def stdout_text(self):
        with open(os.path.join(self.dir, "stdout"), errors="replace") as f:
            return f.read()

    def stderr_text(self):
        with open(os.path.join(self.dir, "stderr"), errors="replace") as f:
            return f.read()

    def wait(self, timeout=60):
        """Wait for CMD to end on its own; its exit code."""
        self.returncode = self.proc.wait(timeout=timeout)
        self._collect()
        return self.returncode

    def stop(self, timeout=30):
        """SIGTERM to CMD (through the script); its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self._collect()
        return self.returncode

    def _collect(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        self.stdout = self.stdout_text()
        self.stderr = self.stderr_text()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


if __name__ == "__main__":
    main()
