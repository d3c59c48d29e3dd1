-- SPDX-License-Identifier: ISC
-- The netdiag database, schema version 10: what netdiagd writes and the
-- netdiag client (and anyone with sqlite3) reads. See sql/README.md.
--
-- netdiagd runs this whole file inside one BEGIN IMMEDIATE transaction on a
-- new database, then stamps PRAGMA application_id = 1313097031 ("NDIG") and
-- PRAGMA user_version = 10. An older database is brought here by the
-- numbered migrations (sql/002_*.sql: version 1 to 2, sql/003_*.sql: 2 to
-- 3, sql/004_*.sql: 3 to 4, sql/005_*.sql: 4 to 5, sql/006_*.sql: 5 to 6,
-- sql/007_*.sql: 6 to 7, sql/008_*.sql: 7 to 8, sql/009_*.sql: 8 to 9,
-- sql/010_*.sql: 9 to 10),
-- applied the same way; this file always describes the newest schema.
-- daemon/store_schema.c embeds a copy of it and of the migrations, and
-- test_store checks that they are identical.
--
-- Times are INTEGER milliseconds since the epoch, UTC; durations carry
-- their unit in the column name (latency_us, interval_ms).
--
-- Query failures through the view failures_v: the table keeps repeated
-- text (raw names, host addresses) as ids into small lookup tables.

-- The Windows Sockets codes, refreshed from common/wsa.c at every start.
CREATE TABLE wsa_codes (
    code         INTEGER PRIMARY KEY,  -- 10061
    name         TEXT NOT NULL,        -- 'WSAECONNREFUSED'
    meaning      TEXT NOT NULL,        -- 'Connection refused.'
    explanation  TEXT NOT NULL,        -- what usually causes it on Linux
    os_dependent INTEGER NOT NULL DEFAULT 0 -- 1 for the 10 "OS dependent" codes
);
CREATE INDEX wsa_codes_name ON wsa_codes (name);

-- failures.phase values. Stored numbers never change meaning.
CREATE TABLE phases (
    phase INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
INSERT INTO phases (phase, name) VALUES
    (0, 'none'), (1, 'resolve'), (2, 'connect'), (3, 'send'), (4, 'recv'), (5, 'verify');

-- One row per target name ever configured. A target removed from the
-- configuration keeps its row (retired is set) so its history still has a
-- name; configured again, it gets the same row back.
CREATE TABLE targets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,         -- 'connect' | 'resolve' | 'send'
    host        TEXT,                  -- connect, send
    port        INTEGER,               -- connect, send
    protocol    TEXT,                  -- send: 'udp' | 'tcp'
    qname       TEXT,                  -- resolve: the name asked
    qtype       TEXT,                  -- resolve: 'A', 'AAAA', ...
    server      TEXT,                  -- resolve: '127.0.0.1:53' or 'system'
    family      TEXT,                  -- 'any' | 'ipv4' | 'ipv6'
    interval_ms INTEGER,
    timeout_ms  INTEGER,
    created     INTEGER NOT NULL,      -- first configured
    updated     INTEGER NOT NULL,      -- definition last changed
    retired     INTEGER                -- removed from the configuration; NULL: active
);

-- Strings that repeat in every failure row, stored once: the raw names
-- and the host addresses. A row is never changed or deleted once
-- written (ids stay valid); rows no failure refers to any more (after
-- retention) stay, they are few.
CREATE TABLE raws (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE          -- 'ECONNREFUSED', 'EAI_NONAME', 'SERVFAIL'
);
CREATE TABLE addrs (
    id   INTEGER PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE          -- '127.0.0.1', '::1' (no brackets, no port)
);

-- One row per failed attempt. The table is clustered on (ts, target_id,
-- seq), which is the index by time; seq is 0 unless one target failed more
-- than once in the same millisecond. An address is an addrs id and a port:
-- failures_v shows '127.0.0.1:40312' or '[::1]:53' again. A port of NULL
-- with an address id means the address text is the whole value as the
-- probe gave it (no port in it). NULL ids and text: none, or empty.
-- batch is the commits.id of the transaction that stored the row (NULL:
-- stored before schema version 4); it was added by sql/004_commits.sql,
-- whose ALTER TABLE put it on the line of remote_port, and a new database
-- gets the same text. icmp_from_addr_id, icmp_type and icmp_code (schema
-- version 7, sql/007_icmp_origin.sql, on the same line) say who refused
-- when the failure came from an ICMP or ICMPv6 error: the addrs id of the
-- router or host that sent it and the message's type and code (3/1 host
-- unreachable, 3/13 administratively prohibited, ...); NULL for every other
-- failure, and for rows stored before version 9 (unknown).
CREATE TABLE failures (
    ts             INTEGER NOT NULL,   -- attempt start
    target_id      INTEGER NOT NULL,   -- targets.id
    seq            INTEGER NOT NULL DEFAULT 0,
    phase          INTEGER NOT NULL,   -- phases.phase
    wsa_code       INTEGER NOT NULL,   -- wsa_codes.code
    raw_id         INTEGER,            -- raws.id
    raw_value      INTEGER,            -- errno, EAI value or DNS rcode
    detail         TEXT,
    latency_us     INTEGER,
    local_addr_id  INTEGER,            -- addrs.id
    local_port     INTEGER,            -- 40312
    remote_addr_id INTEGER,            -- addrs.id
    remote_port    INTEGER, batch INTEGER, icmp_from_addr_id INTEGER, icmp_type INTEGER, icmp_code INTEGER,            -- 8080
    PRIMARY KEY (ts, target_id, seq)
) WITHOUT ROWID;
CREATE INDEX failures_target_ts ON failures (target_id, ts);
CREATE INDEX failures_code_ts ON failures (wsa_code, ts);

-- One row per transaction of netdiagd that stored failure rows, numbered in
-- the order they were committed (AUTOINCREMENT: a number is never used
-- again, also once retention deleted the rows). Its rows are those with
-- failures.batch = id; they all lie in ts_min..ts_max, so a reader finds
-- them through the primary key of failures (ts first), whatever their ts:
-- WHERE ts BETWEEN ts_min AND ts_max AND batch = id.
CREATE TABLE commits (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_min    INTEGER NOT NULL,        -- the oldest ts of its rows
    ts_max    INTEGER NOT NULL,        -- the newest ts of its rows
    rows      INTEGER NOT NULL,        -- failure rows it stored
    committed INTEGER NOT NULL         -- when it was written (ms)
);

-- Every attempt, ok or not, counted per target and minute (minute = ms of
-- the minute's start). Latency figures cover successful attempts only.
-- lat_hist is the histogram of their latency_us (the encoding of
-- daemon/hist.h, sql/README.md "Latency histograms"; NULL: none, or stored
-- before schema version 5); echo_sent and echo_lost count the ICMP echoes
-- of ping attempts (0 for other kinds). The three were added by
-- sql/005_latency.sql, whose ALTER TABLE put them on the line of
-- latency_max_us, and a new database gets the same text.
CREATE TABLE rollup_minute (
    minute         INTEGER NOT NULL,
    target_id      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    successes      INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    latency_count  INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    latency_min_us INTEGER,
    latency_max_us INTEGER, lat_hist BLOB, echo_sent INTEGER NOT NULL DEFAULT 0, echo_lost INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, target_id)
) WITHOUT ROWID;
CREATE INDEX rollup_minute_target ON rollup_minute (target_id, minute);

-- Failures per target, minute and code.
CREATE TABLE rollup_minute_code (
    minute    INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    wsa_code  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (minute, target_id, wsa_code)
) WITHOUT ROWID;
-- One target's codes over a range (schema version 7).
CREATE INDEX rollup_minute_code_target ON rollup_minute_code (target_id, minute);

-- The same per hour (hour = ms of the hour's start), kept as long as the
-- failures; the minute tables are kept 7 days at most.
CREATE TABLE rollup_hour (
    hour           INTEGER NOT NULL,
    target_id      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    successes      INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    latency_count  INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    latency_min_us INTEGER,
    latency_max_us INTEGER, lat_hist BLOB, echo_sent INTEGER NOT NULL DEFAULT 0, echo_lost INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, target_id)
) WITHOUT ROWID;
CREATE INDEX rollup_hour_target ON rollup_hour (target_id, hour);

CREATE TABLE rollup_hour_code (
    hour      INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    wsa_code  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (hour, target_id, wsa_code)
) WITHOUT ROWID;
CREATE INDEX rollup_hour_code_target ON rollup_hour_code (target_id, hour);

-- Spikes found by the alert engine: one row per firing, from start to
-- resolution. metric says what fired: 'code' a spike of failures with
-- wsa_code; 'latency' a window's latency percentile over the target's
-- own baseline; 'loss' a window's share of lost echoes (ping) over it.
-- For 'latency' and 'loss' wsa_code is 0, value is the figure of the
-- window that fired (latency: µs; loss: lost / sent, 0 to 1; NULL for an
-- alert of many targets), baseline is in the same unit, and count,
-- attempts and peak count other things:
--   latency: count = successful attempts (samples) of the window that
--            fired, attempts = its attempts, peak = highest figure (µs);
--   loss:    count = echoes lost in that window, attempts = echoes sent,
--            peak = most echoes lost in a window.
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    target_id     INTEGER,             -- targets.id; NULL: host-wide
    wsa_code      INTEGER NOT NULL,    -- 0 for latency and loss
    started       INTEGER NOT NULL,
    resolved      INTEGER,             -- NULL while firing
    count         INTEGER,             -- failures in the window that fired
    peak          INTEGER,             -- highest count in a window while firing
    baseline      REAL,                -- expected count per window when it fired
    attempts      INTEGER,             -- attempts in the window that fired
    last_notified INTEGER,             -- last exec / Alertmanager notification
    detail        TEXT,
    metric        TEXT NOT NULL DEFAULT 'code', -- 'code' | 'latency' | 'loss'
    value         REAL                 -- latency, loss: the window's figure
);
CREATE INDEX alerts_started ON alerts (started);
CREATE INDEX alerts_target ON alerts (target_id, started);

-- One row per start of netdiagd: its heartbeat. The daemon writes the row
-- when it opens the database, rewrites heartbeat and the counters at least
-- every 2 s, and sets stopped when it stops cleanly. A reader judges:
-- stopped set: stopped then; stopped NULL and heartbeat younger than 10 s:
-- running (check pid with kill(pid, 0) when hostname is this host);
-- otherwise: not running since heartbeat (killed, crashed or hung).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,  -- one row per start of netdiagd
    pid         INTEGER NOT NULL,
    hostname    TEXT NOT NULL,
    version     TEXT NOT NULL,        -- '0.1.0'
    config      TEXT NOT NULL,        -- absolute path of the config file
    started     INTEGER NOT NULL,     -- ms since the epoch, UTC
    heartbeat   INTEGER NOT NULL,     -- ms; rewritten at least every 2 s
    stopped     INTEGER,              -- ms of a clean stop; NULL while
                                      -- running and after a crash
    results     INTEGER NOT NULL DEFAULT 0, -- the daemon's own counters
    failures    INTEGER NOT NULL DEFAULT 0, -- since this start (as on its
    dropped     INTEGER NOT NULL DEFAULT 0, -- exit line)
    targets     INTEGER NOT NULL DEFAULT 0  -- targets configured now
);

-- The export sink's positions (netdiag.ini [export]; sql/010_export.sql).
-- One row per exported stream. What the four position columns hold:
--   'failures': batch = commits.id, (ts, target_id, seq) the key of the
--               last failure row acknowledged in that commit;
--   'rollups':  ts = the minute (ms) being shipped, target_id the last
--               target of it acknowledged (batch and seq 0);
--   'alerts':   batch = the highest alerts.id acknowledged, ts = the
--               newest resolved time acknowledged.
CREATE TABLE export_cursor (
    stream    TEXT PRIMARY KEY,        -- 'failures' | 'rollups' | 'alerts'
    batch     INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    rows      INTEGER NOT NULL,        -- rows acknowledged in total
    acked     INTEGER NOT NULL,        -- when the last batch was acknowledged (ms)
    error     TEXT,                    -- the last failed attempt's reason; NULL: none since
    error_at  INTEGER                  -- when it happened (ms)
) WITHOUT ROWID;

-- Failures with their names and their text: what `netdiag failures`
-- shows, with the columns of schema version 1 (raw, local, remote as text).
CREATE VIEW failures_v AS
SELECT f.ts AS ts,
       strftime('%Y-%m-%dT%H:%M:%fZ', f.ts / 1000.0, 'unixepoch') AS time,
       f.target_id AS target_id,
       t.name AS target,
       t.kind AS kind,
       p.name AS phase,
       f.wsa_code AS wsa_code,
       c.name AS wsa_name,
       c.meaning AS meaning,
       r.name AS raw,
       f.raw_value AS raw_value,
       f.detail AS detail,
       f.latency_us AS latency_us,
       CASE WHEN f.local_port IS NULL THEN la.addr
            WHEN instr(la.addr, ':') THEN '[' || la.addr || ']:' || f.local_port
            ELSE la.addr || ':' || f.local_port END AS local,
       CASE WHEN f.remote_port IS NULL THEN ra.addr
            WHEN instr(ra.addr, ':') THEN '[' || ra.addr || ']:' || f.remote_port
            ELSE ra.addr || ':' || f.remote_port END AS remote,
       ia.addr AS icmp_from,
       f.icmp_type AS icmp_type,
       f.icmp_code AS icmp_code
FROM failures AS f
LEFT JOIN targets AS t ON t.id = f.target_id
LEFT JOIN phases AS p ON p.phase = f.phase
LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code
LEFT JOIN raws AS r ON r.id = f.raw_id
LEFT JOIN addrs AS la ON la.id = f.local_addr_id
LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id
LEFT JOIN addrs AS ia ON ia.id = f.icmp_from_addr_id;

CREATE VIEW rollup_minute_v AS
SELECT r.minute AS minute,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.minute / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       t.kind AS kind,
       r.attempts AS attempts,
       r.successes AS successes,
       r.failures AS failures,
       CAST(r.failures AS REAL) / NULLIF(r.attempts, 0) AS failure_ratio,
       r.latency_sum_us / NULLIF(r.latency_count, 0) AS latency_avg_us,
       r.latency_min_us AS latency_min_us,
       r.latency_max_us AS latency_max_us
FROM rollup_minute AS r
LEFT JOIN targets AS t ON t.id = r.target_id;

CREATE VIEW rollup_hour_v AS
SELECT r.hour AS hour,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.hour / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       t.kind AS kind,
       r.attempts AS attempts,
       r.successes AS successes,
       r.failures AS failures,
       CAST(r.failures AS REAL) / NULLIF(r.attempts, 0) AS failure_ratio,
       r.latency_sum_us / NULLIF(r.latency_count, 0) AS latency_avg_us,
       r.latency_min_us AS latency_min_us,
       r.latency_max_us AS latency_max_us
FROM rollup_hour AS r
LEFT JOIN targets AS t ON t.id = r.target_id;

CREATE VIEW rollup_minute_code_v AS
SELECT r.minute AS minute,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.minute / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       r.wsa_code AS wsa_code,
       c.name AS wsa_name,
       r.count AS count
FROM rollup_minute_code AS r
LEFT JOIN targets AS t ON t.id = r.target_id
LEFT JOIN wsa_codes AS c ON c.code = r.wsa_code;

CREATE VIEW rollup_hour_code_v AS
SELECT r.hour AS hour,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.hour / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       r.wsa_code AS wsa_code,
       c.name AS wsa_name,
       r.count AS count
FROM rollup_hour_code AS r
LEFT JOIN targets AS t ON t.id = r.target_id
LEFT JOIN wsa_codes AS c ON c.code = r.wsa_code;

CREATE VIEW alerts_v AS
SELECT a.id AS id,
       a.target_id AS target_id,
       t.name AS target,
       a.wsa_code AS wsa_code,
       c.name AS wsa_name,
       c.meaning AS meaning,
       a.started AS started,
       strftime('%Y-%m-%dT%H:%M:%fZ', a.started / 1000.0, 'unixepoch') AS started_time,
       a.resolved AS resolved,
       strftime('%Y-%m-%dT%H:%M:%fZ', a.resolved / 1000.0, 'unixepoch') AS resolved_time,
       a.count AS count,
       a.peak AS peak,
       a.baseline AS baseline,
       a.attempts AS attempts,
       a.last_notified AS last_notified,
       a.detail AS detail,
       a.metric AS metric,
       a.value AS value
FROM alerts AS a
LEFT JOIN targets AS t ON t.id = a.target_id
LEFT JOIN wsa_codes AS c ON c.code = a.wsa_code;

-- Traced paths (schema version 8; netdiag.ini [path]): one row per trace, one per TTL probed.
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
