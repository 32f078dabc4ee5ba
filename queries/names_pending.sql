-- Source addresses that `enrich` (run after every ingest that stored something) names now:
-- those never named (found in the records of reports after naming_mark, or in every record
-- with refresh), and, with reverse DNS on, those whose DNS answer is due: never asked,
-- failed or skipped last time, an answer older than 7 days, NXDOMAIN older than 1 day.
-- duckmarc sets: dns (BOOLEAN), refresh (BOOLEAN: every address), answer_cutoff and
-- nxdomain_cutoff (TIMESTAMP), named_through (BIGINT: naming_mark, 0 if none). The result is
-- kept as the temp table names_pending.
CREATE OR REPLACE TEMP TABLE names_pending AS
WITH addresses AS (
    -- Only reports stored after the mark can hold an address never named: looking at every
    -- record took most of an hourly run's time on a large database. (UNION keeps each
    -- address once.)
    SELECT source_ip FROM records
    WHERE getvariable('refresh') OR report > getvariable('named_through')
    UNION
    SELECT source_ip FROM source_names WHERE getvariable('dns')
),
known AS (
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
    FROM addresses s
    LEFT JOIN source_names n USING (source_ip)
)
SELECT source_ip, named, dns_due, ptr, ptr_confirmed, dns_status, dns_checked_at
FROM known
WHERE NOT named OR getvariable('refresh') OR dns_due;
