# SPDX-License-Identifier: ISC
"""Connect and send probes end to end: `netdiagd --once --format json`
against peers the tests start on loopback (or inside a network namespace
they create), asserting the WSA code and the raw errno stored beside it."""

import errno
import json
import os
import re
import socket
import sqlite3
import subprocess
import textwrap
import time

import pytest

from conftest import NETDIAG, NETDIAGD, Server, can_unshare, closed_port, one, run_once


def target(section, **keys):
    lines = ["[target %s]" % section] + ["%s = %s" % (k, v) for k, v in keys.items()]
    return "\n".join(lines) + "\n\n"


def assert_failure(res, wsa, raw, phase=None):
    assert res["ok"] is False, res
    assert res["wsa_code"] == wsa, res
    assert res["raw"] == raw, res
    assert res["raw_value"] == getattr(errno, raw), res
    if phase is not None:
        assert res["phase"] == phase, res


def test_connect_ok(tmp_path, server):
    s = server("accept")
    rc, res, err = run_once(tmp_path, target("web", kind="connect", host="127.0.0.1", port=s.port))
    r = one(res, "web")
    assert r["ok"] is True, (r, err)
    assert r["wsa_code"] == 0
    assert r["remote"] == "127.0.0.1:%d" % s.port
    assert r["local"].startswith("127.0.0.1:")
    assert r["latency_us"] > 0
    assert rc == 0


def test_connect_by_name_from_hosts_file(tmp_path, server):
    s = server("accept")
    rc, res, _ = run_once(tmp_path, target("web", kind="connect", host="localhost",
                                           port=s.port, family="ipv4"))
    r = one(res, "web")
    assert r["ok"] is True, r
    assert r["remote"] == "127.0.0.1:%d" % s.port


def test_connect_refused(tmp_path):
    port = closed_port()
    rc, res, _ = run_once(tmp_path, target("closed", kind="connect", host="127.0.0.1", port=port))
    r = one(res, "closed")
    assert_failure(r, 10061, "ECONNREFUSED", "connect")
    assert r["wsa_name"] == "WSAECONNREFUSED"
    assert r["meaning"] == "Connection refused."
    assert r["remote"] == "127.0.0.1:%d" % port
    assert rc == 1


def test_connect_timeout_full_backlog(tmp_path, server):
    s = server("full")
    rc, res, _ = run_once(tmp_path, target("slow", kind="connect", host="127.0.0.1",
                                           port=s.port, timeout="300ms"))
    r = one(res, "slow")
    assert_failure(r, 10060, "ETIMEDOUT", "connect")
    # the deadline is absolute: not much later than 300 ms
    assert 280_000 <= r["latency_us"] < 1_500_000, r


def test_connect_all_addresses(tmp_path, server):
    """addresses = all probes every resolved address; localhost has ::1 and
    127.0.0.1 in /etc/hosts on Debian, but only the IPv4 one listens."""
    s = server("accept")
    rc, res, _ = run_once(tmp_path, target("both", kind="connect", host="localhost",
                                           port=s.port, addresses="all"))
    rs = res["both"]
    remotes = {r["remote"]: r for r in rs}
    assert "127.0.0.1:%d" % s.port in remotes, rs
    assert remotes["127.0.0.1:%d" % s.port]["ok"] is True
    for addr, r in remotes.items():
        if addr.startswith("["):
            assert_failure(r, 10061, "ECONNREFUSED", "connect")


def test_source_address_not_local(tmp_path, server):
    """A source address on no interface (::2 is never configured, and never
    contacted: bind() fails before anything is sent) is named in the
    detail, and shown as the local address."""
    port = closed_port(socket.AF_INET6)
    rc, res, _ = run_once(tmp_path, target("badsrc", kind="connect", host="::1", port=port,
                                           source="::2") +
                          target("badsend", kind="send", protocol="udp", host="::1", port=port,
                                 payload="x", source="::2") +
                          target("family", kind="connect", host="127.0.0.1", port=port,
                                 source="::1"))
    r = one(res, "badsrc")
    assert_failure(r, 10049, "EADDRNOTAVAIL", "connect")
    assert r["detail"] == "cannot bind source ::2: Cannot assign requested address", r
    assert r["local"] == "[::2]:0", r
    r = one(res, "badsend")
    assert_failure(r, 10049, "EADDRNOTAVAIL", "connect")
    assert r["detail"] == "cannot bind source ::2: Cannot assign requested address", r
    r = one(res, "family")
    assert_failure(r, 10047, "EAFNOSUPPORT", "connect")
    assert r["detail"] == "source ::1 is IPv6, the address 127.0.0.1 is IPv4", r


def etc_hosts_families(name):
    """The address families /etc/hosts lists `name` with."""
    fams = set()
    with open("/etc/hosts") as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and name in words[1:]:
                fams.add(socket.AF_INET6 if ":" in words[0] else socket.AF_INET)
    return fams


needs_v4_only_localhost = pytest.mark.skipif(
    etc_hosts_families("localhost") != {socket.AF_INET},
    reason="needs an /etc/hosts listing localhost with IPv4 addresses only")


@needs_v4_only_localhost
def test_hosts_name_without_the_family(tmp_path):
    """`host = localhost`, `family = ipv6`, and /etc/hosts has only
    `127.0.0.1 localhost`: libevent answers "found" with an empty list.
    That crashed --once and the daemon (SIGSEGV); it is a resolve failure,
    WSANO_DATA with raw EAI_ADDRFAMILY, saying what happened."""
    body = (target("c6", kind="connect", host="localhost", port=9, family="ipv6") +
            target("u6", kind="send", protocol="udp", host="localhost", port=9, payload="x",
                   family="ipv6") +
            target("t6", kind="send", protocol="tcp", host="localhost", port=9, payload="x",
                   expect="y", family="ipv6", addresses="all") +
            target("r6", kind="resolve", name="localhost", type="AAAA", server="system"))
    rc, res, err = run_once(tmp_path, body)
    assert rc == 1, err
    for name in ("c6", "u6", "t6", "r6"):
        r = one(res, name)
        assert r["phase"] == "resolve", r
        assert r["wsa_code"] == 11004 and r["raw"] == "EAI_ADDRFAMILY", r
        assert r["detail"] == "localhost: in the hosts file, but with no IPv6 address", r


@needs_v4_only_localhost
def test_hosts_name_without_the_family_daemon(tmp_path):
    """The same target in the running daemon: it keeps probing and stores
    the classified failure, then stops cleanly."""
    db = tmp_path / "db.sqlite"
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 100ms\ntimeout = 50ms\n\n"
                   % db + target("c6", kind="connect", host="localhost", port=9,
                                 family="ipv6"))
    with open(tmp_path / "stderr", "w") as errf:
        proc = subprocess.Popen([NETDIAGD, "-c", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=errf)
        try:
            rows = []
            end = time.monotonic() + 20
            while time.monotonic() < end and len(rows) < 3 and proc.poll() is None:
                time.sleep(0.1)
                if db.exists():
                    try:
                        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
                        rows = con.execute("SELECT phase, wsa_code, raw FROM failures_v").fetchall()
                        con.close()
                    except sqlite3.Error:
                        rows = []
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            assert len(rows) >= 3, (rows, (tmp_path / "stderr").read_text())
            assert set(rows) == {("resolve", 11004, "EAI_ADDRFAMILY")}, rows
        finally:
            proc.terminate()
            rc = proc.wait(timeout=20)
    assert rc == 0, (tmp_path / "stderr").read_text()


def test_tcp_send_expect_ok(tmp_path, server):
    s = server("echo")
    rc, res, _ = run_once(tmp_path, target("echo", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="ping-42",
                                           expect="ping-42"))
    r = one(res, "echo")
    assert r["ok"] is True, r
    assert r["phase"] == "recv"


def explain(raw):
    p = subprocess.run([NETDIAG, "--format", "json", "explain", raw], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, (raw, p.stderr)
    return json.loads(p.stdout)[0]


def test_tcp_send_expect_mismatch(tmp_path, server):
    """A reply without the expected bytes is the peer's protocol error:
    WSAECONNABORTED with raw REPLY_MISMATCH (not WSANO_DATA, a resolver
    code), the detail shows what came, and `netdiag explain` knows it."""
    s = server("echo", reply=b"something else")
    rc, res, _ = run_once(tmp_path, target("echo", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="ping",
                                           expect_hex="70 6f 6e 67"))
    r = one(res, "echo")
    assert r["ok"] is False
    assert r["phase"] == "verify"
    assert r["raw"] == "REPLY_MISMATCH"
    assert r["wsa_code"] == 10053 and r["wsa_name"] == "WSAECONNABORTED", r
    assert r["detail"] == ('peer closed after 14 bytes without the expected 4 bytes; '
                           'got "something else"'), r
    e = explain("REPLY_MISMATCH")
    assert e["code"] == 10053, e


def test_http_error_reply_shows_what_arrived(tmp_path, server):
    """A wrong HTTP status: the first bytes, escaped, in the detail."""
    reply = b"HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n\x00\xff"
    s = server("echo", reply=reply)
    rc, res, _ = run_once(tmp_path, target("web", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port,
                                           payload="GET / HTTP/1.0\r\n\r\n",
                                           expect="HTTP/1.0 200"))
    r = one(res, "web")
    assert (r["phase"], r["raw"], r["wsa_code"]) == ("verify", "REPLY_MISMATCH", 10053), r
    assert r["detail"].startswith("peer closed after %d bytes without the expected 12 bytes; "
                                  'got "HTTP/1.0 500 Internal Server Error\\r\\nCon'
                                  % len(reply)), r
    assert r["detail"].endswith('..."'), r


def test_tcp_reset_during_read(tmp_path, server):
    """The peer reads the payload, then resets: always phase recv (the
    payload went out before the peer could reset)."""
    s = server("read_reset")
    rc, res, _ = run_once(tmp_path, target("rst", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="hello",
                                           expect="world"))
    r = one(res, "rst")
    assert_failure(r, 10054, "ECONNRESET", "recv")


def test_tcp_reset_right_after_accept(tmp_path, server):
    """The peer accepts and resets at once. Whether the RST comes before
    the probe sees its connect complete is up to the scheduler (under load
    it often does): either way the handshake completed, so the failure is
    in phase send or recv, never connect. 30 targets at once make both
    orders happen."""
    s = server("reset")
    body = "".join(target("rst%02d" % i, kind="send", protocol="tcp", host="127.0.0.1",
                          port=s.port, payload="hello", expect="world") for i in range(30))
    rc, res, _ = run_once(tmp_path, body)
    assert len(res) == 30
    for i in range(30):
        r = one(res, "rst%02d" % i)
        assert r["phase"] in ("send", "recv"), r
        assert r["raw"] in ("ECONNRESET", "EPIPE") and r["wsa_code"] == 10054, r


def test_tcp_trickle_times_out_at_deadline(tmp_path, server):
    """A peer that sends one byte a second never extends the deadline, and
    the timeout says how many bytes came (it is not "no answer")."""
    s = server("trickle", reply=b"abcdefghij")
    rc, res, _ = run_once(tmp_path, target("trickle", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="x",
                                           expect="never", timeout="1500ms"))
    r = one(res, "trickle")
    assert_failure(r, 10060, "ETIMEDOUT", "recv")
    assert 1_450_000 <= r["latency_us"] < 2_400_000, r
    m = re.match(r'timed out after 1500 ms \(recv\); (\d+) bytes? arrived without the '
                 r'expected 5; got "([a-j]+)"$', r["detail"])
    assert m, r
    assert 1 <= int(m.group(1)) <= 3 and len(m.group(2)) == int(m.group(1)), r


def test_every_stored_raw_is_explainable(tmp_path, server, udp_echo):
    """Whatever raw name a failure carries, `netdiag explain RAW` finds the
    code stored beside it."""
    bad = udp_echo(reply=b"nope")
    echo = server("echo", reply=b"other")
    body = (target("refused", kind="connect", host="127.0.0.1", port=closed_port()) +
            target("udp", kind="send", protocol="udp", host="127.0.0.1", port=bad.port,
                   payload="x", expect="y") +
            target("tcp", kind="send", protocol="tcp", host="127.0.0.1", port=echo.port,
                   payload="x", expect="y") +
            target("full", kind="connect", host="127.0.0.1", port=server("full").port,
                   timeout="200ms") +
            target("dnsmis", kind="resolve", name="localhost", type="A", server="system",
                   expect="127.0.0.9"))
    if etc_hosts_families("localhost") == {socket.AF_INET}:
        body += target("v6", kind="connect", host="localhost", port=9, family="ipv6")
    rc, res, err = run_once(tmp_path, body)
    raws = {(r["raw"], r["wsa_code"]) for rs in res.values() for r in rs if not r["ok"]}
    assert {"ECONNREFUSED", "REPLY_MISMATCH", "ETIMEDOUT", "MISMATCH"} <= {x for x, _ in raws}, \
        raws
    for raw, code in sorted(raws):
        assert explain(raw)["code"] == code, raw


def test_udp_closed_port_refused(tmp_path):
    port = closed_port(kind=socket.SOCK_DGRAM)
    rc, res, _ = run_once(tmp_path, target("udp", kind="send", protocol="udp",
                                           host="127.0.0.1", port=port, payload="hello"))
    r = one(res, "udp")
    assert_failure(r, 10061, "ECONNREFUSED", "send")


def test_udp_send_ok_no_expect(tmp_path, udp_echo):
    u = udp_echo()
    rc, res, _ = run_once(tmp_path, target("udp", kind="send", protocol="udp",
                                           host="127.0.0.1", port=u.port, payload="hello"))
    assert one(res, "udp")["ok"] is True


def test_udp_expect_ok_and_mismatch(tmp_path, udp_echo):
    good = udp_echo()
    bad = udp_echo(reply=b"nope")
    rc, res, _ = run_once(tmp_path,
                          target("good", kind="send", protocol="udp", host="127.0.0.1",
                                 port=good.port, payload="hello", expect="hello") +
                          target("bad", kind="send", protocol="udp", host="127.0.0.1",
                                 port=bad.port, payload="hello", expect="hello"))
    assert one(res, "good")["ok"] is True
    b = one(res, "bad")
    assert b["phase"] == "verify" and b["raw"] == "REPLY_MISMATCH" and b["wsa_code"] == 10053, b
    assert b["detail"] == 'a datagram of 4 bytes without the expected 5 bytes; got "nope"', b


def test_udp_datagram_too_large(tmp_path, udp_echo):
    u = udp_echo()
    rc, res, _ = run_once(tmp_path, target("big", kind="send", protocol="udp",
                                           host="127.0.0.1", port=u.port, payload="x",
                                           payload_size=65508))
    r = one(res, "big")
    assert_failure(r, 10040, "EMSGSIZE", "send")


def test_udp_largest_datagram_ok(tmp_path, udp_echo):
    u = udp_echo()
    rc, res, _ = run_once(tmp_path, target("max", kind="send", protocol="udp",
                                           host="127.0.0.1", port=u.port, payload="x",
                                           payload_size=65507))
    assert one(res, "max")["ok"] is True


NETNS_SCRIPT = textwrap.dedent("""\
    set -e
    ip link set lo up
    # 198.51.100.0/24 and 203.0.113.0/24 are documentation ranges; these
    # routes exist only inside this test's own network namespace.
    ip route add unreachable 198.51.100.0/24
    ip route add prohibit 203.0.113.0/25
    exec "$@"
""")


@pytest.mark.skipif(not can_unshare(), reason="cannot create a network namespace "
                    "(unshare -rn not permitted here)")
def test_unreachable_in_netns(tmp_path):
    """Inside a fresh network namespace: an unreachable route gives
    EHOSTUNREACH, no route at all ENETUNREACH, a prohibit route EACCES.
    netdiagd is exec'd inside the namespace `unshare -rn` creates for this
    test, which has only its own lo: the documentation-range addresses
    below exist only as routes in it, and no packet can leave it."""
    body = (target("host-unreach", kind="connect", host="198.51.100.7", port=80) +
            target("net-unreach", kind="connect", host="192.0.2.7", port=80) +
            target("prohibited", kind="connect", host="203.0.113.7", port=80))
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[defaults]\ntimeout = 1s\n\n" + body)
    proc = subprocess.run(["unshare", "-rn", "sh", "-c", NETNS_SCRIPT, "sh", NETDIAGD, "--once",
                           "--format", "json", "-c", str(cfg)],
                          capture_output=True, text=True, timeout=30)
    import json
    res = {}
    for line in proc.stdout.splitlines():
        o = json.loads(line)
        res[o["target"]] = o
    assert proc.returncode == 1, proc.stderr
    assert_failure(res["host-unreach"], 10065, "EHOSTUNREACH", "connect")
    assert_failure(res["net-unreach"], 10051, "ENETUNREACH", "connect")
    assert_failure(res["prohibited"], 10013, "EACCES", "connect")


def test_two_thousand_targets_once(tmp_path, server):
    """2,000 loopback targets (half open, half closed) all report once."""
    s = server("accept")
    closed = closed_port()
    body = "".join(target("t%04d" % i, kind="connect", host="127.0.0.1",
                          port=s.port if i % 2 == 0 else closed) for i in range(2000))
    rc, res, err = run_once(tmp_path, body, timeout=120)
    assert len(res) == 2000, err[-2000:]
    oks = sum(1 for v in res.values() if v[0]["ok"])
    refused = sum(1 for v in res.values() if v[0]["wsa_code"] == 10061)
    assert oks == 1000 and refused == 1000, (oks, refused)
    assert rc == 1


def test_once_many_targets_failing_inside_start(tmp_path):
    """20,000 targets whose connect fails before it starts (an IPv6 source
    for an IPv4 host: EAFNOSUPPORT). Each failure frees its slot at once;
    --once must start the next without nesting one call per target on the
    stack (that crashed with SIGSEGV after ~10,000)."""
    body = "".join(target("t%05d" % i, kind="connect", host="127.0.0.1", port=9, source="::1")
                   for i in range(20000))
    rc, res, err = run_once(tmp_path, body, timeout=300)
    assert rc == 1, err[-2000:]
    assert len(res) == 20000
    assert {(r["wsa_code"], r["raw"]) for rs in res.values() for r in rs} == {(10047, "EAFNOSUPPORT")}
