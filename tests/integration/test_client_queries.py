# SPDX-License-Identifier: ISC
"""netdiag failures / summary / timeline / targets / alerts against real
databases: one written by the real netdiagd probing loopback (a closed port
for WSAECONNREFUSED, a listener with a full queue for WSAETIMEDOUT), and a
copy of it whose rows are replaced by a fixed history so table output can
be compared with golden files (tests/integration/golden/client/; rewrite
them with NETDIAG_UPDATE_GOLDEN=1), and the same history in a database of
schema version 1 (tests/unit/schema_v1.sql), which netdiagd has not
migrated yet and the client must read the same. Also every bad input: exit
code and one line on stderr."""

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest

import clientlib
from clientlib import insert_run
from conftest import NETDIAG, NETDIAGD, Server, closed_port

# The line every command gives when netdiagd is not running (its heartbeat
# says so, or the database has none): on stderr with JSON and CSV.
STATE_NOTE = re.compile(r"^netdiag: note: (netdiagd (stopped|is not running)|daemon state unknown)")

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden", "client")
SCHEMA_V1 = os.path.join(os.path.dirname(HERE), "unit", "schema_v1.sql")
UPDATE = os.environ.get("NETDIAG_UPDATE_GOLDEN") == "1"

NOW = "2026-11-24T10:00:00Z"
NOW_MS = 1795514400000
HOUR = 3600000
MINUTE = 60000
T0 = NOW_MS - HOUR  # 09:00Z, where the fixed history starts

FAILURE_KEYS = ["ts_ms", "time", "target", "kind", "phase", "wsa_code", "wsa_name", "meaning",
                "raw", "raw_value", "detail", "local", "remote", "latency_us", "icmp_from",
                "icmp_type", "icmp_code"]
SUMMARY_KEYS = {
    "code": ["wsa_code", "wsa_name", "failures", "attempts", "rate", "targets", "last_ms", "last",
             "meaning"],
    "target": ["target", "kind", "failures", "attempts", "rate", "wsa_code", "wsa_name", "meaning",
               "last_ms", "last"],
    "phase": ["phase", "failures", "attempts", "rate", "targets", "wsa_code", "wsa_name", "meaning",
              "last_ms", "last"],
}
TIMELINE_KEYS = {
    "code": ["start_ms", "start", "bucket_s", "elapsed_s", "wsa_code", "wsa_name", "failures"],
    "target": ["start_ms", "start", "bucket_s", "elapsed_s", "target", "failures"],
}
TARGET_KEYS = ["target", "kind", "address", "state", "since_ms", "since", "last_failure_ms",
               "last_failure", "last_code", "last_name", "attempts", "failures", "success_rate",
               "latency_us", "last_seen_ms", "last_seen", "retired"]
ALERT_KEYS = ["id", "state", "target", "wsa_code", "wsa_name", "started_ms", "started",
              "resolved_ms", "resolved", "duration_ms", "count", "peak", "baseline", "attempts",
              "detail", "meaning", "unknown_since_ms", "unknown_since", "metric", "value"]


def nd(*args, now=NOW, timeout=30, **kw):
    """Run netdiag with a fixed clock, zone and width."""
    return clientlib.nd(*args, now=now, timeout=timeout, **kw)


def ok(*args, **kw):
    r = nd(*args, **kw)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    # the daemon's state is the only thing said beside the data
    assert [line for line in r.stderr.splitlines() if not STATE_NOTE.match(line)] == [], r.stderr
    return r.stdout


def as_json(db, *args, **kw):
    data = json.loads(ok("--db", db, *args, "--format", "json", **kw))
    assert isinstance(data, list)
    return data


def as_csv(db, *args, **kw):
    return list(csv.reader(io.StringIO(ok("--db", db, *args, "--format", "csv", **kw))))


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("netdiag: ")
    for raw in ("database is locked", "unable to open database file", "file is not a database",
                "SQLITE_", "disk I/O error"):
        assert raw not in lines[0]  # SQLite's own words are never the message
    return lines[0]


# --- a database the real daemon wrote -------------------------------------

@pytest.fixture(scope="module")
def daemon_db(tmp_path_factory):
    """netdiagd probes a refused and a silent target every 200 ms for about
    2.5 s, then stops on SIGTERM. Returns what it logged and a query made
    while it was still writing."""
    d = tmp_path_factory.mktemp("daemon")
    db = str(d / "nd.db")
    full = Server("full")
    cfg = str(d / "netdiag.ini")
    with open(cfg, "w") as f:
        f.write("[daemon]\ndatabase = %s\nlog_level = debug\n\n"
                "[defaults]\ninterval = 200ms\ntimeout = 100ms\n\n"
                "[target refused]\nkind = connect\nhost = 127.0.0.1\nport = %d\n\n"
                "[target silent]\nkind = connect\nhost = 127.0.0.1\nport = %d\n"
                % (db, closed_port(), full.port))
    errpath = str(d / "netdiagd.stderr")
    with open(errpath, "w") as err:
        proc = subprocess.Popen([NETDIAGD, "-c", cfg], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        while "started:" not in open(errpath).read():
            assert proc.poll() is None and time.monotonic() < deadline, open(errpath).read()
            time.sleep(0.05)
        time.sleep(1.5)  # the first batch is committed within about a second
        live = nd("--db", db, "failures", "--limit", "0", "--format", "json", now=None)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, open(errpath).read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        full.close()
    log = open(errpath).read()
    counts = {10061: 0, 10060: 0}
    raw_code = {"ECONNREFUSED": 10061, "ETIMEDOUT": 10060}
    for m in re.finditer(r"target \S+: (?:\S+ -> (\d+) |(\w+) in \d+ us)", log):
        code = int(m.group(1)) if m.group(1) else raw_code.get(m.group(2))
        if code in counts:
            counts[code] += 1
    stopped = re.search(r"stopped: (\d+) results, (\d+) failures", log)
    assert stopped, log
    return {"db": db, "dir": str(d), "log": log, "counts": counts,
            "failures": int(stopped.group(2)), "live": live}


def test_daemon_failures_match_its_log(daemon_db):
    db, counts = daemon_db["db"], daemon_db["counts"]
    rows = as_json(db, "failures", "--limit", "0", now=None)
    assert counts[10061] > 5 and counts[10060] > 5, daemon_db["log"]
    assert len(rows) == daemon_db["failures"] == counts[10061] + counts[10060]
    by_code = {}
    for r in rows:
        assert list(r) == FAILURE_KEYS
        by_code[r["wsa_code"]] = by_code.get(r["wsa_code"], 0) + 1
        if r["wsa_code"] == 10061:
            assert (r["target"], r["wsa_name"], r["raw"], r["raw_value"], r["phase"]) == \
                ("refused", "WSAECONNREFUSED", "ECONNREFUSED", 111, "connect")
            assert r["meaning"] == "Connection refused."
        else:
            assert (r["target"], r["wsa_name"], r["raw"], r["phase"]) == \
                ("silent", "WSAETIMEDOUT", "ETIMEDOUT", "connect")
            assert r["latency_us"] >= 100000
        assert r["remote"].startswith("127.0.0.1:") and r["kind"] == "connect"
    assert by_code == counts
    times = [r["ts_ms"] for r in rows]
    assert times == sorted(times, reverse=True)  # newest first


def test_query_while_the_daemon_writes(daemon_db):
    live = daemon_db["live"]
    assert live.returncode == 0, live.stderr
    assert all(STATE_NOTE.match(line) for line in live.stderr.splitlines()), live.stderr
    rows = json.loads(live.stdout)
    assert 0 < len(rows) <= daemon_db["failures"]


def test_daemon_summary_and_timeline_counts(daemon_db):
    db, counts = daemon_db["db"], daemon_db["counts"]
    rows = as_json(db, "summary", now=None)
    assert {r["wsa_code"]: r["failures"] for r in rows} == counts
    total = counts[10061] + counts[10060]
    for r in rows:
        assert list(r) == SUMMARY_KEYS["code"]
        assert r["attempts"] == total and r["targets"] == 1
        assert r["rate"] == pytest.approx(r["failures"] / total, abs=1e-6)
    by_target = as_json(db, "summary", "--by", "target", now=None)
    assert {r["target"]: (r["failures"], r["wsa_code"], r["rate"]) for r in by_target} == {
        "refused": (counts[10061], 10061, 1.0), "silent": (counts[10060], 10060, 1.0)}
    by_phase = as_json(db, "summary", "--by", "phase", now=None)
    assert [(r["phase"], r["failures"], r["targets"]) for r in by_phase] == \
        [("connect", total, 2)]
    buckets = as_json(db, "timeline", "--bucket", "1m", now=None)
    sums = {}
    for b in buckets:
        assert list(b) == TIMELINE_KEYS["code"] and b["bucket_s"] == 60
        sums[b["wsa_code"]] = sums.get(b["wsa_code"], 0) + b["failures"]
    assert sums == counts


def test_daemon_targets_and_alerts(daemon_db):
    db, counts = daemon_db["db"], daemon_db["counts"]
    rows = {r["target"]: r for r in as_json(db, "targets", now=None)}
    assert set(rows) == {"refused", "silent"}
    for name, code in (("refused", 10061), ("silent", 10060)):
        r = rows[name]
        assert list(r) == TARGET_KEYS
        assert (r["state"], r["last_code"], r["failures"], r["attempts"], r["success_rate"],
                r["latency_us"], r["retired"]) == \
            ("failing", code, counts[code], counts[code], 0.0, None, False)
        # failing since its first failure: it never succeeded
        first = min(f["ts_ms"] for f in as_json(db, "failures", "--limit", "0", "--target", name,
                                                now=None))
        assert r["since_ms"] == first
    # Until the alert engine fires, alerts is an empty list, not an error;
    # whatever it holds belongs to these targets.
    for a in as_json(db, "alerts", now=None):
        assert list(a) == ALERT_KEYS and a["target"] in ("refused", "silent")


def test_daemon_tables_fit_80_columns(daemon_db):
    for cmd in (["failures"], ["summary"], ["summary", "--by", "target"], ["timeline"],
                ["targets"], ["alerts"]):
        out = ok("--db", daemon_db["db"], *cmd, now=None)
        assert max(len(line) for line in out.splitlines()) <= 80, (cmd, out)


def test_config_names_the_database(daemon_db, tmp_path):
    cfg = tmp_path / "netdiag.ini"
    # Only [daemon] database matters; the rest is netdiagd's to check.
    cfg.write_text("[daemon]\ndatabase = %s ; the history\n\n[target x]\nbogus line\n"
                   % daemon_db["db"])
    assert ok("-c", str(cfg), "failures", "--limit", "0", "--format", "json", now=None) == \
        ok("--db", daemon_db["db"], "failures", "--limit", "0", "--format", "json", now=None)
    # --db wins over -c
    other = tmp_path / "missing.db"
    r = nd("-c", str(cfg), "--db", str(other), "summary")
    assert "missing.db" in one_line_error(r, 3)


def test_a_relative_database_is_beside_the_config(daemon_db, tmp_path):
    """A relative [daemon] database is relative to the configuration's
    directory, as netdiagd reads it: the same file from any directory."""
    conf = tmp_path / "etc"
    conf.mkdir()
    shutil.copy(daemon_db["db"], tmp_path / "nd.db")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(daemon_db["db"] + suffix):
            shutil.copy(daemon_db["db"] + suffix, str(tmp_path / "nd.db") + suffix)
    (conf / "netdiag.ini").write_text("[daemon]\ndatabase = ../nd.db\n")
    want = ok("--db", daemon_db["db"], "failures", "--limit", "0", "--format", "json", now=None)
    for cwd in (str(tmp_path), str(conf), "/"):
        r = subprocess.run([NETDIAG, "-c", str(conf / "netdiag.ini"), "failures", "--limit", "0",
                            "--format", "json"], capture_output=True, text=True, cwd=cwd)
        assert r.returncode == 0 and r.stdout == want, (cwd, r.stderr)
    # a configuration named without a directory: its directory is this one
    r = subprocess.run([NETDIAG, "-c", "netdiag.ini", "failures", "--limit", "0", "--format",
                        "json"], capture_output=True, text=True, cwd=str(conf))
    assert r.returncode == 0 and r.stdout == want, r.stderr


# --- a fixed history in a copy of the daemon's database ---------------------

TARGETS = [
    # id, name, kind, host, port, protocol, qname, qtype, server, retired, offset ms, latency us
    (1, "web", "connect", "127.0.0.1", 8080, None, None, None, None, None, 123, 250),
    (2, "dns-local", "resolve", None, None, None, "example.test", "A", "127.0.0.1:5353", None,
     3456, 1200),
    (3, "syslog", "send", "127.0.0.1", 514, "udp", None, None, None, None, 6789, 80),
    (4, "old-api", "connect", "::1", 9000, None, None, None, None, T0 - 12 * HOUR, 0, 500),
]
LONG_DETAIL = ("ICMP port unreachable after sending 5 bytes to 127.0.0.1:514; is the syslog "
               "daemon listening on UDP port 514?")


def fixed_failure(target_id, ts):
    """The failure of one attempt, or None when it succeeded."""
    at = ts - T0
    if target_id == 1 and 40 * MINUTE <= at < 45 * MINUTE:
        return (2, 10061, "ECONNREFUSED", 111, "Connection refused", 85, "127.0.0.1:41000",
                "127.0.0.1:8080")
    if target_id == 1 and at in (12 * MINUTE + 123, 12 * MINUTE + 10123):
        return (2, 10060, "ETIMEDOUT", 110, "no answer within 3000 ms (connect)", 3000412,
                "127.0.0.1:41002", "127.0.0.1:8080")
    if target_id == 2 and at in (5 * MINUTE + 3456, 25 * MINUTE + 3456, 50 * MINUTE + 3456):
        return (1, 11001, "NXDOMAIN", 3, "example.test A: the server answered NXDOMAIN", 1800,
                "127.0.0.1:53001", "127.0.0.1:5353")
    if target_id == 2 and at == 55 * MINUTE + 3456:
        return (1, 11002, "SERVFAIL", 2, "example.test A: the server answered SERVFAIL", 2100,
                "127.0.0.1:53002", "127.0.0.1:5353")
    if target_id == 3 and at == 30 * MINUTE + 6789:
        return (4, 10061, "ECONNREFUSED", 111, LONG_DETAIL, 140, "127.0.0.1:40514",
                "127.0.0.1:514")
    return None


def fixed_history():
    """Attempts every 10 s from 09:00 to 10:00 for the three active targets,
    one failed attempt of old-api the day before; (failures, attempts)."""
    failures, attempts = [], []
    for t in TARGETS:
        tid, offset, lat = t[0], t[10], t[11]
        if t[9] is not None:
            ts = T0 - 24 * HOUR
            attempts.append((tid, ts, False, lat))
            failures.append((ts, tid, 2, 10065, "EHOSTUNREACH", 113, "No route to host", 900,
                             None, "[::1]:9000"))
            continue
        for k in range(360):
            ts = T0 + k * 10000 + offset
            f = fixed_failure(tid, ts)
            attempts.append((tid, ts, f is None, lat))
            if f is not None:
                phase, code, raw, value, detail, flat, local, remote = f
                failures.append((ts, tid, phase, code, raw, value, detail, flat, local, remote))
    return failures, attempts


def split_addr(text):
    """An address as netdiagd's writer stores it (store_split_addr() in
    daemon/store_writer.c): the addrs text and the port, or the whole text
    and None when it is not "host:port" or "[v6 host]:port"."""
    m = re.fullmatch(r"(.*):(0|[1-9][0-9]{0,4})", text)
    if m and int(m.group(2)) <= 65535:
        host, port = m.group(1), int(m.group(2))
        if len(host) >= 3 and host[0] == "[" and host[-1] == "]" and ":" in host[1:-1]:
            return host[1:-1], port
        if host and ":" not in host:
            return host, port
    return text, None


def insert_failures(con, failures):
    """Rows (ts, target_id, phase, code, raw, value, detail, latency, local,
    remote) stored as netdiagd stores them, in the database's schema
    version: text columns in version 1, ids into raws and addrs and ports
    from version 2."""
    if con.execute("PRAGMA user_version").fetchone()[0] == 1:
        con.executemany("INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw, "
                        "raw_value, detail, latency_us, local, remote) "
                        "VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)", failures)
        return

    def intern(table, column, text):
        if text is None:
            return None
        con.execute("INSERT OR IGNORE INTO %s (%s) VALUES (?)" % (table, column), (text,))
        return con.execute("SELECT id FROM %s WHERE %s = ?" % (table, column),
                           (text,)).fetchone()[0]

    rows = []
    for ts, tid, phase, code, raw, value, detail, lat, local, remote in failures:
        addrs = []
        for text in (local, remote):
            addr, port = split_addr(text) if text is not None else (None, None)
            addrs += [intern("addrs", "addr", addr), port]
        rows.append((ts, tid, phase, code, intern("raws", "name", raw), value, detail, lat,
                     *addrs))
    con.executemany("INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, "
                    "raw_value, detail, latency_us, local_addr_id, local_port, remote_addr_id, "
                    "remote_port) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def write_fixed_history(db, heartbeat=True):
    failures, attempts = fixed_history()
    con = sqlite3.connect(db)
    with con:
        tables = ["failures", "rollup_minute", "rollup_minute_code", "rollup_hour",
                  "rollup_hour_code", "alerts", "targets"]
        if con.execute("PRAGMA user_version").fetchone()[0] >= 2:
            tables += ["raws", "addrs"]
        if con.execute("PRAGMA user_version").fetchone()[0] >= 4:
            tables += ["commits"]  # the rows here belong to no commit
        for table in tables:
            con.execute("DELETE FROM %s" % table)
        for t in TARGETS:
            con.execute("INSERT INTO targets (id, name, kind, host, port, protocol, qname, qtype, "
                        "server, family, interval_ms, timeout_ms, created, updated, retired) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'any', 10000, 3000, ?, ?, ?)",
                        t[:9] + (T0 - 48 * HOUR, T0 - 48 * HOUR, t[9]))
        insert_failures(con, failures)
        for unit, table in ((MINUTE, "minute"), (HOUR, "hour")):
            roll, codes = {}, {}
            for tid, ts, success, lat in attempts:
                key = (ts - ts % unit, tid)
                r = roll.setdefault(key, [0, 0, 0, 0, 0, None, None])
                r[0] += 1
                if success:
                    r[1] += 1
                    r[3] += 1
                    r[4] += lat
                    r[5] = lat if r[5] is None else min(r[5], lat)
                    r[6] = lat if r[6] is None else max(r[6], lat)
                else:
                    r[2] += 1
            for f in failures:
                ck = (f[0] - f[0] % unit, f[1], f[3])
                codes[ck] = codes.get(ck, 0) + 1
            con.executemany("INSERT INTO rollup_%s (%s, target_id, attempts, successes, failures, "
                            "latency_count, latency_sum_us, latency_min_us, latency_max_us) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)" % (table, table),
                            [k + tuple(v) for k, v in sorted(roll.items())])
            con.executemany("INSERT INTO rollup_%s_code VALUES (?, ?, ?, ?)" % table,
                            [k + (v,) for k, v in sorted(codes.items())])
        con.executemany(
            "INSERT INTO alerts (id, target_id, wsa_code, started, resolved, count, peak, "
            "baseline, attempts, last_notified, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, 1, 10061, T0 + 41 * MINUTE, T0 + 47 * MINUTE, 6, 6, 0.2, 6, None,
              "6 refused in 1m against a baseline of 0.2"),
             (2, 2, 11001, T0 + 55 * MINUTE, None, 2, 2, 0.1, 6, None,
              "2 not found in 1m against a baseline of 0.1")])
        # a runs row made by hand, for this history made by hand: netdiagd
        # is running at NOW (its heartbeat a second old), on another host:
        # no pid to check here
        if heartbeat:
            con.execute("DELETE FROM runs")
            insert_run(con, {"pid": 4242, "hostname": "fixture-host", "started": T0 - 48 * HOUR,
                             "heartbeat": NOW_MS - 1000, "targets": 3})
    con.close()
    return failures


@pytest.fixture(scope="module")
def fixed_db(daemon_db, tmp_path_factory):
    d = tmp_path_factory.mktemp("fixed")
    db = str(d / "nd.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(daemon_db["db"] + suffix):
            shutil.copy(daemon_db["db"] + suffix, db + suffix)
    failures = write_fixed_history(db)
    return {"db": db, "dir": str(d), "failures": failures}


@pytest.fixture(scope="module")
def fixed_db_v1(fixed_db, tmp_path_factory):
    """The fixed history in a database of schema version 1, made as
    netdiagd 0.1.0 made it, with the same wsa_codes."""
    d = tmp_path_factory.mktemp("fixed_v1")
    db = str(d / "nd.db")
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA auto_vacuum = INCREMENTAL")
    con.execute("PRAGMA journal_mode = WAL")
    with open(SCHEMA_V1, encoding="utf-8") as f:
        con.executescript("BEGIN;" + f.read() + "COMMIT;")
    con.execute("PRAGMA application_id = 1313097031")
    con.execute("PRAGMA user_version = 1")
    con.execute("ATTACH ? AS v2", ("file:%s?mode=ro" % fixed_db["db"],))
    con.execute("INSERT INTO wsa_codes SELECT * FROM v2.wsa_codes")
    con.execute("DETACH v2")
    con.close()
    assert write_fixed_history(db, heartbeat=False) == fixed_db["failures"]
    return {"db": db, "dir": str(d), "failures": fixed_db["failures"]}


GOLDEN_CASES = [
    ("failures", ["failures"], {}),
    ("failures-wide", ["failures", "--wide"], {}),
    ("failures-web", ["failures", "--target", "web", "--code", "WSAECONNREFUSED", "--limit", "3"],
     {}),
    ("failures-cet", ["failures", "--since", "2026-11-24T10:40", "--limit", "4"],
     {"tz": "CET-1CEST,M3.5.0,M10.5.0/3"}),
    ("failures-narrow", ["failures", "--limit", "3"], {"columns": 50}),
    ("summary", ["summary"], {}),
    ("summary-target", ["summary", "--by", "target"], {}),
    ("summary-phase", ["summary", "--by", "phase"], {}),
    ("summary-raw", ["summary", "--by", "raw"], {}),
    ("summary-30m", ["summary", "--since", "30m"], {}),
    ("timeline", ["timeline"], {}),
    ("timeline-target", ["timeline", "--by", "target", "--bucket", "5m"], {}),
    ("timeline-24h", ["timeline", "--since", "24h"], {}),
    ("targets", ["targets"], {}),
    ("alerts", ["alerts"], {}),
    ("alerts-active", ["alerts", "--active"], {}),
    # the views at 120 columns and through a pipe (never cut)
    ("failures-120", ["failures", "--limit", "5"], {"columns": 120}),
    ("failures-pipe", ["failures", "--limit", "5"], {"columns": None}),
    ("summary-120", ["summary"], {"columns": 120}),
    ("summary-pipe", ["summary"], {"columns": None}),
    ("summary-target-120", ["summary", "--by", "target"], {"columns": 120}),
    ("summary-target-pipe", ["summary", "--by", "target"], {"columns": None}),
    ("timeline-120", ["timeline"], {"columns": 120}),
    ("timeline-pipe", ["timeline", "--since", "24h"], {"columns": None}),
    ("targets-120", ["targets"], {"columns": 120}),
    ("targets-pipe", ["targets"], {"columns": None}),
    ("alerts-120", ["alerts"], {"columns": 120}),
    ("alerts-pipe", ["alerts"], {"columns": None}),
    # the bucket now fills is drawn at its rate, the ones to come blank
    ("timeline-partial", ["timeline", "--since", "1h", "--bucket", "5m"],
     {"now": "2026-11-24T09:42:30Z"}),
    # a range over midnight: the date at midnight
    ("timeline-midnight", ["timeline", "--since", "2026-11-23T20:00Z", "--until",
                           "2026-11-24T10:00Z", "--bucket", "30m"], {}),
    # empty results in words
    ("failures-empty", ["failures", "--since", "2026-11-20", "--until", "2026-11-21"], {}),
    ("alerts-empty", ["alerts", "--active", "--target", "web"], {}),
    ("summary-empty", ["summary", "--since", "2026-11-20", "--until", "2026-11-21"], {}),
    ("timeline-empty", ["timeline", "--since", "2026-11-20", "--until", "2026-11-21"], {}),
]


@pytest.mark.parametrize("name,args,kw", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_tables(fixed_db, name, args, kw):
    out = ok("--db", fixed_db["db"], *args, **kw)
    path = os.path.join(GOLDEN, name + ".txt")
    if UPDATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(out)
    with open(path, encoding="utf-8") as f:
        assert out == f.read()
    width = kw.get("columns", 80)
    if "--wide" not in args and width is not None:
        assert max(len(line) for line in out.splitlines()) <= width, out
    if width is None:  # a pipe: nothing cut
        assert "\u2026" not in out


# timeline-partial's golden begins with the fixture's heartbeat, which a
# schema 1 database has not: it has no v1 twin.
GOLDEN_CASES_V1 = [c for c in GOLDEN_CASES if c[0] != "timeline-partial"]


@pytest.mark.parametrize("name,args,kw", GOLDEN_CASES_V1, ids=[c[0] for c in GOLDEN_CASES_V1])
def test_golden_tables_schema_v1(fixed_db_v1, name, args, kw):
    """A database netdiagd has not migrated yet reads the same, after the
    line that says it has no heartbeat."""
    out = ok("--db", fixed_db_v1["db"], *args, **kw)
    note, lines = "", out.split("\n")
    while note != "daemon state unknown (database schema 1 has no heartbeat)":
        assert lines, out  # the note, wrapped to the width, comes first
        note = (note + " " + lines.pop(0)).strip()
    out = "\n".join(lines)
    with open(os.path.join(GOLDEN, name + ".txt"), encoding="utf-8") as f:
        assert out == f.read()


@pytest.mark.parametrize("which", ["fixed_db", "fixed_db_v1"])
def test_failures_match_the_view(request, which):
    """netdiag failures shows what failures_v holds, column for column:
    the text the lookup tables were joined back into, NULL as null."""
    db = request.getfixturevalue(which)["db"]
    rows = as_json(db, "failures", "--limit", "0")
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    view = con.execute("SELECT ts, target, kind, phase, wsa_code, wsa_name, meaning, raw, "
                       "raw_value, detail, local, remote, latency_us FROM failures_v "
                       "ORDER BY ts DESC").fetchall()
    con.close()
    keys = ["ts_ms", "target", "kind", "phase", "wsa_code", "wsa_name", "meaning", "raw",
            "raw_value", "detail", "local", "remote", "latency_us"]
    assert [tuple(r[k] for k in keys) for r in rows] == view
    assert ("[::1]:9000", "127.0.0.1:41000") == (
        [r["remote"] for r in rows if r["target"] == "old-api"][0],
        [r["local"] for r in rows if r["wsa_code"] == 10061 and r["target"] == "web"][0])
    assert [r["local"] for r in rows if r["target"] == "old-api"] == [None]


def expected(fixed, since=None, until=None, code=None, target_ids=None, raw=None):
    rows = [f for f in fixed["failures"]
            if (since is None or f[0] >= since) and (until is None or f[0] < until)
            and (code is None or f[3] in code) and (target_ids is None or f[1] in target_ids)
            and (raw is None or f[4] in raw)]
    return sorted(rows, key=lambda f: -f[0])


@pytest.mark.parametrize("args,filt", [
    ([], {}),
    (["--code", "10061"], {"code": {10061}}),
    (["--code", "econnrefused"], {"code": {10061}}),
    (["--code", "10061,WSAETIMEDOUT"], {"code": {10061, 10060}}),
    (["--code", "10061 , WSAETIMEDOUT "], {"code": {10061, 10060}}),
    (["--code", "10061", "--code", "ETIMEDOUT"], {"code": {10061, 10060}}),
    (["--target", "web"], {"target_ids": {1}}),
    (["--target", "w*", "--target", "sys?og"], {"target_ids": {1, 3}}),
    (["--kind", "resolve"], {"target_ids": {2}}),
    (["--phase", "resolve"], {"target_ids": {2}}),
    (["--raw", "nxdomain"], {"raw": {"NXDOMAIN"}}),
    (["--raw", "SERVFAIL,ETIMEDOUT"], {"raw": {"SERVFAIL", "ETIMEDOUT"}}),
    (["--since", "15m"], {"since": NOW_MS - 15 * MINUTE}),
    (["--since", "today"], {"since": NOW_MS - 10 * HOUR}),
    # every command counts whole minutes: the edges round outwards
    (["--since", "2026-11-24T09:40:30Z", "--until", "2026-11-24T09:42:15.5Z"],
     {"since": T0 + 40 * MINUTE, "until": T0 + 43 * MINUTE}),
])
def test_failures_filters(fixed_db, args, filt):
    rows = as_json(fixed_db["db"], "failures", "--limit", "0", *args)
    want = expected(fixed_db, **filt)
    assert [(r["ts_ms"], r["wsa_code"]) for r in rows] == [(f[0], f[3]) for f in want]


@pytest.mark.parametrize("which", ["fixed_db", "fixed_db_v1"])
def test_raw_filter_and_group_in_both_schemas(request, which):
    db = request.getfixturevalue(which)["db"]
    rows = as_json(db, "failures", "--limit", "0", "--raw", "NXDOMAIN,servfail")
    assert [(r["raw"], r["target"]) for r in rows] == \
        [("SERVFAIL", "dns-local")] + [("NXDOMAIN", "dns-local")] * 3
    by_raw = as_json(db, "summary", "--by", "raw")
    assert [(r["raw"], r["failures"], r["targets"]) for r in by_raw] == \
        [("ECONNREFUSED", 31, 2), ("NXDOMAIN", 3, 1), ("ETIMEDOUT", 2, 1), ("SERVFAIL", 1, 1)]
    assert [r["wsa_code"] for r in by_raw] == [10061, 11001, 10060, 11002]
    [t] = as_json(db, "summary", "--by", "target", "--raw", "ETIMEDOUT")
    assert (t["target"], t["failures"], t["attempts"]) == ("web", 2, 360)


def test_failures_json_and_csv_fields(fixed_db):
    db = fixed_db["db"]
    rows = as_json(db, "failures", "--target", "syslog")
    assert rows == [{
        "ts_ms": T0 + 30 * MINUTE + 6789, "time": "2026-11-24T09:30:06.789Z", "target": "syslog",
        "kind": "send", "phase": "recv", "wsa_code": 10061, "wsa_name": "WSAECONNREFUSED",
        "meaning": "Connection refused.", "raw": "ECONNREFUSED", "raw_value": 111,
        "detail": LONG_DETAIL, "local": "127.0.0.1:40514", "remote": "127.0.0.1:514",
        "latency_us": 140, "icmp_from": None, "icmp_type": None, "icmp_code": None}]
    # local time with its offset, UTC with --utc
    [cet] = as_json(db, "failures", "--target", "syslog", tz="CET-1CEST,M3.5.0,M10.5.0/3")
    assert cet["time"] == "2026-11-24T10:30:06.789+01:00"
    [utc] = as_json(db, "failures", "--target", "syslog", "--utc", tz="CET-1CEST,M3.5.0,M10.5.0/3")
    assert utc["time"] == "2026-11-24T09:30:06.789Z"
    table = as_csv(db, "failures", "--limit", "0")
    assert table[0] == FAILURE_KEYS and len(table) == 1 + len(fixed_db["failures"])
    # the limit: the newest N, and the table says more exist
    assert len(as_json(db, "failures", "--limit", "5")) == 5
    assert len(as_json(db, "failures")) == 38 == len(fixed_db["failures"])
    assert "(the newest 5 shown; --limit 0 shows all)" in ok("--db", db, "failures", "--limit", "5")


@pytest.mark.parametrize("since,until", [
    (None, None),
    ("30m", None),
    ("2026-11-24T09:40:30Z", "2026-11-24T09:44:30Z"),
    ("2026-11-24T09:00:00.124Z", "2026-11-24T09:59:59Z"),
    ("2026-11-23T08:00:00Z", None),
])
def test_summary_counts_are_exact(fixed_db, since, until):
    """Whole hours from the hour rollups, the other minutes from the
    minute rollups, the range made whole minutes: the counts equal a count
    of the rows of those minutes."""
    db = fixed_db["db"]
    args = (["--since", since] if since else []) + (["--until", until] if until else [])
    q = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ms = [q.execute("SELECT CAST((julianday(?) - 2440587.5) * 86400000 AS INTEGER)",
                    (s.replace("Z", ""),)).fetchone()[0] if s and "T" in s else None
          for s in (since, until)]
    q.close()
    lo = ms[0] if ms[0] is not None else (NOW_MS - 30 * MINUTE if since else NOW_MS - 24 * HOUR)
    hi = ms[1] if ms[1] is not None else NOW_MS
    lo, hi = lo - lo % MINUTE, hi + (-hi) % MINUTE  # whole minutes, outwards
    want = {}
    for f in expected(fixed_db, since=lo, until=hi):
        want[f[3]] = want.get(f[3], 0) + 1
    rows = as_json(db, "summary", *args)
    assert {r["wsa_code"]: r["failures"] for r in rows} == want
    counts = [r["failures"] for r in rows]
    assert counts == sorted(counts, reverse=True)


def test_summary_rates_and_targets(fixed_db):
    db = fixed_db["db"]
    rows = {r["wsa_code"]: r for r in as_json(db, "summary")}
    assert rows[10061]["attempts"] == 3 * 360  # old-api's attempt is a day older
    assert rows[10061]["rate"] == pytest.approx(31 / 1080, abs=1e-6)
    assert (rows[10061]["targets"], rows[11001]["targets"]) == (2, 1)
    assert rows[10061]["last"] == "2026-11-24T09:44:50.123Z"
    assert rows[11002]["meaning"] == "Nonauthoritative host not found."
    by_target = {r["target"]: r for r in as_json(db, "summary", "--by", "target")}
    assert (by_target["web"]["failures"], by_target["web"]["attempts"],
            by_target["web"]["wsa_code"]) == (32, 360, 10061)
    assert by_target["web"]["rate"] == pytest.approx(32 / 360, abs=1e-6)
    # Half an hour: whole minutes, the attempts exactly.
    half = {r["target"]: r for r in as_json(db, "summary", "--by", "target", "--since", "30m")}
    assert (half["web"]["failures"], half["web"]["attempts"]) == (30, 180)
    # A code filter narrows the rows, not the attempts.
    [only] = as_json(db, "summary", "--code", "11002")
    assert (only["failures"], only["attempts"]) == (1, 1080)
    phases = {r["phase"]: r for r in as_json(db, "summary", "--by", "phase")}
    assert {p: r["failures"] for p, r in phases.items()} == {"connect": 32, "resolve": 4,
                                                             "recv": 1}
    assert phases["resolve"]["wsa_code"] == 11001
    assert [r["target"] for r in as_json(db, "summary", "--by", "target", "--kind", "send")] == \
        ["syslog"]


def test_timeline_buckets(fixed_db):
    db = fixed_db["db"]
    rows = as_json(db, "timeline", "--bucket", "5m", "--since", "1h")
    assert {r["bucket_s"] for r in rows} == {300}
    refused = [r for r in rows if r["wsa_code"] == 10061]
    assert len(refused) == 12  # zeros included
    assert [r["failures"] for r in refused] == [0] * 6 + [1] + [0] + [30] + [0] * 3
    assert refused[8]["start"] == "2026-11-24T09:40:00.000Z"
    by_target = as_json(db, "timeline", "--by", "target", "--bucket", "1h", "--since", "24h")
    sums = {}
    for r in by_target:
        sums[r["target"]] = sums.get(r["target"], 0) + r["failures"]
    assert sums == {"web": 32, "dns-local": 4, "syslog": 1}
    hdr = as_csv(db, "timeline", "--by", "target")[0]
    assert hdr == TIMELINE_KEYS["target"]


def test_timeline_colour(fixed_db):
    db = fixed_db["db"]
    plain = ok("--db", db, "timeline")
    assert "\x1b[" not in plain and "\u2588" in plain  # the spike is a full bar
    coloured = ok("--db", db, "timeline", "--color", "always")
    assert "\x1b[91m\u2588\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_timeline_colours_a_terminal(fixed_db):
    """--color auto: colour on a terminal, none through a pipe."""
    import pty
    env = dict(os.environ, COLUMNS="80", TZ="UTC0", NETDIAG_NOW=NOW)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(NETDIAG, [NETDIAG, "--db", fixed_db["db"], "timeline"], env)
    out = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"\x1b[91m" in out


def test_targets_and_alerts_json(fixed_db):
    db = fixed_db["db"]
    t = {r["target"]: r for r in as_json(db, "targets")}
    # failing first (none here), then ok by name, retired last
    assert list(t) == ["dns-local", "syslog", "web", "old-api"]
    web = t["web"]
    assert (web["kind"], web["address"], web["state"], web["last_code"], web["failures"],
            web["attempts"], web["latency_us"], web["retired"]) == \
        ("connect", "127.0.0.1:8080", "ok", 10061, 32, 360, 250, False)
    assert web["success_rate"] == pytest.approx(328 / 360, abs=1e-6)
    assert web["last_failure"] == "2026-11-24T09:44:50.123Z"
    # ok since its last failure, which is shown as past, with its time
    assert web["since_ms"] == web["last_failure_ms"] == T0 + 44 * MINUTE + 50123
    assert (t["old-api"]["state"], t["old-api"]["since_ms"]) == ("retired", T0 - 12 * HOUR)
    assert as_json(db, "targets", "--failing") == []
    assert ok("--db", db, "targets", "--failing").splitlines()[-1] == "no target is failing"
    assert t["dns-local"]["address"] == "example.test A @127.0.0.1:5353"
    assert t["syslog"]["address"] == "127.0.0.1:514/udp"
    old = t["old-api"]
    assert (old["address"], old["retired"], old["attempts"], old["success_rate"],
            old["last_code"]) == ("[::1]:9000", True, 0, None, 10065)
    assert [r["target"] for r in as_json(db, "targets", "--kind", "connect")] == ["web", "old-api"]
    alerts = as_json(db, "alerts")
    assert [(a["id"], a["state"], a["target"]) for a in alerts] == \
        [(2, "firing", "dns-local"), (1, "resolved", "web")]
    assert alerts[1]["duration_ms"] == 6 * MINUTE and alerts[0]["resolved"] is None
    assert alerts[0]["duration_ms"] == 5 * MINUTE  # firing: until now
    assert [a["id"] for a in as_json(db, "alerts", "--active")] == [2]
    assert [a["id"] for a in as_json(db, "alerts", "--code", "10061")] == [1]
    assert as_json(db, "alerts", "--since", "2026-11-24T09:48Z", "--target", "web") == []
    assert as_csv(db, "alerts")[0] == ALERT_KEYS
    assert as_csv(db, "targets")[0] == TARGET_KEYS


@pytest.mark.parametrize("cmd,by", [("summary", "code"), ("summary", "target"),
                                    ("summary", "phase")])
def test_csv_headers(fixed_db, cmd, by):
    rows = as_csv(fixed_db["db"], cmd, "--by", by)
    assert rows[0] == SUMMARY_KEYS[by] and len(rows) > 1


def test_empty_ranges_are_empty_lists(fixed_db):
    db = fixed_db["db"]
    for cmd in (["failures"], ["summary"], ["summary", "--by", "phase"], ["timeline"],
                ["alerts"]):
        args = cmd + ["--since", "2026-11-20T00:00Z", "--until", "2026-11-21T00:00Z"]
        data = as_json(db, *args)
        assert all(r.get("failures", 0) == 0 for r in data), (cmd, data)
        if cmd[0] != "timeline":
            assert data == []


def file_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), st.st_mtime_ns


def test_the_client_never_writes(fixed_db):
    db = fixed_db["db"]
    before = file_state(db)
    for args in (["failures", "--limit", "0"], ["summary"], ["summary", "--by", "phase"],
                 ["timeline"], ["targets"], ["alerts"]):
        ok("--db", db, *args)
    assert file_state(db) == before


# --- bad input ----------------------------------------------------------------

def make_bad(tmp_path, kind, fixed_db):
    p = tmp_path / "bad.db"
    if kind == "missing":
        return str(tmp_path / "nope" / "netdiag.db")
    if kind == "empty file":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("[daemon]\ndatabase = x\n")
    elif kind == "directory":
        p.mkdir()
    elif kind in ("empty sqlite", "foreign", "newer"):
        if kind == "newer":
            shutil.copy(fixed_db["db"], p)
        con = sqlite3.connect(str(p))
        if kind == "empty sqlite":
            con.execute("CREATE TABLE t (a)")  # a header and an empty schema
            con.execute("DROP TABLE t")
        elif kind == "foreign":
            con.execute("CREATE TABLE notes (t TEXT)")
            con.execute("PRAGMA application_id = 42")
        else:
            con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
    return str(p)


@pytest.mark.parametrize("kind,code,says", [
    ("missing", 3, "no such database"),
    ("empty file", 4, "empty file"),
    ("text", 4, "not an SQLite file"),
    ("directory", 4, "a directory"),
    ("empty sqlite", 4, "empty SQLite database"),
    ("foreign", 4, "application_id 42"),
    ("newer", 4, "schema version 99 is newer"),
])
@pytest.mark.parametrize("cmd", ["failures", "summary", "timeline", "targets", "alerts"])
def test_bad_databases(tmp_path, fixed_db, kind, code, says, cmd):
    db = make_bad(tmp_path, kind, fixed_db)
    line = one_line_error(nd("--db", db, cmd), code)
    assert says in line and db in line


@pytest.mark.parametrize("args,says", [
    (["failures", "--code", "ECONNREFUSD"], 'unknown code "ECONNREFUSD"; closest: WSAECONNREFUSED'),
    (["summary", "--code", "99999"], 'unknown code "99999"'),
    (["failures", "--since", "yesterdy"], "yesterdy"),
    (["timeline", "--until", "2026-13-01"], "2026-13-01"),
    (["failures", "--since", "1h", "--until", "2h"], "is after"),
    (["failures", "--target", "nosuch*"], '"nosuch*": no target'),
    (["failures", "--phase", "bind"], "unknown phase"),
    (["failures", "--kind", "pnig"], "unknown kind"),
    (["failures", "--limit", "ten"], "--limit"),
    (["summary", "--by", "host"], "--by"),
    (["summary", "--raw", "TIMOUT"], 'did you mean "TIMEOUT"?'),
    (["timeline", "--by", "phase"], "--by"),
    (["timeline", "--bucket", "90s"], "--bucket"),
    (["timeline", "--bucket", "1m", "--since", "300d"], "buckets"),
    (["timeline", "--color", "sometimes"], "--color"),
    (["summary", "--format", "yaml"], "yaml"),
])
def test_usage_errors(fixed_db, args, says):
    line = one_line_error(nd("--db", fixed_db["db"], *args), 2)
    assert says in line


def test_bad_clock_and_config(fixed_db, tmp_path):
    line = one_line_error(nd("--db", fixed_db["db"], "summary", now="soon"), 2)
    assert "NETDIAG_NOW" in line
    line = one_line_error(nd("-c", str(tmp_path / "none.ini"), "summary"), 2)
    assert "none.ini" in line


def test_busy_database(fixed_db, tmp_path):
    """A lock held past the 2 s busy timeout is one clear line; a shorter
    one is waited out."""
    db = str(tmp_path / "locked.db")
    shutil.copy(fixed_db["db"], db)
    script = ("import sqlite3, sys, time\n"
              "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
              "c.execute('PRAGMA locking_mode = EXCLUSIVE')\n"
              "c.execute('BEGIN EXCLUSIVE')\n"
              "print('locked', flush=True)\n"
              "time.sleep(float(sys.argv[2]))\n"
              "c.execute('COMMIT')\n"
              "c.close()\n")
    for hold, want in ((4.0, 1), (0.8, 0)):
        locker = subprocess.Popen([sys.executable, "-c", script, db, str(hold)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert locker.stdout.readline().strip() == "locked"
            t0 = time.monotonic()
            r = nd("--db", db, "summary", "--format", "json")
            took = time.monotonic() - t0
        finally:
            locker.wait(timeout=10)
        if want == 1:
            line = one_line_error(r, 1)
            assert "locked" in line and took >= 1.9
        else:
            assert r.returncode == 0 and r.stderr == "", r.stderr
            assert json.loads(r.stdout)


def can_switch_user():
    return os.geteuid() == 0


@pytest.mark.skipif(not can_switch_user(), reason="needs root to run netdiag as nobody")
def test_read_only_directory(fixed_db):
    """A reader who may not write the directory: with the -wal and -shm
    files there it reads; without them it reads the file as immutable; with
    a -wal holding changes but no -shm it refuses in one line."""
    # Under /tmp itself: pytest's own directories are closed to others.
    top = tempfile.mkdtemp(prefix="netdiag-ro-")
    try:
        read_only_directory(fixed_db, top)
    finally:
        shutil.rmtree(top)


def read_only_directory(fixed_db, top):
    d = os.path.join(top, "ro")
    os.mkdir(d)
    db = os.path.join(d, "nd.db")
    con = sqlite3.connect(fixed_db["db"])  # checkpoint: everything in the main file
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(fixed_db["db"], db)
    os.chmod(top, 0o755)
    os.chmod(d, 0o755)
    os.chmod(db, 0o644)
    want = ok("--db", fixed_db["db"], "summary", "--format", "json")
    # No -wal, no -shm, and no way to create them.
    r = nd("--db", db, "summary", "--format", "json", user=65534)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout == want
    assert not os.path.exists(db + "-wal")
    # A -wal holding a change the main file lacks, and no -shm.
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_autocheckpoint = 0")
    con.execute("INSERT INTO alerts (target_id, wsa_code, started) VALUES (1, 10061, 1)")
    con.commit()
    shutil.copy(db + "-wal", os.path.join(top, "saved-wal"))
    con.close()
    shutil.copy(os.path.join(top, "saved-wal"), db + "-wal")
    if os.path.exists(db + "-shm"):
        os.unlink(db + "-shm")
    os.chmod(db + "-wal", 0o644)
    line = one_line_error(nd("--db", db, "alerts", user=65534), 1)
    assert "-wal" in line
