-- SPDX-License-Identifier: ISC
-- Schema version 6 to 7: indexes only. rollup_minute_code and
-- rollup_hour_code are keyed by time first, so the counts of one target
-- over a range (a target's page in `netdiag web`, `netdiag timeline
-- --target web`) read every target's rows of that range; with these they
-- read that target's alone, as rollup_minute and rollup_hour already do
-- through rollup_minute_target and rollup_hour_target. Nothing stored
-- changes. Building them reads both tables once: about a second per
-- million code rows (a 30-day history of 1,000 targets and 10 million
-- failures has about 3.3 million).
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 7; if it fails, nothing changes.

CREATE INDEX rollup_minute_code_target ON rollup_minute_code (target_id, minute);
CREATE INDEX rollup_hour_code_target ON rollup_hour_code (target_id, hour);
