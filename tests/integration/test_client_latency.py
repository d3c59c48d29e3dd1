# SPDX-License-Identifier: ISC
"""netdiag latency end to end: the real netdiagd probes UDP responders on
loopback that answer each request after a delay of their own (so targets
have latencies apart by orders of magnitude, and one a spread of them);
what `netdiag latency` prints from the rollups is checked against the raw
latency of every attempt of the same run, as netdiagd logged it at debug
level: each percentile in the bucket of the raw one (within 1/16) and
never below it, the maximum exact; the merge of the minute rows and of
the hour rows agree; the attempts are those summary and targets count.
Then histories built with tests/integration/histlib.py: loss of ping
echoes, rows older than the histograms, histograms someone else wrote,
minutes pruned, a database of schema 4, and the chart."""

import heapq
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

import histlib
from clientlib import HOUR, MINUTE, iso, nd, nd_json, now_ms, wait_for
from conftest import NETDIAGD, REPO, DelayedEcho, closed_port

SCHEMA = os.path.join(REPO, "sql", "schema.sql")
SCHEMA_V4 = os.path.join(REPO, "tests", "unit", "schema_v4.sql")
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "client")
PERMILLES = {"p50_us": 500, "p90_us": 900, "p99_us": 990}


# A target's samples as netdiagd logs them at debug level: its first
# result as a state change, every later one with the same state.
OK_LINE = re.compile(r"target (\S+): (?:ok in (\d+) us|\S+ -> ok \(\S+ \S+, (\d+) us\))")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """netdiagd on four send targets and a refused one for 6 s (less than
    its 10 s hold-off of state-change lines, so that every successful
    attempt is in its log); the database, the raw latencies by target,
    and the time span of the run."""
    d = tmp_path_factory.mktemp("latency")
    db = str(d / "nd.db")
    peers = {"near": DelayedEcho([0]), "lan": DelayedEcho([0.002]), "far": DelayedEcho([0.015]),
             "jitter": DelayedEcho([0.001, 0.002, 0.003, 0.005, 0.008, 0.013, 0.021, 0.034])}
    body = ["[daemon]", "database = %s" % db, "log_level = debug", "", "[defaults]",
            "interval = 100ms", "timeout = 90ms", ""]
    for name, p in peers.items():
        body += ["[target %s]" % name, "kind = send", "protocol = udp", "host = 127.0.0.1",
                 "port = %d" % p.port, "payload = ping", "expect = ping", ""]
    body += ["[target refused]", "kind = connect", "host = 127.0.0.1",
             "port = %d" % closed_port(), ""]
    cfg = str(d / "netdiag.ini")
    with open(cfg, "w") as f:
        f.write("\n".join(body))
    errpath = str(d / "netdiagd.stderr")
    t0 = now_ms()
    with open(errpath, "w") as err:
        proc = subprocess.Popen([NETDIAGD, "-c", cfg], stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: "started:" in open(errpath).read() or proc.poll() is not None,
                 what="netdiagd to start")
        time.sleep(6)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, open(errpath).read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in peers.values():
            p.close()
    t1 = now_ms()
    raw = {}
    for m in OK_LINE.finditer(open(errpath).read()):
        raw.setdefault(m.group(1), []).append(int(m.group(2) or m.group(3)))
    return {"db": db, "raw": raw, "span": (t0, t1), "log": errpath}


def rows_of(db, table, target):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT r.lat_hist, r.latency_count, r.latency_max_us, r.attempts FROM "
                           "%s AS r JOIN targets AS t ON t.id = r.target_id WHERE t.name = ?"
                           % table, (target,)).fetchall()
    finally:
        con.close()


def merged(rows):
    return histlib.merge(*[histlib.decode(r[0]) for r in rows if r[0] is not None])


def whole_range(run):
    t0, t1 = run["span"]
    return ["--since", iso(t0 - MINUTE), "--until", iso(t1 + MINUTE)]


def test_percentiles_match_the_raw_latencies(run):
    db, raw = run["db"], run["raw"]
    rows, _ = nd_json(db, "latency", *whole_range(run))
    by = {r["target"]: r for r in rows}
    assert set(by) == {"near", "lan", "far", "jitter", "refused"}, rows
    for name in ("near", "lan", "far", "jitter"):
        r, samples = by[name], raw[name]
        # the log has every successful attempt the rollups counted
        assert r["successes"] == r["samples"] == len(samples) > 30, (name, r, len(samples))
        for col, pm in PERMILLES.items():
            want = histlib.raw_quantile(samples, pm)
            assert histlib.bucket(r[col]) == histlib.bucket(want), (name, col, r[col], want)
            assert r[col] >= want, (name, col, r[col], want)
        assert r["max_us"] == max(samples), (name, r["max_us"], max(samples))
        assert r["loss"] is None and r["echo_sent"] is None  # not a ping target
    # the delays show: each target slower than the one before
    assert by["near"]["p50_us"] < by["lan"]["p50_us"] < by["far"]["p50_us"]
    assert by["lan"]["p50_us"] >= 2000 and by["far"]["p50_us"] >= 15000
    assert by["jitter"]["p90_us"] >= 13000 > by["jitter"]["p50_us"] >= 2000
    refused = by["refused"]
    assert refused["attempts"] > 30 and refused["successes"] == 0
    assert refused["p50_us"] is None and refused["max_us"] is None


def test_minute_and_hour_merges_agree(run):
    db = run["db"]
    rows, _ = nd_json(db, "latency", *whole_range(run))
    for r in rows:
        minutes, hours = rows_of(db, "rollup_minute", r["target"]), rows_of(db, "rollup_hour",
                                                                            r["target"])
        m, h = merged(minutes), merged(hours)
        # the daemon's merge: the hours hold exactly the minutes' samples
        assert m == h, r["target"]
        assert sum(m.values()) == sum(x[1] for x in minutes) == r["samples"]
        top = max((x[2] for x in minutes if x[2] is not None), default=None)
        # the client's merge: what it prints is the quantile of the union
        for col, pm in PERMILLES.items():
            assert r[col] == histlib.quantile(m, pm, top), (r["target"], col)
    # per minute and per hour, each row from its own rollup row
    by_minute, _ = nd_json(db, "latency", "--by", "minute", *whole_range(run))
    by_hour, _ = nd_json(db, "latency", "--by", "hour", *whole_range(run))
    for rows_by, table, span in ((by_minute, "rollup_minute", 60), (by_hour, "rollup_hour", 3600)):
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        stored = {(t, when): (blob, mx, att) for t, when, blob, mx, att in con.execute(
            "SELECT t.name, r.%s, r.lat_hist, r.latency_max_us, r.attempts FROM %s AS r JOIN "
            "targets AS t ON t.id = r.target_id" % (table.split("_")[1], table))}
        con.close()
        assert len(rows_by) == len(stored), (table, rows_by, stored)
        for r in rows_by:
            blob, mx, att = stored[(r["target"], r["start_ms"])]
            assert r["span_s"] == span and r["attempts"] == att
            counts = histlib.decode(blob) if blob else {}
            for col, pm in PERMILLES.items():
                assert r[col] == histlib.quantile(counts, pm, mx), (table, r, col)


def test_attempts_are_those_of_summary_and_targets(run):
    db = run["db"]
    t0, _ = run["span"]
    # the whole run, and a range that cuts it inside a minute
    for rng in (whole_range(run), ["--since", iso(t0 + 2500), "--until", iso(t0 + 4700)]):
        lat, _ = nd_json(db, "latency", *rng)
        targets, _ = nd_json(db, "targets", *rng)
        summary, _ = nd_json(db, "summary", "--by", "target", *rng)
        attempts = {r["target"]: r["attempts"] for r in lat}
        assert attempts == {r["target"]: r["attempts"] for r in targets if r["attempts"]}
        assert {r["target"]: r["attempts"] for r in summary} == {"refused": attempts["refused"]}
        chart, _ = nd_json(db, "latency", "--chart", "--bucket", "1m", *rng)
        per = {}
        for r in chart:
            per[r["target"]] = per.get(r["target"], 0) + r["attempts"]
        assert per == attempts


def test_chart_of_the_run(run):
    db = run["db"]
    r = nd("--db", db, "latency", "--chart", "--color", "never", *whole_range(run), columns=100)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    if lines[0].startswith("netdiagd stopped at"):  # the daemon's state, first
        lines = lines[1:]
    assert lines[0].startswith("latency of successful attempts"), r.stdout
    # three lines per target (no ping target: no loss line), names first
    head = next(i for i, ln in enumerate(lines) if ln.startswith("TARGET"))
    chart = lines[head + 1:]
    names = [ln.split()[0] for ln in chart if ln[:1].strip()]
    assert names == ["far", "jitter", "lan", "near", "refused"], r.stdout
    assert len(chart) == 3 * len(names), r.stdout
    refused = lines[lines.index(next(ln for ln in lines if ln.startswith("refused"))) + 1]
    assert "\u00d7" in refused  # attempts, no success
    assert re.search("[\u23ba\u23bb\u2500\u23bc\u23bd]", r.stdout)
    assert all(len(ln) <= 100 for ln in lines), r.stdout


# --- histories built by hand -------------------------------------------------

T0 = 1795510800000  # 2026-11-24T09:00:00Z, an hour boundary
NOW = "2026-11-24T10:00:30Z"


def make_db(path, version=5, schema=SCHEMA):
    con = sqlite3.connect(path)
    with open(schema, encoding="utf-8") as f:
        con.executescript(f.read())
    con.execute("PRAGMA application_id = 1313097031")
    con.execute("PRAGMA user_version = %d" % version)
    con.commit()
    return con


def add_target(con, tid, name, kind):
    con.execute("INSERT INTO targets (id, name, kind, host, port, created, updated) "
                "VALUES (?, ?, ?, '127.0.0.1', 80, 0, 0)", (tid, name, kind))


def add_minute(con, tid, minute, values, failures=0, sent=0, lost=0, hist=True, blob=None):
    """A minute row (and its hour row, as the daemon adds them) of these
    successful latencies and failures."""
    n = len(values)
    h = blob if blob is not None else (histlib.encode_values(values) if hist and n else None)
    row = (minute, tid, n + failures, n, failures, n, sum(values), min(values, default=None),
           max(values, default=None))
    con.execute("INSERT INTO rollup_minute (minute, target_id, attempts, successes, failures, "
                "latency_count, latency_sum_us, latency_min_us, latency_max_us, lat_hist, "
                "echo_sent, echo_lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row + (h, sent, lost))
    hour = minute - minute % HOUR
    old = con.execute("SELECT attempts, successes, failures, latency_count, latency_sum_us, "
                      "latency_min_us, latency_max_us, lat_hist, echo_sent, echo_lost FROM "
                      "rollup_hour WHERE hour = ? AND target_id = ?", (hour, tid)).fetchone()
    if old is None:
        con.execute("INSERT INTO rollup_hour (hour, target_id, attempts, successes, failures, "
                    "latency_count, latency_sum_us, latency_min_us, latency_max_us, lat_hist, "
                    "echo_sent, echo_lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (hour,) + row[1:] + (h, sent, lost))
        return
    hh = old[7]
    if h is not None:
        try:
            hh = histlib.encode(histlib.merge(histlib.decode(old[7]) if old[7] else {},
                                              histlib.decode(h)))
        except ValueError:
            hh = h
    mins = [x for x in (old[5], row[7]) if x is not None]
    maxs = [x for x in (old[6], row[8]) if x is not None]
    con.execute("UPDATE rollup_hour SET attempts = ?, successes = ?, failures = ?, "
                "latency_count = ?, latency_sum_us = ?, latency_min_us = ?, latency_max_us = ?, "
                "lat_hist = ?, echo_sent = ?, echo_lost = ? WHERE hour = ? AND target_id = ?",
                (old[0] + row[2], old[1] + row[3], old[2] + row[4], old[3] + row[5],
                 old[4] + row[6], min(mins, default=None), max(maxs, default=None), hh,
                 old[8] + sent, old[9] + lost, hour, tid))


def ping_history(path):
    """Two targets over 09:00-10:00: web (connect, steady ~200 µs with a
    slow spell) and gw (ping, ~11 ms, 25 % of its echoes lost from 09:40)."""
    con = make_db(path)
    add_target(con, 1, "web", "connect")
    add_target(con, 2, "gw", "ping")
    for k in range(60):
        m = T0 + k * MINUTE
        slow = 20 <= k < 30
        add_minute(con, 1, m, [(2000 if slow else 200) + 7 * i for i in range(6)],
                   failures=1 if k == 25 else 0)
        add_minute(con, 2, m, [11000 + 150 * i for i in range(6)], sent=30,
                   lost=8 if k >= 40 else 0)
    con.commit()
    con.close()
    return path


def test_loss_of_ping_targets(tmp_path):
    db = ping_history(str(tmp_path / "p.db"))
    rows, _ = nd_json(db, "latency", "--since", "2026-11-24T09:00Z", "--until",
                      "2026-11-24T10:00Z", now=NOW)
    by = {r["target"]: r for r in rows}
    assert by["gw"]["echo_sent"] == 1800 and by["gw"]["echo_lost"] == 160
    assert by["gw"]["loss"] == pytest.approx(160 / 1800, abs=1e-6)
    assert by["web"]["loss"] is None and by["web"]["echo_sent"] is None
    assert by["web"]["attempts"] == 361 and by["web"]["successes"] == 360
    # the slow spell is a sixth of web's samples: the 90th percentile sees it
    assert by["web"]["p50_us"] < 300 and by["web"]["p90_us"] >= 2000
    table = nd("--db", db, "latency", "--since", "2026-11-24T09:00Z", "--until",
               "2026-11-24T10:00Z", now=NOW).stdout
    assert re.search(r"^gw +ping +360 +360 .* 8\.9%$", table, re.M), table
    assert re.search(r"^web +connect +361 +360 .* -$", table, re.M), table


def test_chart_golden(tmp_path):
    """The chart of a fixed history, as a person sees it (a golden file;
    NETDIAG_GOLDEN_WRITE=1 rewrites it)."""
    db = ping_history(str(tmp_path / "p.db"))
    r = nd("--db", db, "latency", "--chart", "--since", "2026-11-24T09:00Z", "--until",
           "2026-11-24T10:00Z", "--color", "never", now=NOW, columns=100)
    assert r.returncode == 0, r.stderr
    path = os.path.join(GOLDEN, "latency-chart.txt")
    if os.environ.get("NETDIAG_GOLDEN_WRITE"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(r.stdout)
    with open(path, encoding="utf-8") as f:
        assert r.stdout == f.read(), r.stdout
    # the same in colour: gw's median green while no echo is lost, red
    # once a quarter are (as SmokePing colours it), and the loss in red
    r = nd("--db", db, "latency", "--chart", "--since", "2026-11-24T09:00Z", "--until",
           "2026-11-24T10:00Z", "--color", "always", now=NOW, columns=100)
    gw = r.stdout.split("gw", 1)[1].split("web", 1)[0]
    assert gw.count("\x1b[32m\u23ba") == 40 and gw.count("\x1b[31m\u23ba") == 20, gw
    assert gw.count("\x1b[31m\u2583") == 20, gw


def test_chart_records(tmp_path):
    db = ping_history(str(tmp_path / "p.db"))
    rows, _ = nd_json(db, "latency", "--chart", "--bucket", "10m", "--since",
                      "2026-11-24T09:00Z", "--until", "2026-11-24T10:00Z", now=NOW)
    assert len(rows) == 12  # 2 targets, 6 buckets, zeros included
    gw = [r for r in rows if r["target"] == "gw"]
    assert [r["echo_lost"] for r in gw] == [0, 0, 0, 0, 80, 80]
    assert all(r["bucket_s"] == 600 and r["elapsed_s"] == 600 for r in rows)
    web = [r for r in rows if r["target"] == "web"]
    assert web[2]["p50_us"] >= 2000 > web[1]["p90_us"]
    assert all(r["p10_us"] <= r["p50_us"] <= r["p90_us"] <= r["max_us"] for r in rows)


def test_rows_older_than_the_histograms(tmp_path):
    """Minutes stored before schema 5 (lat_hist NULL): their attempts and
    maximum count, their latencies are not in the percentiles, a note says
    how many; a database still at schema 4 reads the same way."""
    db = str(tmp_path / "o.db")
    con = make_db(db)
    add_target(con, 1, "web", "connect")
    for k in range(10):
        add_minute(con, 1, T0 + k * MINUTE, [5000 + k] * 6, hist=k >= 5)
    con.commit()
    con.close()
    rows, err = nd_json(db, "latency", "--since", "2026-11-24T09:00Z", "--until",
                        "2026-11-24T09:10Z", now=NOW)
    [r] = rows
    assert (r["attempts"], r["successes"], r["samples"], r["max_us"]) == (60, 60, 30, 5009)
    assert "30 successful attempts were stored without a latency histogram" in err, err
    assert "percentiles are of the other 30" in err

    v4 = str(tmp_path / "v4.db")
    con = make_db(v4, version=4, schema=SCHEMA_V4)
    add_target(con, 1, "web", "connect")
    con.execute("INSERT INTO rollup_minute VALUES (?, 1, 7, 6, 1, 6, 1200, 150, 250)", (T0,))
    con.commit()
    con.close()
    rows, err = nd_json(v4, "latency", "--since", "2026-11-24T09:00Z", "--until",
                        "2026-11-24T09:10Z", now=NOW)
    assert rows == [{"target": "web", "kind": "connect", "attempts": 7, "successes": 6,
                     "samples": 0, "p50_us": None, "p90_us": None, "p99_us": None,
                     "max_us": 250, "echo_sent": None, "echo_lost": None, "loss": None}], rows
    assert "database schema 4 keeps no latency histograms" in err, err


@pytest.mark.parametrize("blob", [b"", b"\x02\x05\x01", b"\x01\x85", b"\x01\x85\x00\x01",
                                  b"\x01\x90\x05\x01", b"\x01\x05\x00",
                                  b"\x01\x00" + b"\xff" * 9 + b"\x7f", b"\x01" + b"\x00\x01" * 5000,
                                  "text"],
                         ids=["empty", "format", "cut", "overlong", "past-last", "zero", "huge",
                              "too-long", "text"])
def test_histograms_someone_else_wrote(tmp_path, blob):
    """A lat_hist that is not netdiagd's: the row's latencies are left
    out with a note naming the first, its attempts still count, the other
    rows' percentiles are unchanged."""
    db = str(tmp_path / "h.db")
    con = make_db(db)
    add_target(con, 1, "web", "connect")
    add_minute(con, 1, T0, [300] * 6)
    add_minute(con, 1, T0 + MINUTE, [900000] * 6, blob=blob)
    con.commit()
    con.close()
    for fmt in ("json", "table"):
        r = nd("--db", db, "latency", "--since", "2026-11-24T09:00Z", "--until",
               "2026-11-24T09:10Z", "--format", fmt, now=NOW, columns=300)
        assert r.returncode == 0, r.stderr
        out = r.stdout + r.stderr
        assert "1 rollup rows hold a latency histogram netdiagd did not write" in out, out
        assert "web at 11-24 09:01:00" in out, out
    [row] = json.loads(nd("--db", db, "latency", "--since", "2026-11-24T09:00Z", "--until",
                          "2026-11-24T09:10Z", "--format", "json", now=NOW).stdout)
    # its maximum is left out with its latencies
    assert row["attempts"] == 12 and row["samples"] == 6
    assert row["p99_us"] == row["max_us"] == 300
    # the chart and the other forms end well too
    for extra in (["--chart"], ["--by", "minute"], ["--by", "hour"]):
        r = nd("--db", db, "latency", *extra, "--since", "2026-11-24T09:00Z", "--until",
               "2026-11-24T09:10Z", now=NOW, columns=300)
        assert r.returncode == 0 and "netdiagd did not write" in r.stdout + r.stderr, r.stderr


def test_minutes_pruned(tmp_path):
    """Beyond the 7 days of minute rows: --by minute gives the hour rows
    (span_s 3600), the chart takes whole hours, and a narrower --bucket
    is a usage error naming the reason."""
    db = str(tmp_path / "m.db")
    con = make_db(db)
    add_target(con, 1, "web", "connect")
    for k in range(0, 180, 10):
        add_minute(con, 1, T0 + k * MINUTE, [400 + k] * 3)
    con.execute("DELETE FROM rollup_minute WHERE minute < ?", (T0 + 2 * HOUR,))
    con.commit()
    con.close()
    rng = ["--since", "2026-11-24T09:00Z", "--until", "2026-11-24T12:00Z"]
    rows, _ = nd_json(db, "latency", "--by", "minute", *rng, now="2026-11-24T12:00:30Z")
    assert [r["span_s"] for r in rows] == [3600, 3600] + [60] * 6, rows
    assert sum(r["attempts"] for r in rows) == 54
    chart, _ = nd_json(db, "latency", "--chart", *rng, now="2026-11-24T12:00:30Z")
    assert {r["bucket_s"] for r in chart} == {3600} and sum(r["attempts"] for r in chart) == 54
    r = nd("--db", db, "latency", "--chart", "--bucket", "5m", *rng, now="2026-11-24T12:00:30Z")
    assert r.returncode == 2 and "only hourly counts are kept" in r.stderr, r.stderr


def test_usage(tmp_path):
    db = ping_history(str(tmp_path / "p.db"))
    for args, msg in ((["--by", "day"], '--by: "day" is not target, minute or hour'),
                      (["--chart", "--by", "hour"], "takes no --by"),
                      (["--bucket", "5m"], "--bucket: only with --chart"),
                      (["--chart", "--bucket", "90s"], "not a whole number of minutes"),
                      (["--kind", "pnig"], 'unknown kind "pnig"'),
                      (["-t", "wbe"], '--target "wbe": no target of'),
                      (["--chrat"], 'did you mean "--chart"')):
        r = nd("--db", db, "latency", *args, now=NOW)
        assert r.returncode == 2, (args, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
    r = nd("--db", db, "latenzy", now=NOW)
    assert r.returncode == 2 and 'did you mean "latency"' in r.stderr, r.stderr
    rows, _ = nd_json(db, "latency", "--kind", "ping", "--since", "2026-11-24T09:00Z", now=NOW)
    assert [r["target"] for r in rows] == ["gw"]


def test_stale_note(tmp_path):
    db = ping_history(str(tmp_path / "p.db"))
    con = sqlite3.connect(db)
    con.execute("INSERT INTO runs (pid, hostname, version, config, started, heartbeat, stopped) "
                "VALUES (1, 'h', '0.1.0', '/x', ?, ?, ?)", (T0, T0 + HOUR, T0 + HOUR))
    con.commit()
    con.close()
    r = nd("--db", db, "latency", now=NOW)
    assert r.returncode == 0 and r.stdout.startswith("netdiagd stopped at 11-24 10:00:00"), r.stdout


def test_numbers_at_the_ends(tmp_path):
    """Counts and times at the ends of int64 in the rows: every form ends
    with valid output and exit 0, no overflow (the sanitizer build). The
    other commands too: two minutes of one hour whose attempts add up past
    int64 made summary, targets and timeline fail ("integer overflow")."""
    mx, mn = 2 ** 63 - 1, -2 ** 63
    db = str(tmp_path / "x.db")
    con = make_db(db)
    add_target(con, 1, "gw", "ping")
    add_target(con, mx, "max", "connect")
    big = histlib.encode({0: 2 ** 47, 655: 2 ** 47})
    for minute, tid, vals in ((T0, 1, (mx, mx, mx, mx, mx, mn, mx, big, mx, mx)),
                              (T0 + MINUTE, 1, (mx, mx, 0, 5, mn, 0, mn, big, mx, 1)),
                              (T0 + 2 * MINUTE, mx, (1, 1, 0, 1, 1, 1, 1, None, -5, mn)),
                              (T0 + 3 * MINUTE, 1, (5, 5, 0, -1, 0, 0, 0, None, 3, 7))):
        con.execute("INSERT INTO rollup_minute (minute, target_id, attempts, successes, failures, "
                    "latency_count, latency_sum_us, latency_min_us, latency_max_us, lat_hist, "
                    "echo_sent, echo_lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (minute, tid) + vals)
    con.commit()
    con.close()
    rng = ["--since", "2026-11-24T09:00Z", "--until", "2026-11-24T09:10Z"]
    for cmd in (["latency"], ["latency", "--by", "minute"], ["latency", "--by", "hour"],
                ["latency", "--chart"], ["summary"], ["targets"], ["timeline"]):
        for fmt in ("json", "csv", "table"):
            r = nd("--db", db, *cmd, *rng, "--format", fmt, now=NOW)
            assert r.returncode == 0 and "runtime error" not in r.stderr, (cmd, fmt, r.stderr)
            if fmt == "json" and cmd[0] == "latency":
                rows = json.loads(r.stdout)
                assert all(x["loss"] is None or 0 <= x["loss"] <= 1 for x in rows), rows
    r = nd("--db", db, "latency", *rng, "--format", "json", now=NOW)
    assert "cannot be (more lost than sent)" in r.stderr, r.stderr
