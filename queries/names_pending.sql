-- Source addresses that `enrich` (run after every ingest that stored something) names now:
-- those never named, and, with reverse DNS on, those whose DNS answer is due: never asked,
-- failed or skipped last time, an answer older than 7 days, NXDOMAIN older than 1 day.
-- duckmarc sets: dns (BOOLEAN), refresh (BOOLEAN: every address), answer_cutoff and
-- nxdomain_cutoff (TIMESTAMP). The result is kept as the temp table names_pending.
CREATE OR REPLACE TEMP TABLE names_pending AS
WITH known AS (
    SELECT
        s.source_ip,
        n.source_ip IS NOT NULL                             AS named,
        coalesce(getvariable('dns') AND (
            getvariable('refresh')
            OR n.source_ip IS NULL
            OR n.dns_status IN ('failed', 'skipped')
            OR (n.dns_status = 'ok' AND n.dns_checked_at < getvariable('answer_cutoff'))
            OR (n.dns_status = 'nxdomain' AND n.dns_checked_at < getvariable('nxdomain_cutoff'))
        ), false)                                           AS dns_due,
        n.ptr,
        coalesce(n.ptr_confirmed, false)                    AS ptr_confirmed,
        coalesce(n.dns_status, 'skipped')                   AS dns_status,
        CAST(epoch(n.dns_checked_at) AS BIGINT)             AS dns_checked_at
    FROM (SELECT DISTINCT source_ip FROM records) s
    LEFT JOIN source_names n USING (source_ip)
)
SELECT source_ip, named, dns_due, ptr, ptr_confirmed, dns_status, dns_checked_at
FROM known
WHERE NOT named OR getvariable('refresh') OR dns_due;
