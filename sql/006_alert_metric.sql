-- SPDX-License-Identifier: ISC
-- Schema version 5 to 6: alerts on latency and loss. Every alert row says
-- what fired in the new column alerts.metric: 'code' (a spike of failures
-- with wsa_code, every row stored before), 'latency' or 'loss'; for the
-- latter two the new column value holds the window's figure (latency in
-- µs, loss as lost / sent) and wsa_code is 0. alerts_v shows both.
--
-- The table is copied into its new form (alerts are few: this is quick
-- however long the history), so that a migrated database has exactly the
-- schema of a new one.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 6; if it fails, nothing changes.

DROP VIEW alerts_v;
DROP INDEX alerts_started;
DROP INDEX alerts_target;
ALTER TABLE alerts RENAME TO alerts_v5;

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

INSERT INTO alerts (id, target_id, wsa_code, started, resolved, count, peak,
                    baseline, attempts, last_notified, detail)
SELECT id, target_id, wsa_code, started, resolved, count, peak,
       baseline, attempts, last_notified, detail
FROM alerts_v5
ORDER BY id;
DROP TABLE alerts_v5;

CREATE INDEX alerts_started ON alerts (started);
CREATE INDEX alerts_target ON alerts (target_id, started);

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
