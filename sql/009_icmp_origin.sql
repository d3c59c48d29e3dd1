-- SPDX-License-Identifier: ISC
-- Schema version 8 to 9: a failure that came from an ICMP or ICMPv6 error
-- says who sent it. failures gains icmp_from_addr_id (an addrs id, as
-- remote_addr_id is), icmp_type and icmp_code; failures_v shows them as
-- icmp_from ('10.99.2.2'), icmp_type and icmp_code. Rows stored before
-- read NULL in all three: unknown, as for a failure no ICMP error caused.
--
-- ALTER TABLE adds the columns without copying a row (quick however long
-- the history); it writes them on the line of remote_port, and schema.sql
-- spells the table the same way.
--
-- netdiagd runs this inside its BEGIN IMMEDIATE transaction, before it
-- stamps PRAGMA user_version = 9; if it fails, nothing changes.

ALTER TABLE failures ADD COLUMN icmp_from_addr_id INTEGER;
ALTER TABLE failures ADD COLUMN icmp_type INTEGER;
ALTER TABLE failures ADD COLUMN icmp_code INTEGER;

DROP VIEW failures_v;
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
