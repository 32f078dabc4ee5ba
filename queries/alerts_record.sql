-- After an alerts run whose alerts were delivered: what it has seen becomes the state the
-- next run compares with. duckmarc first fills the temp table raised (kind, subject, value)
-- with the alerts of this run and sets `now`.
INSERT INTO alert_seen
SELECT 'source', source_ip, NULL, getvariable('now')
FROM (SELECT DISTINCT source_ip FROM records)
WHERE source_ip NOT IN (SELECT item FROM alert_seen WHERE kind = 'source');
INSERT INTO alert_seen
SELECT 'sender', sender, NULL, getvariable('now')
FROM (SELECT DISTINCT sender FROM source_names WHERE sender IS NOT NULL)
WHERE sender NOT IN (SELECT item FROM alert_seen WHERE kind = 'sender');
DELETE FROM alert_seen WHERE kind = 'policy';
INSERT INTO alert_seen
SELECT 'policy', domain, arg_max(policy, end_time), getvariable('now') FROM policies GROUP BY domain;
INSERT INTO alert_seen
SELECT kind, subject, value, getvariable('now') FROM raised WHERE value IS NOT NULL;
INSERT INTO alert_runs SELECT getvariable('now'), (SELECT count(*) FROM raised);
