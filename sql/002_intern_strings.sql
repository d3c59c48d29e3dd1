-- SPDX-License-Identifier: ISC
-- Schema version 1 to 2: failures keeps its raw names and host addresses as
-- ids into the new lookup tables raws and addrs, and each port as its own
-- integer, so a stored failure costs about 76 bytes instead of 117. Every
-- row is converted; failures_v shows exactly the text it showed before.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 2; if any statement fails, nothing changes.
-- The table is copied whole: the file needs room for a second copy of
-- failures while this runs (about a minute per 10 million rows).

DROP VIEW failures_v;
DROP INDEX failures_target_ts;
DROP INDEX failures_code_ts;
ALTER TABLE failures RENAME TO failures_v1;

CREATE TABLE raws (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE          -- 'ECONNREFUSED', 'EAI_NONAME', 'SERVFAIL'
);
CREATE TABLE addrs (
    id   INTEGER PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE          -- '127.0.0.1', '::1' (no brackets, no port)
);

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
    remote_port    INTEGER,            -- 8080
    PRIMARY KEY (ts, target_id, seq)
) WITHOUT ROWID;

-- Every distinct address text, split as netdiagd's writer splits it
-- (store_split_addr() in daemon/store_writer.c): 'host:port' with a host
-- without ':', or '[host]:port' with a host with ':', and a port of 1 to 5
-- digits without a leading zero, up to 65535. Anything else is kept whole
-- with a NULL port. failures_v joins the two again into the same text.
CREATE TEMP TABLE addr_split (
    text TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    port INTEGER
) WITHOUT ROWID;
INSERT INTO addr_split (text, addr, port)
WITH s(text) AS (
    SELECT local FROM failures_v1 WHERE local IS NOT NULL
    UNION
    SELECT remote FROM failures_v1 WHERE remote IS NOT NULL
),
h(text, head) AS (
    SELECT text, rtrim(text, '0123456789') FROM s
),
p(text, host, port) AS (
    SELECT text, substr(head, 1, length(head) - 1),
           CASE WHEN head LIKE '%:' AND length(text) > length(head)
                     AND length(text) - length(head) <= 5
                     AND (substr(text, length(head) + 1) = '0'
                          OR substr(text, length(head) + 1, 1) != '0')
                     AND CAST(substr(text, length(head) + 1) AS INTEGER) <= 65535
                THEN CAST(substr(text, length(head) + 1) AS INTEGER) END
    FROM h
)
SELECT text,
       CASE WHEN port IS NULL THEN text
            WHEN host LIKE '[%:%]' THEN substr(host, 2, length(host) - 2)
            WHEN host != '' AND instr(host, ':') = 0 THEN host
            ELSE text END,
       CASE WHEN port IS NULL THEN NULL
            WHEN host LIKE '[%:%]' THEN port
            WHEN host != '' AND instr(host, ':') = 0 THEN port END
FROM p;

INSERT INTO raws (name)
SELECT DISTINCT raw FROM failures_v1 WHERE raw IS NOT NULL ORDER BY raw;
INSERT INTO addrs (addr)
SELECT DISTINCT addr FROM addr_split ORDER BY addr;

INSERT INTO failures (ts, target_id, seq, phase, wsa_code, raw_id, raw_value, detail,
                      latency_us, local_addr_id, local_port, remote_addr_id, remote_port)
SELECT f.ts, f.target_id, f.seq, f.phase, f.wsa_code, r.id, f.raw_value, f.detail,
       f.latency_us, la.id, ls.port, ra.id, rs.port
FROM failures_v1 AS f
LEFT JOIN raws AS r ON r.name = f.raw
LEFT JOIN addr_split AS ls ON ls.text = f.local
LEFT JOIN addrs AS la ON la.addr = ls.addr
LEFT JOIN addr_split AS rs ON rs.text = f.remote
LEFT JOIN addrs AS ra ON ra.addr = rs.addr
ORDER BY f.ts, f.target_id, f.seq;

DROP TABLE failures_v1;
DROP TABLE temp.addr_split;

CREATE INDEX failures_target_ts ON failures (target_id, ts);
CREATE INDEX failures_code_ts ON failures (wsa_code, ts);

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
            ELSE ra.addr || ':' || f.remote_port END AS remote
FROM failures AS f
LEFT JOIN targets AS t ON t.id = f.target_id
LEFT JOIN phases AS p ON p.phase = f.phase
LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code
LEFT JOIN raws AS r ON r.id = f.raw_id
LEFT JOIN addrs AS la ON la.id = f.local_addr_id
LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id;
