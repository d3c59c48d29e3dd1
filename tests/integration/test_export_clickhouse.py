# SPDX-License-Identifier: ISC
"""[export] to a real clickhouse-server on 127.0.0.1, started by the test
(chserver.py; skipped with the reason when it is not installed).

What a person does: create the tables of sql/clickhouse/tables.sql, point
clickhouse_url at the server, and expect every failure row, every settled
minute's counts and every alert stored locally to be in ClickHouse once,
whatever happens in between: ClickHouse stopped and started again, netdiagd
killed with -9 in the middle of a backlog, retention deleting old hours.
And a ClickHouse that answers 500, hangs, never ends its answer or sends a
huge one must leave probing untouched (the stored rate of a refused target
and no false failure on a healthy one) and the daemon's stop prompt.

The figures (rows in SQLite and in ClickHouse, duplicates before the
merge, rows per second exported, the refused rate) are printed with
pytest -s."""

import json
import os
import signal
import socket
import socketserver
import sqlite3
import subprocess
import threading
import time

import pytest

import chserver
from conftest import NETDIAG, NETDIAGD, Server, closed_port

ok, why = chserver.available()


def wait_for(cond, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("netdiagd exited (%s) while waiting for %s"
                                 % (proc.returncode, what))
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def write_config(tmp_path, db, url, refused_port, open_port, extra=""):
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text(
        "[daemon]\ndatabase = %s\n%s\n"
        "[export]\nclickhouse_url = %s\nhostname = host-a\nbatch_rows = 500\npoll = 100ms\n"
        "request_timeout = 2s\nbackoff_max = 500ms\nsettle = 0s\n\n"
        "[defaults]\ninterval = 100ms\ntimeout = 50ms\n\n"
        "[target refused]\nkind = connect\nhost = 127.0.0.1\nport = %d\n\n"
        "[target open]\nkind = connect\nhost = 127.0.0.1\nport = %d\n"
        % (db, extra, url, refused_port, open_port))
    return cfg


def start(cfg, log):
    return subprocess.Popen([NETDIAGD, "-c", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"), stdin=subprocess.DEVNULL)


def stop(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    proc.wait(timeout=30)


def q(db, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def stored(db):
    """Failure rows stored; 0 while the database is still being created."""
    try:
        return q(db, "SELECT count(*) FROM failures")[0][0]
    except sqlite3.Error:
        return 0


def add_history(db, now_ms, targets=200, minutes=30, per_minute=10):
    """History from before the export was switched on: for each of
    `targets` targets and each of `minutes` minutes ending 70 minutes ago (in hours that have ended),
    per_minute failures (refused and timed out) in one commit per minute,
    with rollups that agree, and a few resolved alerts."""
    con = sqlite3.connect(db)
    con.execute("INSERT OR IGNORE INTO raws (name) VALUES ('ECONNREFUSED')")
    raw = con.execute("SELECT id FROM raws WHERE name = 'ECONNREFUSED'").fetchone()[0]
    ids = []
    for i in range(targets):
        cur = con.execute(
            "INSERT INTO targets (name, kind, host, port, family, interval_ms, timeout_ms, "
            "created, updated, retired) VALUES (?, 'connect', '127.0.0.1', 9, 'any', 10000, "
            "3000, ?, ?, ?)", ("hist-%d" % i, now_ms, now_ms, now_ms))
        ids.append(cur.lastrowid)
    first = (now_ms // 60000 - 70 - minutes) * 60000
    rows = 0
    for m in range(minutes):
        minute = first + m * 60000
        cur = con.execute("INSERT INTO commits (ts_min, ts_max, rows, committed) VALUES "
                          "(?, ?, ?, ?)", (minute, minute + 59999, targets * per_minute,
                                           minute + 61000))
        batch = cur.lastrowid
        for tid in ids:
            refused = 0
            for k in range(per_minute):
                code = 10061 if k % 3 else 10060
                refused += code == 10061
                con.execute(
                    "INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, "
                    "raw_value, detail, latency_us, batch) VALUES (?, ?, 0, 2, ?, ?, 111, "
                    "'history', 100, ?)", (minute + k * 5000 + tid, tid, code, raw, batch))
                rows += 1
            con.execute("INSERT INTO rollup_minute (minute, target_id, attempts, successes, "
                        "failures, latency_count, latency_sum_us) VALUES (?, ?, ?, ?, ?, 0, 0)",
                        (minute, tid, per_minute * 2, per_minute, per_minute))
            con.execute("INSERT INTO rollup_minute_code (minute, target_id, wsa_code, count) "
                        "VALUES (?, ?, 10061, ?), (?, ?, 10060, ?)",
                        (minute, tid, refused, minute, tid, per_minute - refused))
    for i in range(5):
        con.execute("INSERT INTO alerts (target_id, wsa_code, started, resolved, count, "
                    "detail) VALUES (?, 10061, ?, ?, 7, 'history')",
                    (ids[i], first + i * 60000, first + (i + 2) * 60000))
    con.commit()
    con.close()
    return first, first + minutes * 60000, rows


def ch_failures(ch, final=True):
    return ch.scalar("SELECT count() FROM netdiag.failures%s WHERE host = 'host-a'"
                     % (" FINAL" if final else ""))


@pytest.mark.skipif(not ok, reason=why)
def test_outage_kill9_and_retention_keep_every_row_once(tmp_path):
    ch = chserver.ClickHouse(tmp_path)
    db = tmp_path / "netdiag.db"
    log = tmp_path / "netdiagd.log"
    refused_port = closed_port()
    srv = Server("accept")
    d = None
    try:
        ch.start()  # (stopped in finally, also when the tables cannot be made)
        ch.create_tables()
        cfg = write_config(tmp_path, db, ch.url, refused_port, srv.port)
        # the database, then history from before the export was on
        d = start(cfg, log)
        wait_for(lambda: os.path.exists(db) and stored(db) > 0,
                 30, "the first failure rows", d)
        stop(d)
        now_ms = int(time.time() * 1000)
        hist_from, hist_to, hist_rows = add_history(db, now_ms)

        d = start(cfg, log)
        t0 = time.monotonic()
        wait_for(lambda: ch_failures(ch, False) >= 3000, 60, "3000 rows in ClickHouse", d)
        ch.stop(signal.SIGKILL)  # an outage: the daemon goes on storing
        at_outage = q(db, "SELECT count(*) FROM failures")[0][0]
        wait_for(lambda: q(db, "SELECT count(*) FROM failures")[0][0] >= at_outage + 20, 30,
                 "rows stored during the outage", d)
        ch.start()
        n0 = ch_failures(ch, False)
        wait_for(lambda: ch_failures(ch, False) >= n0 + 3000, 60, "the backlog flowing", d)
        stop(d, signal.SIGKILL)  # in the middle of the backlog
        assert ch_failures(ch) < hist_rows, "the backlog was over before the kill"

        # no more failures from here: the refused port listens now
        hold = socket.socket()
        hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hold.bind(("127.0.0.1", refused_port))
        hold.listen(4096)
        at_restart = ch_failures(ch)
        d = start(cfg, log)
        t1 = time.monotonic()
        total = lambda: q(db, "SELECT count(*) FROM failures")[0][0]  # noqa: E731
        wait_for(lambda: total() == ch_failures(ch) and
                 q(db, "SELECT count(*) FROM failures WHERE ts > ? AND target_id = "
                       "(SELECT id FROM targets WHERE name = 'refused')",
                   (int(time.time() * 1000) - 2000,))[0][0] == 0,
                 120, "every row in ClickHouse", d)
        export_s = time.monotonic() - t1
        rollups_local = q(db, "SELECT count(*) FROM rollup_minute WHERE minute >= ? AND "
                              "minute < ?", (hist_from, hist_to))[0][0]
        wait_for(lambda: ch.scalar("SELECT count() FROM netdiag.rollup_minute FINAL WHERE "
                                   "minute_ms >= %d AND minute_ms < %d" % (hist_from, hist_to))
                 == rollups_local, 60, "the history's minutes in ClickHouse", d)
        hwm_kb = int([ln.split()[1] for ln in open("/proc/%d/status" % d.pid)
                      if ln.startswith("VmHWM:")][0])
        stop(d)
        hold.close()

        local = total()
        dup_before = ch_failures(ch, False) - ch_failures(ch)
        # every count equal, per target and code, before and after the merge
        by_local = dict(((t, c), n) for t, c, n in q(
            db, "SELECT t.name, f.wsa_code, count(*) FROM failures f JOIN targets t "
                "ON t.id = f.target_id GROUP BY 1, 2"))
        def by_ch(final):
            out = ch.query("SELECT target, wsa_code, count() FROM netdiag.failures%s "
                           "GROUP BY target, wsa_code FORMAT TabSeparated"
                           % (" FINAL" if final else ""))
            return dict(((t, int(c)), int(n)) for t, c, n in
                        (ln.split("\t") for ln in out.splitlines()))
        assert by_ch(True) == by_local
        ch.query("OPTIMIZE TABLE netdiag.failures FINAL")
        assert by_ch(False) == by_local
        assert ch.scalar("SELECT count() - uniqExact(host, target, ts_ms, seq) FROM "
                         "netdiag.failures") == 0

        # the history's minutes (settled long ago): counts equal per target
        loc = q(db, "SELECT sum(attempts), sum(failures), count(*) FROM rollup_minute "
                    "WHERE minute >= ? AND minute < ?", (hist_from, hist_to))[0]
        chm = ch.query("SELECT sum(attempts), sum(failures), count() FROM netdiag.rollup_minute "
                       "FINAL WHERE minute_ms >= %d AND minute_ms < %d FORMAT TabSeparated"
                       % (hist_from, hist_to)).split()
        assert tuple(int(x) for x in chm) == loc
        locc = q(db, "SELECT wsa_code, sum(count) FROM rollup_minute_code WHERE minute >= ? "
                     "AND minute < ? GROUP BY 1", (hist_from, hist_to))
        chc = ch.query("SELECT wsa_code, sum(count) FROM netdiag.rollup_minute_code FINAL "
                       "WHERE minute_ms >= %d AND minute_ms < %d GROUP BY wsa_code "
                       "ORDER BY wsa_code FORMAT TabSeparated" % (hist_from, hist_to))
        assert sorted((int(a), int(b)) for a, b in (ln.split("\t") for ln in chc.splitlines())) \
            == sorted(locc)
        assert ch.scalar("SELECT count() FROM netdiag.alerts FINAL WHERE detail = 'history'") == 5

        print("\nexport: %d rows local, %d in ClickHouse (FINAL), %d duplicates before the merge "
              "(resent after the outage and the kill -9), 0 after; the last start shipped %d "
              "rows in %.1f s (%.0f rows/s, batches of 500), netdiagd peak RSS %d KiB; whole "
              "run %.1f s" % (local, ch_failures(ch), dup_before, local - at_restart, export_s,
                              (local - at_restart) / export_s, hwm_kb, time.monotonic() - t0))

        # retention: the history's hours go locally, ClickHouse keeps them,
        # and what is still local is in ClickHouse with the same counts
        ch_before = ch_failures(ch)
        cfg = write_config(tmp_path, db, ch.url, refused_port, srv.port,
                           extra="retention = 2m\n")
        d = start(cfg, log)
        wait_for(lambda: q(db, "SELECT count(*) FROM failures WHERE ts < ?", (hist_to,))[0][0]
                 == 0, 60, "retention deleting the history", d)
        wait_for(lambda: ch_failures(ch) > ch_before, 30, "new rows after retention", d)
        hold = socket.socket()  # failures stop again: let the export catch up
        hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hold.bind(("127.0.0.1", refused_port))
        hold.listen(4096)

        def caught_up():
            lo = q(db, "SELECT min(ts), count(*) FROM failures")[0]
            return ch.scalar("SELECT count() FROM netdiag.failures FINAL WHERE ts_ms >= %d"
                             % lo[0]) == lo[1]
        # (results in flight at the bind are stored up to a batch delay later)
        bound = time.monotonic()
        wait_for(lambda: time.monotonic() - bound > 3 and caught_up(), 60,
                 "ClickHouse holding every row still stored locally", d)
        stop(d)
        hold.close()
        lo = q(db, "SELECT min(ts), count(*), max(ts) FROM failures")[0]
        assert ch.scalar("SELECT count() FROM netdiag.failures FINAL WHERE ts_ms >= %d" % lo[0]) == lo[1], (lo, ch.query("SELECT min(ts_ms), max(ts_ms), count() FROM netdiag.failures FINAL WHERE ts_ms >= %d" % lo[0]))
        assert ch.scalar("SELECT count() FROM netdiag.failures FINAL WHERE ts_ms < %d"
                         % hist_to) == hist_rows
    finally:
        if d is not None and d.poll() is None:
            stop(d)
        srv.close()
        ch.stop()


class HostileClickHouse:
    """A peer on 127.0.0.1 that takes the INSERTs and answers as `mode`
    says: '500' (an exception, at once), 'hang' (reads, never answers),
    'slow' (a 200 head, then a byte a second), 'endless' (a 200 head, then
    bytes as fast as they go, without end), 'huge' (a 500 with a body of a
    gigabyte announced and sent until the peer goes)."""

    def __init__(self, mode):
        self.mode = mode
        self.halt = threading.Event()
        self.requests = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                c = self.request
                c.settimeout(1.0)
                outer.requests += 1
                try:
                    c.recv(65536)
                    if outer.mode == "500":
                        body = b"Code: 1000, e.displayText() = DB::Exception: hostile\n"
                        c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d"
                                  b"\r\nConnection: close\r\n\r\n%s" % (len(body), body))
                    elif outer.mode == "hang":
                        outer.halt.wait(120)
                    elif outer.mode == "slow":
                        c.sendall(b"HTTP/1.1 200 OK\r\n")
                        while not outer.halt.wait(1.0):
                            c.sendall(b"x")
                    elif outer.mode == "endless":
                        c.sendall(b"HTTP/1.1 200 OK\r\nX-ClickHouse-Exception-Code: 1\r\n\r\n")
                        while not outer.halt.is_set():
                            c.sendall(b"y" * 65536)
                    elif outer.mode == "huge":
                        c.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 1073741824\r\n\r\n")
                        while not outer.halt.is_set():
                            c.sendall(b"z" * 65536)
                except OSError:
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.halt.set()
        self.srv.shutdown()
        self.srv.server_close()


def metric(port, name):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


@pytest.mark.parametrize("mode", ["500", "hang", "slow", "endless", "huge"])
def test_hostile_clickhouse_leaves_probing_alone(tmp_path, mode):
    """The interval is 100 ms; the INSERT's timeout 30 s, longer than the
    window, so a hung peer holds the export for the whole of it."""
    peer = HostileClickHouse(mode)
    db = tmp_path / "netdiag.db"
    log = tmp_path / "netdiagd.log"
    srv = Server("accept")
    mport = closed_port()
    cfg = write_config(tmp_path, db, "http://127.0.0.1:%d/" % peer.port, closed_port(),
                       srv.port, extra="metrics_listen = 127.0.0.1:%d\n" % mport)
    cfg.write_text(cfg.read_text().replace("request_timeout = 2s", "request_timeout = 30s"))
    d = start(cfg, log)
    try:
        wait_for(lambda: peer.requests > 0, 30, "the first INSERT", d)
        t_from = int(time.time() * 1000)
        rss0 = int([ln.split()[1] for ln in open("/proc/%d/status" % d.pid)
                    if ln.startswith("VmRSS:")][0])
        window_s = 5.0
        end = time.monotonic() + window_s
        wait_for(lambda: time.monotonic() >= end, window_s + 5, "the window", d)
        t_to = int(time.time() * 1000)
        rss1 = int([ln.split()[1] for ln in open("/proc/%d/status" % d.pid)
                    if ln.startswith("VmRSS:")][0])
        # what was stored in the window (a batch delay later)
        wait_for(lambda: q(db, "SELECT count(*) FROM failures WHERE ts > ?", (t_to + 500,))[0][0]
                 > 0, 30, "rows after the window", d)
        up = metric(mport, "netdiag_export_up")
        lag = metric(mport, "netdiag_export_lag_seconds")
        t0 = time.monotonic()
        stop(d)
        stop_s = time.monotonic() - t0
        refused = q(db, "SELECT count(*) FROM failures f JOIN targets t ON t.id = f.target_id "
                        "WHERE t.name = 'refused' AND ts >= ? AND ts < ?", (t_from, t_to))[0][0]
        false = q(db, "SELECT count(*) FROM failures f JOIN targets t ON t.id = f.target_id "
                      "WHERE t.name = 'open'")[0][0]
        acked = q(db, "SELECT coalesce(sum(rows), 0) FROM export_cursor")[0][0]
        expected = (t_to - t_from) / 100.0
        print("\nhostile %s: %d refused rows stored in %.1f s (%.1f/s, %.0f expected), %d false "
              "failures, %d INSERTs tried, export_up %s, lag %s s, RSS %d -> %d KiB, stop %.2f s"
              % (mode, refused, (t_to - t_from) / 1000.0, refused * 1000.0 / (t_to - t_from),
                 expected, false, peer.requests, up, lag, rss0, rss1, stop_s))
        assert false == 0
        assert refused >= expected * 0.6
        # a refusal shows at once; a hung INSERT as a lag that grows
        assert up == 0 if mode not in ("hang", "slow") else lag >= window_s
        assert acked == 0  # nothing it said counts as an acknowledgement
        assert stop_s < 10  # the stop does not wait for the 30 s timeout
        # netdiag status names the lag and the last refusal
        st = json.loads(subprocess.run([NETDIAG, "--db", str(db), "status", "--format", "json"],
                                       capture_output=True, text=True, timeout=30).stdout)[0]
        assert st["export_rows"] in (None, 0)
        if mode in ("500", "huge"):
            assert st["export_behind"] >= refused
            assert st["export_error"].startswith("HTTP 500"), st["export_error"]
        assert rss1 < rss0 + 20000  # a huge or endless answer is not kept
    finally:
        if d.poll() is None:
            stop(d)
        peer.close()
        srv.close()


def test_export_follow_across_a_daemon_restart_prints_each_row_once(tmp_path):
    """A log shipper runs `netdiag export --follow` while netdiagd is
    restarted; every stored row comes out once, and --after the position
    of a line resumes with the line after it."""
    db = tmp_path / "netdiag.db"
    log = tmp_path / "netdiagd.log"
    refused_port = closed_port()
    srv = Server("accept")
    cfg = tmp_path / "netdiag.ini"
    cfg.write_text("[daemon]\ndatabase = %s\n[defaults]\ninterval = 100ms\ntimeout = 50ms\n"
                   "[target refused]\nkind = connect\nhost = 127.0.0.1\nport = %d\n"
                   % (db, refused_port))
    d = start(cfg, log)
    out = open(tmp_path / "lines", "wb")
    f = None
    try:
        wait_for(lambda: os.path.exists(db) and stored(db) > 0,
                 30, "the first rows", d)
        f = subprocess.Popen([NETDIAG, "--db", str(db), "export", "--follow", "--label",
                              "env=test"], stdout=out, stderr=subprocess.PIPE)
        lines = lambda: open(tmp_path / "lines").read().splitlines()  # noqa: E731
        wait_for(lambda: len(lines()) >= 20, 30, "lines before the restart", d)
        stop(d)
        d = start(cfg, log)
        n = len(lines())
        wait_for(lambda: len(lines()) >= n + 20, 30, "lines after the restart", d)
        stop(d)
        total = q(db, "SELECT count(*) FROM failures")[0][0]
        wait_for(lambda: len(lines()) == total, 30, "every stored row", f)
        f.send_signal(signal.SIGTERM)
        assert f.wait(timeout=30) == 0, f.stderr.read()
        rows = [json.loads(ln) for ln in lines()]
        keys = [(r["target"], r["ts_ms"], r["seq"]) for r in rows]
        assert len(set(keys)) == len(keys) == total
        assert sorted(keys) == sorted(("refused", ts, seq) for ts, seq in
                                      q(db, "SELECT ts, seq FROM failures"))
        assert {r["labels"]["env"] for r in rows} == {"test"}
        assert rows[0]["wsa_name"] == "WSAECONNREFUSED" and rows[0]["host"]
        # resume after line 10: lines 11.. exactly
        r = subprocess.run([NETDIAG, "--db", str(db), "export", "--after", rows[9]["position"]],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert [json.loads(ln)["position"] for ln in r.stdout.splitlines()] == \
            [x["position"] for x in rows[10:]]
    finally:
        if d.poll() is None:
            stop(d)
        if f is not None and f.poll() is None:
            f.kill()
            f.wait()
        out.close()
        srv.close()
