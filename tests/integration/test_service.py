# SPDX-License-Identifier: ISC
"""netdiagd as a service: the systemd notify protocol over a fake
$NOTIFY_SOCKET the tests bind themselves, SIGHUP reloads (good, then bad)
checked in the database, SIGTERM/SIGINT with a flush under load, the
command line and its exit codes, and what the daemon logs (journald level
prefixes, state changes only). Every target is a closed loopback port."""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import conftest
from conftest import NETDIAG, NETDIAGD, REPO, closed_port

STOPPED = re.compile(r"stopped: (\d+) results, (\d+) failures, (\d+) failure rows stored, "
                     r"(\d+) dropped")
STATUS = re.compile(r"^STATUS=(\d+) targets, (\d+) probes/s, (\d+) alerts firing\b")
# a foreground line's local time stamp: "2026-12-07 18:30:01.123 "
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "


def target(name, port, *extra):
    return ["[target %s]" % name, "kind = connect", "host = 127.0.0.1", "port = %d" % port,
            *extra, ""]


def write_config(path, db, sections, interval="200ms", timeout="100ms", log_level="info"):
    """Write a config atomically (a reload never reads half a file); return
    its lines so that a test can name the line an error is on."""
    lines = ["[daemon]", "database = %s" % db, "log_level = %s" % log_level, "",
             "[defaults]", "interval = %s" % interval, "timeout = %s" % timeout, ""]
    for s in sections:
        lines += s
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, str(path))
    return lines


def line_of(lines, text, after=None):
    """1-based number of the first line equal to `text` (after line `after`)."""
    start = 0 if after is None else lines.index(after) + 1
    return lines.index(text, start) + 1


def query(db, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def wait_for(cond, timeout, what, proc=None, log=None):
    """Poll cond() every 50 ms until it is true; fail after `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s%s" % (what, "\n" + log() if log else ""))


class NotifySocket:
    """What systemd does for Type=notify: an AF_UNIX datagram socket whose
    path goes to the daemon in $NOTIFY_SOCKET. A thread records every
    datagram with its arrival time and sender pid (SCM_CREDENTIALS, which
    NotifyAccess=main checks); on READY=1 it looks at the database at once,
    so a READY=1 sent before the store was open shows up."""

    def __init__(self, tmp_path, db, name="notify.sock"):
        path = os.path.join(str(tmp_path), name)
        self.tmpdir = None
        if len(path.encode()) >= 100:  # sun_path holds 108 bytes
            self.tmpdir = tempfile.mkdtemp(prefix="nd-notify-")
            path = os.path.join(self.tmpdir, name)
        self.path = path
        self.db = str(db)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.lock = threading.Lock()
        self.msgs = []  # dicts: t (monotonic), pid, lines, targets_at_ready
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _targets_in_db(self):
        if not os.path.exists(self.db):
            return None
        try:
            return query(self.db, "SELECT count(*) FROM targets WHERE retired IS NULL")[0][0]
        except sqlite3.Error as e:
            return "error: %s" % e

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            except OSError:
                return
            t = time.monotonic()
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iii", cdata[:12])[0]
            lines = data.decode().split("\n")
            msg = {"t": t, "pid": pid, "lines": lines}
            if "READY=1" in lines:
                msg["targets_at_ready"] = self._targets_in_db()
            with self.lock:
                self.msgs.append(msg)

    def messages(self):
        with self.lock:
            return list(self.msgs)

    def states(self):
        """Every line of every datagram, in order."""
        return [line for m in self.messages() for line in m["lines"]]

    def count(self, line):
        return self.states().count(line)

    def close(self):
        self.stop_ev.set()
        self.thread.join(timeout=2)
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


class Daemon(conftest.Daemon):
    """netdiagd -c CFG in the background, stderr in a file, a given env."""

    def environ(self, env):
        full_env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            full_env.pop(k, None)
        full_env.update(env or {})
        if full_env.get("JOURNAL_STREAM") == "stderr":
            # what systemd sets: the device and inode of the stream stderr is
            st = os.fstat(self.errfile.fileno())
            full_env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        return full_env

    def wait_log(self, pattern, timeout=10.0, count=1):
        return wait_for(lambda: self.count(pattern, re.M) >= count, timeout,
                        "%r in the log" % pattern, self.proc, self.log)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal, wait, return (exit code, seconds it took)."""
        t0 = time.monotonic()
        rc = super().stop(sig, timeout)
        return rc, time.monotonic() - t0


@pytest.fixture
def cleanup():
    """Things to close whatever a test's outcome; daemons are killed."""
    items = []
    yield items
    for it in reversed(items):
        if isinstance(it, Daemon):
            it.kill()
        else:
            it.close()


# ---- sd_notify --------------------------------------------------------------


def test_notify_ready_status_watchdog_reload_stopping(tmp_path, cleanup):
    """READY=1 only once the database holds the targets, STATUS= lines with
    targets and probes/s, WATCHDOG=1 every second with WATCHDOG_USEC=2 s,
    RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a good and a bad
    reload, STOPPING=1 on SIGTERM; all sent by the daemon's own pid."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [target("a", port), target("b", port), target("c", port)])
    ns = NotifySocket(tmp_path, db)
    cleanup.append(ns)
    d = Daemon(cfg, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "2000000"})
    cleanup.append(d)

    wait_for(lambda: ns.count("READY=1") >= 1, 10, "READY=1", d.proc, d.log)
    ready = [m for m in ns.messages() if "READY=1" in m["lines"]][0]
    # the database was open and the targets recorded when READY=1 arrived
    assert ready["targets_at_ready"] == 3, ready
    assert "STATUS=3 targets" in ready["lines"]
    # nothing before READY=1 but (possibly) STATUS
    first = ns.messages()
    assert all(line.startswith("STATUS=") for m in first[:first.index(ready)]
               for line in m["lines"]), first

    # STATUS once a second, with probes/s counted (3 targets at 200 ms: ~15/s)
    def busy_status():
        return [STATUS.match(s) for s in ns.states() if STATUS.match(s)
                and int(STATUS.match(s).group(2)) > 0]
    st = wait_for(busy_status, 5, "a STATUS= line with probes/s > 0", d.proc, d.log)[0]
    assert st.group(1) == "3" and st.group(3) == "0", st.group(0)
    assert 5 <= int(st.group(2)) <= 30, st.group(0)
    wait_for(lambda: ns.count("WATCHDOG=1") >= 2, 5, "two WATCHDOG=1", d.proc, d.log)
    wd_times = [m["t"] for m in ns.messages() if "WATCHDOG=1" in m["lines"]]
    # well inside WATCHDOG_USEC (2 s): systemd advises half of it
    assert all(b - a < 1.5 for a, b in zip(wd_times, wd_times[1:])), wd_times

    # a good reload: RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload
    # wants), then READY=1
    n = len(ns.messages())
    write_config(cfg, db, [target("a", port), target("b", port), target("c", port),
                           target("d", port)])
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any("READY=1" in m["lines"] for m in ns.messages()[n:]), 5,
             "READY=1 after the reload", d.proc, d.log)
    after = ns.messages()[n:]
    kinds = [line for m in after for line in m["lines"] if line in ("RELOADING=1", "READY=1")]
    assert kinds[:2] == ["RELOADING=1", "READY=1"], after
    reloading = [m for m in after if "RELOADING=1" in m["lines"]][0]
    mono = [line for line in reloading["lines"] if line.startswith("MONOTONIC_USEC=")]
    assert len(mono) == 1, reloading
    # the same clock as time.monotonic() (CLOCK_MONOTONIC), taken just before
    assert 0 <= reloading["t"] - int(mono[0].split("=", 1)[1]) / 1e6 < 2.0, reloading
    ready2 = [m for m in after if "READY=1" in m["lines"]][0]
    assert ready2["targets_at_ready"] == 4
    assert "STATUS=reloaded, 4 targets" in ready2["lines"], ready2
    wait_for(lambda: any(STATUS.match(s) and STATUS.match(s).group(1) == "4"
                         for s in ns.states()), 3, "STATUS with 4 targets", d.proc, d.log)

    # a bad reload: RELOADING=1 then READY=1 again (still running), and a
    # STATUS saying so
    n = len(ns.messages())
    write_config(cfg, db, [target("a", port, "family = ip4")])
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: any("READY=1" in m["lines"] for m in ns.messages()[n:]), 5,
             "READY=1 after the bad reload", d.proc, d.log)
    after = ns.messages()[n:]
    kinds = [line for m in after for line in m["lines"] if line in ("RELOADING=1", "READY=1")]
    assert kinds[:2] == ["RELOADING=1", "READY=1"], after
    assert any(re.match(r"STATUS=reload failed", line) for m in after for line in m["lines"])
    wd_before = ns.count("WATCHDOG=1")
    wait_for(lambda: ns.count("WATCHDOG=1") > wd_before, 3, "WATCHDOG=1 after a bad reload",
             d.proc, d.log)

    rc, took = d.stop()
    assert rc == 0, d.log()
    states = ns.states()
    assert "STOPPING=1" in states
    stop_at = states.index("STOPPING=1")
    assert "READY=1" not in states[stop_at:] and "WATCHDOG=1" not in states[stop_at:], states
    assert {m["pid"] for m in ns.messages()} == {d.proc.pid}


class ThreadFreezer:
    """Stop single threads of another process with ptrace (PTRACE_SEIZE +
    PTRACE_INTERRUPT stop one thread; SIGSTOP would stop them all), and
    let them go again with PTRACE_DETACH."""

    PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
    WALL = 0x40000000

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                     ctypes.c_void_p]
        self.libc.ptrace.restype = ctypes.c_long
        self.frozen = []

    def _ptrace(self, req, tid):
        if self.libc.ptrace(req, tid, None, None) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "ptrace(%#x, %d): %s" % (req, tid, os.strerror(e)))

    def freeze(self, tid):
        self._ptrace(self.PTRACE_SEIZE, tid)
        self.frozen.append(tid)
        self._ptrace(self.PTRACE_INTERRUPT, tid)
        os.waitpid(tid, self.WALL)  # the thread is stopped now

    def close(self):
        for tid in self.frozen:
            try:
                self._ptrace(self.PTRACE_DETACH, tid)
            except OSError:
                pass
        self.frozen = []


def test_watchdog_stops_while_the_writer_thread_hangs(tmp_path, cleanup):
    """The database writer thread is frozen (ptrace) while the loop runs on:
    WATCHDOG=1 stops, so that systemd restarts a daemon that would only
    fill its queue; once the writer runs again, so does the watchdog. (A
    locked or full database is not a hang: the writer keeps waking up and
    retrying, and says so in the log.)"""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [target("a", port), target("b", port)], interval="50ms",
                 timeout="40ms")
    ns = NotifySocket(tmp_path, db)
    cleanup.append(ns)
    d = Daemon(cfg, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "2000000"})
    cleanup.append(d)
    wait_for(lambda: ns.count("WATCHDOG=1") >= 1, 6, "WATCHDOG=1", d.proc, d.log)
    others = [int(t) for t in os.listdir("/proc/%d/task" % d.proc.pid) if int(t) != d.proc.pid]
    assert others, "no writer thread"
    fr = ThreadFreezer()
    cleanup.append(fr)
    try:
        for tid in others:
            fr.freeze(tid)
    except OSError as e:
        pytest.skip("cannot ptrace a thread here: %s" % e)
    frozen_at = time.monotonic()
    time.sleep(6.5)
    fr.close()
    thawed_at = time.monotonic()
    wait_for(lambda: any(m["t"] > thawed_at and "WATCHDOG=1" in m["lines"]
                         for m in ns.messages()), 3, "WATCHDOG=1 after the thaw",
             d.proc, d.log)
    wd = [m["t"] for m in ns.messages() if "WATCHDOG=1" in m["lines"]]
    # the loop went on (STATUS every second) but the watchdog fell silent:
    # with ticks one second apart, a gap of 1.5 s is a skipped ping
    status = [m["t"] for m in ns.messages()
              if any(line.startswith("STATUS=") for line in m["lines"])]
    assert len([t for t in status if frozen_at < t < thawed_at]) >= 5, status
    gaps = [b - a for a, b in zip(wd, wd[1:]) if b > frozen_at and a < thawed_at + 0.5]
    assert max(gaps) >= 1.5, (frozen_at, thawed_at, wd)
    rc, _ = d.stop()
    assert rc == 0, d.log()


@pytest.mark.parametrize("case", ["database", "config"])
def test_no_ready_when_start_fails(tmp_path, cleanup, case):
    """No READY=1 when the database cannot be opened (exit 1: a file
    that is not a database) or the configuration is bad (exit 2): systemd
    must see the start fail."""
    db = tmp_path / "netdiag.db"
    db.write_bytes(b"not a database, " * 64)
    cfg = tmp_path / "netdiag.ini"
    extra = ("port = 99999",) if case == "config" else ()
    write_config(cfg, db, [target("a", closed_port(), *extra)])
    ns = NotifySocket(tmp_path, db)
    cleanup.append(ns)
    d = Daemon(cfg, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "2000000"})
    cleanup.append(d)
    rc = d.proc.wait(timeout=10)
    time.sleep(0.2)  # let the listener thread drain its socket
    assert rc == (1 if case == "database" else 2), d.log()
    assert "READY=1" not in ns.states(), ns.states()
    assert "WATCHDOG=1" not in ns.states()
    assert str(db if case == "database" else cfg) in d.log()


# ---- SIGHUP -----------------------------------------------------------------


def test_reload_good_then_bad_then_query(tmp_path, cleanup):
    """Two reloads, then the database and the client are asked. The good
    one adds a target, removes one (retired, no new rows) and changes the
    port of a third (new rows go to the new port); the unchanged target
    keeps its id, its history and its schedule (probes stay one interval
    apart across the reload). The bad one is refused with file:line errors
    and the good config keeps running."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port_a, port_b = closed_port(), closed_port()
    while port_b == port_a:
        port_b = closed_port()
    keep = target("keep", port_a, "interval = 1s", "timeout = 500ms")
    write_config(cfg, db, [keep, target("drop", port_a), target("change", port_a)])
    ns = NotifySocket(tmp_path, db)
    cleanup.append(ns)
    # -d: the engine says how many targets it carried over
    d = Daemon(cfg, args=("-d",), env={"NOTIFY_SOCKET": ns.path})
    cleanup.append(d)

    def rows(name, since=0):
        return query(db, "SELECT f.ts, f.remote FROM failures_v f JOIN targets t "
                     "ON t.id = f.target_id WHERE t.name = ? AND f.ts > ? ORDER BY f.ts",
                     (name, since))

    wait_for(lambda: ns.count("READY=1") >= 1, 10, "READY=1", d.proc, d.log)
    wait_for(lambda: all(rows(n) for n in ("keep", "drop", "change")), 6,
             "first failures of keep, drop, change", d.proc, d.log)
    keep_before = query(db, "SELECT id, created, updated FROM targets WHERE name = 'keep'")
    change_before = query(db, "SELECT id, updated FROM targets WHERE name = 'change'")

    reload_ms = int(time.time() * 1000)
    lines = write_config(cfg, db, [keep, target("change", port_b), target("add", port_a)])
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"reloaded: 3 targets", timeout=5)
    d.wait_log(r"engine: 3 targets, 1 kept from the previous config", timeout=1)
    wait_for(lambda: rows("add") and rows("change", reload_ms + 300) and
             len(rows("keep", reload_ms)) >= 2, 6,
             "rows of add, change and keep after the reload", d.proc, d.log)

    # removed: retired, nothing stored after the retirement
    retired = query(db, "SELECT retired FROM targets WHERE name = 'drop'")[0][0]
    assert retired is not None and retired >= reload_ms - 1000, retired
    assert rows("drop", retired) == []
    # changed: same row, new definition, its new rows go to the new port
    change_after = query(db, "SELECT id, updated FROM targets WHERE name = 'change'")
    assert change_after[0][0] == change_before[0][0]
    assert change_after[0][1] > change_before[0][1]
    assert {r[1] for r in rows("change", reload_ms + 300)} == {"127.0.0.1:%d" % port_b}
    # unchanged: same id, created and updated; history before the reload
    # still there; probes one interval (1 s) apart across the reload, where
    # a restarted schedule would start at a random point of the interval
    assert query(db, "SELECT id, created, updated FROM targets WHERE name = 'keep'") == \
        keep_before
    ts = [r[0] for r in rows("keep")]
    assert ts[0] < reload_ms < ts[-1], (ts, reload_ms)
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert all(850 <= g <= 1150 for g in gaps), gaps

    # the bad reload: two errors, each as file:line; the good config stays
    bad = [keep, target("change", port_b), target("add", port_a),
           target("broken", port_a, "family = ip4", "timeout = 1h")]
    bad_lines = write_config(cfg, db, bad)
    assert bad_lines[:len(lines)] == lines
    line_family = line_of(bad_lines, "family = ip4")
    line_timeout = line_of(bad_lines, "timeout = 1h")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"reload failed: 2 errors in %s; still running the previous configuration"
               % re.escape(str(cfg)), timeout=5)
    log = d.log()
    assert re.search(STAMP + r"netdiagd: error: %s:%d: \[target broken\] family: "
                     % (re.escape(str(cfg)), line_family), log, re.M), log
    assert re.search(STAMP + r"netdiagd: error: %s:%d: \[target broken\] timeout: "
                     % (re.escape(str(cfg)), line_timeout), log, re.M), log
    bad_ms = int(time.time() * 1000)
    wait_for(lambda: all(rows(n, bad_ms) for n in ("keep", "change", "add")), 5,
             "probing after the bad reload", d.proc, d.log)
    assert query(db, "SELECT count(*) FROM targets WHERE name = 'broken'") == [(0,)]
    assert rows("drop", retired) == []
    assert d.proc.poll() is None

    # the client's view of the same history
    out = subprocess.run([NETDIAG, "--db", str(db), "targets", "--format", "json"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    by_name = {t["target"]: t for t in json.loads(out.stdout)}
    assert sorted(by_name) == ["add", "change", "drop", "keep"], by_name
    assert by_name["drop"]["retired"] and not by_name["keep"]["retired"], by_name
    assert by_name["add"]["failures"] >= 1 and by_name["add"]["last_code"] == 10061
    assert by_name["change"]["address"] == "127.0.0.1:%d" % port_b
    rc, _ = d.stop()
    assert rc == 0, d.log()[-3000:]
    # READY=1 after each RELOADING=1, and never a watchdog without WATCHDOG_USEC
    seq = [s for s in ns.states() if s in ("READY=1", "RELOADING=1")]
    assert seq == ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1"], seq
    assert "WATCHDOG=1" not in ns.states()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stored_since(db, name, since_ms):
    return query(db, "SELECT count(*) FROM failures f JOIN targets t ON t.id = f.target_id "
                 "WHERE t.name = ? AND f.ts > ?", (name, since_ms))[0][0]


@pytest.mark.parametrize("case", ["empty", "fifo", "devzero", "directory", "no-targets"])
def test_reload_refuses_what_is_not_a_config(tmp_path, cleanup, case):
    """What an editor, a typo or a hostile path leaves where the config
    was: a file truncated before it is rewritten, a FIFO (opening it would
    block the daemon), /dev/zero (read until memory runs out), a directory,
    a file without targets. Each reload is refused at once with a message
    that says why; the running targets keep probing and none is retired.
    A file that says min_targets = 0 then retires them all, on purpose."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [target("a", port), target("b", port)])
    d = Daemon(cfg)
    cleanup.append(d)
    d.wait_log(r"started: 2 targets", timeout=10)
    wait_for(lambda: os.path.exists(db) and stored_since(db, "b", 0) > 0, 10,
             "the first stored failures", d.proc, d.log)

    expect = {
        "empty": r"netdiag\.ini: the file is empty \(being rewritten\?",
        "fifo": r"netdiag\.ini: a FIFO, not a regular file",
        "devzero": r"netdiag\.ini: a character device, not a regular file",
        "directory": r"netdiag\.ini: a directory, not a regular file",
        "no-targets": r"netdiag\.ini: no targets: add \[target NAME\] sections",
    }[case]
    os.unlink(cfg)
    if case == "empty":
        cfg.write_text("")
    elif case == "fifo":
        os.mkfifo(cfg)
    elif case == "devzero":
        os.symlink("/dev/zero", cfg)
    elif case == "directory":
        os.mkdir(cfg)
    else:
        cfg.write_text("[daemon]\ndatabase = %s\n" % db)
    d.proc.send_signal(signal.SIGHUP)
    # poll the log, and stop a daemon that reads /dev/zero into memory
    # before it takes the machine's
    end = time.monotonic() + 10
    while not re.search(r"reload failed: ", d.log()):
        assert d.proc.poll() is None, d.log()[-3000:]
        assert rss_kib(d.proc.pid) < 1024 * 1024, "netdiagd is reading /dev/zero into memory"
        assert time.monotonic() < end, "no refused reload in 10 s:\n" + d.log()[-3000:]
        time.sleep(0.05)
    log = d.log()
    assert re.search("^" + STAMP + r"netdiagd: error: \S*" + expect, log, re.M), log[-3000:]
    assert "reloaded: " not in log
    failed_ms = int(time.time() * 1000)
    wait_for(lambda: stored_since(db, "a", failed_ms) > 0 and stored_since(db, "b", failed_ms) > 0,
             10, "both targets probing after the refused reload", d.proc, d.log)
    assert query(db, "SELECT count(*) FROM targets WHERE retired IS NOT NULL") == [(0,)]

    # said on purpose: retired
    if os.path.isdir(cfg):
        os.rmdir(cfg)
    else:
        os.unlink(cfg)
    write_config(cfg, db, [])
    lines = cfg.read_text().splitlines()
    lines.insert(lines.index("[daemon]") + 1, "min_targets = 0")
    cfg.write_text("\n".join(lines) + "\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"reloaded: 0 targets", timeout=10)
    wait_for(lambda: query(db, "SELECT count(*) FROM targets WHERE retired IS NOT NULL")
             == [(2,)], 5, "both targets retired", d.proc, d.log)
    rc, _ = d.stop()
    assert rc == 0, d.log()[-3000:]


def test_reload_storm_is_coalesced_and_probing_goes_on(tmp_path, cleanup):
    """30,000 targets (an include list) and one fast target: reading,
    checking and recording the config takes the reload seconds. 20 SIGHUPs
    within a fraction of a second cause at most 2 reloads (one, and one
    more that reads the file after it), and the fast target's results keep
    being stored while the reloads run: the loop is not the one reading."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    # the reload must last over a second to tell: the sanitizer build reads
    # 30,000 targets in about 2 s, the normal build in about 0.5 s
    with open(NETDIAGD, "rb") as f:
        sanitized = b"__asan_init" in f.read()
    n = 30000 if sanitized else 150000
    with open(tmp_path / "big.list", "w") as f:
        for i in range(n):
            f.write("b%05d connect host=127.0.0.1 port=%d interval=1h timeout=1s\n" % (i, port))
    lines = write_config(cfg, db, [target("fast", port)], interval="100ms", timeout="50ms")
    lines.insert(lines.index("[daemon]") + 1, "include = big.list")
    cfg.write_text("\n".join(lines) + "\n")
    d = Daemon(cfg, args=("-d",))
    cleanup.append(d)
    d.wait_log(r"started: %d targets" % (n + 1), timeout=120)
    wait_for(lambda: stored_since(db, "fast", 0) > 0, 10, "the first results", d.proc, d.log)

    t0 = time.monotonic()
    t0_ms = int(time.time() * 1000)
    for _ in range(20):
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.01)
    # settled: as many reloads ended as started, the one more asked for
    # during the first one too, and nothing new for 2 s
    def counts():
        log = d.log()
        return (len(re.findall("^" + STAMP + r"netdiagd: info: reloading ", log, re.M)),
                len(re.findall("^" + STAMP + r"netdiagd: (info: reloaded|error: reload failed): ", log, re.M)),
                "the file is read once more after it" in log)

    seen = {"counts": None, "since": time.monotonic()}

    def settled():
        c = counts()
        if c != seen["counts"]:
            seen["counts"], seen["since"] = c, time.monotonic()
        started, ended, again = c
        return (started > 0 and started == ended and (ended >= 2 or not again) and
                time.monotonic() - seen["since"] >= 2.0)
    wait_for(settled, 300, "the reloads to end", d.proc, d.log)
    reloads = counts()[0]
    end_ms = int(time.time() * 1000) - 2000  # the 2 s it took to see them settled
    took = time.monotonic() - t0 - 2.0
    assert 1 <= reloads <= 2, d.log()[-3000:]
    assert len(re.findall(r"reloaded: %d targets" % (n + 1), d.log())) == reloads
    # the results of the fast target while the reloads ran (ts is an
    # attempt's start; the writer commits about once a second)
    assert took > 1.0, "the reloads ended in %.2f s: too fast to tell" % took
    wait_for(lambda: stored_since(db, "fast", end_ms) > 0, 10, "results after the reloads",
             d.proc, d.log)
    during = query(db, "SELECT count(*) FROM failures f JOIN targets t ON t.id = f.target_id "
                   "WHERE t.name = 'fast' AND f.ts > ? AND f.ts < ?",
                   (t0_ms + 200, end_ms - 500))[0][0]
    # one every 100 ms: at least a quarter of them, where a loop busy
    # reading would have started none
    assert during >= 0.25 * (end_ms - 500 - t0_ms - 200) / 100, (during, took, d.log()[-2000:])
    rc, _ = d.stop()
    assert rc == 0, d.log()[-3000:]


def scrape_probes(mport):
    """netdiag_probes_total per target (ok + failed) from /metrics; each
    series must appear once."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        body = r.read().decode()
    seen, total = set(), {}
    for m in re.finditer(r'^netdiag_probes_total\{target="([^"]+)",kind="[a-z]+",'
                         r'result="(ok|failed)"\} (\d+)$', body, re.M):
        assert (m.group(1), m.group(2)) not in seen, "series twice: %s" % m.group(0)
        seen.add((m.group(1), m.group(2)))
        total[m.group(1)] = total.get(m.group(1), 0) + int(m.group(3))
    return total


def test_reload_keeps_the_series_of_kept_targets(tmp_path, cleanup):
    """/metrics across reloads that drop half of 200 targets and add 100
    (the swap edits the series in place, the index entry by entry): kept
    targets count on from where they were, dropped ones are gone, new ones
    appear, every series once; then back again."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port, mport = closed_port(), closed_port()
    first = ["t%03d" % i for i in range(200)]
    second = first[::2] + ["n%03d" % i for i in range(100)]

    def write(names):
        lines = write_config(cfg, db, [target(n, port) for n in names], interval="200ms",
                             timeout="100ms")
        lines.insert(lines.index("[daemon]") + 1, "metrics_listen = 127.0.0.1:%d" % mport)
        cfg.write_text("\n".join(lines) + "\n")

    write(first)
    d = Daemon(cfg)
    cleanup.append(d)
    d.wait_log(r"started: 200 targets", timeout=10)
    before = wait_for(lambda: (lambda t: t if len(t) == 200 and min(t.values()) > 0 else None)(
        scrape_probes(mport)), 10, "every target counted", d.proc, d.log)
    for n, (names, gone) in enumerate(((second, first[1::2]), (first, second[100:]))):
        write(names)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log(r"reloaded: 200 targets", timeout=10, count=n + 1)
        after = wait_for(lambda: (lambda t: t if set(t) == set(names) and all(
            t[x] > before.get(x, 0) for x in names) else None)(scrape_probes(mport)), 10,
            "every target of reload %d counting" % (n + 1), d.proc, d.log)
        kept = set(names) & set(before)
        assert kept and all(after[x] > before[x] for x in kept)
        assert not set(gone) & set(after)
        before = after
    rc, _ = d.stop()
    assert rc == 0, d.log()[-3000:]


# ---- SIGTERM / SIGINT -------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_flushes_and_exits_fast(tmp_path, cleanup, sig):
    """300 targets every 50 ms (about 6000 failures a second): the signal
    stops probing, every queued result reaches the database, it is closed
    intact, and the daemon exits 0 in under 5 s."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [target("t%03d" % i, port) for i in range(300)], interval="50ms",
                 timeout="40ms")
    d = Daemon(cfg)
    cleanup.append(d)
    d.wait_log(r"started: 300 targets", timeout=10)
    wait_for(lambda: os.path.exists(db) and
             query(db, "SELECT count(*) FROM failures")[0][0] > 0, 5,
             "the first stored failures", d.proc, d.log)
    time.sleep(0.5)
    sig_ms = int(time.time() * 1000)
    rc, took = d.stop(sig)
    log = d.log()
    assert rc == 0, log[-3000:]
    assert took < 5.0, "took %.2f s to stop" % took
    assert "received %s, stopping" % ("SIGTERM" if sig == signal.SIGTERM else "SIGINT") in log
    m = STOPPED.search(log)
    assert m, log[-3000:]
    results, failures, stored, dropped = map(int, m.groups())
    assert results == failures and failures > 1000, m.group(0)
    assert stored == failures - dropped
    assert query(db, "SELECT count(*) FROM failures")[0][0] == stored
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    # probing stopped at the signal (ts is an attempt's start)
    assert query(db, "SELECT count(*) FROM failures WHERE ts > ?", (sig_ms + 100,)) == [(0,)]
    # closed: the last connection checkpointed and nothing holds the file
    assert not os.path.exists(str(db) + "-wal") or os.path.getsize(str(db) + "-wal") == 0


# ---- command line -----------------------------------------------------------


def run(*args, cwd=None, env=None):
    return subprocess.run([NETDIAGD, *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd=cwd, env=env)


def run_journal(*args):
    """run(), with stderr a pipe that JOURNAL_STREAM names, as under
    systemd."""
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    try:
        p = subprocess.Popen([NETDIAGD, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=w, env=env, text=True)
        os.close(w)
        w = -1
        with os.fdopen(r, "r") as errf:
            r = -1
            out, _ = p.communicate(timeout=30)
            err = errf.read()
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def makefile_version():
    with open(os.path.join(REPO, "Makefile")) as f:
        return re.search(r"^VERSION\s*:?=\s*(\S+)", f.read(), re.M).group(1)


def test_version():
    for flag in ("-V", "--version"):
        p = run(flag)
        assert p.returncode == 0
        assert p.stdout == "netdiagd %s\n" % makefile_version()
        assert p.stderr == ""


def test_help_lists_every_option_and_exit_code():
    for flag in ("-h", "--help"):
        p = run(flag)
        assert p.returncode == 0 and p.stderr == ""
        assert p.stdout.startswith("usage: netdiagd")
        for opt in ("-c, --config", "-t, --test", "--once", "--format", "-d, --debug",
                    "-v, --verbose", "-V, --version", "-h, --help"):
            assert opt in p.stdout, opt
        assert "0 ok; 1 probe failures (--once) or runtime error;\n2 usage or configuration" \
            in p.stdout


@pytest.mark.parametrize("args, message", [
    (["--bogus"], r"unrecognized option '--bogus'"),
    (["-x"], r"invalid option -- 'x'"),
    (["-c"], r"option requires an argument -- 'c'"),
    (["--once", "--format", "xml"], r'--format: "xml" is not text or json'),
    (["stray"], r'unexpected argument "stray"'),
])
def test_usage_errors_exit_2(args, message):
    p = run(*args)
    assert p.returncode == 2
    assert re.search(message, p.stderr), p.stderr
    assert p.stdout == ""


def test_missing_config_exits_2_naming_the_file(tmp_path):
    missing = str(tmp_path / "nope.ini")
    for args in (["-c", missing], ["-t", "-c", missing]):
        p = run(*args)
        assert p.returncode == 2
        assert p.stderr.startswith("%s: cannot open: No such file or directory\n" % missing)
        assert "1 error in %s" % missing in p.stderr


def test_check_config(tmp_path):
    cfg = tmp_path / "netdiag.ini"
    write_config(cfg, tmp_path / "db", [target("web", 8080)])
    p = run("-t", "-c", str(cfg))
    assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", "")
    assert not os.path.exists(tmp_path / "db")  # -t opens no database
    lines = write_config(cfg, tmp_path / "db", [target("web", 8080, "family = ip4")])
    p = run("--test", "--config", str(cfg))
    assert p.returncode == 2 and p.stdout == ""
    line = line_of(lines, "family = ip4")
    assert p.stderr.startswith("%s:%d: [target web] family:" % (cfg, line))


def test_check_config_needs_what_running_needs(tmp_path):
    """A file that parses is not enough for -t: the database's directory
    must exist, the exec hook must be a program, Alertmanager an address
    alerts can be posted to. --once needs neither database nor hook."""
    cfg = tmp_path / "netdiag.ini"
    db = tmp_path / "no-such-dir" / "netdiag.db"
    lines = write_config(cfg, db, [target("web", 8080)])
    hook = tmp_path / "hook"
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o644)
    lines[lines.index("[defaults]"):lines.index("[defaults]")] = [
        "[alert]", "exec = %s --page" % hook, "alertmanager_url = http://am.test:9093", ""]
    cfg.write_text("\n".join(lines) + "\n")
    p = run("-t", "-c", str(cfg))
    assert (p.returncode, p.stdout) == (2, ""), p.stderr
    assert p.stderr.splitlines() == [
        "%s:%d: [alert] exec: \"%s\" is not executable (Permission denied)"
        % (cfg, line_of(lines, "exec = %s --page" % hook), hook),
        "%s:2: [daemon] database: the directory \"%s\" does not exist (netdiagd creates the "
        "database file, not its directory)" % (cfg, db.parent),
        "netdiagd: 2 errors in %s" % cfg], p.stderr
    p = run("-t", "--once", "-c", str(cfg))
    assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", "")
    hook.chmod(0o755)
    os.mkdir(db.parent)
    p = run("-t", "-c", str(cfg))
    assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", "")
    # what -t refuses in the URL now: credentials (a file names them), and
    # the secret is not shown
    bad = [x.replace("http://am.test:9093", "https://u:s3cret@am.test:9093") for x in lines]
    cfg.write_text("\n".join(bad) + "\n")
    p = run("-t", "-c", str(cfg))
    assert p.returncode == 2 and "credentials do not go in the URL" in p.stderr, p.stderr
    assert "s3cret" not in p.stderr, p.stderr


def test_relative_database_is_beside_the_config(tmp_path, cleanup):
    """database = ../var/x.db is relative to the config file's directory
    (as include is), so netdiagd started anywhere writes the same file,
    and says which one (absolute)."""
    etc, var, elsewhere = tmp_path / "etc", tmp_path / "var", tmp_path / "a" / "b"
    for p in (etc, var, elsewhere):
        os.makedirs(p)
    cfg = etc / "netdiag.ini"
    write_config(cfg, "../var/x.db", [target("web", closed_port())])
    for cwd, path in ((elsewhere, str(cfg)), (tmp_path, "etc/netdiag.ini")):
        p = run("-t", "-c", path, cwd=str(cwd))
        assert (p.returncode, p.stdout, p.stderr) == (0, "configuration OK\n", ""), (cwd, p)
    d = Daemon(cfg, cwd=str(elsewhere))
    cleanup.append(d)
    d.wait_log(r"started: 1 targets, database %s$" % re.escape(os.path.realpath(var / "x.db")),
               timeout=10)
    rc, _ = d.stop()
    assert rc == 0, d.log()
    assert os.path.exists(var / "x.db")
    assert os.listdir(elsewhere) == [] and not os.path.exists(tmp_path / "a" / "var")


def test_foreground_on_a_terminal_says_how_to_query(tmp_path):
    """make run: in the foreground on a terminal, the start ends with the
    command that reads what the daemon writes, and that command works."""
    import pty
    import select
    import shlex
    cfg = tmp_path / "netdiag.ini"
    write_config(cfg, "netdiag.db", [target("web", closed_port())])
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM"):
        env.pop(k, None)
    master, slave = pty.openpty()
    proc = subprocess.Popen([NETDIAGD, "-c", "netdiag.ini"], cwd=str(tmp_path), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    try:
        end = time.monotonic() + 20
        while b"query it with:" not in out or not out.endswith(b"\n"):
            assert time.monotonic() < end and proc.poll() is None, out
            if select.select([master], [], [], 0.1)[0]:
                out += os.read(master, 4096)
        lines = out.decode().replace("\r\n", "\n").splitlines()
        i = [n for n, x in enumerate(lines) if "query it with:" in x][0]
        assert re.match(STAMP + r"netdiagd: info: started: 1 targets, ", lines[i - 1]), lines
        assert re.fullmatch(STAMP + re.escape("netdiagd: info: query it with: %s --db netdiag.db "
                                              "summary" % NETDIAG), lines[i]), lines[i]
        cmd = shlex.split(lines[i].split("query it with: ", 1)[1])
        p = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < end:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 4096)
                except OSError:
                    break
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    assert proc.returncode == 0


def test_once_exit_codes(tmp_path, server):
    """--once: 0 when every probe succeeds, 1 when one fails."""
    up = server("accept")
    cfg = tmp_path / "netdiag.ini"
    write_config(cfg, tmp_path / "db", [target("up", up.port)])
    p = run("--once", "-c", str(cfg))
    assert p.returncode == 0, p.stderr
    write_config(cfg, tmp_path / "db", [target("up", up.port), target("down", closed_port())])
    p = run("--once", "-c", str(cfg))
    assert p.returncode == 1, p.stderr
    assert len(p.stdout.splitlines()) == 2


# ---- logging ----------------------------------------------------------------


def test_journald_prefixes_and_no_line_per_failure(tmp_path, cleanup):
    """With JOURNAL_STREAM set (stderr is the journal), every line starts
    with its syslog level <3>..<7>. 5 refused targets every 50 ms for 2 s
    give hundreds of results but a handful of lines: one state change per
    target, not one line per failed probe."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [target("t%d" % i, port) for i in range(5)], interval="50ms",
                 timeout="40ms")
    d = Daemon(cfg, env={"JOURNAL_STREAM": "stderr"})
    cleanup.append(d)
    d.wait_log(r"^<6>started: 5 targets", timeout=10)
    time.sleep(2.0)
    # a bad reload logs errors at level 3
    write_config(cfg, db, [target("t0", port, "port = 1")])
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"^<3>reload failed", timeout=5)
    rc, _ = d.stop()
    assert rc == 0
    lines = d.log().splitlines()
    bad = [line for line in lines if not re.match(r"<[3-7]>\S", line)]
    assert bad == [], bad
    assert any(re.match(r"<3>%s:\d+: \[target t0\] port: duplicate key" % re.escape(str(cfg)),
                        line) for line in lines), lines
    m = STOPPED.search(d.log())
    results = int(m.group(1))
    assert results >= 100, m.group(0)
    transitions = [line for line in lines if re.match(r"<\d>target t\d: ", line)]
    assert len(transitions) <= 5, transitions  # one per target: ok/new -> refused
    assert len(lines) <= 20 and len(lines) * 10 < results, lines
    assert not any(line.startswith("<7>") for line in lines)


@pytest.mark.parametrize("args", [["-t"], []], ids=["check", "start"])
def test_journald_config_errors_at_start(tmp_path, args):
    """Under journald the config errors of -t (ExecStartPre=) and of the
    start carry level 3 too, so `journalctl -p err` shows them."""
    cfg = tmp_path / "netdiag.ini"
    lines = write_config(cfg, tmp_path / "db", [target("web", 99999, "family = ip4")])
    p = run_journal(*args, "-c", str(cfg))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [
        "<3>%s:%d: [target web] port: \"99999\" is out of range (1 to 65535)"
        % (cfg, line_of(lines, "port = 99999")),
        "<3>%s:%d: [target web] family: \"ip4\" is not one of any, ipv4, ipv6"
        % (cfg, line_of(lines, "family = ip4")),
        "<3>2 errors in %s" % cfg], p.stderr


@pytest.mark.parametrize("stream", [None, "1:1"], ids=["unset", "not-stderr"])
def test_plain_prefix_without_journal(tmp_path, cleanup, stream):
    """Without the journal on stderr (JOURNAL_STREAM unset, or naming
    another stream, as in a child of a service run from a terminal), lines
    say "TIME netdiagd: LEVEL: " instead."""
    db = tmp_path / "netdiag.db"
    cfg = tmp_path / "netdiag.ini"
    write_config(cfg, db, [target("t0", closed_port())])
    d = Daemon(cfg, env={"JOURNAL_STREAM": stream} if stream else None)
    cleanup.append(d)
    d.wait_log(r"^" + STAMP + r"netdiagd: info: started: 1 targets", timeout=10)
    rc, _ = d.stop()
    assert rc == 0
    lines = d.log().splitlines()
    assert lines and all(re.match(STAMP + r"netdiagd: (error|warn|notice|info|debug): ", x)
                         for x in lines), lines


def test_debug_and_verbose_flags(tmp_path, cleanup):
    """-d adds debug lines (and keeps them across a reload whatever
    log_level says); -v lifts log_level = warn to info, also across a
    reload; without either, log_level = warn hides info lines and shows
    only the target's outage, a warning."""
    port = closed_port()
    runs = {}
    for name, args in (("plain", ()), ("debug", ("-d",)), ("verbose", ("-v",))):
        db = tmp_path / ("%s.db" % name)
        cfg = tmp_path / ("%s.ini" % name)
        write_config(cfg, db, [target("t0", port)], log_level="warn")
        ns = NotifySocket(tmp_path, db, "%s.sock" % name)
        cleanup.append(ns)
        d = Daemon(cfg, args=args, env={"JOURNAL_STREAM": "stderr", "NOTIFY_SOCKET": ns.path})
        cleanup.append(d)
        # READY=1 comes once the signal handlers are in place
        wait_for(lambda: ns.count("READY=1") >= 1, 10, "READY=1", d.proc, d.log)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: ns.count("READY=1") >= 2, 5, "READY=1 after the reload", d.proc,
                 d.log)
        rc, _ = d.stop()
        assert rc == 0, d.log()
        runs[name] = d.log().splitlines()
        ns.close()
        cleanup.remove(ns)

    # log_level = warn: at most the outage (a warning; the daemon may stop
    # before the first probe ran), nothing at info
    assert [x.split(": ", 1)[0] for x in runs["plain"]] in ([], ["<4>target t0"]), runs["plain"]
    assert any(x.startswith("<7>") for x in runs["debug"])
    assert any(re.match(r"<7>engine: 1 targets, 1 kept", x) for x in runs["debug"])
    assert any(x.startswith("<6>started: 1 targets") for x in runs["verbose"])
    assert not any(x.startswith("<7>") for x in runs["verbose"])
    # -v still holds after the reload read log_level = warn again
    assert any(x.startswith("<6>reloaded: 1 targets") for x in runs["verbose"]), runs["verbose"]
    assert any(x.startswith("<6>stopped: ") for x in runs["verbose"]), runs["verbose"]
