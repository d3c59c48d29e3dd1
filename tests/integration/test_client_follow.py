"""netdiag failures --follow against the real netdiagd: across a restart,
a retention delete and a row committed after rows with later keys, the
rows printed are the rows stored, each once; every format streams (JSON:
one object a line)."""

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import time

from clientlib import Daemon, Heartbeat, iso, now_ms, target_sections, wait_for
from conftest import NETDIAG, Server, closed_port


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
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT f.ts, t.name, f.seq FROM failures AS f JOIN targets AS t "
                           "ON t.id = f.target_id").fetchall()
    finally:
        con.close()


def key(r):
    """A printed row's key: (ts, target, seq); seq is 0 unless a target
    failed twice in a millisecond, which a 100 ms interval never does."""
    return (r["ts_ms"], r["target"], 0)


def test_follow_across_a_restart_and_a_retention_delete(tmp_path):
    silent = Server("full")
    db = str(tmp_path / "nd.db")
    body = target_sections([("refused", closed_port())]) + \
        "[target silent]\nkind = connect\nhost = 127.0.0.1\nport = %d\ninterval = 3s\n" \
        "timeout = 2500ms\n\n" % silent.port
    fol = None
    try:
        # a first run, its rows then made ten minutes old
        dm = Daemon(tmp_path, db, body)
        time.sleep(1.5)
        dm.stop()
        con = sqlite3.connect(db)
        with con:
            con.execute("UPDATE failures SET ts = ts - 600000")
        con.close()
        old = stored(db)
        assert len(old) > 5
        since = iso(min(r[0] for r in old) - 60000)
        fol = Follower(db, "--follow", "--since", since, "--format", "json")
        wait_for(lambda: len(fol.rows()) == len(old), what="the old rows")
        # a second run with a retention of one minute: it deletes the old
        # rows at start, while the follower watches
        dm = Daemon(tmp_path, db, body, extra="retention = 1m\n")
        wait_for(lambda: not any(r in old for r in stored(db)), what="the retention delete")
        time.sleep(5.5)  # the silent target's rows come 2.5 s after their stamp
        dm.stop()
        # a row stored after rows with later keys (a batch a few seconds
        # late): printed once, though the follower is past its key
        printed = fol.rows()
        late_ts = max(r["ts_ms"] for r in printed) - 5000
        con = sqlite3.connect(db)
        with con:
            con.execute("INSERT INTO failures (ts, target_id, seq, phase, wsa_code) SELECT ?, id, "
                        "7, 2, 10061 FROM targets WHERE name = 'refused'", (late_ts,))
        con.close()
        # and a restart
        dm = Daemon(tmp_path, db, body, extra="retention = 1m\n")
        time.sleep(2.0)
        dm.stop()
        now = stored(db)
        want = {(ts, name, seq) for ts, name, seq in now} | set(old)
        wait_for(lambda: len(fol.rows()) >= len(want), what="every row printed")
        time.sleep(1.0)  # nothing more comes
        rc, err = fol.stop()
        assert rc == 0, err
    finally:
        if fol:
            fol.kill()
        silent.close()
    rows = fol.rows()
    keys = [(r["ts_ms"], r["target"], 7 if r["ts_ms"] == late_ts and r["raw"] is None else 0)
            for r in rows]
    assert len(keys) == len(set(keys)), "a row printed twice"
    assert set(keys) == want
    assert not set(old) & {(ts, n, s) for ts, n, s in now}  # retention deleted them
    assert sum(1 for r in rows if r["target"] == "silent") >= 1
    assert keys.index((late_ts, "refused", 7)) > 0


def test_follow_formats(tmp_path):
    db = str(tmp_path / "nd.db")
    dm = Daemon(tmp_path, db, target_sections([("refused", closed_port()),
                                               ("other", closed_port())]))
    hb = Heartbeat(dm)  # running: no line about its state before the rows
    fols = []
    try:
        wait_for(lambda: os.path.exists(db) and len(stored(db)) > 20, what="rows")
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
        hb.halt()
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
