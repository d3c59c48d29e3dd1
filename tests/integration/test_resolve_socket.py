# SPDX-License-Identifier: ISC
"""The UDP socket a resolve target keeps between queries: the running
daemon (not --once) asks the loopback responder of dnsserver.py many
times, and the local address stored with each failure shows whether the
same socket served the next query or a fresh one was opened."""

import os
import signal
import sqlite3
import subprocess
import time

from conftest import NETDIAGD
from dnsserver import DNSServer


def count_rows(db):
    if not os.path.exists(db):
        return 0
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM failures_v").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def run_daemon(tmp_path, srv, names, want=12):
    """Run the daemon until it has stored `want` failures (at most 60 s),
    stop it, return the rows. The timeout (300 ms) leaves a loaded
    machine's Python responder ample time: a 40 ms one made an answer late
    now and then under load, a TIMEOUT row where an NXDOMAIN was due."""
    db = os.path.join(str(tmp_path), "k.db")
    lines = ["[daemon]", "database = %s" % db, "", "[defaults]", "interval = 400ms",
             "timeout = 300ms", ""]
    for name in names:
        lines += ["[target %s]" % name.split(".")[0], "kind = resolve", "name = %s" % name,
                  "server = 127.0.0.1:%d" % srv.port, ""]
    cfg = os.path.join(str(tmp_path), "k.ini")
    with open(cfg, "w") as f:
        f.write("\n".join(lines))
    err = open(cfg + ".stderr", "w+")
    p = subprocess.Popen([NETDIAGD, "-c", cfg], stdout=subprocess.DEVNULL, stderr=err)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and p.poll() is None and count_rows(db) < want:
            time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err.seek(0)
    log = err.read()
    err.close()
    assert rc == 0, log
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        rows = con.execute("SELECT target, wsa_code, raw, local, detail FROM failures_v "
                           "ORDER BY ts").fetchall()
    finally:
        con.close()
    return rows, log


def test_socket_kept_between_answers(tmp_path):
    """Every query of a target answered over UDP goes out of the same
    socket: one local port for all of its stored failures."""
    with DNSServer() as srv:
        rows, log = run_daemon(tmp_path, srv, ["nx.test"])
    assert len(rows) >= 10, log
    assert {(r[1], r[2]) for r in rows} == {(11001, "NXDOMAIN")}, rows[:5]
    assert all(r[3] and r[3].startswith("127.0.0.1:") for r in rows), rows[:5]
    assert len({r[3] for r in rows}) == 1, sorted({r[3] for r in rows})


def test_packet_between_queries_closes_the_socket(tmp_path):
    """The responder sends every answer twice: the copy arrives while the
    target waits for its next slot, which closes the kept socket, so each
    query has its own port, and no copy is taken for the next answer."""
    with DNSServer() as srv:
        rows, log = run_daemon(tmp_path, srv, ["nxdup.test"])
    assert len(rows) >= 10, log
    assert {(r[1], r[2]) for r in rows} == {(11001, "NXDOMAIN")}, rows[:5]
    assert len({r[3] for r in rows}) == len(rows), rows[:5]


def test_timeout_never_keeps_the_socket(tmp_path):
    """A query without an answer ends with its socket closed: a late answer
    can never land in the next attempt."""
    with DNSServer() as srv:
        rows, log = run_daemon(tmp_path, srv, ["silent.test"])
    assert len(rows) >= 10, log
    assert {(r[1], r[2]) for r in rows} == {(11002, "TIMEOUT")}, rows[:5]
    assert len({r[3] for r in rows}) == len(rows), rows[:5]


def test_tcp_retry_after_a_kept_socket_shows_its_own_address(tmp_path):
    """Every other UDP answer is truncated: a query that went out of the
    kept UDP socket then retries over TCP. The TCP result must show the
    TCP socket's local address, never the closed UDP socket's (whose
    remembered address the engine dropped with the socket)."""
    with DNSServer() as srv:
        rows, log = run_daemon(tmp_path, srv, ["alttc.test"])
    assert len(rows) >= 10, log
    assert {(r[1], r[2]) for r in rows} == {(11001, "NXDOMAIN")}, rows[:5]
    tcp = [r for r in rows if "over TCP" in (r[4] or "")]
    udp = [r for r in rows if "over TCP" not in (r[4] or "")]
    assert len(tcp) >= 4 and len(udp) >= 4, rows[:6]
    # UDP answers came on kept sockets (a few ports); none is a TCP row's
    assert not {r[3] for r in tcp} & {r[3] for r in udp}, rows[:6]
