-- SPDX-License-Identifier: ISC
-- The ClickHouse tables netdiagd's export sink ([export] in netdiag.ini)
-- writes to, on a single node. Run once, e.g.
--   clickhouse-client --multiquery < tables.sql
-- (or each statement through the HTTP interface). Written for ClickHouse
-- 18.16 (Debian 12) and later: no DateTime64; times are UInt64
-- milliseconds (ts_ms, minute_ms, ...) with a DateTime column computed from
-- them for the partitions and for people.
--
-- The export is at-least-once: after an outage, a restart or a kill -9 of
-- netdiagd some rows are sent again. Every table is a ReplacingMergeTree
-- whose ORDER BY is what identifies a row, so a row sent twice is one row
-- once parts merge; query with FINAL (or after OPTIMIZE TABLE ... FINAL)
-- to see each row once before that. See README.md.

CREATE DATABASE IF NOT EXISTS netdiag;

-- One row per failed attempt (the SQLite failures_v): the key is the
-- host, the target, the attempt's start in ms and its seq (0 unless one
-- target failed twice in the same millisecond).
CREATE TABLE IF NOT EXISTS netdiag.failures (
    host        String,
    target      String,
    ts_ms       UInt64,
    seq         UInt32,
    time        DateTime MATERIALIZED toDateTime(intDiv(ts_ms, 1000)),
    target_id   UInt64,
    batch       UInt64,   -- the SQLite commits.id that stored it
    kind        String,
    phase       String,
    wsa_code    UInt32,
    wsa_name    String,
    raw         String,   -- ECONNREFUSED, EAI_NONAME, SERVFAIL ('' none)
    raw_value   Int64,
    detail      String,
    latency_us  Int64,
    local_addr  String,
    local_port  UInt16,
    remote_addr String,
    remote_port UInt16
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (host, target, ts_ms, seq);

-- Every attempt, counted per target and minute (the SQLite rollup_minute),
-- shipped once the minute has settled. A minute's counts only grow, so the
-- row with the most attempts is the newest: the version column.
CREATE TABLE IF NOT EXISTS netdiag.rollup_minute (
    host           String,
    target         String,
    minute_ms      UInt64,
    minute         DateTime MATERIALIZED toDateTime(intDiv(minute_ms, 1000)),
    target_id      UInt64,
    kind           String,
    attempts       UInt64,
    successes      UInt64,
    failures       UInt64,
    latency_count  UInt64,
    latency_sum_us UInt64,
    latency_min_us UInt64,
    latency_max_us UInt64,
    echo_sent      UInt64,
    echo_lost      UInt64
) ENGINE = ReplacingMergeTree(attempts)
PARTITION BY toYYYYMM(minute)
ORDER BY (host, target, minute_ms);

-- Failures per target, minute and code (the SQLite rollup_minute_code).
CREATE TABLE IF NOT EXISTS netdiag.rollup_minute_code (
    host      String,
    target    String,
    minute_ms UInt64,
    wsa_code  UInt32,
    minute    DateTime MATERIALIZED toDateTime(intDiv(minute_ms, 1000)),
    target_id UInt64,
    wsa_name  String,
    count     UInt64
) ENGINE = ReplacingMergeTree(count)
PARTITION BY toYYYYMM(minute)
ORDER BY (host, target, minute_ms, wsa_code);

-- Alerts, one row per firing (the SQLite alerts), sent again while they
-- fire and once resolved: version is when it was sent, the newest wins.
-- resolved_ms 0: still firing.
CREATE TABLE IF NOT EXISTS netdiag.alerts (
    host        String,
    id          UInt64,
    version     UInt64,
    started     DateTime MATERIALIZED toDateTime(intDiv(started_ms, 1000)),
    target      String,   -- '' for a host-wide alert
    wsa_code    UInt32,
    wsa_name    String,
    metric      String,   -- 'code' | 'latency' | 'loss'
    started_ms  UInt64,
    resolved_ms UInt64,
    count       Int64,
    peak        Int64,
    baseline    Float64,
    attempts    Int64,
    value       Float64,
    detail      String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started)
ORDER BY (host, id);
