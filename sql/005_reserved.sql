-- Schema version 4 to 5: reserved for the latency histograms of the
-- rollups (another branch of issue 16 writes this migration). This
-- placeholder only keeps the numbering whole in the branch that adds
-- version 6 (alerts on latency and loss); the merge replaces it with that
-- migration and deletes this file.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 5; it changes nothing.

SELECT 1;
