# SPDX-License-Identifier: ISC
"""Every count the client prints equals what the stored rows say, in every
command and format, on databases the real netdiagd made: its own exit line
and its own runs row, a range starting before the first stored minute, a
daemon that ran 7 minutes of an hour, a restart gap, the edge where the
minute counts end (7 days) and the one where retention ends (as netdiagd
prunes it, watched while it prunes, and as it pruned before schema 4), a
reload that adds and retires targets, and ranges that only grow. Hour- and
day-old history is the daemon's rows copied into the past by whole minutes
(clientlib.History), so nothing waits for the wall clock."""

import csv
import io
import json
import os
import sqlite3
import time

import pytest

from clientlib import (DAY, HOUR, MINUTE, Daemon, History, iso, nd, nd_json, now_ms,
                       run_daemon_briefly, target_sections)
from conftest import Server, closed_port


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("counts")
    db, counters, dm = run_daemon_briefly(d)
    assert counters["dropped"] == 0
    return {"db": db, "dir": str(d), "counters": counters}


def rows_truth(db, lo=None, hi=None):
    """Per target id: (attempts from rollup_minute, failure rows) in
    [lo, hi) (whole minutes)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    lo = -1 if lo is None else lo
    hi = 2 ** 62 if hi is None else hi
    att = dict(con.execute("SELECT target_id, sum(attempts) FROM rollup_minute WHERE minute >= ? "
                           "AND minute < ? GROUP BY target_id", (lo, hi)).fetchall())
    fai = dict(con.execute("SELECT target_id, count(*) FROM failures WHERE ts >= ? AND ts < ? "
                           "GROUP BY target_id", (lo, hi)).fetchall())
    names = dict(con.execute("SELECT id, name FROM targets").fetchall())
    con.close()
    return {names[t]: (att.get(t, 0), fai.get(t, 0)) for t in set(att) | set(fai)}


def every_command(db, args):
    """The attempts and failures a range gets from every command and format:
    {command: (attempts or None, failures)}, plus per-target figures."""
    out = {}
    code, _ = nd_json(db, "summary", *args)
    out["summary"] = (code[0]["attempts"] if code else None, sum(r["failures"] for r in code))
    by_target, _ = nd_json(db, "summary", "--by", "target", *args)
    out["summary --by target"] = (None, sum(r["failures"] for r in by_target))
    by_phase, _ = nd_json(db, "summary", "--by", "phase", *args)
    out["summary --by phase"] = (by_phase[0]["attempts"] if by_phase else None,
                                 sum(r["failures"] for r in by_phase))
    targets, _ = nd_json(db, "targets", *args)
    out["targets"] = (sum(r["attempts"] for r in targets), sum(r["failures"] for r in targets))
    rows, _ = nd_json(db, "failures", "--limit", "0", *args)
    out["failures"] = (None, len(rows))
    r = nd("--db", db, "summary", "--format", "csv", *args)
    assert r.returncode == 0, r.stderr
    recs = list(csv.DictReader(io.StringIO(r.stdout)))
    out["summary csv"] = (int(recs[0]["attempts"]) if recs else None,
                          sum(int(x["failures"]) for x in recs))
    r = nd("--db", db, "targets", "--format", "csv", *args)
    recs = list(csv.DictReader(io.StringIO(r.stdout)))
    out["targets csv"] = (sum(int(x["attempts"]) for x in recs),
                          sum(int(x["failures"]) for x in recs))
    per_target = {t["target"]: (t["attempts"], t["failures"]) for t in targets
                  if t["attempts"] or t["failures"]}
    for t in by_target:
        assert per_target[t["target"]] == (t["attempts"], t["failures"]), (t, per_target)
        assert t["rate"] == pytest.approx(t["failures"] / t["attempts"], abs=1e-6)
    for t in targets:
        if t["attempts"]:
            assert t["success_rate"] == pytest.approx(1 - t["failures"] / t["attempts"], abs=1e-6)
    for c in code:
        assert c["rate"] == pytest.approx(c["failures"] / c["attempts"], abs=1e-6)
    return out, per_target


def assert_agree(db, args, attempts, failures):
    got, per_target = every_command(db, args)
    for cmd, (a, f) in got.items():
        assert f == failures, (cmd, args, got, attempts, failures)
        if a is not None:
            assert a == attempts, (cmd, args, got, attempts, failures)
    return per_target


def timeline_failures(db, lo, hi):
    rows, _ = nd_json(db, "timeline", "--bucket", "1m", "--since", iso(lo), "--until", iso(hi))
    return sum(r["failures"] for r in rows)


# --- one run of the real daemon -------------------------------------------------

def test_counts_equal_the_daemon_exit_line(run):
    """All of the run, asked from before its first minute: every command
    says the exit line's results and failures."""
    db, c = run["db"], run["counters"]
    assert c["results"] > 60 and 0 < c["failures"] < c["results"], c
    assert c["rows"] == c["failures"]
    for since in ("1h", "2d"):
        per_target = assert_agree(db, ["--since", since], c["results"], c["failures"])
        assert per_target == rows_truth(db)
    assert timeline_failures(db, now_ms() - HOUR - now_ms() % MINUTE, now_ms() + MINUTE) == \
        c["failures"]
    table = nd("--db", db, "summary", "--since", "1h")
    assert table.returncode == 0
    assert table.stdout.splitlines()[1].startswith(
        "%d failures in %d attempts" % (c["failures"], c["results"])) or \
        table.stdout.splitlines()[0].startswith(
            "%d failures in %d attempts" % (c["failures"], c["results"])), table.stdout
    # the toggling target had both
    att, fai = rows_truth(db)["toggle"]
    assert 0 < fai < att


def test_the_daemons_own_run_row_agrees(run):
    """netdiagd's own runs row: its counters are the exit line's, and what
    status shows."""
    con = sqlite3.connect("file:%s?mode=ro" % run["db"], uri=True)
    (res, fai, dropped, stopped), = con.execute("SELECT results, failures, dropped, stopped "
                                                "FROM runs").fetchall()
    con.close()
    c = run["counters"]
    assert (res, fai, dropped) == (c["results"], c["failures"], c["dropped"])
    assert stopped is not None
    r = nd("--db", run["db"], "status", "--format", "json")
    [st] = json.loads(r.stdout)
    assert r.returncode == 5  # stopped: not fresh
    assert (st["state"], st["results"], st["failures"], st["dropped"]) == \
        ("stopped", c["results"], c["failures"], c["dropped"])


# --- shifted history ------------------------------------------------------------

def floor(t, unit):
    return t - t % unit


@pytest.fixture(scope="module")
def history(run, tmp_path_factory):
    """The run copied to: 7 minutes of an hour 2 h ago; 3 minutes, a gap
    of 17, 3 minutes 5 h ago; 7 minutes of an hour 8 days ago; every 30
    minutes from 7 days 3 h to 6 days 21 h ago (over the 7-day edge of
    the minute counts, which are pruned as netdiagd prunes them)."""
    con = sqlite3.connect("file:%s?mode=ro" % run["db"], uri=True)
    first = con.execute("SELECT min(minute) FROM rollup_minute").fetchone()[0]
    last = con.execute("SELECT max(minute) FROM rollup_minute").fetchone()[0]
    con.close()
    assert last - first <= MINUTE, "the run spans at most two minutes"
    now = now_ms()
    hour = floor(now, HOUR)
    marks = {"h1": hour - 2 * HOUR, "h2": hour - 5 * HOUR, "h3": hour - 8 * DAY,
             "edge": now - 7 * DAY}
    starts = [marks["h1"] + k * MINUTE for k in range(7)]
    starts += [marks["h2"] + k * MINUTE for k in (0, 1, 2, 20, 21, 22)]
    starts += [marks["h3"] + k * MINUTE for k in range(7)]
    starts += [floor(marks["edge"], HOUR) + k * HOUR + m * MINUTE
               for k in range(-3, 4) for m in (10, 40)]
    shifts = [s - first for s in starts]
    d = tmp_path_factory.mktemp("history")
    h = History(run["db"], str(d / "h.db"), shifts, span=run["counters"]["span"])
    h.prune(minutes_before=floor(now - 7 * DAY, MINUTE))
    h.span = last - first + MINUTE  # minutes one copy covers
    h.marks = marks
    h.now = now
    # the same history without a runs table (as in a database of schema 2):
    # nothing says when the daemon ran
    h.bare = str(d / "bare.db")
    con = sqlite3.connect(h.db)
    con.execute("VACUUM INTO ?", (h.bare,))
    con.close()
    con = sqlite3.connect(h.bare)
    con.execute("DROP TABLE runs")
    con.close()
    return h


def rng(lo, hi):
    return ["--since", iso(lo), "--until", iso(hi)]


def test_seven_minutes_of_an_hour(history):
    h1 = history.marks["h1"]
    for db in (history.db, history.bare):
        assert_agree(db, rng(h1, h1 + HOUR), *history.truth(h1, h1 + HOUR))
        # the half hour the daemon did not run holds nothing
        assert_agree(db, rng(h1 + 30 * MINUTE, h1 + HOUR), 0, 0)
        assert_agree(db, rng(h1 + 3 * MINUTE, h1 + HOUR), *history.truth(h1 + 3 * MINUTE, h1 + HOUR))
        assert_agree(db, rng(h1, h1 + 4 * MINUTE), *history.truth(h1, h1 + 4 * MINUTE))
        assert history.truth(h1, h1 + 4 * MINUTE)[0] < history.truth(h1, h1 + HOUR)[0]
        assert timeline_failures(db, h1 + 3 * MINUTE, h1 + HOUR) == \
            history.truth(h1 + 3 * MINUTE, h1 + HOUR)[1]


def test_a_restart_gap(history):
    h2 = history.marks["h2"]
    assert_agree(history.db, rng(h2, h2 + HOUR), *history.truth(h2, h2 + HOUR))
    assert_agree(history.db, rng(h2 + 5 * MINUTE, h2 + 19 * MINUTE), 0, 0)
    assert_agree(history.db, rng(h2 + 2 * MINUTE, h2 + 21 * MINUTE),
                 *history.truth(h2 + 2 * MINUTE, h2 + 21 * MINUTE))


def test_an_hour_whose_minutes_are_pruned(history):
    """8 days ago only the hour rows remain. An edge inside that hour takes
    the whole hour (and says so), unless the runs table shows the daemon
    did not run in the part left out."""
    h3 = history.marks["h3"]
    whole = history.truth(h3, h3 + HOUR)
    assert whole[0] > 0
    assert_agree(history.db, rng(h3, h3 + HOUR), *whole)
    # runs known: the daemon ran only the first 7 minutes
    assert_agree(history.db, rng(h3 + 30 * MINUTE, h3 + HOUR), 0, 0)
    assert_agree(history.db, rng(h3 + 3 * MINUTE, h3 + 2 * HOUR), *whole)
    _, note = nd_json(history.db, "summary", *rng(h3 + 3 * MINUTE, h3 + 2 * HOUR))
    assert "widened to whole hours" in note
    _, note = nd_json(history.db, "summary", *rng(h3 + 30 * MINUTE, h3 + HOUR))
    assert "widened" not in note
    # no runs table: nothing says when the daemon ran
    assert_agree(history.bare, rng(h3 + 30 * MINUTE, h3 + HOUR), *whole)
    _, note = nd_json(history.bare, "summary", *rng(h3 + 30 * MINUTE, h3 + HOUR))
    assert "widened to whole hours" in note
    table = nd("--db", history.bare, "summary", *rng(h3 + 30 * MINUTE, h3 + HOUR))
    assert "widened to whole hours" in table.stdout and table.stderr == ""
    assert table.stdout.startswith("daemon state unknown (database schema ")
    # the failure rows are all there: the timeline counts them exactly
    assert timeline_failures(history.bare, h3 + 3 * MINUTE, h3 + HOUR) == \
        history.truth(h3 + 3 * MINUTE, h3 + HOUR)[1]


def test_over_the_edge_of_the_minute_counts(history):
    edge = history.marks["edge"]
    lo, hi = floor(edge, HOUR) - 3 * HOUR, floor(edge, MINUTE) + 3 * HOUR
    assert_agree(history.db, rng(lo, hi), *history.truth(lo, hi))
    # an edge inside a pruned hour the daemon ran in before the edge: with
    # the runs table, nothing of that hour is in the range; without it, the
    # whole hour is
    lo2 = lo + 45 * MINUTE
    assert history.truth(lo, lo2)[0] > 0 and history.truth(lo2, lo + HOUR) == (0, 0)
    assert_agree(history.db, rng(lo2, hi), *history.truth(lo2, hi))
    assert_agree(history.bare, rng(lo2, hi), *history.truth(lo, hi))
    # everything
    assert_agree(history.db, ["--since", "30d"], *history.truth(0, now_ms() + HOUR))


def test_a_range_starting_before_the_first_stored_minute(run, tmp_path):
    """The database's first minute is half past an hour: every start from
    one minute before it back to the hour, and beyond, counts the same
    (the hour's counts are not spread over the half hour before)."""
    con = sqlite3.connect("file:%s?mode=ro" % run["db"], uri=True)
    first = con.execute("SELECT min(minute) FROM rollup_minute").fetchone()[0]
    con.close()
    h = floor(now_ms(), HOUR) - 2 * HOUR
    hist = History(run["db"], str(tmp_path / "f.db"), [h + 30 * MINUTE - first],
                   span=run["counters"]["span"])
    want = hist.truth(0, now_ms() + HOUR)
    end = h + 2 * HOUR
    for k in list(range(1, 31)) + [45, 61, 120]:
        code, _ = nd_json(hist.db, "summary", *rng(h + 30 * MINUTE - k * MINUTE, end))
        assert (code[0]["attempts"], sum(r["failures"] for r in code)) == want, k
    assert_agree(hist.db, rng(h + 29 * MINUTE, end), *want)


def test_widening_a_range_never_lowers_a_count(history):
    end = floor(history.now, MINUTE) + MINUTE
    last = (0, 0)
    starts = [end - k * 7 * MINUTE for k in range(1, 60)]
    starts += [end - 7 * DAY + k * 29 * MINUTE for k in range(12, -20, -1)]
    for db in (history.db, history.bare):
        last = (0, 0)
        for s in sorted(set(starts), reverse=True):
            code, _ = nd_json(db, "summary", "--since", iso(s), "--until", iso(end))
            got = (code[0]["attempts"] if code else 0, sum(r["failures"] for r in code))
            assert got[0] >= last[0] and got[1] >= last[1], (iso(s), got, last)
            last = got


def test_the_retention_edge(run, tmp_path):
    """A database pruned as netdiagd pruned before schema 4, at a cut inside
    an hour: the hour row is gone, the minutes and failures after the cut
    remain (retention under 7 days) and are what is counted; beyond 7 days
    only failures remain after the cut: they are counted, each as an
    attempt, and the output says so."""
    con = sqlite3.connect("file:%s?mode=ro" % run["db"], uri=True)
    first = con.execute("SELECT min(minute) FROM rollup_minute").fetchone()[0]
    con.close()
    now = now_ms()
    h = floor(now, HOUR) - 3 * HOUR
    hist = History(run["db"], str(tmp_path / "r.db"), [h + k * 10 * MINUTE - first
                                                       for k in range(12)])
    cut = h + 25 * MINUTE
    hist.prune(everything_before=cut)
    assert_agree(hist.db, ["--since", "1d"], *hist.truth(cut, now + HOUR))
    old = floor(now, HOUR) - 20 * DAY
    hist = History(run["db"], str(tmp_path / "r2.db"), [old + k * 10 * MINUTE - first
                                                        for k in range(12)])
    hist.prune(minutes_before=now - 7 * DAY, everything_before=old + 25 * MINUTE)
    att, fai = hist.truth(old + 25 * MINUTE, old + HOUR)
    rest = hist.truth(old + HOUR, now)
    assert fai > 0
    got, _ = every_command(hist.db, ["--since", "30d"])
    assert got["failures"][1] == got["summary"][1] == got["targets"][1] == fai + rest[1]
    # the failures of the cut hour stand for their own attempts
    assert got["summary"][0] == got["targets"][0] == fai + rest[0]
    _, note = nd_json(hist.db, "summary", "--since", "30d")
    assert "no attempt counts left" in note


def snapshot_truth(db, lo):
    """What the rows of a snapshot say from lo (a whole minute) on:
    (attempts of the rollups, failure rows), by minute where the minute
    counts are, else by hour; and the oldest hour left."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        first_hour = con.execute("SELECT min(hour) FROM rollup_hour").fetchone()[0]
        att = con.execute("SELECT coalesce(sum(attempts), 0) FROM rollup_minute WHERE minute >= ?",
                          (lo,)).fetchone()[0]
        fai = con.execute("SELECT count(*) FROM failures WHERE ts >= ?", (lo,)).fetchone()[0]
        hours = con.execute("SELECT coalesce(sum(attempts), 0) FROM rollup_hour WHERE hour >= ?",
                            (lo,)).fetchone()[0]
        return att, fai, hours, first_hour
    finally:
        con.close()


def test_counts_while_netdiagd_prunes(run, tmp_path):
    """netdiagd deleting eight hours of history beyond a retention of 3 h,
    watched: at every state a reader can see (snapshots taken while it
    prunes, and the end), a range crossing the retention edge counts
    exactly the rows there are, in every command, with no failure left
    without its attempts: it deletes whole hours, each target's hour in
    one transaction with its counts."""
    con = sqlite3.connect("file:%s?mode=ro" % run["db"], uri=True)
    first = con.execute("SELECT min(minute) FROM rollup_minute").fetchone()[0]
    con.close()
    now = now_ms()
    top = floor(now, HOUR)
    # five copies a minute from 10 h to 1 h ago: some 25,000 failure rows
    # an hour, more than one transaction of retention takes
    starts = [top - 10 * HOUR + m * MINUTE for m in range(9 * 60)]
    hist = History(run["db"], str(tmp_path / "p.db"), [s - first for s in starts for _ in range(5)],
                   keep_runs=False)
    before = snapshot_truth(hist.db, 0)
    assert before[1] > 100000
    snaps, seen = [], set()
    src = sqlite3.connect("file:%s?mode=ro" % hist.db, uri=True)
    dm = Daemon(tmp_path, hist.db, target_sections([("refused", closed_port())]),
                extra="retention = 3h\n")
    try:
        cut = floor(now_ms() - 3 * HOUR, HOUR)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            path = str(tmp_path / ("snap%d.db" % len(snaps)))
            dst = sqlite3.connect(path)
            src.backup(dst)  # one read transaction: a state a reader sees
            dst.close()
            t = snapshot_truth(path, 0)
            if (t[1], t[3]) not in seen:
                seen.add((t[1], t[3]))
                snaps.append(path)
            else:
                os.unlink(path)
            if t[3] is not None and t[3] >= cut:
                break
        dm.stop()
    finally:
        dm.kill()
        src.close()
    snaps.append(hist.db)
    # the first, the last and up to six states in between
    picked = snaps[:1] + snaps[1:-1][::max(1, (len(snaps) - 2) // 6)][:6] + snaps[-1:]
    for db in picked:
        for lo in (top - 11 * HOUR, None):
            att, fai, hours, first_hour = snapshot_truth(db, lo or 0)
            whole = lo is not None
            if lo is None:  # inside the oldest hour left: its minutes count
                lo = first_hour + 30 * MINUTE
                att, fai, hours, _ = snapshot_truth(db, lo)
            got, per_target = every_command(db, ["--since", iso(lo)])
            for cmd, (a, f) in got.items():
                assert f == fai, (db, iso(lo), cmd, got, att, fai)
                assert a is None or a == att, (db, iso(lo), cmd, got, att, fai)
            _, note = nd_json(db, "summary", "--since", iso(lo))
            assert "no attempt counts left" not in note and "widened" not in note, note
            # every hour whole: its minutes and its hour row agree
            assert not whole or att == hours, (db, att, hours)
    assert len(picked) >= 2
    # and whole hours: the hour of the cut is kept, older ones are gone
    after = snapshot_truth(hist.db, 0)
    assert after[3] == cut and after[1] < before[1]


# --- a reload mid-range -------------------------------------------------------

def test_a_reload_adds_and_retires_targets(tmp_path):
    ok = Server("accept")
    try:
        a, c = closed_port(), closed_port()
        db = str(tmp_path / "nd.db")
        dm = Daemon(tmp_path, db, target_sections([("a", a), ("b", ok.port)]))
        try:
            time.sleep(1.5)
            dm.reload(target_sections([("b", ok.port), ("c", c)]))
            time.sleep(1.5)
            counters = dm.stop()
        finally:
            dm.kill()
    finally:
        ok.close()
    per_target = assert_agree(db, ["--since", "1h"], counters["results"], counters["failures"])
    truth = rows_truth(db)
    assert per_target == truth
    assert set(truth) == {"a", "b", "c"} and truth["a"][1] > 0 and truth["c"][1] > 0
    targets = {t["target"]: t for t in nd_json(db, "targets")[0]}
    assert targets["a"]["retired"] is True
    assert targets["b"]["retired"] is False and targets["c"]["retired"] is False


# --- what a rate is a share of -----------------------------------------------------

def test_rates_say_what_they_are_a_share_of(run):
    db = run["db"]
    by_code = nd("--db", db, "summary", "--since", "1h")
    assert "RATE is a share of all %d attempts of the 4 targets probed in the range." % \
        run["counters"]["results"] in by_code.stdout
    by_target = nd("--db", db, "summary", "--by", "target", "--since", "1h")
    assert "RATE is a share of each target's own attempts." in by_target.stdout
    # a target's rate is its own: refused fails every attempt
    rows = {r["target"]: r for r in nd_json(db, "summary", "--by", "target", "--since", "1h")[0]}
    assert rows["refused"]["rate"] == 1.0
    assert 0 < rows["toggle"]["rate"] < 1
