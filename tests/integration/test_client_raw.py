# SPDX-License-Identifier: ISC
"""netdiag filters and groups by the raw outcome: a silent nameserver
(TIMEOUT) and one answering SERVFAIL are stored under the same Windows
Sockets code (WSATRY_AGAIN 11002, what a Windows program's getaddrinfo
says for both), and only the raw outcome tells them apart. Databases made
by the real netdiagd against two loopback nameservers of dnsserver.py."""

import time

import pytest

from clientlib import Daemon, nd, nd_json
from dnsserver import DNSServer


@pytest.fixture(scope="module")
def dns_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("raw")
    db = str(d / "nd.db")
    with DNSServer(mode="silent") as silent, DNSServer() as servfail:
        body = ("[target quiet]\nkind = resolve\nname = ok.test\ntype = A\n"
                "server = 127.0.0.1:%d\n\n"
                "[target broken]\nkind = resolve\nname = fail.test\ntype = A\n"
                "server = 127.0.0.1:%d\n\n" % (silent.port, servfail.port))
        dm = Daemon(d, db, body, interval="200ms", timeout="100ms")
        try:
            time.sleep(2.0)
            counters = dm.stop()
        finally:
            dm.kill()
    return {"db": db, "counters": counters}


def test_raw_separates_a_silent_server_from_servfail(dns_db):
    db = dns_db["db"]
    rows, _ = nd_json(db, "failures", "--limit", "0")
    assert len(rows) == dns_db["counters"]["failures"]
    by_target = {}
    for r in rows:
        by_target.setdefault(r["target"], set()).add((r["wsa_code"], r["raw"]))
    (quiet_code, quiet_raw), = by_target["quiet"]
    (broken_code, broken_raw), = by_target["broken"]
    assert (quiet_raw, broken_raw) == ("TIMEOUT", "SERVFAIL")
    # the same code: only the raw outcome tells the two apart
    assert quiet_code == broken_code
    n_quiet = sum(1 for r in rows if r["target"] == "quiet")
    timeout, _ = nd_json(db, "failures", "--limit", "0", "--raw", "TIMEOUT")
    assert {r["target"] for r in timeout} == {"quiet"} and len(timeout) == n_quiet
    # any case, repeatable, comma lists
    assert len(nd_json(db, "failures", "--limit", "0", "--raw", "servfail")[0]) == \
        len(rows) - n_quiet
    assert len(nd_json(db, "failures", "--limit", "0", "--raw", "timeout,SERVFAIL")[0]) == \
        len(rows)
    # summary by code with --raw: the code's failures of that outcome, a
    # share of all attempts
    [code], _ = nd_json(db, "summary", "--raw", "TIMEOUT")
    assert (code["wsa_code"], code["failures"]) == (quiet_code, n_quiet)
    assert code["attempts"] == dns_db["counters"]["results"]
    [t], _ = nd_json(db, "summary", "--by", "target", "--raw", "SERVFAIL")
    assert (t["target"], t["failures"]) == ("broken", len(rows) - n_quiet)
    buckets, _ = nd_json(db, "timeline", "--raw", "TIMEOUT", "--bucket", "1m")
    assert sum(b["failures"] for b in buckets) == n_quiet


def test_summary_by_raw(dns_db):
    db = dns_db["db"]
    rows, _ = nd_json(db, "summary", "--by", "raw")
    assert [list(r) for r in rows][0] == ["raw", "failures", "attempts", "rate", "targets",
                                          "wsa_code", "wsa_name", "meaning", "last_ms", "last"]
    got = {r["raw"]: r for r in rows}
    assert set(got) == {"TIMEOUT", "SERVFAIL"}
    assert sum(r["failures"] for r in rows) == dns_db["counters"]["failures"]
    for r in rows:
        assert r["targets"] == 1 and r["attempts"] == dns_db["counters"]["results"]
        assert r["rate"] == pytest.approx(r["failures"] / r["attempts"], abs=1e-6)
        assert r["last_ms"] is not None
    table = nd("--db", db, "summary", "--by", "raw")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert any(line.startswith("RAW ") for line in lines), table.stdout
    assert any(line.startswith("TIMEOUT ") for line in lines), table.stdout
    csv = nd("--db", db, "summary", "--by", "raw", "--format", "csv").stdout.splitlines()
    assert csv[0] == "raw,failures,attempts,rate,targets,wsa_code,wsa_name,meaning,last_ms,last"


@pytest.mark.parametrize("value,says", [
    ("TIMOUT", 'did you mean "TIMEOUT"?'),
    ("SERVFALE", 'did you mean "SERVFAIL"?'),
    ("ECONREFUSED", 'did you mean "ECONNREFUSED"?'),
    ("xyzzy", "closest:"),
])
def test_an_unknown_raw_name_is_a_usage_error(dns_db, value, says):
    r = nd("--db", dns_db["db"], "failures", "--raw", value)
    assert r.returncode == 2 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith('netdiag: failures: --raw: "%s"' % value) and says in line, line


def test_a_known_name_that_never_happened_is_no_error(dns_db):
    """ECONNREFUSED is a name netdiagd stores; none happened here: an empty
    list, not an error."""
    assert nd_json(dns_db["db"], "failures", "--raw", "ECONNREFUSED")[0] == []
    assert nd_json(dns_db["db"], "failures", "--raw", "EAI_NONAME")[0] == []
