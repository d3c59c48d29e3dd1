# SPDX-License-Identifier: ISC
"""The config space: netdiagd run on what a person writes, combination by
combination, instead of on the few lines a test author thought of.

Every kind (connect, resolve, send udp, send tcp) meets every way of
writing where it goes (an IPv4 or IPv6 literal, `[::1]`, a v4-mapped
address, a name in /etc/hosts with one family, with the other, with both,
with three addresses, a name only the resolver knows, names the resolver
answers with NXDOMAIN, SERVFAIL, no data, silence or broken packets), and
each of those every family (any, ipv4, ipv6), addresses (first, all),
source (none, 127.0.0.1, ::1, addresses not on the machine), peer and
payload/expect variant, and a timeout long enough to judge the outcome or
short enough (1-30 ms, a seeded sample) to race the engine's own steps.

One config per kind and host form (the targets of a family that the name
has no address of go in a config of their own, so that a crash there
hides nothing else) is checked with `netdiagd -t`, then run with
`netdiagd --once --format json` (the sanitizer build when NETDIAG_BUILD
points at it, as `make integration` does). Every config -t calls OK must
end in exit 0 or 1, never a signal or a sanitizer report; a config -t
refuses must be refused by --once the same way. Every target must give
exactly one classified result per address (ok exactly when wsa_code is 0;
a failure with a known code, a phase and a raw name) and, where the
outcome is certain (a listening or closed loopback port, a timeout of
seconds), the right one. When a config crashes, the runner halves its
targets until one small config still crashes, and the failure names it.

Where it runs: inside a user, mount and network namespace of its own
(`unshare -rnm`) whose /etc/hosts and /etc/resolv.conf are files of the
test, bind-mounted there: the hosts file mirrors this machine's (localhost
with 127.0.0.1 only) and adds names with one, both and three addresses,
the nameserver is tests/integration/dnsserver.py on 127.0.0.1:53 and
[::1]:53 of that namespace, and no packet can leave it. Where no namespace
can be made, that half skips; a smaller half always runs on the machine
itself, with literals and the machine's own /etc/hosts entry for
localhost only (so nothing asks the machine's resolver anything), against
peers on 127.0.0.1 and ::1.

Also, a few generated configs run as a real daemon with a database for a
couple of seconds, then SIGTERM: the exit line and the database must agree
and hold rows for every target.

Deterministic: the combinations are a fixed product, the short-timeout
sample and the per-config -d flag come from NETDIAG_SPACE_SEED (printed in
every failure). Running this file as a program (`--run DIR`) is the
runner the tests start inside the namespace; nothing else calls it."""

import argparse
import concurrent.futures
import itertools
import json
import os
import random
import re
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pytest  # noqa: E402

from conftest import NETDIAGD  # noqa: E402
from dnsserver import DNSServer  # noqa: E402

SEED = int(os.environ.get("NETDIAG_SPACE_SEED", "13"))
PYTHON = "/usr/bin/python3"

# The namespace's own /etc/hosts: localhost as on this machine (IPv4 only,
# no "::1 localhost"), and names with the other family, both, and three
# addresses. 127.0.0.2 answers inside the namespace as on any Linux lo.
NS_HOSTS = """\
# /etc/hosts of test_config_space.py's namespace
127.0.0.1 localhost
::1 v6only.test
127.0.0.1 dual.test
::1 dual.test
127.0.0.1 multi.test
127.0.0.2 multi.test
::1 multi.test
"""
NS_RESOLV = "# resolv.conf of test_config_space.py's namespace\nnameserver 127.0.0.1\n"

# Ports inside the namespace (nothing else lives there).
NS_PORTS = {"echo": 7007, "close": 7001, "closed": 7009, "dns": 53, "dns6": 53,
            "dnsclosed": 7053}

KINDS = ("connect", "resolve", "send-udp", "send-tcp")
FAMILIES = ("any", "ipv4", "ipv6")
ADDRESSES = ("first", "all")
SOURCES = ("none", "127.0.0.1", "::1", "192.0.2.1", "2001:db8::1")
NOT_LOCAL = ("192.0.2.1", "2001:db8::1")
SHORT_TIMEOUTS = ("1ms", "2ms", "5ms", "30ms")
SHORT_SHARE = 0.25
LONG_TIMEOUT = "2s"
SLOW_TIMEOUT = "300ms"  # forms whose failure is a timeout: keep the run short
QTYPES = ("A", "AAAA", "MX", "ANY")
QEXPECTS = ("none", "127.0.0.1", "::1", "nomatch.test")

# wsa codes the checks name (the daemon's table is the truth for the rest)
WSAECONNREFUSED = 10061
WSAEADDRNOTAVAIL = 10049
WSAEMSGSIZE = 10040

RESOLVE_CODES = {"nxdomain": 11001, "nodata": 11004, "servfail": 11002, "timeout": 11002}

SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                       r"SUMMARY: (Address|Undefined|Leak)Sanitizer")


def fam_of(addr):
    return "ipv6" if ":" in addr else "ipv4"


class Form:
    """One way of writing where a target goes. `how`: literal, hosts, dns
    (the resolver answers), invalid (the config refuses it today). `v4`,
    `v6`: the addresses the name has per family (hosts, dns); `known` False
    when what the resolver makes of it is not known in advance (broken
    answers): then only the result's shape is checked. `fails`: how the
    resolver answers the name for every family (nxdomain, nodata,
    servfail, timeout). `slow`: its failure is a timeout. `peers` False:
    nothing listens on its addresses (only where the probes went is
    checked)."""

    def __init__(self, name, host, how, v4=(), v6=(), fails=False, slow=False,
                 qname=None, known=True, peers=True):
        self.name = name
        self.host = host
        self.qname = qname if qname is not None else host
        self.how = how
        self.v4 = list(v4)
        self.v6 = list(v6)
        self.fails = fails
        self.slow = slow
        self.known = known  # False: addresses unknown in advance
        self.peers = peers  # False: no peer listens on its addresses

    def addrs(self, family):
        """Addresses a look-up for `family` gives, in no particular order;
        [] when the name has none of it; None when unknown."""
        if not self.known:
            return None
        if self.fails:
            return []
        if self.how == "literal":
            return [self.address()]
        if family == "ipv4":
            return list(self.v4)
        if family == "ipv6":
            return list(self.v6)
        return self.v4 + self.v6

    def address(self):
        """A literal's address as the engine reads it ("127.1": 127.0.0.1)."""
        return (self.v4 + self.v6)[0]

    def resolve_code(self, family):
        """The WSA code a failed look-up of the name for `family` must have,
        whichever way it was asked (netdiagd's stub resolver for connect,
        send and server = system, or the resolve probe's own query), as the
        resolve probe and glibc's getaddrinfo say it: no such name 11001, the name without an address
        (of that family) 11004, a server failure or no answer 11002. None:
        not certain."""
        if self.fails:
            return RESOLVE_CODES[self.fails]
        if self.how in ("hosts", "dns") and self.known and self.addrs(family) == [] and \
                (self.v4 or self.v6):
            return RESOLVE_CODES["nodata"]
        return None

    def nothing_of(self, family):
        """The name exists in /etc/hosts, but not with this family: found,
        with no address of that family (it once crashed the engine)."""
        return self.how == "hosts" and self.known and self.addrs(family) == [] and \
            bool(self.v4 or self.v6)


def ns_forms():
    return [
        Form("ipv4", "127.0.0.1", "literal", v4=["127.0.0.1"]),
        Form("ipv6", "::1", "literal", v6=["::1"]),
        Form("bracketed", "[::1]", "invalid"),
        Form("v4mapped", "::ffff:127.0.0.1", "literal", v6=["::ffff:127.0.0.1"]),
        # inet_aton's and ping's short form: taken as 127.0.0.1
        Form("short-ipv4", "127.1", "literal", v4=["127.0.0.1"]),
        Form("localhost", "localhost", "hosts", v4=["127.0.0.1"]),
        Form("localhost-upper", "LOCALHOST", "hosts", v4=["127.0.0.1"]),
        Form("localhost-dot", "localhost.", "dns", known=False),
        Form("v6only", "v6only.test", "hosts", v6=["::1"]),
        Form("dual", "dual.test", "hosts", v4=["127.0.0.1"], v6=["::1"]),
        Form("multi", "multi.test", "hosts", v4=["127.0.0.1", "127.0.0.2"], v6=["::1"]),
        Form("dns-dual", "ok.test", "dns", v4=["127.0.0.1"], v6=["::1"]),
        Form("dns-cname", "cname.test", "dns", v4=["127.0.0.1"]),
        Form("dns-nodata", "nodata.test", "dns", fails="nodata"),
        Form("dns-nxdomain", "nosuch.invalid", "dns", fails="nxdomain"),
        Form("dns-servfail", "fail.test", "dns", fails="servfail"),
        Form("dns-silent", "silent.test", "dns", fails="timeout", slow=True),
        # 40 A records: over UDP truncated (TC), over TCP whole; nothing
        # listens on 127.0.1.x, so only the addresses are checked
        Form("dns-truncated", "big.test", "dns", v4=["127.0.1.%d" % i for i in range(40)],
             peers=False),
        Form("dns-garbage", "garbage.test", "dns", known=False, slow=True),
        Form("dns-wrongid", "wrongid.test", "dns", fails="timeout", slow=True),
        Form("dns-ptrloop", "ptrloop.test", "dns", known=False, slow=True),
        Form("dns-bigcount", "bigcount.test", "dns", known=False, slow=True),
        Form("dns-cut", "truncated.test", "dns", known=False, slow=True),
    ]


def machine_hosts(path="/etc/hosts"):
    """name (lower case) -> addresses, as netdiagd reads the hosts file."""
    names = {}
    try:
        with open(path) as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                for name in words[1:]:
                    names.setdefault(name.lower(), []).append(words[0])
    except OSError:
        pass
    return names


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def host_forms():
    """On the machine itself: only what never reaches its resolver."""
    forms = [Form("ipv4", "127.0.0.1", "literal", v4=["127.0.0.1"]),
             Form("bracketed", "[::1]", "invalid")]
    if have_ipv6_loopback():
        forms += [Form("ipv6", "::1", "literal", v6=["::1"]),
                  Form("v4mapped", "::ffff:127.0.0.1", "literal", v6=["::ffff:127.0.0.1"])]
    addrs = machine_hosts().get("localhost")
    if addrs:
        forms.append(Form("localhost", "localhost", "hosts",
                          v4=[a for a in addrs if ":" not in a],
                          v6=[a for a in addrs if ":" in a]))
    return forms


def forms_of(sandbox):
    return ns_forms() if sandbox == "netns" else host_forms()


# --- the generated configs ------------------------------------------------

def item_groups(kind, form):
    """The configs of one kind and form: (group, families). The families a
    hosts name has no address of get a config each."""
    if kind == "resolve" or form.how != "hosts":
        return [("all", FAMILIES)]
    empty = [f for f in FAMILIES if form.nothing_of(f)]
    rest = tuple(f for f in FAMILIES if f not in empty)
    return [("all", rest)] + [("no-" + f, (f,)) for f in empty]


def items(sandbox):
    """Every config of a sandbox: (id, kind, form, group, families)."""
    out = []
    for form in forms_of(sandbox):
        for kind in KINDS:
            for group, fams in item_groups(kind, form):
                out.append(("%s/%s/%s" % (kind, form.name, group), kind, form, group, fams))
    out.append(("invalid/source-family", "invalid", None, "all", FAMILIES))
    return out


def target_text(name, keys):
    return "[target %s]\n" % name + "".join("%s = %s\n" % kv for kv in keys) + "\n"


def gen_targets(kind, form, fams, ports, sandbox, rng):
    """[(name, meta, keys)] for one config. meta says what the checks need."""
    out = []

    def add(name, meta, keys, short_ok=True):
        long_t = SLOW_TIMEOUT if form.slow else LONG_TIMEOUT
        out.append((name, dict(meta, timeout=long_t, long=True),
                    keys + [("timeout", long_t)]))
        if short_ok and rng.random() < SHORT_SHARE:
            t = rng.choice(SHORT_TIMEOUTS)
            out.append((name + "-t" + t, dict(meta, timeout=t, long=False),
                        keys + [("timeout", t)]))

    if kind == "resolve":
        servers = [("ours", "127.0.0.1:%d" % ports["dns"]),
                   ("closed", "127.0.0.1:%d" % ports["dnsclosed"])]
        if have_ipv6_loopback() or sandbox == "netns":
            servers.append(("ours6", "[::1]:%d" % ports["dns6"]))
        # server = system reads /etc/resolv.conf: in the namespace that is
        # ours; on the machine only a hosts name is safe (netdiagd answers
        # it from the file, also when it has no address of the family)
        system_ok = sandbox == "netns" or form.how == "hosts"
        if system_ok:
            servers.append(("system", "system"))
        for fam, (sname, server), qtype, exp in itertools.product(fams, servers, QTYPES,
                                                                  QEXPECTS):
            if server == "system" and sandbox != "netns" and qtype not in ("A", "AAAA"):
                continue  # would go to the machine's first nameserver
            keys = [("kind", "resolve"), ("name", form.qname), ("type", qtype),
                    ("server", server), ("family", fam)]
            if exp != "none":
                keys.append(("expect", exp))
            name = "r-%s-%s-%s-%s" % (fam, sname, qtype.lower(), exp.replace(":", "x"))
            add(name, {"kind": "resolve", "family": fam, "server": sname, "qtype": qtype,
                       "expect": exp, "addresses": "first"}, keys)
        return out

    if kind == "connect":
        variants = [("open", "echo", []), ("closed", "closed", [])]
    elif kind == "send-udp":
        variants = [
            ("echo", "echo", [("payload", "hello")]),
            ("echo-expect", "echo", [("payload", "ping 1"), ("expect", "ping 1")]),
            ("echo-mismatch", "echo", [("payload", "ping"), ("expect_hex", "706f6e67")]),
            ("echo-empty", "echo", []),
            ("echo-hex", "echo", [("payload_hex", "de:ad be ef"), ("expect_hex", "deadbeef")]),
            ("closed", "closed", [("payload", "x")]),
            ("closed-expect", "closed", [("payload", "x"), ("expect", "x")]),
            ("too-big", "echo", [("payload", "x"), ("payload_size", "70000")]),
        ]
    else:
        variants = [
            ("echo", "echo", [("payload", "hello")]),
            ("echo-expect", "echo", [("payload", "ping 1"), ("expect", "ping 1")]),
            ("echo-big", "echo", [("payload_hex", "ab"), ("payload_size", "200000"),
                                  ("expect_hex", "abab")]),
            ("close-expect", "close", [("payload", "ping"), ("expect", "pong")]),
            ("closed", "closed", [("payload", "x")]),
        ]
    for fam, addresses, source, (vname, peer, extra) in itertools.product(
            fams, ADDRESSES, SOURCES, variants):
        if source != "none" and fam != "any" and fam_of(source) != fam:
            continue  # a config error by design: the "invalid" item checks it
        if form.how == "literal" and fam != "any" and fam_of(form.address()) != fam:
            continue  # the same: an address literal has one family
        keys = [("kind", "connect" if kind == "connect" else "send"), ("host", form.host),
                ("port", str(ports[peer])), ("family", fam), ("addresses", addresses)]
        if kind != "connect":
            keys.append(("protocol", kind[5:]))
        if source != "none":
            keys.append(("source", source))
        keys += extra
        name = "%s-%s-%s-%s-%s" % (kind[0] if kind == "connect" else kind[5], fam, addresses,
                                   source.replace(":", "x").replace(".", "_"), vname)
        add(name, {"kind": kind, "family": fam, "addresses": addresses, "source": source,
                   "variant": vname, "peer": peer}, keys)
    return out


def gen_invalid(ports):
    """Configs -t must refuse, with --once refusing them the same way."""
    body = target_text("src6-fam4", [("kind", "connect"), ("host", "127.0.0.1"),
                                     ("port", str(ports["closed"])), ("family", "ipv4"),
                                     ("source", "::1")])
    body += target_text("src4-fam6", [("kind", "send"), ("host", "::1"),
                                      ("port", str(ports["closed"])), ("family", "ipv6"),
                                      ("source", "127.0.0.1"), ("payload", "x")])
    body += target_text("source-on-resolve", [("kind", "resolve"), ("name", "ok.test"),
                                              ("server", "127.0.0.1:%d" % ports["dns"]),
                                              ("source", "127.0.0.1")])
    # an address literal of the other family than `family`
    body += target_text("lit4-fam6", [("kind", "connect"), ("host", "127.0.0.1"),
                                      ("port", str(ports["closed"])), ("family", "ipv6")])
    body += target_text("lit6-fam4", [("kind", "send"), ("host", "::1"), ("protocol", "udp"),
                                      ("port", str(ports["closed"])), ("family", "ipv4"),
                                      ("payload", "x")])
    return body


def gen_config(item, ports, sandbox, workdir):
    """(config text, {target: meta}) for one item, the same for every run
    with the same seed."""
    iid, kind, form, group, fams = item
    rng = random.Random("%d/%s/%s" % (SEED, sandbox, iid))
    head = ("# %s (sandbox %s, NETDIAG_SPACE_SEED=%d)\n[daemon]\ndatabase = %s/unused.db\n\n"
            "[defaults]\ninterval = 10s\n\n" % (iid, sandbox, SEED, workdir))
    if kind == "invalid":
        return head + gen_invalid(ports), {}
    targets = gen_targets(kind, form, fams, ports, sandbox, rng)
    meta = {}
    body = []
    for name, m, keys in targets:
        meta[name] = dict(m, form=form.name)
        body.append(target_text(name, keys))
    return head + "".join(body), meta


# --- the peers --------------------------------------------------------------

class Peers:
    """The targets' peers, one thread: `echo` (TCP: echoes what it reads
    until the prober closes, at most 1 MB held for a prober that does not
    read; UDP: every datagram back to its sender), `close` (TCP: accepts and
    closes at once), `closed` (nothing listens), each on one port number on
    every address given (bound one by one: a UDP reply must come from the
    address the prober sent to, or its connected socket drops it)."""

    def __init__(self, addrs, ports=None):
        self.sel = selectors.DefaultSelector()
        self.ports = dict(ports or {})
        self.stop_ev = threading.Event()
        for name, types in (("echo", (socket.SOCK_STREAM, socket.SOCK_DGRAM)),
                            ("close", (socket.SOCK_STREAM,))):
            self.ports[name] = self._bind_all(name, types, addrs, self.ports.get(name, 0))
        for name in ("closed", "dnsclosed"):
            if name not in self.ports:
                self.ports[name] = self._free_port(addrs)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _bind(addrs, types, port):
        made = []
        try:
            for host in addrs:
                fam = socket.AF_INET6 if ":" in host else socket.AF_INET
                for t in types:
                    s = socket.socket(fam, t)
                    made.append(s)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((host, port))
                    port = s.getsockname()[1]
        except OSError:
            for s in made:
                s.close()
            return None, made
        return port, made

    def _bind_all(self, name, types, addrs, port):
        for _ in range(50):
            got, made = self._bind(addrs, types, port)
            if got is None:
                if port:
                    raise OSError("cannot bind port %d for %s" % (port, name))
                continue
            for s in made:
                s.setblocking(False)
                if s.type == socket.SOCK_STREAM:
                    s.listen(4096)
                    self.sel.register(s, selectors.EVENT_READ, ("accept", name))
                else:
                    big_receive_buffer(s)
                    self.sel.register(s, selectors.EVENT_READ, ("udp", name))
            return got
        raise OSError("no port free on every address for %s" % name)

    def _free_port(self, addrs):
        for _ in range(50):
            got, made = self._bind(addrs, (socket.SOCK_STREAM, socket.SOCK_DGRAM), 0)
            for s in made:
                s.close()
            if got is not None:
                return got
        raise OSError("no free port")

    def _run(self):
        bufs = {}
        while not self.stop_ev.is_set():
            for key, mask in self.sel.select(timeout=0.1):
                what, name = key.data
                s = key.fileobj
                try:
                    if what == "accept":
                        c, _ = s.accept()
                        if name == "close":
                            c.close()
                            continue
                        c.setblocking(False)
                        bufs[c] = bytearray()
                        self.sel.register(c, selectors.EVENT_READ, ("conn", name))
                    elif what == "udp":
                        data, peer = s.recvfrom(65536)
                        s.sendto(data, peer)
                    else:
                        self._conn(s, mask, bufs)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    if what == "conn":
                        self._drop(s, bufs)

    def _conn(self, c, mask, bufs):
        buf = bufs[c]
        if mask & selectors.EVENT_READ:
            data = c.recv(65536)
            if not data:
                self._drop(c, bufs)
                return
            if len(buf) < (1 << 20):
                buf += data
        if buf:
            n = c.send(buf)
            del buf[:n]
        self.sel.modify(c, selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0),
                        ("conn", "echo"))

    def _drop(self, c, bufs):
        try:
            self.sel.unregister(c)
        except (KeyError, ValueError):
            pass
        bufs.pop(c, None)
        c.close()

    def close(self):
        self.stop_ev.set()
        self.thread.join(timeout=5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


# --- the runner (inside the namespace, or on the machine) ------------------

def crashed(rc, err):
    return rc < 0 or rc > 2 or bool(SANITIZER.search(err))


def run_netdiagd(binary, cfg, args, timeout=120):
    t0 = time.monotonic()
    try:
        p = subprocess.run([binary, *args, "-c", cfg], capture_output=True, text=True,
                           timeout=timeout, errors="replace")
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = "hang"
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        err = "netdiagd did not exit within %d s" % timeout
    return {"rc": rc, "out": out, "err": err, "secs": round(time.monotonic() - t0, 3)}


def split_config(text):
    """(head, [target sections]) of a generated config."""
    parts = re.split(r"(?m)^(?=\[target )", text)
    return parts[0], parts[1:]


# netdiagd runs all reductions of a session may take together: one root
# cause often crashes many configs, and the run time must stay bounded.
REDUCE_RUNS = 60
_REDUCE = {"left": REDUCE_RUNS, "lock": threading.Lock()}


def reduce_budget(n):
    """Take n runs from the session's reduction budget; False when spent."""
    with _REDUCE["lock"]:
        if _REDUCE["left"] < n:
            return False
        _REDUCE["left"] -= n
        return True


def reduce_crash(binary, cfg_path, text, args, bound=24):
    """Halve the targets of a crashing config while one half still crashes
    alone (each half is tried twice: some crashes depend on timing), in at
    most `bound` runs; then run the smallest config three times. Returns
    (config text, a crashing run or the last run, crashes in 3 runs), or
    None when the session's budget of runs is spent."""
    head, sections = split_config(text)
    path = cfg_path + ".min.ini"
    runs = 0

    if not reduce_budget(bound + 6):
        return None

    def bad(r):
        return r["rc"] == "hang" or crashed(r["rc"], r["err"])

    def attempt(part, tries):
        nonlocal runs
        with open(path, "w") as f:
            f.write(head + "".join(part))
        for _ in range(tries):
            runs += 1
            r = run_netdiagd(binary, path, args, timeout=60)
            if bad(r):
                return r
        return None

    while len(sections) > 1 and runs + 4 <= bound:
        half = len(sections) // 2
        for part in (sections[:half], sections[half:]):
            if attempt(part, 2):
                sections = part
                break
        else:
            break
    last, hits = None, 0
    for _ in range(3):
        r = attempt(sections, 1)
        if r:
            hits += 1
            last = r
    if hits == 0:
        # the crash needs more of the config (timing, numbers): the whole
        # config is the reproducer
        _, sections = split_config(text)
        for _ in range(3):
            r = attempt(sections, 1)
            if r:
                hits += 1
                last = r
    if last is None:
        last = run_netdiagd(binary, path, args, timeout=60)
    return head + "".join(sections), last, hits


def run_item(binary, sandbox, item, ports, workdir):
    iid = item[0]
    text, meta = gen_config(item, ports, sandbox, workdir)
    cfg = os.path.join(workdir, iid.replace("/", "_") + ".ini")
    with open(cfg, "w") as f:
        f.write(text)
    rng = random.Random("%d/%s/%s/args" % (SEED, sandbox, iid))
    once_args = ["--once", "--format", "json"] + (["-d"] if rng.random() < 0.5 else [])
    rec = {"id": iid, "config": cfg, "meta": meta, "once_args": once_args,
           "test": run_netdiagd(binary, cfg, ["-t"], timeout=60),
           "once": run_netdiagd(binary, cfg, once_args)}
    o = rec["once"]
    if (o["rc"] == "hang" or crashed(o["rc"], o["err"])):
        got = reduce_crash(binary, cfg, text, once_args)
        if got is not None:
            rec["repro"] = {"config": got[0], "path": cfg + ".min.ini", "run": got[1],
                            "hits": got[2]}
    return rec


# Daemon runs: a few generated configs, probed for a while with a database.
DAEMON_SECONDS = 2.5
STOPPED = re.compile(r"stopped: (\d+) results, (\d+) failures, (\d+) failure rows stored, "
                     r"(\d+) dropped")


def daemon_configs(sandbox, ports, workdir):
    """A few configs: targets of every kind drawn (seeded) from the space,
    with a short interval;
    in the namespace also one whose name look-ups are in flight when it is
    stopped."""
    rng = random.Random("%d/%s/daemon" % (SEED, sandbox))
    pool = []
    for iid, kind, form, group, fams in items(sandbox):
        if kind == "invalid" or form.how == "invalid":
            continue
        text, meta = gen_config((iid, kind, form, group, fams), ports, sandbox, workdir)
        for sec in split_config(text)[1]:
            if meta[re.match(r"\[target ([^\]]+)\]", sec).group(1)]["long"]:
                pool.append((iid, sec))
    out = []
    for n in range(3):
        picked = rng.sample(pool, min(40, len(pool)))
        body = []
        for i, (iid, sec) in enumerate(picked):
            name = "d%02d-%s" % (i, re.search(r"\[target ([^\]]+)\]", sec).group(1))
            sec = re.sub(r"\[target [^\]]+\]", "[target %s]" % name, sec, count=1)
            sec = re.sub(r"(?m)^timeout = .*$", "timeout = 150ms", sec)
            body.append("# from %s\n" % iid + sec)
        db = os.path.join(workdir, "daemon%d.db" % n)
        text = ("# daemon run %d (sandbox %s, NETDIAG_SPACE_SEED=%d)\n[daemon]\ndatabase = %s\n"
                "log_level = info\n\n[defaults]\ninterval = 200ms\ntimeout = 150ms\n\n"
                % (n, sandbox, SEED, db)) + "".join(body)
        out.append((n, text, db))
    if sandbox == "netns":
        # look-ups still in flight at SIGTERM: a name the server never
        # answers, probed almost all the time
        db = os.path.join(workdir, "daemon3.db")
        body = "".join("[target silent%02d]\nkind = connect\nhost = silent.test\nport = %d\n"
                       "family = %s\n\n" % (i, ports["closed"], FAMILIES[i % 3])
                       for i in range(60))
        out.append((3, "# daemon run 3: look-ups in flight at the stop (NETDIAG_SPACE_SEED=%d)\n"
                    "[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 1s\ntimeout = 900ms\n\n"
                    % (SEED, db) + body, db))
    return out


def run_daemon(binary, n, text, db, workdir):
    cfg = os.path.join(workdir, "daemon%d.ini" % n)
    with open(cfg, "w") as f:
        f.write(text)
    errpath = cfg + ".stderr"
    with open(errpath, "w") as errf:
        p = subprocess.Popen([binary, "-c", cfg], stdout=subprocess.DEVNULL, stderr=errf)
        started = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None:
            with open(errpath) as f:
                if "started:" in f.read():
                    started = True
                    break
            time.sleep(0.05)
        if started:
            time.sleep(DAEMON_SECONDS)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "hang"
    with open(errpath, errors="replace") as f:
        err = f.read()
    return {"n": n, "config": cfg, "db": db, "rc": rc, "err": err, "started": started,
            "targets": re.findall(r"(?m)^\[target ([^\]]+)\]", text)}


def big_receive_buffer(sock, size=8 << 20):
    """Thousands of queries come in bursts while the responder is one Python
    thread: a query the kernel drops for want of buffer would be a timeout
    of the test's making. SO_RCVBUFFORCE works for root (also the root of
    the namespace); otherwise SO_RCVBUF, up to net.core.rmem_max."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, size)  # SO_RCVBUFFORCE
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def runner(args):
    sandbox = args.sandbox
    workdir = args.run
    if sandbox == "netns":
        peers = Peers(["127.0.0.1", "127.0.0.2", "::1"], dict(NS_PORTS))
        dns = [DNSServer("127.0.0.1", 53), DNSServer("::1", 53)]
    else:
        v6 = have_ipv6_loopback()
        peers = Peers(["127.0.0.1"] + (["::1"] if v6 else []))
        dns = [DNSServer("127.0.0.1", 0)] + ([DNSServer("::1", 0)] if v6 else [])
    for d in dns:
        big_receive_buffer(d.udp)
        d.start()
    ports = dict(peers.ports, dns=dns[0].port, dns6=dns[-1].port)
    todo = [it for it in items(sandbox) if args.only is None or re.search(args.only, it[0])]
    t0 = time.monotonic()
    out = {"sandbox": sandbox, "seed": SEED, "ports": ports, "items": {}, "daemon": []}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = [ex.submit(run_item, args.binary, sandbox, it, ports, workdir) for it in todo]
        for fut in futs:
            rec = fut.result()
            out["items"][rec["id"]] = rec
        out["once_secs"] = round(time.monotonic() - t0, 1)
        if args.daemon:
            dfuts = [ex.submit(run_daemon, args.binary, n, text, db, workdir)
                     for n, text, db in daemon_configs(sandbox, ports, workdir)]
            out["daemon"] = [f.result() for f in dfuts]
    out["secs"] = round(time.monotonic() - t0, 1)
    for d in dns:
        d.stop()
    peers.close()
    with open(os.path.join(workdir, "space.json"), "w") as f:
        json.dump(out, f)
    return 0


NS_SCRIPT = """
set -e
ip link set lo up
mount --bind "$1" /etc/hosts
mount --bind "$2" /etc/resolv.conf
shift 2
exec "$@"
"""


def run_space(sandbox, workdir, only=None, daemon=True):
    """Start the runner (in a namespace of its own for "netns") and return
    what it recorded."""
    os.makedirs(workdir, exist_ok=True)
    cmd = [PYTHON, os.path.abspath(__file__), "--run", workdir, "--sandbox", sandbox,
           "--binary", NETDIAGD, "--jobs", "2"]
    if only:
        cmd += ["--only", only]
    if daemon:
        cmd.append("--daemon")
    if sandbox == "netns":
        hosts = os.path.join(workdir, "hosts")
        resolv = os.path.join(workdir, "resolv.conf")
        with open(hosts, "w") as f:
            f.write(NS_HOSTS)
        with open(resolv, "w") as f:
            f.write(NS_RESOLV)
        cmd = ["unshare", "-rnm", "sh", "-c", NS_SCRIPT, "sh", hosts, resolv] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    path = os.path.join(workdir, "space.json")
    assert proc.returncode == 0 and os.path.exists(path), \
        "the runner failed (exit %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:],
                                                  proc.stderr[-3000:])
    with open(path) as f:
        return json.load(f)


# --- the checks -----------------------------------------------------------

def known_codes():
    p = subprocess.run([os.path.join(os.path.dirname(NETDIAGD), "netdiag"), "codes",
                        "--format", "json"], capture_output=True, text=True, timeout=60)
    return {c["code"] for c in json.loads(p.stdout)}


def strip_port(remote):
    if remote.startswith("["):
        return remote[1:remote.index("]")]
    return remote.rsplit(":", 1)[0]


def expect_send(meta):
    """(ok or None, wsa code or None) for a send/connect address whose
    source fits and that resolved: what the peer makes certain."""
    v, kind = meta.get("variant"), meta["kind"]
    if v in ("closed", "closed-expect"):
        return False, WSAECONNREFUSED
    if kind == "connect" or v in ("echo", "echo-expect", "echo-hex", "echo-empty"):
        return True, None
    if v == "echo-big":
        return True, None
    if v == "echo-mismatch":
        return False, None
    if v == "too-big":
        return False, WSAEMSGSIZE
    return None, None  # close-expect: a mismatch or a reset, by timing


def check_result_shape(r, name, meta, codes):
    p = []
    if r.get("target") != name:
        p.append("target %r" % r.get("target"))
    want_kind = "resolve" if meta["kind"] == "resolve" else \
        ("connect" if meta["kind"] == "connect" else "send")
    if r.get("kind") != want_kind:
        p.append("kind %r, configured %s" % (r.get("kind"), want_kind))
    if not isinstance(r.get("ok"), bool):
        p.append("ok is %r" % r.get("ok"))
    elif r["ok"]:
        if r.get("wsa_code") != 0:
            p.append("ok with wsa_code %r" % r.get("wsa_code"))
        if r.get("raw"):
            p.append("ok with raw %r" % r.get("raw"))
    else:
        if not r.get("wsa_code"):
            p.append("failure with wsa_code %r" % r.get("wsa_code"))
        elif r["wsa_code"] not in codes:
            p.append("wsa_code %r is not in the code table" % r["wsa_code"])
        if not r.get("raw"):
            p.append("failure with an empty raw")
        if r.get("phase") in (None, "", "none"):
            p.append("failure without a phase: %r" % r.get("phase"))
        if r.get("wsa_name") in (None, "", "?") or not r.get("meaning"):
            p.append("failure without a name or meaning")
    if not isinstance(r.get("latency_us"), int) or r["latency_us"] < 0:
        p.append("latency_us %r" % r.get("latency_us"))
    return ["%s: %s: %s" % (name, x, json.dumps(r)) for x in p]


def check_target(name, meta, rs, forms, codes):
    """Problems with one target's results (empty: all is well)."""
    form = forms[meta["form"]]
    probs = []
    for r in rs:
        probs += check_result_shape(r, name, meta, codes)
    if probs:
        return probs
    kind, fam = meta["kind"], meta["family"]
    if kind == "resolve":
        if len(rs) != 1:
            return ["%s: %d results, want 1: %s" % (name, len(rs), rs)]
        r = rs[0]
        if not meta["long"]:
            return []
        if r["ok"] is False and r["phase"] not in ("resolve", "verify"):
            probs.append("%s: a resolve failure in phase %s" % (name, r["phase"]))
        if meta["server"] == "closed" and r["ok"]:
            probs.append("%s: ok from a closed server port" % name)
        if meta["server"] == "closed" and not r["ok"] and r["wsa_code"] != WSAECONNREFUSED:
            probs.append("%s: closed server port gave %s, want %d" % (name, r["wsa_code"],
                                                                      WSAECONNREFUSED))
        if form.name == "dns-dual" and meta["server"] != "closed":
            want = {"A": "127.0.0.1", "AAAA": "::1"}.get(meta["qtype"])
            if want and meta["expect"] in ("none", want) and not r["ok"]:
                probs.append("%s: %s %s should be ok" % (name, form.qname, meta["qtype"]))
            if want and meta["expect"] not in ("none", want) and r["ok"]:
                probs.append("%s: expect %s met by a %s answer" % (name, meta["expect"],
                                                                    meta["qtype"]))
        if form.fails and r["ok"]:
            probs.append("%s: ok for a name the resolver fails" % name)
        # what the name's failure must be called: the same on every path
        # (a hosts name is known to server = system only)
        want = None
        if form.fails:
            want = RESOLVE_CODES[form.fails]
        elif meta["qtype"] in ("A", "AAAA") and (form.how == "dns" or (
                form.how == "hosts" and meta["server"] == "system")):
            want = form.resolve_code("ipv6" if meta["qtype"] == "AAAA" else "ipv4")
        if meta["server"] != "closed" and want is not None and not r["ok"] and \
                r["phase"] == "resolve" and r["wsa_code"] != want:
            probs.append("%s: %s %s via %s gave %s %s, want %d" % (
                name, form.qname, meta["qtype"], meta["server"], r["wsa_code"], r["raw"], want))
        return [p + ": " + json.dumps(r) for p in probs]

    addrs = form.addrs(fam)
    literal_other = form.how == "literal" and fam != "any" and fam_of(form.address()) != fam
    if form.how == "literal" and not literal_other:
        addrs = [form.address()]
    # how many results: one per address probed, or one when the look-up
    # failed (then nothing was probed)
    resolve_failed = any(r["ok"] is False and r["phase"] == "resolve" for r in rs)
    if meta["addresses"] == "first" or form.how == "literal" or resolve_failed:
        want_n = 1
    elif addrs is None:
        want_n = None
    else:
        want_n = max(1, len(addrs))
    if want_n is not None and len(rs) != want_n:
        return ["%s: %d results, want %d (addresses %s of %s): %s" % (
            name, len(rs), want_n, meta["addresses"], addrs, json.dumps(rs))]
    for r in rs:
        remote = strip_port(r["remote"]) if r["remote"] else ""
        if r["ok"] is False and r["phase"] == "resolve":
            if addrs and meta["long"] and not literal_other:
                probs.append("%s: resolve failed for a name with %s" % (name, addrs))
            want = form.resolve_code(fam)
            if meta["long"] and want is not None and r["wsa_code"] != want:
                probs.append("%s: look-up of %s (%s) gave %s %s, want %d" % (
                    name, form.host, fam, r["wsa_code"], r["raw"], want))
            continue
        if not remote:
            probs.append("%s: no remote address past the resolve phase" % name)
            continue
        if fam != "any" and not literal_other and fam_of(remote) != fam:
            probs.append("%s: remote %s is not %s" % (name, remote, fam))
        if addrs and not literal_other and remote not in addrs:
            probs.append("%s: remote %s is not one of %s" % (name, remote, addrs))
        if not meta["long"]:
            continue
        src = meta["source"]
        if src != "none" and fam_of(src) != fam_of(remote):
            if r["ok"]:
                probs.append("%s: ok from an %s source to %s" % (name, fam_of(src), remote))
            continue
        if src in NOT_LOCAL:
            if r["ok"] or r["wsa_code"] != WSAEADDRNOTAVAIL:
                probs.append("%s: source %s not on the machine gave %s, want %d" % (
                    name, src, r["wsa_code"], WSAEADDRNOTAVAIL))
            continue
        if form.name == "v4mapped" and src != "none":
            continue  # an IPv6 socket bound to ::1 cannot reach a v4-mapped peer
        if not form.peers:
            continue
        ok, code = expect_send(meta)
        if ok is not None and r["ok"] != ok:
            probs.append("%s: ok is %s, want %s" % (name, r["ok"], ok))
        elif code is not None and r["wsa_code"] != code:
            probs.append("%s: wsa_code %s, want %s" % (name, r["wsa_code"], code))
        if r["ok"] and src != "none" and strip_port(r["local"] or "x:0") != src:
            probs.append("%s: local %s, source %s" % (name, r["local"], src))
    if form.fails and meta["long"] and any(r["ok"] for r in rs):
        probs.append("%s: ok for a name the resolver fails" % name)
    return [p + ": " + json.dumps(rs) for p in probs]


def describe_crash(rec):
    lines = ["%s crashed under --once (exit %s); NETDIAG_SPACE_SEED=%d; config %s" % (
        rec["id"], rec["once"]["rc"], SEED, rec["config"])]
    rep = rec.get("repro")
    if rep:
        lines.append("smallest config found that still crashes (%s; it crashed in %d of 3 "
                     "runs), run as netdiagd %s -c FILE:\n%s"
                     % (rep["path"], rep["hits"], " ".join(rec["once_args"]), rep["config"]))
        err = rep["run"]["err"]
    else:
        err = rec["once"]["err"]
    m = SANITIZER.search(err)
    start = max(0, m.start() - 200) if m else 0
    lines.append("stderr:\n" + err[start:start + 3000])
    return "\n".join(lines)


def check_item(rec, forms, codes):
    """Every problem of one config's -t and --once runs."""
    t, o = rec["test"], rec["once"]
    probs = []
    if t["rc"] == "hang" or crashed(t["rc"], t["err"]):
        return ["netdiagd -t crashed (exit %s): %s" % (t["rc"], t["err"][-3000:])]
    if o["rc"] == "hang" or crashed(o["rc"], o["err"]):
        return [describe_crash(rec)]
    if t["rc"] != 0:
        if o["rc"] != 2 or o["out"].strip():
            probs.append("-t refused the config (exit %s) but --once exited %s" % (t["rc"],
                                                                                  o["rc"]))
        if o["err"] != t["err"]:
            probs.append("-t and --once refused the config with different errors:\n%s\n%s"
                         % (t["err"][-1500:], o["err"][-1500:]))
        if "configuration OK" in t["out"]:
            probs.append("-t exit %s said configuration OK" % t["rc"])
        return probs
    if t["out"].strip() != "configuration OK":
        probs.append("-t exit 0 printed %r" % t["out"])
    if o["rc"] not in (0, 1):
        return probs + ["-t said OK, --once exited %s: %s" % (o["rc"], o["err"][-2000:])]
    res = {}
    for line in o["out"].splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            probs.append("not a JSON line: %r" % line[:300])
            continue
        res.setdefault(r.get("target"), []).append(r)
    for name in set(res) - set(rec["meta"]):
        probs.append("results for a target not configured: %r" % name)
    for name, meta in sorted(rec["meta"].items()):
        if name not in res:
            probs.append("%s: no result at all" % name)
            continue
        probs += check_target(name, meta, res[name], forms, codes)
    failed = any(not r.get("ok") for rs in res.values() for r in rs)
    if o["rc"] != (1 if failed else 0):
        probs.append("--once exited %s, results say %s" % (o["rc"], 1 if failed else 0))
    return probs


# --- the tests ------------------------------------------------------------

_SPACES = {}


def space(sandbox, tmp_path_factory):
    """Run the whole space of a sandbox once per session; the tests below
    each check one config of it."""
    if sandbox not in _SPACES:
        d = str(tmp_path_factory.mktemp("space-" + sandbox))
        try:
            _SPACES[sandbox] = run_space(sandbox, d)
        except AssertionError as e:
            _SPACES[sandbox] = e
    got = _SPACES[sandbox]
    if isinstance(got, AssertionError):
        raise got
    return got


_CODES = []


def codes_once():
    if not _CODES:
        _CODES.append(known_codes())
    return _CODES[0]


NO_NETNS = "cannot create a user, mount and network namespace (unshare -rnm)"
_NETNS = []


def can_unshare_rnm():
    """Whether `unshare -rnm` works here (asked once)."""
    if not _NETNS:
        try:
            ok = subprocess.run(["unshare", "-rnm", "true"], capture_output=True,
                                timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _NETNS.append(ok)
    return _NETNS[0]


def params():
    out = []
    for sandbox in ("netns", "host"):
        for iid, kind, form, group, fams in items(sandbox):
            marks = []
            if sandbox == "netns":
                marks.append(pytest.mark.skipif(not can_unshare_rnm(), reason=NO_NETNS))
            out.append(pytest.param(sandbox, iid, id="%s:%s" % (sandbox, iid), marks=marks))
    return out


@pytest.mark.parametrize("sandbox,iid", params())
def test_config_space(sandbox, iid, tmp_path_factory):
    sp = space(sandbox, tmp_path_factory)
    rec = sp["items"][iid]
    forms = {f.name: f for f in forms_of(sandbox)}
    probs = check_item(rec, forms, codes_once())
    assert not probs, "%s: %d problems (NETDIAG_SPACE_SEED=%d, config %s):\n%s" % (
        iid, len(probs), SEED, rec["config"], "\n".join(probs[:25]))


@pytest.mark.parametrize("sandbox", [
    pytest.param("netns", marks=pytest.mark.skipif(not can_unshare_rnm(), reason=NO_NETNS)),
    "host"])
def test_config_space_daemon(sandbox, tmp_path_factory):
    """A few generated configs as a daemon with a database for a couple of
    seconds, then SIGTERM: a clean exit, the exit line's counts equal the
    database's, and every target has attempts stored."""
    sp = space(sandbox, tmp_path_factory)
    assert sp["daemon"], "no daemon runs recorded"
    for run in sp["daemon"]:
        where = "daemon run %d (config %s, NETDIAG_SPACE_SEED=%d)" % (run["n"], run["config"],
                                                                      SEED)
        assert not SANITIZER.search(run["err"]), "%s: sanitizer report:\n%s" % (
            where, run["err"][-4000:])
        assert run["started"], "%s never started:\n%s" % (where, run["err"][-3000:])
        assert run["rc"] == 0, "%s exited %s after SIGTERM:\n%s" % (where, run["rc"],
                                                                    run["err"][-3000:])
        m = STOPPED.search(run["err"])
        assert m, "%s: no exit line:\n%s" % (where, run["err"][-3000:])
        results, failures, rows, dropped = map(int, m.groups())
        con = sqlite3.connect("file:%s?mode=ro" % run["db"], uri=True)
        try:
            per = dict(con.execute(
                "SELECT t.name, COALESCE(SUM(r.attempts), 0) FROM targets t "
                "LEFT JOIN rollup_minute r ON r.target_id = t.id GROUP BY t.name"))
            attempts, rfail = con.execute(
                "SELECT COALESCE(SUM(attempts), 0), COALESCE(SUM(failures), 0) "
                "FROM rollup_minute").fetchone()
            stored = con.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        finally:
            con.close()
        missing = [t for t in run["targets"] if per.get(t, 0) == 0]
        assert not missing, "%s: no attempts stored for %s" % (where, missing)
        assert dropped == 0, "%s: %d results dropped" % (where, dropped)
        assert (attempts, rfail, stored) == (results, failures, rows) == \
            (results, failures, failures), \
            "%s: exit line %s, database attempts %d, failures %d, failure rows %d" % (
                where, m.group(0), attempts, rfail, stored)


def main(argv=None):
    ap = argparse.ArgumentParser(description="the config-space runner (see the docstring)")
    ap.add_argument("--run", required=True, help="work directory (configs, space.json)")
    ap.add_argument("--sandbox", choices=("netns", "host"), required=True)
    ap.add_argument("--binary", required=True, help="netdiagd")
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--only", help="regular expression: run only matching configs")
    ap.add_argument("--daemon", action="store_true", help="also the daemon runs")
    return runner(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
