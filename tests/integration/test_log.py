# SPDX-License-Identifier: ISC
"""What netdiagd logs and how: a reader of stderr that stops reading never
stalls probing (lines are queued, then dropped and counted), outages are
warnings and recoveries notices, shutdown statistics are debug. Every
target is a loopback port."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time

from conftest import NETDIAGD, closed_port

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "


def write_config(path, db, ports, interval, timeout, log_level="info"):
    lines = ["[daemon]", "database = %s" % db, "log_level = %s" % log_level, "",
             "[defaults]", "interval = %s" % interval, "timeout = %s" % timeout, ""]
    for i, port in enumerate(ports):
        lines += ["[target t%03d]" % i, "kind = connect", "host = 127.0.0.1",
                  "port = %d" % port, ""]
    path.write_text("\n".join(lines) + "\n")


def stored(db):
    if not os.path.exists(db):
        return 0
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM failures").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def env_without_journal():
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFY_SOCKET", None)
    return env


def test_unread_stderr_never_stalls_probing(tmp_path):
    """stderr is a pipe nobody reads for 5 s while -d logs a line per probe
    (2,000 a second, 64 KiB of pipe and the daemon's 256 KiB queue fill in
    about two seconds). Probing keeps its schedule all the while: stored
    failures keep coming at the configured rate (the old logger blocked the
    loop on the full pipe: none came). Once the pipe is read again the
    daemon says how many lines it dropped, in one line, and stops
    cleanly."""
    db = tmp_path / "db.sqlite"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [port] * 100, "50ms", "40ms")
    proc = subprocess.Popen([NETDIAGD, "-d", "-c", str(cfg)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env_without_journal())
    try:
        wait_for(lambda: stored(str(db)) > 0 or proc.poll() is not None, 30, "first rows")
        assert proc.poll() is None
        time.sleep(1.0)  # the pipe is full by now
        before, t0 = stored(str(db)), time.monotonic()
        time.sleep(4.0)
        after, t1 = stored(str(db)), time.monotonic()
        # 100 targets every 50 ms: 2,000 a second; a loaded sanitizer build
        # keeps far more than a quarter of that
        expected = 100 * (t1 - t0) / 0.05
        assert after - before >= expected / 4, (before, after, expected)

        # read stderr again: the count of dropped lines comes once
        out = []
        reader = threading.Thread(target=lambda: out.append(proc.stderr.read()), daemon=True)
        chunks = []

        def read_some():
            data = os.read(proc.stderr.fileno(), 65536)
            chunks.append(data)
            return re.search(rb"\d+ log lines dropped: stderr was not read fast enough",
                             b"".join(chunks))
        m = wait_for(read_some, 30, "the dropped-lines line")
        assert int(m.group(0).split()[0]) > 0
        proc.send_signal(signal.SIGTERM)
        reader.start()
        rc = proc.wait(timeout=30)
        reader.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = b"".join(chunks) + (out[0] if out else b"")
    text = log.decode()
    assert rc == 0, text[-2000:]
    notes = re.findall(r"^" + STAMP + r"netdiagd: warn: (\d+) log lines dropped", text, re.M)
    assert len(notes) >= 1, text[-2000:]
    assert re.search(r"^" + STAMP + r"netdiagd: info: stopped: \d+ results", text, re.M), \
        text[-2000:]
    # every line whole: a time stamp, the name, a level
    bad = [line for line in text.splitlines()
           if not re.match(STAMP + r"netdiagd: (error|warn|notice|info|debug): ", line)]
    assert bad == [], bad[:5]


def accept_all(listener):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()


def test_outage_is_a_warning_and_recovery_a_notice(tmp_path):
    """Under journald (JOURNAL_STREAM names stderr): a target that goes down
    logs <4> (so `journalctl -p warning` lists outages), its recovery <5>,
    no line has a time stamp (the journal has its own); the shutdown's
    schedule statistics are debug, its stopped: line info."""
    db = tmp_path / "db.sqlite"
    cfg = tmp_path / "netdiag.ini"
    port = closed_port()
    write_config(cfg, db, [port], "100ms", "50ms")
    errpath = tmp_path / "stderr"
    with open(errpath, "w") as errf:
        st = os.fstat(errf.fileno())
        env = env_without_journal()
        env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        proc = subprocess.Popen([NETDIAGD, "-c", str(cfg)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf, env=env)
        listener = None
        try:
            wait_for(lambda: "<4>target t000: new -> 10061" in errpath.read_text(), 20,
                     "the outage warning")
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
            threading.Thread(target=accept_all, args=(listener,), daemon=True).start()
            # one line per target per 10 s at most: the recovery comes then
            wait_for(lambda: "<5>target t000: 10061 -> ok" in errpath.read_text(), 30,
                     "the recovery notice")
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if listener is not None:
                listener.close()
    lines = errpath.read_text().splitlines()
    assert rc == 0, lines
    assert all(re.match(r"<[3-7]>\S", line) for line in lines), lines
    warnings = [line for line in lines if re.match(r"<[0-4]>", line)]
    assert [line.split(":")[0] for line in warnings] == ["<4>target t000"], lines
    # one change in the hold-off, told by the line itself: nothing "not logged"
    notice = [line for line in lines if line.startswith("<5>target t000: 10061 -> ok")]
    assert len(notice) == 1 and "not logged" not in notice[0], lines
    assert any(line.startswith("<6>stopped: ") for line in lines), lines
    assert not any("schedule:" in line for line in lines), lines


def test_shutdown_statistics_are_debug(tmp_path):
    """With -d the schedule statistics come, at debug, before stopped:."""
    db = tmp_path / "db.sqlite"
    cfg = tmp_path / "netdiag.ini"
    write_config(cfg, db, [closed_port()], "100ms", "50ms")
    proc = subprocess.Popen([NETDIAGD, "-d", "-c", str(cfg)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env_without_journal(), text=True)
    try:
        wait_for(lambda: stored(str(db)) > 2 or proc.poll() is not None, 30, "rows")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert re.search(r"^" + STAMP + r"netdiagd: debug: schedule: \d+ starts", err, re.M), err
    assert re.search(r"^" + STAMP + r"netdiagd: info: stopped: ", err, re.M), err
