-- Alert state recorded before sources and senders were kept per domain (alert_seen.domain
-- NULL for kind source and sender), made one row per domain: the domains the address (or the
-- sender's addresses) sent as in the reports stored by the time that run saw it. So the first
-- run after the upgrade raises nothing an earlier run knew, and misses only an address that
-- began sending as another domain between that run and the upgrade. duckmarc runs this once,
-- before an alerts run, when such rows exist.
INSERT INTO alert_seen (kind, item, value, seen_at, scope, domain)
SELECT DISTINCT s.kind, s.item, NULL, s.seen_at, s.scope, r.domain
FROM alert_seen s
JOIN source_names n ON n.sender = s.item
JOIN records rec ON rec.source_ip = n.source_ip
JOIN reports r ON r.id = rec.report AND r.ingested_at <= s.seen_at
WHERE s.kind = 'sender' AND s.domain IS NULL
UNION
SELECT DISTINCT s.kind, s.item, NULL, s.seen_at, s.scope, r.domain
FROM alert_seen s
JOIN records rec ON rec.source_ip = s.item
JOIN reports r ON r.id = rec.report AND r.ingested_at <= s.seen_at
WHERE s.kind = 'source' AND s.domain IS NULL;
DELETE FROM alert_seen WHERE kind IN ('source', 'sender') AND domain IS NULL;
