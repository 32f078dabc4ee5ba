-- After an alerts run whose alerts were delivered: what it saw becomes the state the next run
-- in its scope compares with. Only what the run itself evaluated is stored: duckmarc fills the
-- temp tables seen_then (kind, item, domain, value, as_of: alert_views.sql's seen_now, read in the same
-- transaction as the alerts) and raised (kind, domain, subject, value: this run's alerts), and sets
-- `now` and `alert_scope`. A report ingested while the alerts were being delivered is judged
-- by the next run.
INSERT INTO alert_seen (kind, item, value, seen_at, scope, domain)
SELECT t.kind, t.item, NULL, getvariable('now'), getvariable('alert_scope'), t.domain
FROM seen_then t
ANTI JOIN (FROM alert_seen WHERE scope = getvariable('alert_scope')) s
       ON s.kind = t.kind AND s.item = t.item AND s.domain IS NOT DISTINCT FROM t.domain
WHERE t.kind IN ('source', 'sender', 'dkim_selector');
DELETE FROM alert_seen
WHERE kind = 'policy' AND scope = getvariable('alert_scope')
  AND item IN (SELECT item FROM seen_then WHERE kind = 'policy');
INSERT INTO alert_seen (kind, item, value, seen_at, scope, as_of)
SELECT kind, item, value, getvariable('now'), getvariable('alert_scope'), CAST(as_of AS DATE)
FROM seen_then WHERE kind = 'policy';
INSERT INTO alert_seen (kind, item, value, seen_at, scope, domain)
SELECT kind, subject, value, getvariable('now'), getvariable('alert_scope'), coalesce(domain, '')
FROM raised WHERE value IS NOT NULL;
INSERT INTO alert_runs (run_at, alerts, scope)
SELECT getvariable('now'), (SELECT count(*) FROM raised), getvariable('alert_scope');
