# SPDX-License-Identifier: ISC
"""Faults a diagnostics daemon meets exactly when things go wrong: file
descriptors running out, a storm of reloads with broken configs, a very
large config, and its database vanishing or turning read-only underneath
it. Each test asserts the daemon survives, what it classified, and that the
rows it stored are intact."""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import NETDIAGD, Server, closed_port

STOPPED = re.compile(r"stopped: (\d+) results, (\d+) failures, (\d+) failure rows stored, "
                     r"(\d+) dropped")


class Daemon:
    def __init__(self, tmp_path, body, daemon_extra="", prefix=()):
        self.dir = tmp_path
        self.db = tmp_path / "netdiag.db"
        self.cfg = tmp_path / "netdiag.ini"
        self.logf = tmp_path / "netdiagd.log"
        self.write(body, daemon_extra)
        self.err = open(self.logf, "w")
        self.proc = subprocess.Popen([*prefix, NETDIAGD, "-c", str(self.cfg)],
                                     stderr=self.err, stdout=subprocess.DEVNULL)

    def write(self, body, daemon_extra=""):
        text = "[daemon]\ndatabase = %s\n%s\n%s" % (self.db, daemon_extra, body)
        tmp = self.cfg.with_suffix(".tmp")
        tmp.write_text(text)
        os.rename(tmp, self.cfg)  # a reload never reads a half-written file

    def log(self):
        return self.logf.read_text()

    def wait_log(self, pattern, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, self.log()):
                return True
            assert self.proc.poll() is None, "netdiagd exited:\n" + self.log()[-3000:]
            time.sleep(0.05)
        raise AssertionError("no %r in the log:\n%s" % (pattern, self.log()[-3000:]))

    def stop(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.err.close()
        return rc

    def query(self, sql):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


def targets(n, port, prefix="t", **keys):
    extra = "".join("%s = %s\n" % kv for kv in keys.items())
    return "".join("[target %s%04d]\nkind = connect\nhost = 127.0.0.1\nport = %d\n%s\n"
                   % (prefix, i, port, extra) for i in range(n))


def test_fd_exhaustion_is_wsaemfile_and_recovers(tmp_path):
    """With RLIMIT_NOFILE at 64 and 120 targets whose connects hang (a
    listener with a full backlog), probes fail as WSAEMFILE; the daemon
    keeps running, keeps storing, and when the listener goes away the same
    targets are refused again (fds freed)."""
    full = Server("full")
    d = Daemon(tmp_path, "[defaults]\ninterval = 300ms\ntimeout = 250ms\n\n" +
               targets(120, full.port), prefix=("prlimit", "--nofile=64:64"))
    try:
        d.wait_log(r"started: 120 targets")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if d.query("SELECT count(*) FROM failures WHERE wsa_code = 10024")[0][0] > 0:
                break
        emfile = d.query("SELECT wsa_code, raw, raw_value FROM failures_v "
                         "WHERE wsa_code = 10024 LIMIT 1")
        assert emfile == [(10024, "EMFILE", 24)], d.log()[-2000:]
        full.close()  # now every connect is refused at once: no fd is held
        mark = int(time.time() * 1000) + 500
        time.sleep(2.0)
        after = dict(d.query("SELECT wsa_code, count(*) FROM failures WHERE ts > %d "
                             "GROUP BY wsa_code" % mark))
        assert after.get(10061, 0) > 100, after
        assert after.get(10024, 0) == 0, after
        assert d.proc.poll() is None
    finally:
        full.close()
        rc = d.stop()
    assert rc == 0, d.log()[-2000:]
    m = STOPPED.search(d.log())
    assert m, d.log()[-2000:]
    results, failures, stored, dropped = map(int, m.groups())
    assert stored == failures - dropped
    assert d.query("PRAGMA integrity_check") == [("ok",)]
    assert d.query("SELECT count(*) FROM failures")[0][0] == stored


def test_overload_is_never_reported_as_timeouts(tmp_path):
    """2,000 targets at 10 ms ask 200,000 probes a second, far more than
    the loop does (more so under the sanitizers). Every connect is refused
    at once by the kernel; an overloaded prober must start fewer probes,
    never judge a deadline before reading the answers that came: every
    stored failure is 10061, none is a 10060 of its own making."""
    d = Daemon(tmp_path, "[defaults]\ninterval = 10ms\ntimeout = 5ms\n\n" +
               targets(2000, closed_port()))
    try:
        d.wait_log(r"started: 2000 targets")
        time.sleep(3.0)
    finally:
        rc = d.stop()
    assert rc == 0, d.log()[-2000:]
    codes = dict(d.query("SELECT wsa_code, count(*) FROM failures GROUP BY wsa_code"))
    assert codes.get(10061, 0) > 2000, codes
    assert set(codes) == {10061}, codes


def test_hundred_reloads_good_and_bad(tmp_path):
    """100 reloads alternating good and bad configs, each SIGHUP sent as
    soon as the reload before it has ended (SIGHUPs during a reload are
    absorbed into one more: test_reload_storm_is_coalesced): the daemon
    ends on the last good config, with no duplicated targets and no leak
    (the sanitizer build checks leaks at exit)."""
    port = closed_port()
    head = "[defaults]\ninterval = 100ms\ntimeout = 50ms\n\n"
    d = Daemon(tmp_path, head + targets(5, port, "a"))
    ended = re.compile(r"reloaded: |reload failed: ")
    try:
        d.wait_log(r"started: 5 targets")
        for i in range(100):
            if i % 2 == 0:
                # good: a different set each time (names g<i>-NNNN)
                d.write(head + targets(3 + i % 7, port, "g%03d-" % i))
            else:
                d.write(head + "[target broken]\nkind = connect\nport = 99999\n")
            d.proc.send_signal(signal.SIGHUP)
            end = time.monotonic() + 20
            while len(ended.findall(d.log())) < i + 1:
                assert time.monotonic() < end, "reload %d did not end:\n%s" % (i, d.log()[-3000:])
                assert d.proc.poll() is None, d.log()[-3000:]
                time.sleep(0.02)
        last = 98
        d.wait_log(r"reloaded: %d targets" % (3 + last % 7))
        time.sleep(0.5)
        active = [r[0] for r in d.query("SELECT name FROM targets WHERE retired IS NULL "
                                        "ORDER BY name")]
        assert active == ["g%03d-%04d" % (last, i) for i in range(3 + last % 7)], active
        names = d.query("SELECT name, count(*) FROM targets GROUP BY name HAVING count(*) > 1")
        assert names == []
        log = d.log()
        assert len(re.findall(r"reload failed", log)) == 50, log[-3000:]
        assert re.search(r"netdiag\.ini:\d+: \[target broken\] port: ", log), log[-3000:]
        # the last good config is what runs: its targets get fresh results
        # (the writer commits about once a second: poll, do not guess)
        mark = int(time.time() * 1000)
        end = time.monotonic() + 10
        while True:
            fresh = sorted(r[0] for r in d.query(
                "SELECT DISTINCT t.name FROM failures f JOIN targets t "
                "ON t.id = f.target_id WHERE f.ts > %d" % mark))
            if fresh == active or time.monotonic() > end:
                break
            time.sleep(0.2)
        assert fresh == active
    finally:
        rc = d.stop()
    assert rc == 0, d.log()[-3000:]


def test_ten_thousand_targets(tmp_path):
    """10,000 loopback targets in one config generated here: the daemon
    starts, probes them all, and stops cleanly. Start-up time and RSS are
    printed (figures belong to `make bench`; this asserts it works)."""
    port = closed_port()
    t0 = time.monotonic()
    d = Daemon(tmp_path, "[defaults]\ninterval = 2s\ntimeout = 1s\n\n" + targets(10000, port))
    try:
        d.wait_log(r"started: 10000 targets", timeout=60)
        started = time.monotonic() - t0
        with open("/proc/%d/status" % d.proc.pid) as f:
            rss = [line for line in f if line.startswith("VmRSS")][0].split()[1]
        print("10k targets: started in %.2f s, RSS %s kB" % (started, rss))
        # first runs are spread over the 2 s interval; the writer commits
        # about once a second
        end = time.monotonic() + 15
        while time.monotonic() < end:
            probed = d.query("SELECT count(DISTINCT target_id) FROM failures")[0][0]
            if probed == 10000:
                break
            time.sleep(0.5)
        assert probed == 10000, probed
    finally:
        rc = d.stop()
    assert rc == 0, d.log()[-2000:]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_database_deleted_or_replaced_under_the_daemon(tmp_path, how):
    """The database file is removed, or another file is moved into its
    place, while netdiagd writes: one clear log line, no crash, nothing is
    written into the new file, and the rows committed before are intact in
    the copy the operator kept."""
    port = closed_port()
    d = Daemon(tmp_path, "[defaults]\ninterval = 100ms\ntimeout = 50ms\n\n" + targets(5, port))
    try:
        d.wait_log(r"started: 5 targets")
        time.sleep(2.0)
        kept = tmp_path / "kept.db"
        # what an operator would do: copy the file with sqlite3's backup
        src = sqlite3.connect(str(d.db))
        dst = sqlite3.connect(str(kept))
        src.backup(dst)
        src.close()
        dst.close()
        before = sqlite3.connect(str(kept)).execute("SELECT count(*) FROM failures").fetchone()[0]
        assert before > 0
        for suffix in ("", "-wal", "-shm"):
            p = tmp_path / ("netdiag.db" + suffix)
            if p.exists():
                p.unlink()
        if how == "replaced":
            other = sqlite3.connect(str(d.db))
            other.execute("CREATE TABLE mine (x)")
            other.execute("INSERT INTO mine VALUES (42)")
            other.commit()
            other.close()
        d.wait_log(r"database %s was %s while netdiagd was running" % (re.escape(str(d.db)),
                                                                       how))
        time.sleep(2.0)
        assert d.proc.poll() is None, d.log()[-2000:]
        assert len(re.findall(r"was %s while netdiagd" % how, d.log())) == 1
        if how == "replaced":
            con = sqlite3.connect(str(d.db))
            assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("mine",)]
            assert con.execute("SELECT x FROM mine").fetchall() == [(42,)]
            con.close()
        else:
            assert not d.db.exists()
        con = sqlite3.connect(str(kept))
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == before
        con.close()
    finally:
        rc = d.stop()
    assert rc == 0, d.log()[-2000:]


def test_state_directory_made_read_only():
    """netdiagd runs as an unprivileged user and its state directory turns
    read-only (chmod 0555) under it: the open database keeps working (WAL
    needs no new files), nothing is lost, exit 0; and a restart in that
    state opens the existing files and goes on, instead of crash-looping."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to run the daemon as nobody) and setpriv")
    import tempfile
    top = tempfile.mkdtemp(prefix="netdiag-ro-")  # reachable by nobody
    try:
        os.chmod(top, 0o755)
        state = os.path.join(top, "state")
        os.mkdir(state)
        os.chown(state, 65534, 65534)
        port = closed_port()
        cfg = os.path.join(top, "netdiag.ini")
        with open(cfg, "w") as f:
            f.write("[daemon]\ndatabase = %s/netdiag.db\n\n[defaults]\ninterval = 100ms\n"
                    "timeout = 50ms\n\n%s" % (state, targets(5, port)))
        os.chmod(cfg, 0o644)
        asnobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        logf = os.path.join(top, "netdiagd.log")
        db = os.path.join(state, "netdiag.db")
        with open(logf, "w") as err:
            proc = subprocess.Popen(asnobody + [NETDIAGD, "-c", cfg], stderr=err)
            try:
                end = time.monotonic() + 20
                while "started: 5 targets" not in open(logf).read():
                    assert proc.poll() is None and time.monotonic() < end, open(logf).read()
                    time.sleep(0.05)
                time.sleep(1.0)
                os.chmod(state, 0o555)
                time.sleep(2.5)
                assert proc.poll() is None, open(logf).read()[-2000:]
            finally:
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(timeout=30)
        text = open(logf).read()
        assert rc == 0, text[-2000:]
        results, failures, stored, dropped = map(int, STOPPED.search(text).groups())
        assert dropped == 0 and stored == failures > 0
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == stored
        con.close()
        # a restart with the directory still read-only: the database and its
        # kept -wal/-shm exist, so it opens and goes on (no crash loop)
        with open(logf, "w") as err:
            proc = subprocess.Popen(asnobody + [NETDIAGD, "-c", cfg], stderr=err)
            time.sleep(2.5)
            assert proc.poll() is None, open(logf).read()[-2000:]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, open(logf).read()[-2000:]
        r2, f2, stored2, dropped2 = map(int, STOPPED.search(open(logf).read()).groups())
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        assert con.execute("SELECT count(*) FROM failures").fetchone()[0] == stored + stored2
        con.close()
    finally:
        os.chmod(os.path.join(top, "state"), 0o755)
        shutil.rmtree(top)
