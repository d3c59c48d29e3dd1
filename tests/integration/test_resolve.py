# SPDX-License-Identifier: ISC
"""Resolve probes end to end: `netdiagd --once --format json` asking the
loopback responder of dnsserver.py (and the system resolver, for a name in
/etc/hosts only), asserting per target the WSA code and the raw DNS value
kept beside it."""

import json
import os
import re
import socket
import subprocess

import pytest

from conftest import NETDIAGD, can_unshare, closed_port, one, run_once
from dnsserver import DNSServer

FAULTS = ("wrongid", "wrongq", "garbage", "wrongport", "truncated", "ptrloop", "bigcount")


def target(section, **keys):
    lines = ["[target %s]" % section, "kind = resolve"]
    lines += ["%s = %s" % (k, v) for k, v in keys.items()]
    return "\n".join(lines) + "\n\n"


@pytest.fixture
def dns():
    srv = DNSServer()
    srv.start()
    yield srv
    srv.stop()


def server_of(srv):
    return ("[%s]:%d" if ":" in srv.host else "%s:%d") % (srv.host, srv.port)


def resolve(tmp_path, srv, qname, qtype="A", **keys):
    """Run one resolve target against srv; return (exit code, result)."""
    keys.setdefault("timeout", "2s")
    body = target("t", name=qname, type=qtype, server=server_of(srv), **keys)
    rc, res, err = run_once(tmp_path, body)
    assert "t" in res, "no result; stderr: %s" % err
    return rc, one(res, "t")


def assert_dns_failure(r, wsa, raw, raw_value=None, phase="resolve"):
    assert r["ok"] is False, r
    assert r["wsa_code"] == wsa, r
    assert r["raw"] == raw, r
    if raw_value is not None:
        assert r["raw_value"] == raw_value, r
    assert r["phase"] == phase, r


def test_ok(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "ok.test")
    assert r["ok"] is True, r
    assert r["wsa_code"] == 0
    assert r["kind"] == "resolve"
    assert r["detail"] == "NOERROR, 1 answer: 127.0.0.1", r
    assert r["remote"] == "127.0.0.1:%d" % dns.port
    assert r["local"].startswith("127.0.0.1:")
    assert r["latency_us"] > 0
    assert rc == 0
    assert dns.count("udp", "ok.test") == 1
    assert dns.count("tcp") == 0


def test_ok_expect_matches(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "ok.test", expect="127.0.0.1")
    assert r["ok"] is True, r
    assert rc == 0


def test_aaaa(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "ok.test", "AAAA", expect="::1")
    assert r["ok"] is True, r
    assert r["detail"].endswith(": ::1"), r


def test_nxdomain(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "nx.test")
    assert_dns_failure(r, 11001, "NXDOMAIN", 3)
    assert r["wsa_name"] == "WSAHOST_NOT_FOUND"
    assert r["detail"].startswith("NXDOMAIN"), r
    assert r["remote"] == "127.0.0.1:%d" % dns.port
    assert rc == 1


def test_servfail(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "fail.test")
    assert_dns_failure(r, 11002, "SERVFAIL", 2)
    assert r["wsa_name"] == "WSATRY_AGAIN"
    assert r["detail"] == "SERVFAIL (rcode 2)", r
    assert rc == 1


def test_refused(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "refuse.test")
    assert_dns_failure(r, 11003, "REFUSED", 5)
    assert r["wsa_name"] == "WSANO_RECOVERY"


def test_notimp(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "notimp.test")
    assert_dns_failure(r, 11003, "NOTIMP", 4)


def test_formerr_without_question(tmp_path, dns):
    """FORMERR may come without the question echoed; it is still our answer."""
    rc, r = resolve(tmp_path, dns, "formerr.test")
    assert_dns_failure(r, 11003, "FORMERR", 1)


def test_other_rcode(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "yx.test")
    assert_dns_failure(r, 11003, "OTHER", 6)
    assert "YXDOMAIN" in r["detail"], r


def test_nodata(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "nodata.test")
    assert_dns_failure(r, 11004, "NODATA", 0)
    assert r["wsa_name"] == "WSANO_DATA"
    assert "no A answer" in r["detail"], r


def test_nodata_name_has_txt(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "nodata.test", "TXT", expect="nodata here")
    assert r["ok"] is True, r
    assert r["detail"] == "NOERROR, 1 answer: nodata here", r


def test_dangling_cname_is_nodata(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "dangle.test")
    assert_dns_failure(r, 11004, "NODATA", 0)
    assert "nowhere.test." in r["detail"], r


def test_expect_mismatch(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "other.test", expect="127.0.0.1")
    assert_dns_failure(r, 11004, "MISMATCH", phase="verify")
    assert r["detail"] == "expected 127.0.0.1, got 127.0.0.9", r
    assert rc == 1


def test_expect_is_an_address_not_a_prefix(tmp_path, dns):
    """127.0.0.1 is a prefix of no answer here, and 127.0.0.9 is not
    127.0.0.90: addresses compare as addresses."""
    rc, r = resolve(tmp_path, dns, "other.test", expect="127.0.0.90")
    assert_dns_failure(r, 11004, "MISMATCH", phase="verify")


def test_truncated_answer_retried_over_tcp(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "big.test", expect="127.0.1.39")
    assert r["ok"] is True, r
    assert r["detail"].startswith("NOERROR over TCP after TC, 40 answers: 127.0.1.0, "), r
    # the list is cut between addresses to fit the detail, never inside one
    assert r["detail"].endswith(", ..."), r
    assert all(a.startswith("127.0.1.") and a[8:].isdigit()
               for a in r["detail"].split(": ", 1)[1][:-5].split(", ")), r
    assert dns.count("udp", "big.test") == 1
    assert dns.count("tcp", "big.test") == 1
    assert rc == 0


def test_tc_answer_cut_inside_a_record_retried_over_tcp(tmp_path, dns):
    """TC set and the answer cut inside a record (the packet does not
    parse): it still says "ask over TCP", and the probe does, instead of
    ignoring it and timing out."""
    rc, r = resolve(tmp_path, dns, "tccut.test", expect="127.0.1.39")
    assert r["ok"] is True, r
    assert r["detail"].startswith("NOERROR over TCP after TC, 40 answers: 127.0.1.0, "), r
    assert dns.count("udp", "tccut.test") == 1
    assert dns.count("tcp", "tccut.test") == 1
    assert rc == 0


def test_tcp_closed_without_answer(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "tcpclose.test")
    assert_dns_failure(r, 11003, "MALFORMED")
    assert "closed" in r["detail"], r
    assert dns.count("tcp", "tcpclose.test") == 1


def test_mx(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "mx.test", "MX", expect="mail.example.test")
    assert r["ok"] is True, r
    assert r["detail"] == "NOERROR, 1 answer: 10 mail.example.test.", r


def test_txt(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "txt.test", "TXT", expect="helloworld")
    assert r["ok"] is True, r
    assert r["detail"] == "NOERROR, 1 answer: helloworld", r


def test_cname_chain(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "cname.test", expect="127.0.0.1")
    assert r["ok"] is True, r
    assert r["detail"] == "NOERROR, 1 answer via ok.test.: 127.0.0.1", r


def test_cname_asked_directly(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "cname.test", "CNAME", expect="ok.test")
    assert r["ok"] is True, r
    assert r["detail"] == "NOERROR, 1 answer: ok.test.", r


def test_silent_server_times_out(tmp_path):
    with DNSServer(mode="silent") as srv:
        rc, r = resolve(tmp_path, srv, "ok.test", timeout="300ms")
        assert srv.count("udp") == 1
    assert_dns_failure(r, 11002, "TIMEOUT")
    assert r["wsa_name"] == "WSATRY_AGAIN"
    # the deadline is absolute: about 300 ms, not much later
    assert 280_000 <= r["latency_us"] < 1_500_000, r
    assert rc == 1


def test_closed_udp_port_is_connection_refused(tmp_path):
    """Nothing listens: the ICMP port unreachable surfaces as ECONNREFUSED
    on the connected UDP socket, reported as such (see probe_resolve.c)
    rather than waited out as a timeout."""
    port = closed_port(kind=socket.SOCK_DGRAM)
    body = target("t", name="ok.test", type="A", server="127.0.0.1:%d" % port, timeout="2s")
    rc, res, err = run_once(tmp_path, body)
    r = one(res, "t")
    assert_dns_failure(r, 10061, "ECONNREFUSED", 111)
    assert r["remote"] == "127.0.0.1:%d" % port
    assert r["latency_us"] < 1_000_000, r
    assert rc == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_answers_are_ignored_until_timeout(tmp_path, dns, fault):
    """A wrong ID, a wrong question, bytes that do not parse, or the right
    answer from the wrong port: never accepted, the probe waits for its
    deadline."""
    rc, r = resolve(tmp_path, dns, fault + ".test", timeout="300ms")
    assert dns.count("udp", fault + ".test") == 1  # the server did answer
    assert_dns_failure(r, 11002, "TIMEOUT")
    assert r["latency_us"] >= 280_000, r
    assert rc == 1
    if fault != "wrongport":
        # the timeout says what came instead (a connected UDP socket never
        # even sees a datagram from another port)
        assert "1 packet ignored" in r["detail"], r


@pytest.mark.parametrize("fault", FAULTS)
def test_whole_server_fault_mode(tmp_path, fault):
    with DNSServer(mode=fault) as srv:
        rc, r = resolve(tmp_path, srv, "ok.test", timeout="300ms")
        assert srv.count("udp") == 1
    assert_dns_failure(r, 11002, "TIMEOUT")


def test_bad_packets_then_the_answer(tmp_path, dns):
    """Spoofed packets before the real answer do not end the wait."""
    rc, r = resolve(tmp_path, dns, "spoofed.test", expect="127.0.0.1")
    assert r["ok"] is True, r
    assert "3 packets ignored" in r["detail"], r


def test_slow_answer_beyond_deadline(tmp_path, dns):
    rc, r = resolve(tmp_path, dns, "slow.test", timeout="100ms")
    assert_dns_failure(r, 11002, "TIMEOUT")
    assert r["latency_us"] < 1_000_000, r


def test_ipv6_server(tmp_path):
    try:
        srv = DNSServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with srv:
        rc, r = resolve(tmp_path, srv, "ok.test", expect="127.0.0.1")
    assert r["ok"] is True, r
    assert r["remote"] == "[::1]:%d" % srv.port


def test_many_targets_at_once(tmp_path, dns):
    """Targets in flight together keep their own IDs and answers."""
    names = ["ok.test", "other.test", "nx.test", "fail.test", "big.test", "mx.test"] * 5
    body = ""
    for i, n in enumerate(names):
        qtype = "MX" if n == "mx.test" else "A"
        body += target("t%d" % i, name=n, type=qtype, server=server_of(dns), timeout="3s")
    rc, res, err = run_once(tmp_path, body)
    want = {"ok.test": (True, 0), "other.test": (True, 0), "nx.test": (False, 11001),
            "fail.test": (False, 11002), "big.test": (True, 0), "mx.test": (True, 0)}
    for i, n in enumerate(names):
        r = one(res, "t%d" % i)
        assert (r["ok"], r["wsa_code"]) == want[n], r
    assert one(res, "t1")["detail"].endswith("127.0.0.9")
    assert rc == 1


def test_system_resolver_hosts_file(tmp_path):
    """server = system for a name in /etc/hosts: answered from the hosts
    file by netdiagd's stub resolver, nothing leaves the machine."""
    body = target("t", name="localhost", type="A", server="system", expect="127.0.0.1",
                  timeout="2s")
    rc, res, err = run_once(tmp_path, body)
    r = one(res, "t")
    assert r["ok"] is True, (r, err)
    assert "127.0.0.1" in r["detail"], r
    assert rc == 0


def test_system_resolver_expect_mismatch(tmp_path):
    body = target("t", name="localhost", type="A", server="system", expect="127.0.0.9",
                  timeout="2s")
    rc, res, err = run_once(tmp_path, body)
    r = one(res, "t")
    assert_dns_failure(r, 11004, "MISMATCH", phase="verify")
    assert r["detail"].startswith("expected 127.0.0.9, got 127.0.0.1"), r


NAMESPACE_SCRIPT = r"""
set -e
mount --bind "$1" /etc/resolv.conf
ip link set lo up
"$PYTHON" "$DNSSERVER" --port 53 --seconds 120 > "$2" &
srv=$!
i=0
while [ ! -s "$2" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
set +e
"$NETDIAGD" --once --format json -c "$3"
rc=$?
kill $srv
wait $srv
exit $rc
"""


@pytest.mark.skipif(not can_unshare(), reason="needs unshare -rn (user and network namespaces)")
def test_system_resolver_in_namespace(tmp_path):
    """server = system with a nameserver the test owns: inside a user, mount
    and network namespace of its own, /etc/resolv.conf is replaced by one
    naming 127.0.0.1 and the responder listens on 127.0.0.1:53 there. Covers
    the stub resolver for A/AAAA (an answer; NXDOMAIN, SERVFAIL and NODATA
    each with its own code and raw name, as the resolve kind asking its own
    server says them, where evdns said EAI_FAIL for all but NXDOMAIN; a
    truncated answer asked again over TCP; a silent server whose pending
    look-up the deadline cancels) and the direct query to the first
    resolv.conf nameserver for other types."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# test\nnameserver 127.0.0.1\n")
    cfg = tmp_path / "ns.ini"
    cfg.write_text(
        "[daemon]\ndatabase = %s\n\n[defaults]\ninterval = 10s\ntimeout = 2s\n\n"
        % (tmp_path / "db.sqlite")
        + target("a", name="ok.test", type="A", server="system", expect="127.0.0.1")
        + target("aaaa", name="ok.test", type="AAAA", server="system", expect="::1")
        + target("nx", name="nx.test", type="A", server="system")
        + target("silent", name="silent.test", type="A", server="system", timeout="300ms")
        + target("mx", name="mx.test", type="MX", server="system")
        + target("mxsilent", name="silent.test", type="MX", server="system", timeout="300ms")
        + target("fail", name="fail.test", type="A", server="system")
        + target("nodata", name="nodata.test", type="A", server="system")
        + target("cname6", name="cname.test", type="AAAA", server="system")
        + target("big", name="big.test", type="A", server="system", expect="127.0.1.39"))
    env = dict(os.environ, PYTHON="/usr/bin/python3", NETDIAGD=NETDIAGD,
               DNSSERVER=os.path.join(os.path.dirname(os.path.abspath(__file__)), "dnsserver.py"))
    proc = subprocess.run(["unshare", "-rnm", "sh", "-c", NAMESPACE_SCRIPT, "sh", str(resolv),
                           str(tmp_path / "port"), str(cfg)],
                          capture_output=True, text=True, timeout=60, env=env)
    res = {}
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        res.setdefault(obj["target"], []).append(obj)
    assert (tmp_path / "port").read_text().strip() == "53", proc.stderr

    r = one(res, "a")
    assert r["ok"] is True, (r, proc.stderr)
    assert r["detail"] == "system resolver, 1 address: 127.0.0.1", r
    r = one(res, "aaaa")
    assert r["ok"] is True, r
    assert r["detail"] == "system resolver, 1 address: ::1", r
    r = one(res, "nx")
    assert_dns_failure(r, 11001, "NXDOMAIN", 3)
    assert r["detail"] == "resolving nx.test: NXDOMAIN from 127.0.0.1:53", r
    assert r["remote"] == "127.0.0.1:53", r
    r = one(res, "fail")
    assert_dns_failure(r, 11002, "SERVFAIL", 2)
    assert r["latency_us"] < 1_000_000, r  # at once, not after a timeout
    r = one(res, "nodata")
    assert_dns_failure(r, 11004, "NODATA", 0)
    assert r["detail"] == "resolving nodata.test: NOERROR from 127.0.0.1:53, no A record", r
    r = one(res, "cname6")  # a CNAME to a name with an A record only
    assert_dns_failure(r, 11004, "NODATA", 0)
    r = one(res, "big")  # 40 A records: truncated over UDP, whole over TCP
    assert r["ok"] is True, r
    assert r["detail"].startswith("system resolver (TCP after TC), 40 addresses: 127.0.1.0, "), r
    r = one(res, "silent")
    assert_dns_failure(r, 11002, "TIMEOUT")
    assert r["latency_us"] < 1_500_000, r
    r = one(res, "mx")
    assert r["ok"] is True, r
    assert r["detail"] == "NOERROR, 1 answer: 10 mail.example.test.", r
    assert r["remote"] == "127.0.0.1:53", r
    r = one(res, "mxsilent")
    assert_dns_failure(r, 11002, "TIMEOUT")
    assert r["remote"] == "127.0.0.1:53", r
    assert proc.returncode == 1, proc.stderr


UNREACHABLE_SCRIPT = r"""
set -e
mount --bind "$1" /etc/resolv.conf
ip link set lo up
exec "$NETDIAGD" --once --format json -c "$2"
"""


@pytest.mark.skipif(not can_unshare(), reason="needs unshare -rnm (user, mount and network "
                    "namespaces)")
def test_unreachable_nameserver_is_reported_at_once(tmp_path):
    """The system's nameserver has no route (inside a namespace of the
    test's own whose resolv.conf names 192.0.2.53 and which has only lo:
    nothing can leave). The stub resolver's connect() fails with
    ENETUNREACH at once; the probes report that, within far less than
    their 5 s timeout, instead of a timeout, and the outage is one warning
    in our log format. A resolve target with its own server owns its
    socket and reports the same."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    cfg = tmp_path / "ns.ini"
    cfg.write_text(
        "[defaults]\ntimeout = 5s\n\n"
        "[target c]\nkind = connect\nhost = example.test\nport = 80\n\n"
        "[target s]\nkind = send\nprotocol = tcp\nhost = example.test\nport = 80\n"
        "payload = x\n\n"
        + target("a", name="example.test", type="A", server="system")
        + target("aaaa", name="example.test", type="AAAA", server="system")
        + target("own", name="example.test", type="A", server="192.0.2.1:53"))
    env = dict(os.environ, NETDIAGD=NETDIAGD)
    env.pop("JOURNAL_STREAM", None)
    proc = subprocess.run(["unshare", "-rnm", "sh", "-c", UNREACHABLE_SCRIPT, "sh", str(resolv),
                           str(cfg)], capture_output=True, text=True, timeout=60, env=env)
    res = {}
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        res.setdefault(obj["target"], []).append(obj)
    assert proc.returncode == 1, proc.stderr
    for name in ("c", "s", "a", "aaaa"):
        r = one(res, name)
        assert_dns_failure(r, 10051, "ENETUNREACH", 101)
        assert r["latency_us"] < 2_500_000, r
        assert r["remote"] == "192.0.2.53:53", r
        assert "nameserver 192.0.2.53:53 cannot be reached" in r["detail"], r
    r = one(res, "own")
    assert_dns_failure(r, 10051, "ENETUNREACH", 101)
    assert r["remote"] == "192.0.2.1:53", r
    lines = proc.stderr.splitlines()
    assert not any(line.startswith("[") for line in lines), lines
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} netdiagd: "
    warned = [line for line in lines
              if re.match(stamp + r"warn: dns: nameserver 192\.0\.2\.53:53 cannot be reached: "
                          r"Network is unreachable$", line)]
    assert len(warned) == 1, lines
