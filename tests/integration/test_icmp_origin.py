# SPDX-License-Identifier: ISC
"""Who reported a failure: probes through a chain of routers made of
network namespaces (chainns.py: host -> r1 -> r2 -> dst), with a fault a
router answers with an ICMP error, run by the real netdiagd in the chain's
host namespace. Each failure names the router that refused, the ICMP type
and code, in its detail and its fields, stored in the failure row and
shown by `netdiag failures`, the exec hook and the Alertmanager
annotations; a failure that no ICMP error caused reads as before. Also: a
schema-6 database migrates, and its old rows read as unknown."""

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import chainns
from conftest import NETDIAG, NETDIAGD, closed_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OK, WHY = chainns.available()
needs_chain = pytest.mark.skipif(not OK, reason=WHY or "no network namespaces")

DST, DST6 = "10.99.3.2", "fd99:3::2"
R1, R2, R1_6, R2_6 = "10.99.1.2", "10.99.2.2", "fd99:1::2", "fd99:2::2"

UNREACH = {"raw": "EHOSTUNREACH", "wsa_code": 10065, "icmp_from": R2, "icmp_type": 3,
           "icmp_code": 1, "detail": "host unreachable, reported by 10.99.2.2 (ICMP 3/1)"}
PROHIB = {"raw": "EACCES", "wsa_code": 10013, "icmp_from": R1, "icmp_type": 3, "icmp_code": 13,
          "detail": "administratively prohibited by 10.99.1.2 (ICMP 3/13)"}


def section(tname, **keys):
    return "[target %s]\n%s\n\n" % (tname, "\n".join("%s = %s" % kv for kv in keys.items()))


def config(tmp_path, body, head="", timeout="2s"):
    """Probes with a timeout of 2 s: a first SYN whose ICMP error came while
    connect() held the socket would otherwise still be retried after 1 s
    (/work/shared/NETNS.md); the error queue makes it fail at once."""
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n%s\n[defaults]\ninterval = 10s\ntimeout = %s\n\n%s"
                   % (tmp_path / "db.sqlite", head, timeout, body))
    return str(cfg)


def once_in_chain(tmp_path, body, setup, v6=False):
    """netdiagd --once in the chain's host namespace, after the faults
    (setup: [(ns, argv), ...]) are in place: exit code, results by target."""
    cfg = config(tmp_path, body)
    with chainns.ChainNS([NETDIAGD, "--once", "--format", "json", "-c", cfg], v6=v6,
                         hold=True) as c:
        for ns, argv in setup:
            c.run(ns, *argv)
        c.start()
        rc = c.wait(timeout=60)
    res = {}
    for line in c.stdout.splitlines():
        r = json.loads(line)
        res.setdefault(r["target"], []).append(r)
    assert all(len(v) == 1 for v in res.values()), res
    return rc, {k: v[0] for k, v in res.items()}, c.stderr


def stored_in_chain(tmp_path, body, setup, names, v6=False):
    """netdiagd (not --once: that stores nothing) in the chain until every
    target of `names` has a failure row, then SIGTERM; the database. Each
    target probes every 2 s: r2's route errors are limited to about one a
    second after a burst of 5, and only the first row of each is read."""
    cfg = config(tmp_path, body.replace("\n\n", "\ninterval = 2s\ntimeout = 1500ms\n\n"))
    db = tmp_path / "db.sqlite"
    with chainns.ChainNS([NETDIAGD, "-c", cfg], v6=v6, hold=True) as c:
        for ns, argv in setup:
            c.run(ns, *argv)
        c.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.exists() and len(first_rows(db)) >= len(names):
                break
            assert c.proc.poll() is None, c.stderr_text()
            time.sleep(0.1)
    assert c.returncode == 0, c.stderr
    return db


def all_rows(db):
    r = subprocess.run([NETDIAG, "--db", str(db), "failures", "--since", "1h", "--format",
                        "json"], capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout) if r.returncode == 0 else []


def first_rows(db):
    """The first failure row of each target, as `netdiag failures --format
    json` shows it (newest first: the last one seen)."""
    rows = {}
    for x in all_rows(db):
        rows[x["target"]] = x
    return rows


def nd(db, *args):
    r = subprocess.run([NETDIAG, "--db", str(db), *args], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, TZ="UTC0", COLUMNS="200"))
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def check(r, want, phase):
    assert r["ok"] is False, r
    for k, v in want.items():
        assert r[k] == v, (k, r)
    assert r["phase"] == phase, r


@needs_chain
def test_unreachable_at_r2_names_r2_for_connect_send_and_resolve(tmp_path):
    """r2 has an unreachable route to dst: a connect, a UDP send and a
    resolve whose nameserver is dst each fail with WSAEHOSTUNREACH from
    r2, ICMP 3/1, said in words; the rows keep it and `netdiag failures`
    shows it in every format."""
    body = (section("web", kind="connect", host=DST, port=80) +
            section("syslog", kind="send", protocol="udp", host=DST, port=514, payload="hello") +
            section("dns", kind="resolve", name="example.test", type="A",
                    server="%s:53" % DST))
    rc, res, err = once_in_chain(tmp_path, body,
                                 [("r2", ["ip", "route", "add", "unreachable", DST + "/32"])])
    assert rc == 1, err
    check(res["web"], UNREACH, "connect")
    check(res["syslog"], UNREACH, "send")
    check(res["dns"], UNREACH, "resolve")
    # at once, not after a retransmission or the timeout
    assert all(r["latency_us"] < 1_500_000 for r in res.values()), res
    assert "target web: new -> 10065 WSAEHOSTUNREACH" in err and \
        "host unreachable, reported by 10.99.2.2 (ICMP 3/1)" in err, err

    db = stored_in_chain(tmp_path, body,
                         [("r2", ["ip", "route", "add", "unreachable", DST + "/32"])],
                         ("web", "syslog", "dns"))
    rows = first_rows(db)
    for name in ("web", "syslog", "dns"):
        r = rows[name]
        assert (r["icmp_from"], r["icmp_type"], r["icmp_code"]) == (R2, 3, 1), r
        assert r["detail"] == UNREACH["detail"], r
    got = list(csv.DictReader(io.StringIO(nd(db, "failures", "--since", "1h", "--format",
                                             "csv"))))
    assert {(n, R2, "3", "1") for n in ("web", "syslog", "dns")} <= \
        {(g["target"], g["icmp_from"], g["icmp_type"], g["icmp_code"]) for g in got}, got
    # a table says it in the detail's words (the fields are JSON and CSV only)
    table = nd(db, "failures", "--since", "1h", "--wide")
    assert table.count("host unreachable, reported by 10.99.2.2 (ICMP 3/1)") >= 3, table
    # stored as a remote address is: an addrs id
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        n = con.execute("SELECT count(DISTINCT f.target_id) FROM failures AS f JOIN addrs AS a "
                        "ON a.id = f.icmp_from_addr_id WHERE a.addr = ? AND f.icmp_type = 3 AND "
                        "f.icmp_code = 1", (R2,)).fetchone()[0]
    finally:
        con.close()
    assert n == 3


@needs_chain
def test_system_resolver_names_the_router(tmp_path):
    """The stub resolver's own sockets (a resolve target with server =
    system, and the name of a connect target) to a nameserver behind r2's
    unreachable route: the nameserver cannot be reached, and r2 said so.
    The chain's host namespace reads a resolv.conf of the test's own (a
    bind mount in the chain's mount namespace: nothing outside sees it)."""
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver %s\noptions timeout:2 attempts:1\n" % DST)
    body = (section("sys", kind="resolve", name="www.example.test", type="A", server="system") +
            section("byname", kind="connect", host="www.example.test", port=80))
    rc, res, err = once_in_chain(tmp_path, body, [
        ("host", ["mount", "--bind", str(conf), "/etc/resolv.conf"]),
        ("r2", ["ip", "route", "add", "unreachable", DST + "/32"])])
    assert rc == 1, err
    for name in ("sys", "byname"):
        check(res[name], dict(UNREACH, detail="resolving www.example.test: nameserver "
                              "10.99.3.2:53 cannot be reached: " + UNREACH["detail"]), "resolve")
        assert res[name]["remote"] == DST + ":53", res[name]


@needs_chain
def test_prohibited_at_r1_is_told_apart_from_host_unreachable(tmp_path):
    """r1 prohibits the way to dst: WSAEACCES from r1, ICMP 3/13 (the kernel
    says EHOSTUNREACH for both), for a connect and a send; beside a target
    whose route r2 makes unreachable, the stored rows differ by their
    code and their ICMP code."""
    other = "10.99.3.9"
    body = (section("web", kind="connect", host=DST, port=80) +
            section("syslog", kind="send", protocol="udp", host=DST, port=514, payload="hello") +
            section("other", kind="connect", host=other, port=80))
    setup = [("r1", ["ip", "route", "add", "prohibit", DST + "/32"]),
             ("r2", ["ip", "route", "add", "unreachable", other + "/32"])]
    rc, res, err = once_in_chain(tmp_path, body, setup)
    assert rc == 1, err
    check(res["web"], PROHIB, "connect")
    check(res["syslog"], PROHIB, "send")
    check(res["other"], dict(UNREACH, detail="host unreachable, reported by 10.99.2.2 (ICMP 3/1)"),
          "connect")
    rows = first_rows(stored_in_chain(tmp_path, body, setup, ("web", "syslog", "other")))
    assert (rows["web"]["icmp_code"], rows["web"]["wsa_name"]) == (13, "WSAEACCES")
    assert (rows["other"]["icmp_code"], rows["other"]["wsa_name"]) == (1, "WSAEHOSTUNREACH")


@needs_chain
def test_reject_by_a_router_is_not_the_target_refusing(tmp_path):
    """An nft reject at r1 (ICMP port unreachable, 3/3) and a closed port
    on dst (a TCP reset) both end a connect with WSAECONNREFUSED: only the
    first names r1; the second reads exactly as before (no ICMP fields)."""
    r = subprocess.run(["unshare", "-rn", "nft", "add", "table", "inet", "t"],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("nft cannot make a table in a namespace here: %s" % r.stderr.decode())
    body = (section("rejected", kind="connect", host=DST, port=81) +
            section("closed", kind="connect", host=DST, port=82))
    setup = [("r1", ["nft", "add table inet f; add chain inet f fw { type filter hook forward "
                     "priority 0; }; add rule inet f fw tcp dport 81 reject"])]
    rc, res, err = once_in_chain(tmp_path, body, setup)
    assert rc == 1, err
    a, b = res["rejected"], res["closed"]
    assert (a["raw"], a["icmp_from"], a["icmp_type"], a["icmp_code"]) == \
        ("ECONNREFUSED", R1, 3, 3), a
    assert a["detail"] == "port unreachable, reported by 10.99.1.2 (ICMP 3/3)", a
    assert b["raw"] == "ECONNREFUSED" and b["detail"] == "", b
    assert not {"icmp_from", "icmp_type", "icmp_code"} & set(b), b
    rows = first_rows(stored_in_chain(tmp_path, body, setup, ("rejected", "closed")))
    assert (rows["rejected"]["icmp_from"], rows["rejected"]["icmp_code"]) == (R1, 3), rows
    assert (rows["closed"]["icmp_from"], rows["closed"]["icmp_type"],
            rows["closed"]["icmp_code"]) == (None, None, None), rows


@needs_chain
def test_ipv6_unreachable_and_prohibited(tmp_path):
    """ICMPv6: r2's unreachable route is "no route to destination" (1/0,
    WSAENETUNREACH), r1's prohibit route "administratively prohibited" (1/1,
    WSAEACCES), each naming the router."""
    other = "fd99:3::9"
    body = (section("web6", kind="connect", host=DST6, port=80) +
            section("dns6", kind="resolve", name="example.test", type="AAAA",
                    server="[%s]:53" % other))
    setup = [("r2", ["ip", "-6", "route", "add", "unreachable", DST6 + "/128"]),
             ("r1", ["ip", "-6", "route", "add", "prohibit", other + "/128"])]
    rc, res, err = once_in_chain(tmp_path, body, setup, v6=True)
    assert rc == 1, err
    check(res["web6"], {"raw": "ENETUNREACH", "wsa_code": 10051, "icmp_from": R2_6,
                        "icmp_type": 1, "icmp_code": 0,
                        "detail": "no route to destination, reported by fd99:2::2 (ICMPv6 1/0)"},
          "connect")
    check(res["dns6"], {"raw": "EACCES", "wsa_code": 10013, "icmp_from": R1_6, "icmp_type": 1,
                        "icmp_code": 1,
                        "detail": "administratively prohibited by fd99:1::2 (ICMPv6 1/1)"},
          "resolve")
    rows = first_rows(stored_in_chain(tmp_path, body, setup, ("web6", "dns6"), v6=True))
    assert (rows["web6"]["icmp_from"], rows["web6"]["icmp_code"]) == (R2_6, 0)
    assert (rows["dns6"]["icmp_from"], rows["dns6"]["icmp_code"]) == (R1_6, 1)


AM = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as f:
            f.write(body + b"\\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@needs_chain
def test_alert_hook_and_alertmanager_name_the_router(tmp_path):
    """A target refused by r1 (nft reject with admin-prohibited, which no
    route-error rate limit thins) fires its WSAEACCES alert: the exec hook
    gets NETDIAG_ICMP_FROM, NETDIAG_ICMP_TYPE and NETDIAG_ICMP_CODE, and the
    Alertmanager alert the annotations icmp_from, icmp_type, icmp_code."""
    out = tmp_path / "hook"
    out.mkdir()
    hook = tmp_path / "hook.py"
    hook.write_text("#!%s\nimport json, os, sys\n"
                    "env = {k: v for k, v in os.environ.items() if k.startswith('NETDIAG_')}\n"
                    "p = os.path.join(sys.argv[1], env['NETDIAG_EVENT'] + '.%%d' %% os.getpid())\n"
                    "json.dump(env, open(p + '.tmp', 'w'))\n"
                    "os.rename(p + '.tmp', p)\n" % sys.executable)
    hook.chmod(0o755)
    am_log = tmp_path / "am.log"
    am_port = closed_port()  # in the chain's own host namespace: any port is free there
    head = ("log_level = info\n\n[alert]\ncodes = WSAEACCES\nwindow = 1s\nbaseline = 1m\n"
            "min_failures = 2\nmin_ratio = 0.1\nlatency = off\nexec = %s %s\n"
            "alertmanager_url = http://127.0.0.1:%d\n" % (hook, out, am_port))
    cfg = config(tmp_path, section("web", kind="connect", host=DST, port=80, interval="100ms",
                                   timeout="50ms"), head=head, timeout="1s")
    with chainns.ChainNS([NETDIAGD, "-c", cfg], hold=True) as c:
        c.background("host", sys.executable, "-c", AM, str(am_port), str(am_log))
        c.run("r1", "nft", "add table inet f; add chain inet f fw { type filter hook forward "
              "priority 0; }; add rule inet f fw ip daddr 10.99.3.2 reject with icmp type "
              "admin-prohibited")
        c.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fired = [f for f in os.listdir(out) if f.startswith("firing.")]
            posted = am_log.exists() and "icmp_from" in am_log.read_text()
            if fired and posted:
                break
            assert c.proc.poll() is None, c.stderr_text()
            time.sleep(0.1)
    assert fired, c.stderr
    env = json.loads((out / fired[0]).read_text())
    assert env["NETDIAG_WSA_NAME"] == "WSAEACCES", env
    assert (env["NETDIAG_ICMP_FROM"], env["NETDIAG_ICMP_TYPE"], env["NETDIAG_ICMP_CODE"]) == \
        (R1, "3", "13"), env
    assert "administratively prohibited by 10.99.1.2 (ICMP 3/13)" in env["NETDIAG_DETAIL"], env
    alerts = [a for line in am_log.read_text().splitlines() for a in json.loads(line)]
    ann = [a["annotations"] for a in alerts if "icmp_from" in a["annotations"]]
    assert ann and (ann[0]["icmp_from"], ann[0]["icmp_type"], ann[0]["icmp_code"]) == \
        (R1, "3", "13"), alerts


def test_schema_6_database_migrates_and_old_rows_read_unknown(tmp_path):
    """A database of schema version 6 with one failure row: the client
    reads it before the daemon migrates it (icmp fields null), netdiagd
    migrates it to the newest version, the old row still reads unknown
    (null) and a new failure that no ICMP error caused too; the golden
    JSON of the old row is exactly as before plus the three nulls."""
    db = tmp_path / "db.sqlite"
    con = sqlite3.connect(str(db))
    with open(os.path.join(REPO, "tests", "unit", "schema_v6.sql")) as f:
        con.executescript(f.read())
    con.execute("PRAGMA application_id = 1313097031")
    con.execute("PRAGMA user_version = 6")
    now = int(time.time() * 1000) - 60000
    con.execute("INSERT INTO targets (id, name, kind, host, port, created, updated) "
                "VALUES (1, 'web', 'connect', '127.0.0.1', 9, ?, ?)", (now, now))
    con.execute("INSERT INTO raws (id, name) VALUES (1, 'EHOSTUNREACH')")
    con.execute("INSERT INTO addrs (id, addr) VALUES (1, '127.0.0.1')")
    con.execute("INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, raw_value, "
                "detail, latency_us, local_addr_id, local_port, remote_addr_id, remote_port) "
                "VALUES (?, 1, 0, 2, 10065, 1, 113, 'old row', 1500, 1, 40000, 1, 9)", (now,))
    con.commit()
    con.close()
    golden = {"time": None, "target": "web", "kind": "connect", "phase": "connect",
              "wsa_code": 10065, "wsa_name": "WSAEHOSTUNREACH", "raw": "EHOSTUNREACH",
              "raw_value": 113, "detail": "old row", "local": "127.0.0.1:40000",
              "remote": "127.0.0.1:9", "latency_us": 1500, "icmp_from": None,
              "icmp_type": None, "icmp_code": None}

    def old_row():
        rows = [r for r in json.loads(nd(db, "failures", "--since", "1h", "--format", "json"))
                if r["detail"] == "old row"]
        assert len(rows) == 1, rows
        got = {k: rows[0].get(k, "missing") for k in golden}
        got["time"] = None
        return got

    assert old_row() == golden  # read as version 6, not migrated yet
    port = closed_port()
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n\n[target web]\nkind = connect\nhost = 127.0.0.1\n"
                   "port = %d\ninterval = 1s\ntimeout = 500ms\n" % (db, port))
    errf = tmp_path / "netdiagd.log"
    with open(errf, "w") as e:
        p = subprocess.Popen([NETDIAGD, "-c", str(cfg)], stderr=e)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and \
                    not any(x["raw"] == "ECONNREFUSED" for x in all_rows(db)):
                assert p.poll() is None, errf.read_text()
                time.sleep(0.1)
        finally:
            p.terminate()
            p.wait(timeout=30)
    log = errf.read_text()
    assert p.returncode == 0, log
    assert "migrated from schema version 8 to 9" in log, log
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] >= 9
        assert con.execute("SELECT icmp_from, icmp_type, icmp_code FROM failures_v WHERE "
                           "detail = 'old row'").fetchall() == [(None, None, None)]
    finally:
        con.close()
    assert old_row() == golden
    new = [x for x in json.loads(nd(db, "failures", "--since", "1h", "--format", "json"))
           if x["raw"] == "ECONNREFUSED"]
    assert new and {(x["icmp_from"], x["icmp_type"], x["icmp_code"]) for x in new} == \
        {(None, None, None)}, new
