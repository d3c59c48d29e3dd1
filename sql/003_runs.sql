-- SPDX-License-Identifier: ISC
-- Schema version 2 to 3: the table runs, one row per start of netdiagd,
-- with the heartbeat that tells a running daemon from a stopped or a killed
-- one (sql/README.md, "Is netdiagd running?"). Nothing else changes.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 3; if it fails, nothing changes.

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
