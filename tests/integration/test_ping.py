# SPDX-License-Identifier: ISC
"""The ping kind end to end: `netdiagd --once` and the daemon pinging
127.0.0.1 and ::1, both socket paths (the datagram ICMP socket inside a
namespace whose net.ipv4.ping_group_range admits us, the raw one as
root), the WSAEACCES failure when neither is allowed, loss injected with
nftables, delay, duplicates, wrong identifiers and late replies from a
responder on a TUN device (tests/integration/pingns.py), and ICMP errors
from local routes and from a router namespace. Everything beyond loopback
happens inside network namespaces these tests create."""

import errno
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import NETDIAG, NETDIAGD, can_unshare, closed_port, one, open_fds, run_once

HERE = os.path.dirname(os.path.abspath(__file__))
PINGNS = os.path.join(HERE, "pingns.py")
DETAIL = re.compile(r"^(\d+) sent, (\d+) received, (\d+(?:\.\d)?)% loss"
                    r"(?:, rtt min/med/max (\d+\.\d{3})/(\d+\.\d{3})/(\d+\.\d{3}) ms)?")

needs_netns = pytest.mark.skipif(not can_unshare(), reason="cannot create a network namespace "
                                 "(unshare -rn not permitted here)")


def target(section, **keys):
    lines = ["[target %s]" % section] + ["%s = %s" % (k, v) for k, v in keys.items()]
    return "\n".join(lines) + "\n\n"


def icmp_socket_here():
    """Whether this process may open an ICMP socket in the host's own
    namespace (datagram or raw), as netdiagd started by the test would."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except OSError:
            pass
    return False


def can_tun():
    if not can_unshare():
        return False
    r = subprocess.run(["unshare", "-rn", "ip", "tuntap", "add", "dev", "t0", "mode", "tun"],
                       capture_output=True)
    return r.returncode == 0 and os.access("/dev/net/tun", os.R_OK | os.W_OK)


def can_nft():
    r = subprocess.run(["unshare", "-rn", "nft", "add", "table", "inet", "t"], capture_output=True)
    return can_unshare() and r.returncode == 0


needs_tun = pytest.mark.skipif(not can_tun(), reason="no TUN device can be made in a network "
                               "namespace here (/dev/net/tun or unshare -rn refused)")


def figures(r):
    m = DETAIL.match(r["detail"])
    assert m, r
    return m


def check_ok(r, sent, received=None):
    """An ok ping result: counts, median RTT as latency_us between min and
    max, the figures of the detail the same as the fields."""
    received = sent if received is None else received
    assert r["kind"] == "ping" and r["ok"] is True and r["wsa_code"] == 0, r
    assert r["phase"] == "recv", r
    assert (r["echo_sent"], r["echo_recv"]) == (sent, received), r
    assert 0 <= r["rtt_min_us"] <= r["latency_us"] <= r["rtt_max_us"], r
    m = figures(r)
    assert (int(m.group(1)), int(m.group(2))) == (sent, received), r
    for group, field in ((4, "rtt_min_us"), (5, "latency_us"), (6, "rtt_max_us")):
        assert round(float(m.group(group)) * 1000) == r[field], (field, r)


def run_ns(tmp_path, body, sh=(), tun=None, mount=False, timeout=60, args=("--once",),
           header=None):
    """netdiagd --format json ARGS inside a fresh namespace (pingns.py sets
    it up: lo up, the shell commands, the TUN responder). Returns (exit,
    results by target, stderr)."""
    cfg = tmp_path / "netdiag.ini"
    head = header if header is not None else (
        "[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 10s\ntimeout = 1s\n\n"
        % (tmp_path / "db.sqlite"))
    cfg.write_text(head + body)
    cmd = ["unshare", "-rnm" if mount else "-rn", sys.executable, PINGNS]
    for c in sh:
        cmd += ["--sh", c]
    if tun is not None:
        cmd += ["--tun", json.dumps(tun), "--log", str(tmp_path / "responder.log")]
    cmd += ["--", NETDIAGD, *args, "--format", "json", "-c", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    results = {}
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        results.setdefault(obj["target"], []).append(obj)
    return proc.returncode, results, proc.stderr


DGRAM = "sysctl -qw net.ipv4.ping_group_range='0 0'"
# a fresh namespace's own default: no group may open a datagram ICMP
# socket; the namespace's root (user namespace) still has CAP_NET_RAW
RAW = ("if %s -c 'import socket; socket.socket(2, 2, 1)' 2>/dev/null; then "
       "echo datagram ICMP sockets allowed >&2; exit 1; fi" % sys.executable)
PATHS = {"datagram": DGRAM, "raw": RAW}


# ---- loopback, the host's own namespace ----------------------------------------

@pytest.mark.skipif(not icmp_socket_here(), reason="no ICMP socket allowed here: neither "
                    "net.ipv4.ping_group_range nor CAP_NET_RAW admits this user")
def test_ping_loopback_once(tmp_path):
    body = (target("lo4", kind="ping", host="127.0.0.1") +
            target("lo6", kind="ping", host="::1", count=3, spacing="20ms") +
            target("name", kind="ping", host="localhost", family="ipv4", size=1000))
    rc, res, err = run_once(tmp_path, body)
    assert rc == 0, err
    r4, r6, rn = one(res, "lo4"), one(res, "lo6"), one(res, "name")
    check_ok(r4, 5)
    check_ok(r6, 3)
    check_ok(rn, 5)
    assert (r4["remote"], r4["local"]) == ("127.0.0.1", "127.0.0.1"), r4
    assert (r6["remote"], r6["local"]) == ("::1", "::1"), r6
    assert rn["remote"] == "127.0.0.1", rn
    assert figures(r4).group(3) == "0", r4
    # the text printer says the same
    cfg = tmp_path / "netdiag.ini"
    out = subprocess.run([NETDIAGD, "--once", "-c", str(cfg)], capture_output=True, text=True,
                         timeout=60).stdout
    assert re.search(r" lo4 ping ok \d+us 127\.0\.0\.1 -> 127\.0\.0\.1: 5 sent, 5 received, "
                     r"0% loss, rtt min/med/max ", out), out


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def echoes(text, name, result):
    m = re.search(r'^netdiag_ping_echoes_total\{target="%s",kind="ping",result="%s"\} (\d+)$'
                  % (name, result), text, re.M)
    return int(m.group(1)) if m else None


@pytest.mark.skipif(not icmp_socket_here(), reason="no ICMP socket allowed here: neither "
                    "net.ipv4.ping_group_range nor CAP_NET_RAW admits this user")
def test_ping_daemon_loopback_shares_its_sockets(tmp_path):
    """The daemon pings 127.0.0.1 and ::1 (and 300 more loopback targets)
    on its schedule: /metrics counts the echoes, the targets table has the
    ping targets, and 302 targets hold no more descriptors than 2 do:
    the sockets are shared, not one per target."""
    def config(n, port):
        body = (target("p4", kind="ping", host="127.0.0.1", count=2, spacing="10ms") +
                target("p6", kind="ping", host="::1", count=2, spacing="10ms"))
        body += "".join(target("m%03d" % i, kind="ping", host="127.0.0.%d" % (2 + i % 200),
                               count=1) for i in range(n))
        cfg = tmp_path / ("n%d.ini" % n)
        cfg.write_text("[daemon]\ndatabase = %s\nmetrics_listen = 127.0.0.1:%d\n\n"
                       "[defaults]\ninterval = 200ms\ntimeout = 100ms\n\n%s"
                       % (tmp_path / ("db%d.sqlite" % n), port, body))
        return cfg

    fds = {}
    for n in (0, 300):
        port = closed_port()
        proc = subprocess.Popen([NETDIAGD, "-c", str(config(n, port))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            text = ""
            while time.monotonic() < deadline:
                try:
                    text = scrape(port)
                except OSError:
                    text = ""
                if (echoes(text, "p4", "sent") or 0) >= 10 and (echoes(text, "p6", "sent") or 0) >= 10 \
                        and (n == 0 or (echoes(text, "m299", "received") or 0) >= 2):
                    break
                time.sleep(0.1)
            for name in ("p4", "p6"):
                sent, got = echoes(text, name, "sent"), echoes(text, name, "received")
                assert sent is not None and sent >= 10, text
                # loopback loses nothing; a reply still on its way when the
                # scrape came may be one short
                assert sent - 2 <= got <= sent, (name, sent, got)
            assert re.search(r'^netdiag_probes_total\{target="p6",kind="ping",result="ok"\} '
                             r'[1-9]', text, re.M), text
            fds[n] = open_fds(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert fds[300] <= fds[0] + 2, fds
    con = sqlite3.connect(str(tmp_path / "db0.sqlite"))
    rows = con.execute("SELECT name, kind, host, port FROM targets ORDER BY name").fetchall()
    con.close()
    assert rows == [("p4", "ping", "127.0.0.1", None), ("p6", "ping", "::1", None)], rows
    # the client takes ping as a kind
    out = subprocess.run([NETDIAG, "--db", str(tmp_path / "db0.sqlite"), "targets", "--kind",
                          "ping", "--format", "csv"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert [l.split(",")[:3] for l in out.stdout.splitlines()[1:]] == \
        [["p4", "ping", "127.0.0.1"], ["p6", "ping", "[::1]"]], out.stdout


# ---- the two socket paths, and neither ----------------------------------------

@needs_netns
def test_ping_datagram_socket_in_netns(tmp_path):
    """ping_group_range admitting our group: a datagram ICMP socket, no
    privilege needed."""
    body = (target("lo4", kind="ping", host="127.0.0.1") + target("lo6", kind="ping", host="::1"))
    rc, res, err = run_ns(tmp_path, body, sh=[DGRAM], args=("--once", "-d"))
    assert rc == 0, err
    check_ok(one(res, "lo4"), 5)
    check_ok(one(res, "lo6"), 5)
    assert "ICMP echoes over a datagram socket" in err, err
    assert "ICMPv6 echoes over a datagram socket" in err, err
    assert "raw socket" not in err, err


@pytest.mark.skipif(os.geteuid() != 0, reason="the raw ICMP socket path needs root "
                    "(CAP_NET_RAW); not root here")
def test_ping_raw_socket_as_root(tmp_path):
    """Real root (unshare -n, no user namespace) where ping_group_range
    admits no group: the datagram socket is refused, the raw one is used."""
    body = (target("lo4", kind="ping", host="127.0.0.1") + target("lo6", kind="ping", host="::1"))
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[defaults]\ntimeout = 1s\n\n" + body)
    proc = subprocess.run(["unshare", "-n", "sh", "-ec",
                           "ip link set lo up; sysctl -qw net.ipv4.ping_group_range='1 0'; "
                           "exec \"$@\"", "sh", NETDIAGD, "--once", "-d", "--format", "json",
                           "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    res = {json.loads(l)["target"]: json.loads(l) for l in proc.stdout.splitlines()}
    assert proc.returncode == 0, proc.stderr
    check_ok(res["lo4"], 5)
    check_ok(res["lo6"], 5)
    assert "ICMP echoes over a raw socket" in proc.stderr, proc.stderr
    assert "ICMPv6 echoes over a raw socket" in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not can_unshare(),
                    reason="needs root to run netdiagd as an unprivileged user in a fresh "
                    "namespace (setpriv); not root here")
def test_ping_refused_names_the_sysctl(tmp_path):
    """Neither socket allowed (a user outside ping_group_range, without
    CAP_NET_RAW): every attempt fails WSAEACCES with a detail that names
    the sysctl, and netdiagd -t warns (and still says OK: the file is)."""
    body = (target("lo4", kind="ping", host="127.0.0.1") + target("lo6", kind="ping", host="::1"))
    # where user 65534 can read it (pytest's own directories are root's only)
    tmp = tempfile.mkdtemp(prefix="netdiag-ping-")
    os.chmod(tmp, 0o755)
    cfg = os.path.join(tmp, "netdiag.ini")
    with open(cfg, "w") as f:
        f.write("[daemon]\ndatabase = %s/db.sqlite\n\n[defaults]\ntimeout = 1s\n\n%s"
                % (tmp, body))
    os.chmod(cfg, 0o644)
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    script = ("ip link set lo up; sysctl -qw net.ipv4.ping_group_range='1 0'; "
              "\"$@\" --once --format json -c %s; echo rc=$?; \"$@\" -t -c %s" % (cfg, cfg))
    try:
        proc = subprocess.run(["unshare", "-n", "sh", "-c", script, "sh", *drop, NETDIAGD],
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(tmp)
    lines = proc.stdout.splitlines()
    res = {json.loads(l)["target"]: json.loads(l) for l in lines if l.startswith("{")}
    assert "rc=1" in lines and lines[-1] == "configuration OK", proc.stdout + proc.stderr
    for name in ("lo4", "lo6"):
        r = res[name]
        assert (r["ok"], r["wsa_code"], r["raw"], r["raw_value"]) == \
            (False, 10013, "EACCES", errno.EACCES), r
        assert "net.ipv4.ping_group_range (1 0)" in r["detail"], r
        assert "group 65534" in r["detail"] and "CAP_NET_RAW" in r["detail"], r
        assert (r["echo_sent"], r["echo_recv"]) == (0, 0), r
    assert re.search(r"netdiagd: warning: ICMP sockets refused: group 65534 is not in "
                     r"net\.ipv4\.ping_group_range", proc.stderr), proc.stderr


# ---- loss, delay, duplicates, wrong identifiers, late replies ----------------

@needs_netns
@pytest.mark.skipif(not can_nft(), reason="nft cannot make a table in a namespace here")
def test_ping_loss_every_fourth_echo_dropped(tmp_path):
    """nftables drops exactly every 4th echo request on its way in (the
    kernel never sees it to answer): 20 echoes, 15 replies, 25 % loss, and
    the 5 lost ones are no error, just unanswered."""
    rules = ("nft add table inet t; "
             "nft add chain inet t in '{ type filter hook input priority 0; }'; "
             "nft add rule inet t in icmp type echo-request numgen inc mod 4 == 0 drop; "
             "nft add rule inet t in icmpv6 type echo-request numgen inc mod 4 == 0 drop")
    body = (target("l4", kind="ping", host="127.0.0.1", count=20, spacing="10ms") +
            target("l6", kind="ping", host="::1", count=20, spacing="10ms"))
    rc, res, err = run_ns(tmp_path, body, sh=[DGRAM, rules])
    assert rc == 0, err
    for name in ("l4", "l6"):
        r = one(res, name)
        check_ok(r, 20, 15)
        assert figures(r).group(3) == "25", r
        assert "error" not in r["detail"], r


@needs_tun
@pytest.mark.parametrize("path", sorted(PATHS))
def test_ping_delay_from_tun_responder(tmp_path, path):
    """A responder on a TUN device answers after 100 ms (IPv4) and 40 ms
    (IPv6): the recorded median is the delay, never less, and at most
    15 ms more (the responder's own wake-up latency on a loaded machine
    is the part above; the RTTs come from the kernel's receive time)."""
    tun = {"10.9.0.1": {"delay_ms": 100}, "fd00:9::1": {"delay_ms": 40}}
    body = (target("d4", kind="ping", host="10.9.0.1", spacing="50ms") +
            target("d6", kind="ping", host="fd00:9::1", spacing="50ms"))
    rc, res, err = run_ns(tmp_path, body, sh=[PATHS[path]], tun=tun)
    assert rc == 0, err
    for name, delay_us in (("d4", 100_000), ("d6", 40_000)):
        r = one(res, name)
        check_ok(r, 5)
        assert delay_us <= r["rtt_min_us"], r
        assert delay_us <= r["latency_us"] <= delay_us + 15_000, r
    # each reply went out no earlier than the delay after its request
    with open(tmp_path / "responder.log") as f:
        log = [json.loads(l) for l in f]
    assert len(log) == 10, log
    assert all(x["write"] - x["read"] >= (0.1 if "." in x["dst"] else 0.04) for x in log), log


@needs_tun
@pytest.mark.parametrize("path", sorted(PATHS))
def test_ping_duplicates_and_wrong_identifiers(tmp_path, path):
    """Replies that are no answer are counted, never taken: each echo
    answered three times gives 5 received and 8 duplicates (the copies of
    the last reply come after the attempt has ended); a reply with another
    identifier is no answer: the datagram socket never sees it (the kernel
    delivers by identifier), the raw one counts it as foreign; a reply
    whose payload lost our cookie is foreign on either."""
    tun = {"10.9.0.2": {"dup": 2}, "10.9.0.3": {"wrong_id": True},
           "10.9.0.4": {"wrong_id": True, "also_right": True},
           "fd00:9::3": {"wrong_id": True}, "10.9.0.6": {"bad_payload": True},
           "fd00:9::6": {"bad_payload": True}}
    body = (target("dup", kind="ping", host="10.9.0.2") +
            target("wrong", kind="ping", host="10.9.0.3") +
            target("both", kind="ping", host="10.9.0.4") +
            target("wrong6", kind="ping", host="fd00:9::3") +
            target("cookie", kind="ping", host="10.9.0.6") +
            target("cookie6", kind="ping", host="fd00:9::6"))
    rc, res, err = run_ns(tmp_path, body, sh=[PATHS[path]], tun=tun)
    assert rc == 1, err
    dup = one(res, "dup")
    check_ok(dup, 5)
    assert dup["detail"].endswith(", 8 duplicates"), dup
    both = one(res, "both")
    check_ok(both, 5)
    for name in ("wrong", "wrong6", "cookie", "cookie6"):
        r = one(res, name)
        assert (r["ok"], r["wsa_code"], r["raw"], r["phase"]) == \
            (False, 10060, "ETIMEDOUT", "recv"), r
        assert (r["echo_sent"], r["echo_recv"]) == (5, 0), r
        assert r["detail"].startswith("5 sent, 0 received, 100% loss"), r
        assert r["detail"].endswith("no reply within 1000 ms"), r
    for name in ("cookie", "cookie6"):
        assert one(res, name)["detail"] == \
            "5 sent, 0 received, 100% loss, 5 foreign; no reply within 1000 ms", res
    if path == "raw":
        assert ", 5 foreign" in one(res, "wrong")["detail"], res
        assert ", 5 foreign" in one(res, "wrong6")["detail"], res
        assert both["detail"].endswith(", 5 foreign"), both
    else:
        for name in ("wrong", "wrong6", "both"):
            assert "foreign" not in one(res, name)["detail"], res


@needs_tun
def test_ping_late_replies_counted_in_the_next_result(tmp_path):
    """The daemon, interval 1 s, timeout 500 ms, a responder that answers
    after 700 ms: every attempt times out, and the reply that comes after
    its attempt ended is told as late in the next result, never taken for
    an answer. Read from the failures the daemon stored."""
    db = tmp_path / "db.sqlite"
    header = ("[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 1s\ntimeout = 500ms\n\n" % db)
    body = target("late", kind="ping", host="10.9.0.1", count=1)
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text(header + body)
    cmd = ["unshare", "-rn", sys.executable, PINGNS, "--sh", DGRAM,
           "--tun", json.dumps({"10.9.0.1": {"delay_ms": 700}}), "--", NETDIAGD, "-c", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if not db.exists():
                continue
            try:
                con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                rows = con.execute("SELECT wsa_code, raw, detail FROM failures_v "
                                   "ORDER BY ts").fetchall()
                con.close()
            except sqlite3.Error:
                continue
            if sum(1 for r in rows if "late" in r[2]) >= 2:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    late = [r for r in rows if "late" in r[2]]
    assert len(late) >= 2, (rows, err)
    for code, raw, detail in rows:
        assert (code, raw) == (10060, "ETIMEDOUT"), rows
        assert detail.startswith("1 sent, 0 received, 100% loss"), rows
    for _, _, detail in late:
        assert detail == "1 sent, 0 received, 100% loss, 1 late; no reply within 500 ms", late


# ---- ICMP errors ---------------------------------------------------------------

@needs_netns
def test_ping_local_routes_refuse(tmp_path):
    """Routes of our own namespace refuse the echo at sendto(): unreachable
    EHOSTUNREACH, prohibit EACCES, none at all ENETUNREACH, phase send."""
    routes = ("ip route add unreachable 198.51.100.0/24; ip route add prohibit 203.0.113.0/24; "
              "ip -6 route add prohibit 2001:db8:2::/64")
    body = (target("unreach", kind="ping", host="198.51.100.7", count=2, spacing="10ms") +
            target("prohibit", kind="ping", host="203.0.113.7", count=2, spacing="10ms") +
            target("noroute", kind="ping", host="192.0.2.7", count=2, spacing="10ms") +
            target("prohibit6", kind="ping", host="2001:db8:2::7", count=2, spacing="10ms"))
    rc, res, err = run_ns(tmp_path, body, sh=[DGRAM, routes])
    assert rc == 1, err
    for name, code, raw in (("unreach", 10065, "EHOSTUNREACH"), ("prohibit", 10013, "EACCES"),
                            ("noroute", 10051, "ENETUNREACH"), ("prohibit6", 10013, "EACCES")):
        r = one(res, name)
        assert (r["ok"], r["wsa_code"], r["raw"], r["raw_value"], r["phase"]) == \
            (False, code, raw, getattr(errno, raw), "send"), r
        assert r["detail"].startswith("2 sent, 0 received, 100% loss; 2 errors, first: not "
                                      "sent: "), r
        # refused at once: no wait for the deadline
        assert r["latency_us"] < 900_000, r


ROUTER = """mount -t tmpfs none /run; mkdir -p /run/netns; ip netns add r1
ip link add h0 type veth peer name r1a netns r1
ip addr add 10.1.0.1/24 dev h0; ip -6 addr add fd00:1::1/64 dev h0 nodad; ip link set h0 up
ip -n r1 addr add 10.1.0.2/24 dev r1a; ip -n r1 -6 addr add fd00:1::2/64 dev r1a nodad
ip -n r1 link set r1a up; ip -n r1 link set lo up
ip route add default via 10.1.0.2; ip -6 route add default via fd00:1::2
ip netns exec r1 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 \
    net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0
ip -n r1 route add unreachable 198.51.100.0/24; ip -n r1 route add prohibit 203.0.113.0/24
ip -n r1 -6 route add unreachable 2001:db8:1::/64; ip -n r1 -6 route add prohibit 2001:db8:2::/64
"""


@needs_netns
@pytest.mark.parametrize("path", sorted(PATHS))
def test_ping_icmp_errors_from_a_router(tmp_path, path):
    """A router namespace answers with ICMP errors, read from the socket's
    error queue and classified by their own type and code: host
    unreachable (3/1) WSAEHOSTUNREACH, administratively prohibited (3/13,
    which the kernel files as EHOSTUNREACH) WSAEACCES, ICMPv6 no route
    (1/0) WSAENETUNREACH and prohibited (1/1) WSAEACCES, each naming the
    router. Two echoes per target: the router's route-error rate limit
    (burst 5, in its namespace only) lets the four IPv4 errors through."""
    body = "".join(target(n, kind="ping", host=h, count=2, spacing="100ms", timeout="1500ms")
                   for n, h in (("unreach", "198.51.100.7"), ("prohibit", "203.0.113.7"),
                                ("unreach6", "2001:db8:1::7"), ("prohibit6", "2001:db8:2::7"),
                                ("router", "10.1.0.2")))
    header = ("[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 10s\n\n"
              % (tmp_path / "db.sqlite"))
    rc, res, err = run_ns(tmp_path, body, sh=[ROUTER, PATHS[path]], mount=True, header=header)
    assert rc == 1, err
    check_ok(one(res, "router"), 2)
    for name, code, raw, text, via, tc in (
            ("unreach", 10065, "EHOSTUNREACH", "host unreachable, reported by 10.1.0.2 (ICMP 3/1)",
             "10.1.0.2", (3, 1)),
            ("prohibit", 10013, "EACCES", "administratively prohibited by 10.1.0.2 (ICMP 3/13)",
             "10.1.0.2", (3, 13)),
            ("unreach6", 10051, "ENETUNREACH",
             "no route to destination, reported by fd00:1::2 (ICMPv6 1/0)", "fd00:1::2", (1, 0)),
            ("prohibit6", 10013, "EACCES", "administratively prohibited by fd00:1::2 (ICMPv6 1/1)",
             "fd00:1::2", (1, 1))):
        r = one(res, name)
        assert (r["ok"], r["wsa_code"], r["raw"], r["phase"]) == (False, code, raw, "send"), r
        assert (r["echo_sent"], r["echo_recv"]) == (2, 0), r
        assert r["detail"].startswith("2 sent, 0 received, 100% loss; "), r
        assert r["detail"].endswith(text), r
        # who refused, as every kind's failure says it
        assert (r["icmp_from"], r["icmp_type"], r["icmp_code"]) == (via,) + tc, r


# ---- configuration --------------------------------------------------------------

@pytest.mark.parametrize("head, keys, message", [
    ("", "count = 0", r':7: \[target p\] count: "0" is out of range \(1 to 100\)'),
    ("", "size = 4", r':7: \[target p\] size: "4" is out of range \(8 to 65507\)'),
    ("", "spacing = 2m", r':7: \[target p\] spacing: "2m" is out of range \(1ms to 1m\)'),
    ("", "port = 80", r':7: \[target p\] port: not a key of a ping target \(only connect and '
                      r'send targets\)'),
    ("", "timeout = 1s\ncount = 10",
     r':7: \[target p\] timeout: the last of 10 echoes spaced 200ms goes out at 1800ms, not '
     r'before timeout \(1s\)'),
    ("[defaults]\nspacing = 1s\n", "count = 10",
     r':9: \[target p\] count: the last of 10 echoes spaced 1s goes out at 9s, not before '
     r'timeout \(3s\)'),
])
def test_ping_config_errors(tmp_path, head, keys, message):
    """Each bad value or combination is an error at its own line."""
    cfg = tmp_path / "bad.ini"
    text = ("[daemon]\ndatabase = db\n%s\n[target p]\nkind = ping\nhost = 127.0.0.1\n%s\n"
            % (head, keys))
    cfg.write_text(text)
    proc = subprocess.run([NETDIAGD, "-t", "-c", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(message, proc.stderr), (text, proc.stderr)


def test_ping_config_missing_host(tmp_path):
    cfg = tmp_path / "bad.ini"
    cfg.write_text("[target p]\nkind = ping\n")
    proc = subprocess.run([NETDIAGD, "-t", "-c", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert ":1: [target p] host: missing (a ping target needs it)" in proc.stderr, proc.stderr


@needs_netns
@pytest.mark.skipif(not can_nft(), reason="nft cannot make a table in a namespace here")
def test_ping_local_drop_is_not_sent_again(tmp_path):
    """nftables drops every 4th echo on its way out: sendto() says EPERM,
    and the echo is lost as an error, not sent again (a retry meant for a
    shared socket's pending ICMP error once resent each of them, and the
    loss read 0 %)."""
    rules = ("nft add table inet t; "
             "nft add chain inet t out '{ type filter hook output priority 0; }'; "
             "nft add rule inet t out icmp type echo-request numgen inc mod 4 == 0 drop")
    body = target("l4", kind="ping", host="127.0.0.1", count=20, spacing="10ms")
    rc, res, err = run_ns(tmp_path, body, sh=[DGRAM, rules])
    assert rc == 0, err
    r = one(res, "l4")
    check_ok(r, 20, 15)
    assert figures(r).group(3) == "25", r
    assert r["detail"].endswith("; 5 errors, first: not sent: Operation not permitted"), r


def ping_daemon(tmp_path, cfg, sh=(DGRAM,)):
    cmd = ["unshare", "-rn", sys.executable, PINGNS]
    for c in sh:
        cmd += ["--sh", c]
    cmd += ["--", NETDIAGD, "-c", str(cfg)]
    errpath = tmp_path / "daemon.err"
    errf = open(errpath, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, text=True)
    return proc, errf, errpath


def wait_for(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    return pred()


def db_rows(db, sql):
    if not db.exists():
        return []
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


@needs_netns
@pytest.mark.skipif(not can_nft(), reason="nft cannot make a table in a namespace here")
def test_ping_more_echoes_in_flight_than_one_socket_holds(tmp_path):
    """20,000 targets whose echoes nobody answers (nft drops them on the
    way in), interval 2 s, timeout 1.5 s: about 75,000 echoes wait at once,
    more than the 65,536 sequence numbers of one socket, so the family
    opens a second one; every attempt still ends as a plain timeout, no
    echo refused for want of a sequence number."""
    db = tmp_path / "db.sqlite"
    body = "".join("[target t%05d]\nkind = ping\nhost = 127.%d.%d.%d\n\n"
                   % (i, 1 + i // 65536, i // 256 % 256, 1 + i % 250) for i in range(20000))
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[daemon]\ndatabase = %s\nmin_targets = 1\n\n[defaults]\ninterval = 2s\n"
                   "timeout = 1500ms\ncount = 5\nspacing = 1ms\n\n%s" % (db, body))
    drop = ("nft add table inet t; "
            "nft add chain inet t in '{ type filter hook input priority 0; }'; "
            "nft add rule inet t in icmp type echo-request drop")
    proc, errf, errpath = ping_daemon(tmp_path, cfg, sh=(DGRAM, drop))
    try:
        opened = wait_for(lambda: "one more for the echoes in flight" in errpath.read_text(),
                          timeout=60)
        # a whole round of attempts after the second socket came
        wait_for(lambda: db_rows(db, "SELECT count(*) FROM failures")[0][0] >= 40000
                 if db_rows(db, "SELECT count(*) FROM failures") else False, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        errf.close()
    log = errpath.read_text()
    assert proc.returncode == 0, log[-3000:]
    assert opened, log[-3000:]
    rows = db_rows(db, "SELECT wsa_code, raw, detail, count(*) FROM failures_v GROUP BY 1, 2, 3")
    assert rows and all(r[:3] == (10060, "ETIMEDOUT",
                                  "5 sent, 0 received, 100% loss; no reply within 1500 ms")
                        for r in rows), rows


@pytest.mark.skipif(not icmp_socket_here(), reason="no ICMP socket allowed here: neither "
                    "net.ipv4.ping_group_range nor CAP_NET_RAW admits this user")
def test_ping_reload_changes_and_removes_ping_targets(tmp_path):
    """Reload twice: count 2 -> 4 (the target restarts with 4 echoes an
    attempt), then no ping target at all (the shared sockets close), then
    back: /metrics counts echoes by the count in force."""
    port = closed_port()
    cfg = tmp_path / "netdiag.ini"
    head = ("[daemon]\ndatabase = %s\nmetrics_listen = 127.0.0.1:%d\n\n[defaults]\n"
            "interval = 100ms\ntimeout = 50ms\n\n" % (tmp_path / "db.sqlite", port))
    conn = target("c", kind="connect", host="127.0.0.1", port=closed_port())

    def write(count):
        cfg.write_text(head + conn + (target("p", kind="ping", host="127.0.0.1", count=count,
                                             spacing="5ms") if count else ""))

    def counts():
        try:
            text = scrape(port)
        except OSError:
            return None
        ok = re.search(r'^netdiag_probes_total\{target="p",kind="ping",result="ok"\} (\d+)$',
                       text, re.M)
        return (int(ok.group(1)), echoes(text, "p", "sent")) if ok else None

    write(2)
    proc = subprocess.Popen([NETDIAGD, "-c", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = wait_for(lambda: (lambda c: c if c and c[0] >= 5 else None)(counts()))
        assert first and first[1] == 2 * first[0], first
        write(4)
        proc.send_signal(signal.SIGHUP)
        later = wait_for(lambda: (lambda c: c if c and c[0] >= first[0] + 10 else None)(counts()))
        assert later, counts()
        # attempts after the reload sent 4 echoes each (one may straddle it)
        d_ok, d_sent = later[0] - first[0], later[1] - first[1]
        assert 4 * d_ok - 2 <= d_sent <= 4 * d_ok + 2, (first, later)
        write(0)
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: counts() is None), counts()
        write(3)
        proc.send_signal(signal.SIGHUP)
        again = wait_for(lambda: (lambda c: c if c and c[0] >= 5 else None)(counts()))
        assert again and again[1] == 3 * again[0], again
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
