-- Alert state recorded before sources and senders were kept per domain (alert_seen.domain
-- NULL for kind source and sender), made one row per domain: each domain the address (or
-- one of the sender's addresses) sent as in the records its scope's last run judged (stored
-- by then, not held back as dated ahead, not from a forged report: alert_views.sql's
-- alertable). That run knew those pairs, so the first run after the upgrade raises none of
-- them again, and judges what came since as usual. duckmarc runs this once, before an
-- alerts run, when such rows exist.
INSERT INTO alert_seen (kind, item, value, seen_at, scope, domain)
WITH older AS (
    FROM alert_seen WHERE kind IN ('source', 'sender') AND domain IS NULL
),
-- Each older row with the addresses it stands for.
addresses AS (
    SELECT o.kind, o.item, o.seen_at, o.scope, o.item AS source_ip
    FROM older o WHERE o.kind = 'source'
    UNION ALL
    SELECT o.kind, o.item, o.seen_at, o.scope, n.source_ip
    FROM older o JOIN source_names n ON n.sender = o.item
    WHERE o.kind = 'sender'
),
last_runs AS (
    SELECT scope, max(run_at) AS last_run FROM alert_runs GROUP BY scope
),
judged AS (
    SELECT DISTINCT l.scope, rec.source_ip, r.domain
    FROM records rec
    JOIN reports r ON r.id = rec.report
    JOIN last_runs l ON r.ingested_at <= l.last_run AND r.end_time <= l.last_run + INTERVAL 1 DAY
    WHERE rec.source_ip IN (SELECT source_ip FROM addresses)
      AND r.authenticity NOT IN ('fail', 'mismatch', 'none')
)
SELECT DISTINCT a.kind, a.item, NULL, a.seen_at, a.scope, j.domain
FROM addresses a
JOIN judged j ON j.scope = a.scope AND j.source_ip = a.source_ip;
DELETE FROM alert_seen WHERE kind IN ('source', 'sender') AND domain IS NULL;
