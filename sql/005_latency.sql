-- SPDX-License-Identifier: ISC
-- Schema version 4 to 5: latency history. rollup_minute and rollup_hour
-- gain lat_hist, the compact histogram of the latencies of the successful
-- attempts they count (sql/README.md, "Latency histograms"), and
-- echo_sent and echo_lost, the ICMP echoes of ping attempts. Rows stored
-- before keep lat_hist NULL and the echoes 0: their latency figures are
-- the mean, minimum and maximum they always had. Nothing is copied: adding
-- columns at the end of a table only rewrites its definition, so this
-- takes no time however many rollups there are.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 5; if it fails, nothing changes.

ALTER TABLE rollup_minute ADD COLUMN lat_hist BLOB;
ALTER TABLE rollup_minute ADD COLUMN echo_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_minute ADD COLUMN echo_lost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_hour ADD COLUMN lat_hist BLOB;
ALTER TABLE rollup_hour ADD COLUMN echo_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_hour ADD COLUMN echo_lost INTEGER NOT NULL DEFAULT 0;
