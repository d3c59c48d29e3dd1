# SPDX-License-Identifier: ISC
"""netdiag failures --follow against the real netdiagd: the rows printed are
the rows stored, each once, across the daemon's batches (rows stored after
rows with later stamps: a probe waiting for its timeout, a writer held up
by a locked database for longer than any window of remembered keys), its
restarts and a retention delete, and across the migration of a database
followed while an older netdiagd wrote it; every format streams (JSON: one
object a line)."""

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import time

from clientlib import HOUR, Daemon, iso, now_ms, target_sections, wait_for
from conftest import NETDIAG, REPO, Server, closed_port


class Follower:
    def __init__(self, db, *args, columns=80):
        self.out = db + ".follow.%d" % time.monotonic_ns()
        self.err = self.out + ".err"
        env = {k: v for k, v in os.environ.items() if k not in ("NETDIAG_NOW", "NO_COLOR")}
        env.update(TZ="UTC0", COLUMNS=str(columns))
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen([NETDIAG, "--db", db, "failures", *args], stdout=out,
                                         stderr=err, env=env)

    def text(self):
        with open(self.out, encoding="utf-8") as f:
            return f.read()

    def rows(self):
        """The JSON objects printed so far (whole lines only)."""
        text = self.text()
        return [json.loads(line) for line in text.split("\n")[:-1] if line]

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=15)
        with open(self.err) as f:
            return rc, f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def stored(db):
    """(ts, target, seq) of every failure row stored."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT f.ts, t.name, f.seq FROM failures AS f JOIN targets AS t "
                           "ON t.id = f.target_id").fetchall()
    finally:
        con.close()


def keys(rows):
    """Printed rows' keys, as stored() gives them: seq is 0 unless a target
    failed twice in one millisecond, which these intervals never do."""
    return [(r["ts_ms"], r["target"], 0) for r in rows]


def assert_each_once(printed, want):
    assert len(printed) == len(set(printed)), "a row printed twice"
    assert all(k[2] == 0 for k in want)
    missing = set(want) - set(printed)
    assert not missing, "%d rows never printed, e.g. %s" % (len(missing), sorted(missing)[:3])
    assert set(printed) == set(want)


def shift_history(db, ms):
    """Everything one run stored, made `ms` older (whole hours keep the
    rollups' minutes and hours on their boundaries)."""
    assert ms % HOUR == 0
    con = sqlite3.connect(db)
    have = {r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    with con:
        for table, cols in (("failures", ("ts",)), ("rollup_minute", ("minute",)),
                            ("rollup_minute_code", ("minute",)), ("rollup_hour", ("hour",)),
                            ("rollup_hour_code", ("hour",)), ("commits", ("ts_min", "ts_max")),
                            ("runs", ("started", "heartbeat", "stopped"))):
            if table not in have:
                continue
            con.execute("UPDATE %s SET %s" % (table, ", ".join("%s = %s - %d" % (c, c, ms)
                                                                for c in cols)))
    con.close()


def late_rows(printed):
    """Rows printed after a row with a later key: stored after it."""
    top, late = None, []
    for k in printed:
        if top is not None and k < top:
            late.append(k)
        top = k if top is None or k > top else top
    return late


SILENT = "[target silent]\nkind = connect\nhost = 127.0.0.1\nport = %d\ninterval = %s\n" \
         "timeout = %s\n\n"


def test_follow_across_restarts_and_a_retention_delete(tmp_path):
    silent = Server("full")
    db = str(tmp_path / "nd.db")
    body = target_sections([("refused", closed_port())]) + SILENT % (silent.port, "3s", "2500ms")
    fol = None
    try:
        # a first run, its history then made three hours old
        dm = Daemon(tmp_path, db, body)
        wait_for(lambda: len(stored(db)) > 5, what="rows")
        dm.stop()
        shift_history(db, 3 * HOUR)
        old = stored(db)
        since = iso(min(r[0] for r in old) - 60000)
        fol = Follower(db, "--follow", "--since", since, "--format", "json")
        wait_for(lambda: len(fol.rows()) == len(old), what="the old rows")
        # a second run with a retention of one minute: at start it deletes
        # the old hours, while the follower watches; the silent target's
        # rows are stored 2.5 s after their stamp, after refused rows with
        # later stamps
        dm = Daemon(tmp_path, db, body, extra="retention = 1m\n")
        wait_for(lambda: not any(r in old for r in stored(db)), what="the retention delete")
        wait_for(lambda: sum(1 for r in stored(db) if r[1] == "silent") >= 2, timeout=30,
                 what="two silent rows")
        dm.stop()
        # and a restart
        n = len(stored(db))
        dm = Daemon(tmp_path, db, body, extra="retention = 1m\n")
        wait_for(lambda: len(stored(db)) > n + 5, what="rows of the third run")
        dm.stop()
        want = set(stored(db)) | set(old)
        wait_for(lambda: len(fol.rows()) >= len(want), what="every row printed")
        time.sleep(1.0)  # a row printed twice would come in the same look
        rc, err = fol.stop()
        assert rc == 0, err
    finally:
        if fol:
            fol.kill()
        silent.close()
    printed = keys(fol.rows())
    assert_each_once(printed, want)
    assert not set(old) & set(stored(db))  # retention deleted them
    assert any(k[1] == "silent" for k in late_rows(printed)), "no row stored late"


def test_follow_a_writer_held_up_longer_than_a_minute(tmp_path):
    """The database's write lock held by someone else for 70 s while a
    probe is in flight: netdiagd keeps its results queued and stores them
    when the lock goes, the silent target's among them with a stamp older
    than rows stored before the lock. Following by a window of remembered
    keys (60 s) missed it; by commit it is printed, once."""
    silent = Server("full")
    db = str(tmp_path / "nd.db")
    body = target_sections([("refused", closed_port())]) + SILENT % (silent.port, "6s", "5s")
    fol = dm = lock = None
    try:
        dm = Daemon(tmp_path, db, body)
        fol = Follower(db, "-f", "--since", iso(now_ms() - 60000), "--format", "json")
        for attempt in range(3):
            # wait until a silent attempt started 2.5 to 4 s ago (its result
            # comes at 5 s): refused rows stored since are newer
            last = wait_for(lambda: max((r[0] for r in stored(db) if r[1] == "silent"),
                                        default=None), timeout=30, what="a silent row")
            start = last + 6000
            while now_ms() < start + 2500:
                time.sleep(0.05)
            if now_ms() > start + 4000:
                continue
            lock = sqlite3.connect(db, timeout=10, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            before = set(stored(db))
            newest = max(r[0] for r in before)
            if newest > start and now_ms() < start + 4500:
                break
            lock.execute("ROLLBACK")
            lock.close()
            lock = None
        assert lock is not None, "no moment with a silent probe in flight"
        time.sleep(70)  # longer than any window of remembered keys (60 s)
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        # the in-flight result, stored after the lock, older than rows
        # stored before it
        late = wait_for(lambda: [r for r in stored(db) if r not in before and r[0] < newest],
                        timeout=30, what="the held result")
        assert any(r[1] == "silent" for r in late), late
        wait_for(lambda: len(stored(db)) > len(before) + 20, what="rows after the lock")
        dm.stop()
        dm = None
        want = set(stored(db))
        wait_for(lambda: len(fol.rows()) >= len(want), timeout=30, what="every row printed")
        time.sleep(1.0)  # a row printed twice would come in the same look
        rc, err = fol.stop()
        assert rc == 0, err
    finally:
        if lock is not None:
            lock.close()
        if dm:
            dm.kill()
        if fol:
            fol.kill()
        silent.close()
    assert_each_once(keys(fol.rows()), want)


def make_v3(db, target, port, ts):
    """A database of schema version 3 as an older netdiagd wrote it
    (tests/unit/schema_v3.sql), with the target and failure rows at ts."""
    with open(os.path.join(REPO, "tests", "unit", "schema_v3.sql"), encoding="utf-8") as f:
        schema = f.read()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript("BEGIN;" + schema + "COMMIT;")
    with con:
        con.execute("PRAGMA application_id = 1313097031")
        con.execute("PRAGMA user_version = 3")
        con.execute("INSERT INTO targets (id, name, kind, host, port, family, interval_ms, "
                    "timeout_ms, created, updated) VALUES (1, ?, 'connect', '127.0.0.1', ?, "
                    "'any', 100, 50, ?, ?)", (target, port, ts[0], ts[0]))
    con.close()
    add_v3_rows(db, ts)


def add_v3_rows(db, ts):
    con = sqlite3.connect(db)
    with con:
        con.executemany("INSERT INTO failures (ts, target_id, seq, phase, wsa_code, latency_us) "
                        "VALUES (?, 1, 0, 2, 10061, 80)", [(t,) for t in ts])
    con.close()


def test_follow_a_database_migrated_while_followed(tmp_path):
    """Schema 3 has no commits: its rows are followed by key; netdiagd then
    migrates the file to schema 4 under the follower, which goes on by
    commit from the same snapshot: every row once."""
    db = str(tmp_path / "nd.db")
    port = closed_port()
    t0 = now_ms() - 20000
    make_v3(db, "refused", port, [t0, t0 + 100, t0 + 200])
    fol = Follower(db, "-f", "--since", "1h", "--format", "json")
    dm = None
    try:
        wait_for(lambda: len(fol.rows()) == 3, what="the first rows")
        add_v3_rows(db, [t0 + 300, t0 + 400])
        wait_for(lambda: len(fol.rows()) == 5, what="rows followed by key")
        dm = Daemon(tmp_path, db, target_sections([("refused", port)]))
        wait_for(lambda: len(stored(db)) > 25, what="rows of netdiagd")
        dm.stop()
        dm = None
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        assert con.execute("PRAGMA user_version").fetchone()[0] == 7
        assert con.execute("SELECT count(*) FROM failures WHERE batch IS NULL").fetchone()[0] == 5
        con.close()
        want = set(stored(db))
        wait_for(lambda: len(fol.rows()) >= len(want), what="every row printed")
        time.sleep(1.0)  # a row printed twice would come in the same look
        rc, err = fol.stop()
        assert rc == 0, err
    finally:
        if dm:
            dm.kill()
        fol.kill()
    assert_each_once(keys(fol.rows()), want)


def test_follow_formats(tmp_path):
    db = str(tmp_path / "nd.db")
    dm = Daemon(tmp_path, db, target_sections([("refused", closed_port()),
                                               ("other", closed_port())]))
    fols = []
    try:
        wait_for(lambda: os.path.exists(db) and len(stored(db)) > 20, what="rows")
        # running (its own heartbeat): no line about its state before the rows
        fols = [Follower(db, "-f", "--format", "json"), Follower(db, "-f", "--format", "csv"),
                Follower(db, "-f", columns=80), Follower(db, "-f", "--limit", "0",
                                                         "--target", "other", "--format", "json")]
        start = now_ms()
        wait_for(lambda: all(f.text().count("\n") > 25 for f in fols) and
                 any(o["ts_ms"] > start + 500 for o in fols[0].rows()), what="rows followed")
        results = [f.stop() for f in fols]
    finally:
        for f in fols:
            f.kill()
        dm.kill()
    assert all(rc == 0 for rc, _ in results), results
    assert all(err == "" for _, err in results), results
    js, cs, table, other = [f.text() for f in fols]
    lines = js.splitlines()
    objs = [json.loads(line) for line in lines]  # one object a line, no array
    assert len(objs) > 25 and all(isinstance(o, dict) for o in objs)
    # the newest 10 first, then new ones; in order of key except late rows
    assert len({(o["ts_ms"], o["target"]) for o in objs}) == len(objs)
    assert any(o["ts_ms"] >= start for o in objs)
    recs = list(csv.reader(io.StringIO(cs)))
    assert recs[0][:3] == ["ts_ms", "time", "target"]
    assert sum(1 for r in recs if r[0] == "ts_ms") == 1 and len(recs) > 26
    tl = table.splitlines()
    assert tl[0].startswith("TIME ") and sum(1 for line in tl if line.startswith("TIME ")) == 1
    assert max(len(line) for line in tl) <= 80, table
    assert all(o["target"] == "other" for o in map(json.loads, other.splitlines()))
    all_other = [r for r in stored(db) if r[1] == "other"]
    assert len(other.splitlines()) <= len(all_other)


def test_follow_usage(tmp_path):
    r = subprocess.run([NETDIAG, "--db", str(tmp_path / "x.db"), "failures", "-f", "--until",
                        "1h"], capture_output=True, text=True)
    assert r.returncode == 2 and "--follow and --until" in r.stderr
