-- SPDX-License-Identifier: ISC
-- Schema version 3 to 4: the stored position that `netdiag failures
-- --follow` follows. Every transaction in which netdiagd stores failure
-- rows adds a row to the new table commits, and its rows carry that row's
-- id in the new column failures.batch (sql/README.md, "Following new
-- failures"). Rows stored before keep batch NULL. Nothing is copied:
-- adding a column at the end of a table only rewrites its definition, so
-- this takes no time however many failures there are.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 4; if it fails, nothing changes.

ALTER TABLE failures ADD COLUMN batch INTEGER;

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
