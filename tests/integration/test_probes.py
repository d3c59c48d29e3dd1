"""Connect and send probes end to end: `netdiagd --once --format json`
against peers the tests start on loopback (or inside a network namespace
they create), asserting the WSA code and the raw errno stored beside it."""

import errno
import os
import socket
import subprocess
import textwrap

import pytest

from conftest import NETDIAGD, Server, can_unshare, closed_port, one, run_once


def target(name, **keys):
    lines = ["[target %s]" % name] + ["%s = %s" % (k, v) for k, v in keys.items()]
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
    port = closed_port(socket.AF_INET6)
    rc, res, _ = run_once(tmp_path, target("badsrc", kind="connect", host="::1", port=port,
                                           source="::2"))
    r = one(res, "badsrc")
    assert_failure(r, 10049, "EADDRNOTAVAIL", "connect")


def test_tcp_send_expect_ok(tmp_path, server):
    s = server("echo")
    rc, res, _ = run_once(tmp_path, target("echo", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="ping-42",
                                           expect="ping-42"))
    r = one(res, "echo")
    assert r["ok"] is True, r
    assert r["phase"] == "recv"


def test_tcp_send_expect_mismatch(tmp_path, server):
    s = server("echo", reply=b"something else")
    rc, res, _ = run_once(tmp_path, target("echo", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="ping",
                                           expect_hex="70 6f 6e 67"))
    r = one(res, "echo")
    assert r["ok"] is False
    assert r["phase"] == "verify"
    assert r["raw"] == "MISMATCH"
    assert r["wsa_code"] == 11004
    assert "peer closed after 14 bytes" in r["detail"], r


def test_tcp_reset_during_read(tmp_path, server):
    s = server("reset")
    rc, res, _ = run_once(tmp_path, target("rst", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="hello",
                                           expect="world"))
    r = one(res, "rst")
    assert r["phase"] in ("send", "recv"), r
    assert_failure(r, 10054, "ECONNRESET")


def test_tcp_trickle_times_out_at_deadline(tmp_path, server):
    """A peer that sends one byte a second never extends the deadline."""
    s = server("trickle", reply=b"abcdefghij")
    rc, res, _ = run_once(tmp_path, target("trickle", kind="send", protocol="tcp",
                                           host="127.0.0.1", port=s.port, payload="x",
                                           expect="never", timeout="1500ms"))
    r = one(res, "trickle")
    assert_failure(r, 10060, "ETIMEDOUT", "recv")
    assert 1_450_000 <= r["latency_us"] < 2_400_000, r


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
    assert b["phase"] == "verify" and b["raw"] == "MISMATCH" and b["wsa_code"] == 11004, b


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
