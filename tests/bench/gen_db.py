#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Generate a large netdiag database for the query benchmark: the real
schema (sql/schema.sql, stamped as netdiagd stamps it), 1,000 targets and
10 million failures over 30 days, with rollups consistent with them:

- every target is probed 6 times a minute (a 10 s interval); a minute with
  more failures than that counts as many attempts as failures;
- rollup_minute and rollup_minute_code cover the last 7 days (what netdiagd
  keeps), rollup_hour and rollup_hour_code the whole 30 days;
- each rollup row of a schema 5 database has the latency histogram of its
  successes, spread evenly between its minimum and maximum.

Half of the failures come from 50 "bad" connect targets, the other half are
spread over all 1,000. They are stored as netdiagd's writer stores them
(schema version 2): raw names and host addresses as ids into raws and
addrs, ports as integers, the local port varying per attempt. Rows are
made inside SQLite with recursive CTEs (no Python loop per row), with
journal_mode=OFF and synchronous=OFF, and the secondary indexes are built
after the data: a few minutes on 2 cores.

Usage: gen_db.py OUT.db [--failures N] [--targets N] [--days N]
                 [--now 2026-11-24T10:00:00Z]
"""

import argparse
import datetime
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from functools import lru_cache

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NETDIAG_BUILD", os.path.join(REPO, "build"))
MINUTE_MS = 60000
HOUR_MS = 3600000
DAY_MS = 86400000
MINUTE_KEEP_MS = 7 * DAY_MS
PROBES_PER_MINUTE = 6
BAD_TARGETS = 50

sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import histlib  # noqa: E402  (the encoding of lat_hist, sql/README.md)


@lru_cache(maxsize=None)
def lat_hist(successes, lo, hi):
    """The latency histogram of a row: its successes spread evenly from
    its minimum to its maximum (NULL without one)."""
    if not successes:
        return None
    return histlib.encode_values(lo + (hi - lo) * k // max(1, successes - 1)
                                 for k in range(successes))


def store_constants():
    """application_id and user_version as common/ndb.h and daemon/store.h
    define them."""
    ndb = open(os.path.join(REPO, "common", "ndb.h"), encoding="utf-8").read()
    app = int(re.search(r"#define NDB_APPLICATION_ID\s+(\d+)", ndb).group(1))
    text = open(os.path.join(REPO, "daemon", "store.h"), encoding="utf-8").read()
    ver = int(re.search(r"#define STORE_SCHEMA_VERSION\s+(\d+)", text).group(1))
    return app, ver


def wsa_codes():
    """The code table from the client itself: codes, then explain for the
    explanation column."""
    netdiag = os.path.join(BUILD, "netdiag")
    codes = json.loads(subprocess.run([netdiag, "codes", "--format", "json"], check=True,
                                      capture_output=True, text=True).stdout)
    rows = []
    for c in codes:
        [e] = json.loads(subprocess.run([netdiag, "explain", str(c["code"]), "--format", "json"],
                                        check=True, capture_output=True, text=True).stdout)
        rows.append((c["code"], c["name"], c["meaning"], e["explanation"],
                     1 if c["os_dependent"] else 0))
    return rows


def step(con, what, sql, params=()):
    t0 = time.monotonic()
    con.execute(sql, params)
    con.commit()
    print("gen_db: %-28s %6.1f s" % (what, time.monotonic() - t0), file=sys.stderr, flush=True)


def split_indexes(schema):
    """The schema without its CREATE INDEX statements on the big tables,
    and those statements, to run once the rows are in."""
    late = re.findall(r"CREATE INDEX (?:failures|rollup_minute)\w* ON [^;]+;", schema)
    for stmt in late:
        schema = schema.replace(stmt, "")
    return schema, late


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--failures", type=int, default=10_000_000)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--now", help="end of the history, ISO-8601 (default: now)")
    args = ap.parse_args()

    if args.now:
        now = datetime.datetime.fromisoformat(args.now.replace("Z", "+00:00"))
        now_ms = int(now.timestamp() * 1000)
    else:
        now_ms = int(time.time() * 1000)
    now_ms -= now_ms % MINUTE_MS
    start_ms = now_ms - args.days * DAY_MS
    n, nt = args.failures, args.targets
    spacing = max(1, (now_ms - start_ms) // n)
    app_id, version = store_constants()

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.out + suffix):
            os.unlink(args.out + suffix)
    con = sqlite3.connect(args.out, isolation_level=None)
    con.execute("PRAGMA auto_vacuum = INCREMENTAL")  # as netdiagd creates it
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1000000")  # 1 GiB for the index builds
    con.execute("PRAGMA temp_store = MEMORY")
    schema, late_indexes = split_indexes(
        open(os.path.join(REPO, "sql", "schema.sql"), encoding="utf-8").read())
    con.executescript("BEGIN;" + schema + "COMMIT;")
    con.execute("PRAGMA application_id = %d" % app_id)
    con.execute("PRAGMA user_version = %d" % version)
    con.create_function("lat_hist", 3, lat_hist, deterministic=True)
    hist_cols = ", lat_hist" if version >= 5 else ""

    con.execute("BEGIN")
    con.executemany("INSERT INTO wsa_codes VALUES (?, ?, ?, ?, ?)", wsa_codes())
    # Targets 1..80 %: connect, then 15 % resolve, then send. The first 50
    # connect targets are the bad ones.
    n_connect, n_resolve = nt * 80 // 100, nt * 15 // 100
    targets = []
    for i in range(1, nt + 1):
        host = "127.0.%d.%d" % (i // 250, i % 250 + 1)
        if i <= n_connect:
            targets.append((i, "web%04d" % i, "connect", host, 8000 + i % 1000, None, None, None,
                            None))
        elif i <= n_connect + n_resolve:
            targets.append((i, "dns%04d" % i, "resolve", None, None, None, "host%d.example.test" % i,
                            "A", "127.0.0.1:53"))
        else:
            targets.append((i, "log%04d" % i, "send", host, 514, "udp", None, None, None))
    con.executemany(
        "INSERT INTO targets (id, name, kind, host, port, protocol, qname, qtype, server, family, "
        "interval_ms, timeout_ms, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'any', "
        "10000, 3000, %d, %d)" % (start_ms, start_ms), targets)
    # The lookup tables: the raw names by id, 127.0.0.1 (every local
    # address, and the resolve targets' server) as addrs 1, the host of
    # target t as addrs t + 1.
    raws = ["ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "NXDOMAIN", "SERVFAIL"]
    con.executemany("INSERT INTO raws (id, name) VALUES (?, ?)",
                    [(i + 1, name) for i, name in enumerate(raws)])
    con.execute("INSERT INTO addrs (id, addr) VALUES (1, '127.0.0.1')")
    con.executemany("INSERT INTO addrs (id, addr) VALUES (?, ?)",
                    [(t[0] + 1, t[3]) for t in targets if t[3] is not None])
    con.execute("COMMIT")

    # One failure every `spacing` ms (jittered inside its slot), so ts is
    # strictly increasing and the primary key is filled in order. h is a
    # multiplicative hash of i: even h picks a bad target, odd any target;
    # the code follows the target's kind. failures_v shows local as
    # '127.0.0.1:32768'..'127.0.0.1:60767', remote as '127.0.0.1:53' or the
    # target's host and port.
    step(con, "failures (%d rows)" % n, """
        WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?1 - 1),
        h AS (SELECT i, (i * 2654435761) % 4294967296 AS h FROM c),
        r AS (SELECT i, h, CASE WHEN h % 2 = 0 THEN 1 + (h / 2) % ?5 ELSE 1 + (h / 2) % ?2 END AS t
              FROM h),
        k AS (SELECT i, h, t, CASE WHEN t <= ?6 THEN 'connect' WHEN t <= ?7 THEN 'resolve'
                                   ELSE 'send' END AS kind, (h / 64) % 100 AS p FROM r)
        INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, raw_value, detail,
                              latency_us, local_addr_id, local_port, remote_addr_id, remote_port)
        SELECT ?3 + i * ?4 + (h / 4096) % max(1, ?4 - 1), t, 0,
               CASE kind WHEN 'resolve' THEN 1 WHEN 'send' THEN 3 ELSE 2 END,
               CASE kind WHEN 'resolve' THEN (CASE WHEN p < 70 THEN 11001 ELSE 11002 END)
                         WHEN 'send' THEN 10054
                         ELSE (CASE WHEN p < 60 THEN 10061 WHEN p < 95 THEN 10060 ELSE 10054 END)
               END,
               CASE kind WHEN 'resolve' THEN (CASE WHEN p < 70 THEN 4 ELSE 5 END)
                         WHEN 'send' THEN 3
                         ELSE (CASE WHEN p < 60 THEN 1 WHEN p < 95 THEN 2 ELSE 3 END)
               END,
               CASE kind WHEN 'resolve' THEN (CASE WHEN p < 70 THEN 3 ELSE 2 END)
                         WHEN 'send' THEN 104
                         ELSE (CASE WHEN p < 60 THEN 111 WHEN p < 95 THEN 110 ELSE 104 END)
               END,
               CASE WHEN kind = 'connect' AND p >= 60 AND p < 95
                    THEN 'no answer within 3000 ms (connect)'
                    WHEN kind = 'resolve' THEN 'the server answered ' ||
                         (CASE WHEN p < 70 THEN 'NXDOMAIN' ELSE 'SERVFAIL' END)
                    ELSE 'Connection refused' END,
               CASE WHEN kind = 'connect' AND p >= 60 AND p < 95 THEN 3000000 + p
                    ELSE 80 + (h / 8192) % 400 END,
               1, 32768 + (h / 16) % 28000,
               CASE WHEN kind = 'resolve' THEN 1 ELSE t + 1 END,
               CASE kind WHEN 'resolve' THEN 53 WHEN 'send' THEN 514 ELSE 8000 + t % 1000 END
        FROM k
        """, (n, nt, start_ms, spacing, BAD_TARGETS, n_connect, n_connect + n_resolve))
    for stmt in late_indexes:
        if stmt.startswith("CREATE INDEX failures"):
            step(con, stmt.split()[2], stmt)

    # Failures per (minute, target): the cells the rollups are made from.
    step(con, "cells", """
        CREATE TEMP TABLE cells (minute INTEGER, target_id INTEGER, n INTEGER,
                                 PRIMARY KEY (minute, target_id)) WITHOUT ROWID""")
    step(con, "cells fill", """
        INSERT INTO cells SELECT ts - ts % 60000, target_id, count(*) FROM failures
        GROUP BY 1, 2""")
    minute_from = now_ms - MINUTE_KEEP_MS
    step(con, "rollup_minute_code", """
        INSERT INTO rollup_minute_code
        SELECT ts - ts % 60000, target_id, wsa_code, count(*) FROM failures WHERE ts >= ?1
        GROUP BY 1, 2, 3""", (minute_from,))
    step(con, "rollup_hour_code", """
        INSERT INTO rollup_hour_code
        SELECT ts - ts % 3600000, target_id, wsa_code, count(*) FROM failures
        GROUP BY 1, 2, 3""")
    # Every target every minute of the last 7 days: attempts = max(6,
    # failures); latency of the successes is the target's own.
    step(con, "rollup_minute", """
        WITH RECURSIVE m(minute) AS (SELECT ?1 UNION ALL SELECT minute + 60000 FROM m
                                     WHERE minute + 60000 < ?2)
        INSERT INTO rollup_minute (minute, target_id, attempts, successes, failures,
                                   latency_count, latency_sum_us, latency_min_us,
                                   latency_max_us/*cols*/)
        SELECT m.minute, t.id, max(?3, coalesce(c.n, 0)), max(?3, coalesce(c.n, 0)) -
               coalesce(c.n, 0), coalesce(c.n, 0), max(?3, coalesce(c.n, 0)) - coalesce(c.n, 0),
               (max(?3, coalesce(c.n, 0)) - coalesce(c.n, 0)) * (100 + t.id * 37 % 900),
               CASE WHEN coalesce(c.n, 0) < ?3 THEN 80 + t.id * 37 % 900 END,
               CASE WHEN coalesce(c.n, 0) < ?3 THEN 150 + t.id * 37 % 900 END/*hist*/
        FROM m CROSS JOIN targets AS t
        LEFT JOIN cells AS c ON c.minute = m.minute AND c.target_id = t.id
        ORDER BY m.minute, t.id""".replace("/*cols*/", hist_cols).replace(
            "/*hist*/", ", lat_hist(max(?3, coalesce(c.n, 0)) - coalesce(c.n, 0), "
            "80 + t.id * 37 % 900, 150 + t.id * 37 % 900)" if hist_cols else ""),
         (minute_from, now_ms, PROBES_PER_MINUTE))
    # Per hour: 60 minutes of 6 attempts, plus the failures above 6 in a
    # minute, the same sums the minute rows give.
    step(con, "rollup_hour", """
        WITH RECURSIVE hr(hour) AS (SELECT ?1 UNION ALL SELECT hour + 3600000 FROM hr
                                    WHERE hour + 3600000 < ?2),
        f AS (SELECT minute - minute % 3600000 AS hour, target_id, sum(n) AS n,
                     sum(max(0, n - ?3)) AS extra FROM cells GROUP BY 1, 2)
        INSERT INTO rollup_hour (hour, target_id, attempts, successes, failures, latency_count,
                                 latency_sum_us, latency_min_us, latency_max_us/*cols*/)
        SELECT hr.hour, t.id, 60 * ?3 + coalesce(f.extra, 0),
               60 * ?3 + coalesce(f.extra, 0) - coalesce(f.n, 0), coalesce(f.n, 0),
               60 * ?3 + coalesce(f.extra, 0) - coalesce(f.n, 0),
               (60 * ?3 + coalesce(f.extra, 0) - coalesce(f.n, 0)) * (100 + t.id * 37 % 900),
               80 + t.id * 37 % 900, 150 + t.id * 37 % 900/*hist*/
        FROM hr CROSS JOIN targets AS t
        LEFT JOIN f ON f.hour = hr.hour AND f.target_id = t.id
        ORDER BY hr.hour, t.id""".replace("/*cols*/", hist_cols).replace(
            "/*hist*/", ", lat_hist(60 * ?3 + coalesce(f.extra, 0) - coalesce(f.n, 0), "
            "80 + t.id * 37 % 900, 150 + t.id * 37 % 900)" if hist_cols else ""),
         (start_ms - start_ms % HOUR_MS, now_ms, PROBES_PER_MINUTE))
    for stmt in late_indexes:
        if stmt.startswith("CREATE INDEX rollup_minute"):
            step(con, stmt.split()[2], stmt)
    con.execute("PRAGMA journal_mode = WAL")  # what netdiagd leaves behind
    con.close()
    print("gen_db: %s: %d failures, %d targets, %d days to %s" % (
        args.out, n, nt, args.days,
        datetime.datetime.fromtimestamp(now_ms / 1000, datetime.timezone.utc).isoformat()),
        file=sys.stderr)


if __name__ == "__main__":
    main()
