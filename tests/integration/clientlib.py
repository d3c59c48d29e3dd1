# SPDX-License-Identifier: ISC
"""Helpers of the client tests (tests/integration/test_client_*.py): run
netdiag, run the real netdiagd for a few seconds and read its exit line
(netdiagd writes its own heartbeat, the table `runs`), and build hour- and
day-old history by copying a daemon-made database's rows shifted into the
past by whole minutes, so no test waits for the wall clock."""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import histlib
from conftest import NETDIAG, NETDIAGD, Server, closed_port

MINUTE = 60000
HOUR = 3600000
DAY = 24 * HOUR

def nd(*args, columns=80, tz="UTC0", now=None, env_extra=None, timeout=60, stdin=None,
       user=None):
    """Run netdiag (real clock unless `now` is an ISO time; as the uid and
    gid `user` when given)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "NETDIAG_NOW", "TZ", "NO_COLOR")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    if tz is not None:
        env["TZ"] = tz
    if now is not None:
        env["NETDIAG_NOW"] = now
    env.update(env_extra or {})
    kw = {}
    if user is not None:
        kw = {"user": user, "group": user, "extra_groups": []}  # uid and gid numbers
    return subprocess.run([NETDIAG, *args], capture_output=True, text=True, encoding="utf-8",
                          env=env, timeout=timeout, stdin=stdin, **kw)


def nd_json(db, *args, **kw):
    """The JSON of a command; notes on stderr are returned beside it."""
    r = nd("--db", db, *args, "--format", "json", **kw)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return json.loads(r.stdout), r.stderr


def iso(ms):
    """ms since the epoch as an ISO-8601 UTC time netdiag reads."""
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour,
                                                     t.tm_min, t.tm_sec, ms % 1000)


def now_ms():
    return int(time.time() * 1000)


def wait_for(cond, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


class Toggle:
    """A loopback TCP port that listens and closes in turns (every
    `period` seconds), so a target on it has both successes and refusals."""

    def __init__(self, period=0.3):
        self.port = closed_port()
        self.period = period
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
                s.listen(64)
                s.settimeout(0.02)
                end = time.monotonic() + self.period
                while time.monotonic() < end and not self.stop.is_set():
                    try:
                        c, _ = s.accept()
                        c.close()
                    except OSError:
                        pass
            except OSError:
                pass
            finally:
                s.close()
            self.stop.wait(self.period)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=3)


def target_sections(spec):
    """[(name, port)] as connect target sections."""
    return "".join("[target %s]\nkind = connect\nhost = 127.0.0.1\nport = %d\n\n" % (n, p)
                   for n, p in spec)


class Daemon:
    """netdiagd on a config of its own; stop() returns its exit line's
    counters."""

    def __init__(self, d, db, body, interval="100ms", timeout="50ms", extra=""):
        self.dir = str(d)
        self.db = db
        self.cfg = os.path.join(self.dir, "netdiag.ini")
        self.errpath = os.path.join(self.dir, "netdiagd-%d.stderr" % time.monotonic_ns())
        self.write_config(body, interval, timeout, extra)
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen([NETDIAGD, "-c", self.cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        wait_for(lambda: "started:" in self.log() or self.proc.poll() is not None,
                 what="netdiagd to start")
        assert self.proc.poll() is None, self.log()

    def write_config(self, body, interval="100ms", timeout="50ms", extra=""):
        tmp = self.cfg + ".tmp"
        with open(tmp, "w") as f:
            f.write("[daemon]\ndatabase = %s\nlog_level = info\n%s\n"
                    "[defaults]\ninterval = %s\ntimeout = %s\n\n%s"
                    % (self.db, extra, interval, timeout, body))
        os.replace(tmp, self.cfg)

    def log(self):
        with open(self.errpath) as f:
            return f.read()

    def reload(self, body, **kw):
        n = self.log().count("reloaded:")
        self.write_config(body, **kw)
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.log().count("reloaded:") > n, what="the reload")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self.err.close()
        if sig == signal.SIGKILL:
            return None
        assert rc == 0, self.log()
        m = re.search(r"stopped: (\d+) results, (\d+) failures, (\d+) failure rows stored, "
                      r"(\d+) dropped", self.log())
        assert m, self.log()
        return {"results": int(m.group(1)), "failures": int(m.group(2)),
                "rows": int(m.group(3)), "dropped": int(m.group(4))}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.err.closed:
            self.err.close()


def insert_run(con, r):
    """A row of runs made by hand, for a database a test builds on purpose
    (a fixed or shifted history): the run of a netdiagd that never ran
    there."""
    row = {"pid": 1, "hostname": socket.gethostname(), "version": "0.1.0",
           "config": "/etc/netdiag/netdiag.ini", "stopped": None, "results": 0, "failures": 0,
           "dropped": 0, "targets": 0}
    row.update(r)
    cols = sorted(row)
    con.execute("INSERT INTO runs (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols))),
                [row[c] for c in cols])


def checkpoint_copy(src, dst):
    """A copy of a database whose writer has stopped (its -wal kept)."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(src + suffix):
            shutil.copy(src + suffix, dst + suffix)
        elif os.path.exists(dst + suffix):
            os.unlink(dst + suffix)


def merge_minutes(rows, cols):
    """Rows of rollup_minute with one (minute, target_id) added up."""
    im, it = cols.index("minute"), cols.index("target_id")
    out = {}
    for r in rows:
        k = (r[im], r[it])
        if k not in out:
            out[k] = list(r)
            continue
        o = out[k]
        for i, c in enumerate(cols):
            if c in ("attempts", "successes", "failures", "latency_count", "latency_sum_us",
                     "echo_sent", "echo_lost"):
                o[i] += r[i]
            elif c == "lat_hist" and r[i] is not None:
                o[i] = histlib.encode(histlib.merge(histlib.decode(r[i]),
                                                    histlib.decode(o[i]) if o[i] else {}))
            elif c == "latency_min_us" and r[i] is not None:
                o[i] = r[i] if o[i] is None else min(o[i], r[i])
            elif c == "latency_max_us" and r[i] is not None:
                o[i] = r[i] if o[i] is None else max(o[i], r[i])
    return [tuple(v) for _, v in sorted(out.items())]


class HistUnion:
    """SQL aggregate: the latency histogram of the union of lat_hist
    blobs (histlib), NULL when none holds a sample."""

    def __init__(self):
        self.counts = {}

    def step(self, blob):
        if blob is not None:
            self.counts = histlib.merge(self.counts, histlib.decode(blob))

    def finalize(self):
        return histlib.encode(self.counts)


class History:
    """Copies of one daemon run's rows, each shifted by a whole number of
    minutes, in a database of their own: what the stored rows say is known
    exactly (self.minutes, self.failures), whatever is pruned afterwards.
    A shift given twice makes a second copy in the same place (its rows
    another seq). The copies belong to no commit (batch NULL, as rows
    stored before schema 4), and their runs rows (keep_runs) are made by
    hand: the runs of a netdiagd that never ran then."""

    def __init__(self, src, dst, shifts, keep_runs=True, span=None):
        checkpoint_copy(src, dst)
        self.db = dst
        con = sqlite3.connect(dst)
        con.row_factory = None
        fcols = [r[1] for r in con.execute("PRAGMA table_info(failures)")]
        mcols = [r[1] for r in con.execute("PRAGMA table_info(rollup_minute)")]
        failures = con.execute("SELECT %s FROM failures" % ", ".join(fcols)).fetchall()
        minutes = con.execute("SELECT %s FROM rollup_minute" % ", ".join(mcols)).fetchall()
        codes = con.execute("SELECT minute, target_id, wsa_code, count FROM "
                            "rollup_minute_code").fetchall()
        has_runs = con.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'runs'"
                               ).fetchone()[0] > 0
        runs = con.execute("SELECT started, heartbeat, stopped, results, failures FROM runs"
                           ).fetchall() if has_runs else []
        its, imin, iseq = fcols.index("ts"), mcols.index("minute"), fcols.index("seq")
        ibatch = fcols.index("batch") if "batch" in fcols else None
        self.min_col = imin
        if not runs:  # when the daemon ran, as the test saw it, else its minutes
            lo, hi = span if span else (min(m[imin] for m in minutes),
                                        max(m[imin] for m in minutes) + MINUTE - 1)
            runs = [(lo, hi, hi, 0, 0)]
        self.failures, self.minutes, self.codes, self.runs = [], [], [], []
        with con:
            for t in ("failures", "rollup_minute", "rollup_minute_code", "rollup_hour",
                      "rollup_hour_code", "alerts"):
                con.execute("DELETE FROM %s" % t)
            if has_runs:
                con.execute("DELETE FROM runs")
            if ibatch is not None:
                con.execute("DELETE FROM commits")
            again = {}
            for k, d in enumerate(shifts):
                assert d % MINUTE == 0
                again[d] = again.get(d, -1) + 1
                for f in failures:
                    f = list(f)
                    f[its] += d
                    f[iseq] += 1000 * again[d]
                    if ibatch is not None:
                        f[ibatch] = None
                    self.failures.append(tuple(f))
                for m in minutes:
                    m = list(m)
                    m[imin] += d
                    self.minutes.append(tuple(m))
                for c in codes:
                    self.codes.append((c[0] + d, c[1], c[2], c[3]))
                for (started, hb, stopped, res, fai) in runs:
                    self.runs.append({"started": started + d, "heartbeat": hb + d,
                                      "stopped": (stopped + d) if stopped else hb + d,
                                      "results": res, "failures": fai, "pid": 1000 + k})
            con.executemany("INSERT INTO failures (%s) VALUES (%s)"
                            % (", ".join(fcols), ", ".join("?" * len(fcols))), self.failures)
            # copies a minute apart may share a minute: added up, as
            # netdiagd's own upsert adds a later batch to the stored row
            self.minutes = merge_minutes(self.minutes, mcols)
            merged = {}
            for m, t, c, n in self.codes:
                merged[(m, t, c)] = merged.get((m, t, c), 0) + n
            self.codes = [k + (n,) for k, n in sorted(merged.items())]
            con.executemany("INSERT INTO rollup_minute (%s) VALUES (%s)"
                            % (", ".join(mcols), ", ".join("?" * len(mcols))), self.minutes)
            con.executemany("INSERT INTO rollup_minute_code VALUES (?, ?, ?, ?)", self.codes)
            extra = ("lat_hist", "echo_sent", "echo_lost") if "lat_hist" in mcols else ()
            con.create_aggregate("nd_hist_union", 1, HistUnion)
            con.execute("INSERT INTO rollup_hour (hour, target_id, attempts, successes, failures, "
                        "latency_count, latency_sum_us, latency_min_us, latency_max_us%s) "
                        "SELECT minute - minute %% 3600000, target_id, sum(attempts), "
                        "sum(successes), sum(failures), sum(latency_count), sum(latency_sum_us), "
                        "min(latency_min_us), max(latency_max_us)%s FROM rollup_minute GROUP BY 1, 2"
                        % ("".join(", " + c for c in extra),
                           ", nd_hist_union(lat_hist), sum(echo_sent), sum(echo_lost)"
                           if extra else ""))
            con.execute("INSERT INTO rollup_hour_code SELECT minute - minute % 3600000, "
                        "target_id, wsa_code, sum(count) FROM rollup_minute_code GROUP BY 1, 2, 3")
            if has_runs and keep_runs:
                for r in self.runs:
                    insert_run(con, r)
        con.close()
        self.ts_col = its
        self.att_col = mcols.index("attempts")
        self.tid_col = fcols.index("target_id")
        self.mtid_col = mcols.index("target_id")
        self.code_col = fcols.index("wsa_code")
        self.daemon_runs = has_runs

    def prune(self, minutes_before=None, everything_before=None):
        """Delete rows as netdiagd's retention did before schema 4 (at a
        cut inside an hour; it deletes whole hours now): the minute tables
        before a time (7 days), and failures, hour rows and minute rows
        before another (an hour row went once its start was older)."""
        con = sqlite3.connect(self.db)
        with con:
            if minutes_before is not None:
                con.execute("DELETE FROM rollup_minute WHERE minute < ?", (minutes_before,))
                con.execute("DELETE FROM rollup_minute_code WHERE minute < ?", (minutes_before,))
            if everything_before is not None:
                for t, c in (("failures", "ts"), ("rollup_minute", "minute"),
                             ("rollup_minute_code", "minute"), ("rollup_hour", "hour"),
                             ("rollup_hour_code", "hour")):
                    con.execute("DELETE FROM %s WHERE %s < ?" % (t, c), (everything_before,))
        con.close()

    def truth(self, lo, hi, target_ids=None):
        """(attempts, failures) whose attempt started in [lo, hi), from
        the copies (lo, hi whole minutes)."""
        att = sum(m[self.att_col] for m in self.minutes if lo <= m[self.min_col] < hi
                  and (target_ids is None or m[self.mtid_col] in target_ids))
        fai = sum(1 for f in self.failures if lo <= f[self.ts_col] < hi
                  and (target_ids is None or f[self.tid_col] in target_ids))
        return att, fai


def run_daemon_briefly(d, seconds=2.5, body=None, name="nd.db"):
    """A database made by the real netdiagd: targets refused, ok (a
    listener), toggling (both) and silent (timeouts), probed every
    100 ms for `seconds`, stopped with SIGTERM. Returns (db, counters,
    targets)."""
    db = os.path.join(str(d), name)
    peers = []
    if body is None:
        ok, silent, toggle = Server("accept"), Server("full"), Toggle()
        peers = [ok, silent, toggle]
        body = target_sections([("refused", closed_port()), ("ok", ok.port),
                                ("toggle", toggle.port), ("silent", silent.port)])
    t0 = now_ms()
    dm = Daemon(d, db, body)
    try:
        time.sleep(seconds)
        counters = dm.stop()
        counters["span"] = (t0, now_ms())
    finally:
        dm.kill()
        for p in peers:
            p.close()
    return db, counters, dm
