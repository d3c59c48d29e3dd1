-- SPDX-License-Identifier: ISC
-- Schema version 9 to 10: the export outbox's positions. The database
-- itself is the outbox (the failures, rollups and alerts are already
-- there); what the export sink of netdiagd ([export] in netdiag.ini) adds
-- is one row per stream it ships, holding the position up to which the
-- receiver (ClickHouse) acknowledged the rows. A position advances only
-- after the receiver answered 200 to the batch, so a restart, a kill -9
-- or an outage resends from there: rows may be sent twice, never lost
-- (sql/clickhouse/README.md: the tables there drop the duplicates).
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 10; if it fails, nothing changes.

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
