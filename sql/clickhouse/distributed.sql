-- SPDX-License-Identifier: ISC
-- The same tables on a ClickHouse cluster: on every node a replicated
-- local table (ReplicatedReplacingMergeTree: the copies of a shard agree,
-- and a row sent twice is still one row), and over them a Distributed
-- table with the names netdiagd writes to (netdiag.failures, ...), which
-- sends each row to a shard by cityHash64(host, target). That key keeps
-- every copy of a row on one shard, so the deduplication of tables.sql
-- still holds cluster-wide; query with FINAL as on one node.
--
-- Replace netdiag_cluster with the cluster's name in <remote_servers>; the
-- {shard} and {replica} macros come from each node's <macros>. Point each
-- host's clickhouse_url at any node (or a load balancer in front of them).
-- Columns and keys are those of tables.sql: keep the two files in step.

CREATE DATABASE IF NOT EXISTS netdiag ON CLUSTER netdiag_cluster;

CREATE TABLE IF NOT EXISTS netdiag.failures_local ON CLUSTER netdiag_cluster (
    host        String,
    target      String,
    ts_ms       UInt64,
    seq         UInt32,
    time        DateTime MATERIALIZED toDateTime(intDiv(ts_ms, 1000)),
    target_id   UInt64,
    batch       UInt64,
    kind        String,
    phase       String,
    wsa_code    UInt32,
    wsa_name    String,
    raw         String,
    raw_value   Int64,
    detail      String,
    latency_us  Int64,
    local_addr  String,
    local_port  UInt16,
    remote_addr String,
    remote_port UInt16
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netdiag/failures', '{replica}')
PARTITION BY toYYYYMM(time)
ORDER BY (host, target, ts_ms, seq);

CREATE TABLE IF NOT EXISTS netdiag.failures ON CLUSTER netdiag_cluster
AS netdiag.failures_local
ENGINE = Distributed(netdiag_cluster, netdiag, failures_local, cityHash64(host, target));

CREATE TABLE IF NOT EXISTS netdiag.rollup_minute_local ON CLUSTER netdiag_cluster (
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
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netdiag/rollup_minute',
                                        '{replica}', attempts)
PARTITION BY toYYYYMM(minute)
ORDER BY (host, target, minute_ms);

CREATE TABLE IF NOT EXISTS netdiag.rollup_minute ON CLUSTER netdiag_cluster
AS netdiag.rollup_minute_local
ENGINE = Distributed(netdiag_cluster, netdiag, rollup_minute_local, cityHash64(host, target));

CREATE TABLE IF NOT EXISTS netdiag.rollup_minute_code_local ON CLUSTER netdiag_cluster (
    host      String,
    target    String,
    minute_ms UInt64,
    wsa_code  UInt32,
    minute    DateTime MATERIALIZED toDateTime(intDiv(minute_ms, 1000)),
    target_id UInt64,
    wsa_name  String,
    count     UInt64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netdiag/rollup_minute_code',
                                        '{replica}', count)
PARTITION BY toYYYYMM(minute)
ORDER BY (host, target, minute_ms, wsa_code);

CREATE TABLE IF NOT EXISTS netdiag.rollup_minute_code ON CLUSTER netdiag_cluster
AS netdiag.rollup_minute_code_local
ENGINE = Distributed(netdiag_cluster, netdiag, rollup_minute_code_local,
                     cityHash64(host, target));

CREATE TABLE IF NOT EXISTS netdiag.alerts_local ON CLUSTER netdiag_cluster (
    host        String,
    id          UInt64,
    version     UInt64,
    started     DateTime MATERIALIZED toDateTime(intDiv(started_ms, 1000)),
    target      String,
    wsa_code    UInt32,
    wsa_name    String,
    metric      String,
    started_ms  UInt64,
    resolved_ms UInt64,
    count       Int64,
    peak        Int64,
    baseline    Float64,
    attempts    Int64,
    value       Float64,
    detail      String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/netdiag/alerts', '{replica}',
                                        version)
PARTITION BY toYYYYMM(started)
ORDER BY (host, id);

-- alerts are keyed by host and id: shard by host alone
CREATE TABLE IF NOT EXISTS netdiag.alerts ON CLUSTER netdiag_cluster
AS netdiag.alerts_local
ENGINE = Distributed(netdiag_cluster, netdiag, alerts_local, cityHash64(host));
