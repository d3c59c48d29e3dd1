-- SPDX-License-Identifier: ISC
-- Schema version 7 to 8: traced paths. When a target goes from ok to
-- failing for a reason of the network, netdiagd traces the path to the
-- address that failed (and now and then a healthy target's, its baseline):
-- one row in paths per trace, one in path_hops per TTL probed.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 8; if it fails, nothing changes.

CREATE TABLE paths (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL,      -- targets.id
    ts          INTEGER NOT NULL,      -- when the trace started (ms)
    why         TEXT NOT NULL,         -- 'baseline' | 'failure'
    failure_ts  INTEGER,               -- why = 'failure': the ts of the failures row
                                       -- (with target_id) that started it
    dest        TEXT NOT NULL,         -- the address traced to: '10.99.3.2'
    protocol    TEXT NOT NULL,         -- 'tcp' | 'udp' | 'icmp', as the probe
    port        INTEGER,               -- the probe's port; NULL for icmp
    reached     INTEGER NOT NULL,      -- 1: the destination answered
    stop_ttl    INTEGER,               -- the last hop that answered; NULL: none
    stop_addr   TEXT,                  -- its address
    packets     INTEGER NOT NULL,      -- probes the trace sent
    duration_ms INTEGER NOT NULL
);
CREATE INDEX paths_target_ts ON paths (target_id, ts);
CREATE INDEX paths_ts ON paths (ts);

CREATE TABLE path_hops (
    path_id   INTEGER NOT NULL,        -- paths.id
    ttl       INTEGER NOT NULL,        -- 1, 2, ...
    said      TEXT NOT NULL,           -- 'ttl' | 'unreachable' | 'reached' | 'silent'
    addr      TEXT,                    -- who answered; NULL: nobody (silent)
    rtt_us    INTEGER,                 -- NULL: silent
    icmp_type INTEGER,                 -- the ICMP/ICMPv6 answer; NULL: none (silent, a
    icmp_code INTEGER,                 -- TCP connect or RST, a datagram)
    PRIMARY KEY (path_id, ttl)
) WITHOUT ROWID;
