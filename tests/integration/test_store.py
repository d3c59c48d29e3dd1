"""The store end to end: the real netdiagd writing its database while the
tests stop it, kill it, lock the database, fill the disk and hand it files
it must refuse. Every probe goes to a closed loopback port, so every
attempt is a fast WSAECONNREFUSED failure and the counts are exact."""

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import NETDIAG, NETDIAGD, closed_port

APPLICATION_ID = 1313097031
SCHEMA_V1 = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit",
                         "schema_v1.sql")
STOPPED = re.compile(r"stopped: (\d+) results, (\d+) failures, \d+ failure rows stored, (\d+) dropped")


def write_config(directory, db, ntargets=5, interval="10ms", timeout="5ms"):
    lines = ["[daemon]", "database = %s" % db, "log_level = info", "retention = 30d", "",
             "[defaults]", "interval = %s" % interval, "timeout = %s" % timeout, ""]
    for i in range(ntargets):
        lines += ["[target closed%02d]" % i, "kind = connect", "host = 127.0.0.1",
                  "port = %d" % closed_port(), ""]
    path = os.path.join(str(directory), "netdiag.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


class Daemon:
    """netdiagd -c CFG in the background, its stderr in a file."""

    def __init__(self, cfg, user=None):
        self.errpath = cfg + ".stderr"
        self.errfile = open(self.errpath, "w")
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user}
        self.proc = subprocess.Popen([NETDIAGD, "-c", cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.errfile, **kw)

    def log(self):
        with open(self.errpath) as f:
            return f.read()

    def wait_log(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            if self.proc.poll() is not None:
                return bool(re.search(pattern, self.log()))
            time.sleep(0.05)
        return False

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.errfile.close()
        return rc

    def exit_code(self, timeout=10):
        """Waits for the daemon to exit on its own."""
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.errfile.close()

    def stopped_counts(self):
        m = STOPPED.search(self.log())
        assert m, self.log()
        return tuple(int(x) for x in m.groups())


@pytest.fixture
def daemons():
    made = []

    def start(cfg, user=None):
        d = Daemon(cfg, user)
        made.append(d)
        return d

    yield start
    for d in made:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        if not d.errfile.closed:
            d.errfile.close()


def ro(db):
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True)


def q(db, sql):
    con = ro(db)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def fingerprint(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), st.st_size, st.st_mtime_ns


def test_sigterm_flushes_everything(tmp_path, daemons):
    db = str(tmp_path / "nd.db")
    cfg = write_config(tmp_path, db, ntargets=10)
    d = daemons(cfg)
    assert d.wait_log(r"started:"), d.log()
    time.sleep(2.5)
    assert d.stop() == 0, d.log()
    results, failures, dropped = d.stopped_counts()
    assert results > 500 and failures == results and dropped == 0, d.log()
    # every probe failed: one row each, and every attempt in the rollups
    assert q(db, "SELECT count(*) FROM failures") == results
    assert q(db, "SELECT sum(attempts) FROM rollup_minute") == results
    assert q(db, "SELECT sum(failures) FROM rollup_hour") == results
    assert q(db, "SELECT count(*) FROM failures_v WHERE wsa_name = 'WSAECONNREFUSED' "
                 "AND raw = 'ECONNREFUSED' AND phase = 'connect'") == results
    assert q(db, "SELECT count(*) FROM targets") == 10
    assert q(db, "PRAGMA application_id") == APPLICATION_ID
    # the WAL is kept for read-only readers, the mode is 0640
    assert os.path.exists(db + "-wal") and os.path.exists(db + "-shm")
    assert os.stat(db).st_mode & 0o777 == 0o640


# Addresses as probes give them, and texts that only look like them: the
# migration from schema version 1 must give every one back unchanged.
V1_ADDRS = ["127.0.0.1:40312", "[::1]:53", "[fe80::1]:1", "[2001:db8::10]:65535",
            "127.0.0.1:0", "h\u00f4te:80", "127.0.0.1:00053", "127.0.0.1:65536", "localhost",
            "::1", "::1:53", ":53", "[abc]:80", "[::1]", "x:", "", None]
V1_RAWS = ["ECONNREFUSED", "ETIMEDOUT", "EAI_NONAME", "SERVFAIL", "MISMATCH", "", None]


def make_v1_db(db, base_ms, rows=300):
    """A database of schema version 1 (tests/unit/schema_v1.sql) as
    netdiagd 0.1.0 left it, with two targets and `rows` failures of every
    shape from base_ms on, 10 ms apart."""
    codes = json.loads(subprocess.run([NETDIAG, "codes", "--format", "json"], check=True,
                                      capture_output=True, text=True).stdout)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA auto_vacuum = INCREMENTAL")
    con.execute("PRAGMA journal_mode = WAL")
    with open(SCHEMA_V1, encoding="utf-8") as f:
        con.executescript("BEGIN;" + f.read() + "COMMIT;")
    con.execute("PRAGMA application_id = %d" % APPLICATION_ID)
    con.execute("PRAGMA user_version = 1")
    con.execute("BEGIN")
    con.executemany("INSERT INTO wsa_codes VALUES (?, ?, ?, '', ?)",
                    [(c["code"], c["name"], c["meaning"], int(c["os_dependent"])) for c in codes])
    con.execute("INSERT INTO targets (id, name, kind, host, port, family, interval_ms, "
                "timeout_ms, created, updated) VALUES (1, 'old-web', 'connect', '::1', 8080, "
                "'any', 10000, 3000, ?, ?)", (base_ms, base_ms))
    con.execute("INSERT INTO targets (id, name, kind, qname, qtype, server, family, interval_ms, "
                "timeout_ms, created, updated) VALUES (2, 'old-dns', 'resolve', 'example.test', "
                "'A', '[::1]:5353', 'any', 10000, 3000, ?, ?)", (base_ms, base_ms))
    n = len(V1_ADDRS)
    con.executemany(
        "INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw, raw_value, detail, "
        "latency_us, local, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(base_ms + 10 * (i // 2), 1 + i % 2 if i % 7 else 1, 0 if i % 7 else i % 2, i % 6,
          (10061, 10060, 11001, 10054)[i % 4], V1_RAWS[i % len(V1_RAWS)],
          None if i % 5 == 0 else i - 100, None if i % 3 == 0 else "detail %d" % i,
          None if i % 11 == 0 else 50 + i, V1_ADDRS[i % n], V1_ADDRS[(n - 1 - i) % n])
         for i in range(rows)])
    con.execute("COMMIT")
    con.close()


def test_migrates_a_version_1_database(tmp_path, daemons):
    """netdiagd started on a database of schema version 1 converts it in
    place: every failure reads back the same through failures_v and through
    netdiag, and new failures are stored beside them."""
    db = str(tmp_path / "nd.db")
    base = int(time.time() * 1000) - 3600 * 1000
    make_v1_db(db, base)
    view = "SELECT * FROM failures_v WHERE target_id IN (1, 2) ORDER BY ts, target_id, raw_value, latency_us"
    con = ro(db)
    before = con.execute(view).fetchall()
    con.close()
    assert len(before) == 300

    def client_rows():
        out = subprocess.run([NETDIAG, "--db", db, "failures", "--limit", "0", "--format",
                              "json", "--target", "old-*"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    shown = client_rows()
    assert len(shown) == 300
    assert {r["remote"] for r in shown} == set(V1_ADDRS)  # empty text stays empty

    cfg = write_config(tmp_path, db, ntargets=2)
    d = daemons(cfg)
    assert d.wait_log(r"started:"), d.log()
    assert "migrated from schema version 1 to 2" in d.log()
    time.sleep(1.5)
    assert d.stop() == 0, d.log()
    results, _, dropped = d.stopped_counts()
    assert results > 0 and dropped == 0

    con = ro(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute(view).fetchall() == before
    assert con.execute("SELECT count(*) FROM failures WHERE target_id NOT IN (1, 2)"
                       ).fetchone()[0] == results
    # the columns of schema version 1 are gone from the table
    cols = [r[1] for r in con.execute("PRAGMA table_info(failures)")]
    assert "raw" not in cols and "remote_port" in cols
    con.close()
    assert client_rows() == shown


def test_kill9_then_restart(tmp_path, daemons):
    db = str(tmp_path / "nd.db")
    cfg = write_config(tmp_path, db, ntargets=40)
    d = daemons(cfg)
    assert d.wait_log(r"started:"), d.log()
    time.sleep(3)
    killed_ms = int(time.time() * 1000)
    d.stop(signal.SIGKILL)
    con = ro(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    before = con.execute("SELECT count(*) FROM failures").fetchone()[0]
    newest = con.execute("SELECT max(ts) FROM failures").fetchone()[0]
    con.close()
    assert before > 1000  # it was writing hard
    # what a kill -9 loses: the results of the batch being gathered, at most
    # one batch window (1 s) plus the probe in flight
    lost_ms = killed_ms - newest
    print("kill -9: the newest stored result is %d ms older than the kill" % lost_ms)
    assert lost_ms <= 2500, lost_ms
    d2 = daemons(cfg)
    assert d2.wait_log(r"started:"), d2.log()
    time.sleep(1.5)
    assert d2.stop() == 0, d2.log()
    results, _, dropped = d2.stopped_counts()
    assert dropped == 0
    assert q(db, "SELECT count(*) FROM failures") == before + results
    assert q(db, "PRAGMA integrity_check") == "ok"


def test_write_lock_held_by_another_process(tmp_path, daemons):
    db = str(tmp_path / "nd.db")
    cfg = write_config(tmp_path, db, ntargets=10)
    d = daemons(cfg)
    assert d.wait_log(r"started:"), d.log()
    time.sleep(1)
    # another process takes the write lock for 4 s
    locker = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(4)\n"
         "c.execute('COMMIT')\n", db],
        stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"
    assert d.wait_log(r"locked by another process", timeout=5), d.log()
    assert locker.wait(timeout=10) == 0
    assert d.wait_log(r"writable again", timeout=5), d.log()
    time.sleep(1)
    assert d.stop() == 0, d.log()
    results, _, dropped = d.stopped_counts()
    assert dropped == 0, d.log()
    assert q(db, "SELECT count(*) FROM failures") == results
    assert q(db, "SELECT sum(attempts) FROM rollup_minute") == results


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.decode().strip())


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def test_disk_full_keeps_running_and_resumes(tmp_path, daemons):
    mnt = str(tmp_path / "small")
    # room for what the run stores once the filler is gone (~40k rows and
    # a 16384-row batch in the WAL), so the end is not a second disk full
    mount_tmpfs(mnt, "8m")
    try:
        db = os.path.join(mnt, "nd.db")
        cfg = write_config(tmp_path, db, ntargets=40)
        d = daemons(cfg)
        assert d.wait_log(r"started:"), d.log()
        time.sleep(0.5)
        # take every free byte
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        assert d.wait_log(r"disk full", timeout=10), d.log()
        # ~4000 results/s: the 32768-result queue overflows in about 8 s
        assert d.wait_log(r"queue full", timeout=30), d.log()
        assert d.proc.poll() is None, d.log()  # still running
        assert d.log().count("disk full") == 1, d.log()  # logged once, not per result
        os.unlink(filler)
        assert d.wait_log(r"writable again", timeout=10), d.log()
        assert d.wait_log(r"queue drained, \d+ results were dropped", timeout=10), d.log()
        time.sleep(1)
        assert d.stop() == 0, d.log()
        results, _, dropped = d.stopped_counts()
        assert dropped > 0, d.log()
        stored = q(db, "SELECT count(*) FROM failures")
        assert stored == results - dropped, d.log()
        assert q(db, "SELECT sum(attempts) FROM rollup_minute") == stored, d.log()
        assert q(db, "PRAGMA integrity_check") == "ok"
    finally:
        umount(mnt)


def test_refuses_nearly_full_filesystem(tmp_path, daemons):
    mnt = str(tmp_path / "tiny")
    mount_tmpfs(mnt, "512k")
    try:
        db = os.path.join(mnt, "nd.db")
        cfg = write_config(tmp_path, db, ntargets=1)
        d = daemons(cfg)
        assert d.exit_code() == 1, d.log()
        errors = [l for l in d.log().splitlines() if re.match(r"[-\d]+ [:.\d]+ netdiagd: error:", l)]
        assert len(errors) == 1 and db in errors[0] and "free" in errors[0], d.log()
        assert not os.path.exists(db)
    finally:
        umount(mnt)


def refused(cfg, db, daemons, words, user=None):
    """netdiagd exits 1 with one error line naming the file, which it
    leaves as it was."""
    before = fingerprint(db)
    d = daemons(cfg, user)
    assert d.exit_code() == 1, d.log()
    errors = [l for l in d.log().splitlines() if re.match(r"[-\d]+ [:.\d]+ netdiagd: error:", l)]
    assert len(errors) == 1, d.log()
    assert db in errors[0], errors
    assert re.search(words, errors[0]), errors
    assert fingerprint(db) == before


def test_refuses_foreign_database(tmp_path, daemons):
    db = str(tmp_path / "other.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
    con.execute("INSERT INTO accounts (owner) VALUES ('alice')")
    con.commit()
    con.close()
    cfg = write_config(tmp_path, db, ntargets=1)
    refused(cfg, db, daemons, r"not a netdiag database")
    assert not os.path.exists(db + "-wal")


def test_refuses_garbage(tmp_path, daemons):
    db = str(tmp_path / "garbage.db")
    with open(db, "wb") as f:
        f.write(bytes((i * 7919 + 13) & 0xFF for i in range(16384)))
    cfg = write_config(tmp_path, db, ntargets=1)
    refused(cfg, db, daemons, r"not an SQLite database")


def make_netdiag_db(tmp_path, daemons, db, seconds=1.5):
    cfg = write_config(tmp_path, db, ntargets=20)
    d = daemons(cfg)
    assert d.wait_log(r"started:"), d.log()
    time.sleep(seconds)
    assert d.stop() == 0, d.log()
    # fold the WAL in so the file alone is the database
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return cfg


def test_refuses_corrupt(tmp_path, daemons):
    db = str(tmp_path / "nd.db")
    cfg = make_netdiag_db(tmp_path, daemons, db)
    pages = q(db, "PRAGMA page_count")
    assert pages > 20
    with open(db, "r+b") as f:
        f.seek((pages // 2) * 4096)
        f.write(bytes((i * 131 + 3) & 0xFF for i in range(4096)))
    refused(cfg, db, daemons, r"corrupt")


def test_refuses_newer_schema(tmp_path, daemons):
    db = str(tmp_path / "nd.db")
    cfg = make_netdiag_db(tmp_path, daemons, db, seconds=0.5)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    refused(cfg, db, daemons, r"newer")


def test_refuses_unwritable(daemons):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the daemon as another user")
    # a directory everyone may enter, files nobody but root may write
    top = tempfile.mkdtemp(prefix="netdiag-store-")
    try:
        os.chmod(top, 0o755)
        db = os.path.join(top, "nd.db")
        make_netdiag_db(top, daemons, db, seconds=0.5)
        for p in (db, db + "-wal", db + "-shm"):
            if os.path.exists(p):
                os.chmod(p, 0o644)
        cfg = os.path.join(top, "netdiag.ini")
        os.chmod(cfg, 0o644)
        refused(cfg, db, daemons, r"not writable", user=65534)
    finally:
        subprocess.run(["rm", "-rf", top])


def test_group_member_reads_without_write_access(daemons):
    """The files are 0640: a member of their group who may not write the
    directory (nor the -shm) reads the database read-only, while the daemon
    runs and after it stopped (the -wal and -shm are kept)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to read as another user")
    top = tempfile.mkdtemp(prefix="netdiag-store-")
    reader = ("import sqlite3, sys\n"
              "c = sqlite3.connect('file:%s?mode=ro' % sys.argv[1], uri=True)\n"
              "print(c.execute('SELECT count(*) FROM failures_v').fetchone()[0])\n")

    def read_as_nobody(db):
        r = subprocess.run(["/usr/bin/python3", "-c", reader, db], capture_output=True,
                           text=True, user=65534, group=65534, timeout=10)
        assert r.returncode == 0, r.stderr
        return int(r.stdout)

    try:
        os.chmod(top, 0o755)
        db = os.path.join(top, "nd.db")
        cfg = write_config(top, db, ntargets=5)
        d = daemons(cfg)
        assert d.wait_log(r"started:"), d.log()
        time.sleep(1.5)
        for p in (db, db + "-wal", db + "-shm"):
            assert os.stat(p).st_mode & 0o777 == 0o640, p
            os.chown(p, 0, 65534)
        assert read_as_nobody(db) > 0
        assert d.stop() == 0, d.log()
        results, _, dropped = d.stopped_counts()
        assert read_as_nobody(db) == results - dropped
    finally:
        subprocess.run(["rm", "-rf", top])
