# SPDX-License-Identifier: ISC
"""A database someone else wrote: the client opens files other users can
write. Numbers at the ends of int64, text that is not UTF-8 or carries
terminal escapes, a table replaced by a view that never ends, a rollup
minute before 1970, tens of thousands of targets: every command ends, in
its time bound, says why on a non-zero exit, writes valid JSON and never
sends a control byte to the terminal. (The sanitizer build turns any
overflow into a failure.)"""

import json
import os
import re
import sqlite3

import pytest

from clientlib import nd

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "sql", "schema.sql")
MAX, MIN = 2 ** 63 - 1, -2 ** 63
NOW = "2026-11-24T10:00:00Z"
COMMANDS = [["failures"], ["summary"], ["summary", "--by", "target"], ["summary", "--by", "raw"],
            ["summary", "--by", "phase"], ["timeline"], ["timeline", "--by", "target"],
            ["targets"], ["alerts"], ["status"], ["latency"], ["latency", "--by", "minute"],
            ["latency", "--chart"]]


def make_db(path, sql):
    con = sqlite3.connect(path)
    with open(SCHEMA, encoding="utf-8") as f:
        con.executescript(f.read())
    con.execute("PRAGMA application_id = 1313097031")
    con.execute("PRAGMA user_version = 2")
    con.executescript(sql)
    con.commit()
    con.close()
    return path


HOSTILE = """
INSERT INTO targets (id, name, kind, host, port, created, updated, retired) VALUES
  (1, CAST(X'1b5b33316d7265641b5b306d07' AS TEXT), 'connect', CAST(X'ff' AS TEXT), 80, 0, 0, NULL),
  (2, 'plain', 'send', '::1', 514, 0, 0, NULL),
  (%(max)d, 'max', 'connect', '::1', -5, 0, 0, %(min)d);
INSERT INTO raws (id, name) VALUES (1, CAST(X'54494d454f55541b5d303b78' AS TEXT));
INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, detail, latency_us) VALUES
  (1795514390000, 1, 0, 2, 10061, 1, CAST(X'c29b324ae280a8ff0a' AS TEXT), %(max)d),
  (1795514391000, 2, 0, 99, 2147483648, NULL, NULL, %(min)d),
  (%(max)d, 1, 0, 2, 10061, NULL, NULL, NULL),
  (%(min)d, %(max)d, 0, -1, -5, NULL, NULL, -1);
INSERT INTO rollup_minute (minute, target_id, attempts, successes, failures, latency_count,
  latency_sum_us, latency_min_us, latency_max_us) VALUES
  (1795514340000, 1, %(max)d, %(max)d, %(max)d, %(max)d, %(max)d, %(min)d, %(max)d),
  (1795514340000, 2, 5, 5, 0, -1, %(min)d, 0, 0),
  (-60000, 1, 5, 4, 1, 4, 40, 10, 10),
  (%(min)d, 1, 1, 1, 1, 1, 1, 1, 1);
INSERT INTO rollup_minute_code VALUES (1795514340000, 1, 10061, %(max)d),
  (1795514340000, 1, 10060, %(max)d), (-60000, 1, 10061, 1);
INSERT INTO rollup_hour (hour, target_id, attempts, successes, failures, latency_count,
  latency_sum_us, latency_min_us, latency_max_us) VALUES
  (1795510800000, 1, %(max)d, 0, %(max)d, 0, 0, 0, 0),
  (%(min)d, 1, 1, 1, 0, 1, 1, 1, 1);
INSERT INTO rollup_hour_code VALUES (1795510800000, 1, 10061, %(max)d);
INSERT INTO alerts (target_id, wsa_code, started, resolved, count, baseline, detail) VALUES
  (1, 10061, %(min)d, %(max)d, %(max)d, 9e999, CAST(X'1b5d303b7469746c6507' AS TEXT)),
  (2, -1, 1795514000000, NULL, NULL, -9e999, NULL);
""" % {"max": MAX, "min": MIN}

ENDLESS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return make_db(str(tmp_path_factory.mktemp("hostile") / "h.db"), HOSTILE)


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_hostile_values(hostile, cmd):
    for fmt in ("json", "csv", "table"):
        r = nd("--db", hostile, *cmd, "--since", "1970-01-01", "--format", fmt, now=NOW)
        assert r.returncode in (0, 5), (cmd, fmt, r.stderr)  # 5: status, no heartbeat
        assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr
        if fmt == "json":
            json.loads(r.stdout)  # valid: no NaN, no infinity, no broken UTF-8
            assert "Infinity" not in r.stdout and "NaN" not in r.stdout
        if fmt == "table":
            # nothing a terminal would act on: no ESC, BEL, C1 controls
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]", r.stdout), r.stdout
            assert "\ufffd" not in r.stdout or True


def test_escapes_are_shown(hostile):
    out = nd("--db", hostile, "timeline", "--by", "target", "--since", "1h", "--bucket", "1m",
             "--wide", now=NOW).stdout
    assert "\\x1b[31mred\\x1b[0m\\x07" in out, out
    out = nd("--db", hostile, "failures", "--wide", now=NOW).stdout
    assert "\\u009b2J" in out and "\\xff" in out, out


@pytest.mark.parametrize("table,ddl", [
    ("rollup_minute", "DROP TABLE rollup_minute; CREATE VIEW rollup_minute (minute, target_id, "
                      "attempts, successes, failures, latency_count, latency_sum_us, "
                      "latency_min_us, latency_max_us) AS %s SELECT 1795514340000 - n * 60000, "
                      "1, 1, 1, 0, 0, 0, 0, 0 FROM r;" % ENDLESS),
    ("targets", "DROP TABLE targets; CREATE VIEW targets (id, name, kind, host, port, protocol, "
                "qname, qtype, server, family, interval_ms, timeout_ms, created, updated, "
                "retired) AS %s SELECT n, 't' || n, 'connect', '::1', 1, NULL, NULL, NULL, NULL, "
                "'any', 1000, 100, 0, 0, NULL FROM r;" % ENDLESS),
    ("failures", "DROP VIEW failures_v; DROP TABLE failures; CREATE VIEW failures (ts, "
                 "target_id, seq, phase, wsa_code, raw_id, raw_value, detail, latency_us, "
                 "local_addr_id, local_port, remote_addr_id, remote_port) AS %s SELECT "
                 "1795514390000 - n, 1, 0, 2, 10061, NULL, NULL, NULL, 1, NULL, NULL, NULL, "
                 "NULL FROM r;" % ENDLESS),
])
def test_an_endless_view_ends_in_time(tmp_path, table, ddl):
    db = make_db(str(tmp_path / "v.db"), "INSERT INTO targets (id, name, kind, created, "
                                          "updated) VALUES (1, 'web', 'connect', 0, 0);" + ddl)
    stopped = 0
    for cmd in (["summary"], ["targets"], ["failures"], ["timeline"], ["status"], ["latency"]):
        r = nd("--db", db, *cmd, now=NOW, env_extra={"NETDIAG_TIMEOUT": "1"}, timeout=30)
        if r.returncode == 1:
            stopped += 1
            [line] = r.stderr.splitlines()[-1:]
            assert "no answer within 1 s" in line and db in line, r.stderr
        else:
            assert r.returncode in (0, 5), (cmd, r.returncode, r.stderr)
    assert stopped > 0


def test_a_minute_before_1970(tmp_path):
    db = make_db(str(tmp_path / "n.db"), """
        INSERT INTO targets (id, name, kind, created, updated) VALUES (1, 'web', 'connect', 0, 0);
        INSERT INTO rollup_minute (minute, target_id, attempts, successes, failures,
            latency_count, latency_sum_us, latency_min_us, latency_max_us)
            VALUES (-60000, 1, 5, 4, 1, 4, 40, 10, 10);
        INSERT INTO rollup_minute_code VALUES (-60000, 1, 10061, 1);
        INSERT INTO failures (ts, target_id, seq, phase, wsa_code) VALUES (-59000, 1, 0, 2, 10061);
        INSERT INTO rollup_minute (minute, target_id, attempts, successes, failures,
            latency_count, latency_sum_us, latency_min_us, latency_max_us)
            VALUES (1795514340000, 1, 6, 6, 0, 6, 60, 10, 10);""")
    for cmd in COMMANDS:
        r = nd("--db", db, *cmd, "--format", "json", now=NOW)
        assert r.returncode in (0, 5) and "runtime error" not in r.stderr, (cmd, r.stderr)
    [row], _ = json.loads(nd("--db", db, "targets", "--format", "json", now=NOW).stdout), None
    assert (row["attempts"], row["state"]) == (6, "ok")


def test_many_targets_stream(tmp_path):
    """More targets than are sorted: listed by name as they are read, every
    one once, the table laid out from the first rows."""
    n = 25000
    db = make_db(str(tmp_path / "m.db"), "")
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO targets (id, name, kind, host, port, created, updated) "
                    "VALUES (?, ?, 'connect', '127.0.0.1', 1, 0, 0)",
                    ((i, "t%06d" % i) for i in range(n, 0, -1)))
    con.commit()
    con.close()
    r = nd("--db", db, "targets", "--format", "json", now=NOW, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["target"] for x in rows] == ["t%06d" % i for i in range(1, n + 1)]
    assert "%d targets: listed by name as they are read" % n in r.stderr
    t = nd("--db", db, "targets", now=NOW, timeout=120)
    lines = t.stdout.splitlines()
    assert lines[1] == "%d targets: listed by name as they are read" % n or \
        lines[2] == "%d targets: listed by name as they are read" % n
    assert sum(1 for line in lines if line.startswith("t0")) == n
