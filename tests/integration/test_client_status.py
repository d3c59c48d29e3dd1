# SPDX-License-Identifier: ISC
"""netdiag status, and the line every command prints when the data is not
fresh, against the real netdiagd running, stopped with SIGTERM, and killed
with SIGKILL; a firing alert of a daemon that is gone shows as unknown
since it went. The heartbeat is the daemon's own (the table runs); a
database of schema 2, made here from the daemon's, has none."""

import csv
import io
import json
import os
import re
import signal
import socket
import sqlite3
import time

import pytest

from clientlib import Daemon, iso, nd, now_ms, target_sections, wait_for
from conftest import closed_port

COMMANDS = [["failures"], ["summary"], ["summary", "--by", "target"], ["timeline"],
            ["targets"], ["alerts"]]


def status(db, **kw):
    r = nd("--db", db, "status", "--format", "json", **kw)
    [obj] = json.loads(r.stdout)
    return r.returncode, obj


def stored_failures(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT count(*) FROM failures").fetchone()[0]
    finally:
        con.close()


def add_firing_alert(db, started):
    con = sqlite3.connect(db, timeout=10)
    with con:
        con.execute("INSERT INTO alerts (target_id, wsa_code, started, count, peak, baseline, "
                    "attempts, detail) SELECT id, 10061, ?, 6, 6, 0.2, 6, 'spike' FROM targets "
                    "WHERE name = 'refused'", (started,))
    con.close()


@pytest.fixture
def daemon(tmp_path):
    db = str(tmp_path / "nd.db")
    dm = Daemon(tmp_path, db, target_sections([("refused", closed_port())]))
    wait_for(lambda: os.path.exists(db) and stored_failures(db) > 3, what="failures stored")
    yield dm
    dm.kill()


def assert_every_command_says(db, pattern, **kw):
    for cmd in COMMANDS:
        table = nd("--db", db, *cmd, **kw)
        assert table.returncode == 0, (cmd, table.stderr)
        assert re.match(pattern, table.stdout.splitlines()[0]), (cmd, table.stdout)
        assert table.stderr == ""
        for fmt in ("json", "csv"):
            r = nd("--db", db, *cmd, "--format", fmt, **kw)
            assert r.returncode == 0, (cmd, r.stderr)
            [line] = r.stderr.splitlines()
            assert line.startswith("netdiag: note: ") and re.match(pattern, line[15:]), line
            if fmt == "json":
                assert isinstance(json.loads(r.stdout), list)  # the data stays valid
            else:
                assert list(csv.reader(io.StringIO(r.stdout)))[0][0]  # a header first


def test_a_running_daemon(daemon):
    dm = daemon
    rc, st = status(dm.db)
    assert rc == 0, st
    assert (st["state"], st["stale"], st["pid"], st["version"], st["hostname"]) == \
        ("running", False, dm.proc.pid, "0.1.0", socket.gethostname())
    assert st["config"] == os.path.abspath(dm.cfg)
    assert st["stopped"] is None and st["uptime_ms"] >= 0
    assert now_ms() - st["heartbeat_ms"] < 10000
    assert (st["targets"], st["targets_retired"], st["alerts_firing"]) == (1, 0, 0)
    assert st["targets_failing"] == 1
    assert st["database"] == dm.db and st["database_bytes"] > 0
    table = nd("--db", dm.db, "status")
    assert table.returncode == 0
    assert re.match(r"state +netdiagd is running: pid %d on \S+, up \d+s$" % dm.proc.pid,
                    table.stdout.splitlines()[0]), table.stdout
    # fresh data: no line before any output, nothing on stderr
    for cmd in COMMANDS:
        r = nd("--db", dm.db, *cmd, "--format", "json")
        assert r.returncode == 0 and r.stderr == "", (cmd, r.stderr)
        t = nd("--db", dm.db, *cmd)
        assert not t.stdout.startswith("netdiagd ") and "daemon state" not in t.stdout


def test_a_hung_daemon(daemon):
    """Alive but silent: the heartbeat is old (here: the clock moved on a
    minute), so it is not running, whatever its pid does."""
    dm = daemon
    later = iso(now_ms() + 60000)
    rc, st = status(dm.db, now=later)
    assert rc == 5 and (st["state"], st["stale"]) == ("not_running", True), st
    assert "no heartbeat since" in st["summary"] and "(killed or hung)" in st["summary"]
    assert_every_command_says(dm.db, r"netdiagd is not running: no heartbeat since ", now=later)


def test_a_stopped_daemon(daemon):
    dm = daemon
    counters = dm.stop()
    add_firing_alert(dm.db, now_ms() - 30000)
    rc, st = status(dm.db)
    assert rc == 5 and (st["state"], st["stale"]) == ("stopped", True), st
    assert st["stopped_ms"] is not None and st["uptime_ms"] is None
    assert (st["alerts_firing"], st["alerts_unknown"]) == (0, 1)
    assert (st["results"], st["failures"], st["dropped"]) == \
        (counters["results"], counters["failures"], counters["dropped"])
    assert_every_command_says(dm.db, r"netdiagd stopped at \d\d-\d\d \d\d:\d\d:\d\d UTC "
                                     r"\(\d+s ago\); nothing newer is recorded$")
    # to a pipe every value stays on its label's line (a pipe is never cut
    # nor wrapped); a narrow terminal wraps the long ones
    piped = nd("--db", dm.db, "status", columns=None).stdout.splitlines()
    assert all(re.match(r"[a-z_]+ +\S", line) for line in piped), piped
    assert re.match(r"state +netdiagd stopped at .* nothing newer is recorded$", piped[0]), piped
    narrow = nd("--db", dm.db, "status", columns=40).stdout.splitlines()
    assert narrow[1].startswith(" "), narrow
    # a firing alert is no growing outage: unknown since the stop
    [a] = json.loads(nd("--db", dm.db, "alerts", "--format", "json").stdout)
    assert (a["state"], a["resolved"], a["unknown_since_ms"]) == \
        ("unknown", None, st["stopped_ms"])
    assert a["duration_ms"] == st["stopped_ms"] - a["started_ms"]
    later = nd("--db", dm.db, "alerts", "--format", "json", now=iso(now_ms() + 3600000))
    assert json.loads(later.stdout)[0]["duration_ms"] == a["duration_ms"]
    table = nd("--db", dm.db, "alerts", columns=120).stdout.splitlines()
    stop = time.strftime("%m-%d %H:%M:%S", time.gmtime(st["stopped_ms"] // 1000))
    assert any("unknown since %s" % stop in line for line in table), table
    assert [x["id"] for x in json.loads(nd("--db", dm.db, "alerts", "--active", "--format",
                                           "json").stdout)] == [a["id"]]


def test_a_killed_daemon(daemon):
    dm = daemon
    pid = dm.proc.pid
    dm.stop(signal.SIGKILL)
    add_firing_alert(dm.db, now_ms() - 30000)
    rc, st = status(dm.db)
    assert rc == 5 and (st["state"], st["stale"], st["stopped"]) == \
        ("not_running", True, None), st
    assert "its process %d is gone" % pid in st["summary"], st
    assert_every_command_says(dm.db, r"netdiagd is not running: its process %d is gone" % pid)
    [a] = json.loads(nd("--db", dm.db, "alerts", "--format", "json").stdout)
    assert (a["state"], a["unknown_since_ms"]) == ("unknown", st["heartbeat_ms"])


def test_a_database_without_a_heartbeat(tmp_path):
    """A runs table of another shape, and schema 2 (no runs table; made
    here from the daemon's database): the state is unknown, said once;
    status exits 5."""
    db = str(tmp_path / "nd.db")
    dm = Daemon(tmp_path, db, target_sections([("refused", closed_port())]))
    try:
        wait_for(lambda: os.path.exists(db) and stored_failures(db) > 0, what="a failure")
        counters = dm.stop()
    finally:
        dm.kill()
    con = sqlite3.connect(db)
    with con:
        con.execute("ALTER TABLE runs RENAME TO runs_v3")
        con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, note TEXT)")
    con.close()
    rc, st = status(db)
    assert rc == 5 and st["state"] == "unknown", st
    assert st["summary"] == "daemon state unknown (the runs table is not as netdiag knows it)"
    assert counters["failures"] > 0
    con = sqlite3.connect(db)
    with con:
        con.execute("DROP TABLE runs")
        con.execute("PRAGMA user_version = 2")
    con.close()
    rc, st = status(db)
    assert st["summary"] == "daemon state unknown (database schema 2 has no heartbeat)"
    assert_every_command_says(db, r"daemon state unknown \(database schema 2 has no "
                                  r"heartbeat\)$")
