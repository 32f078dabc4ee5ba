-- The static site's daily charts: messages per UTC day (spread_by_day, record_macros.sql, as
-- `report daily`) per policy domain (sender NULL) and per sender with a page (site_records).
-- A report covering several days is spread as in `report daily`, with the same groups for a
-- domain's rows (so its chart shows the figures `report daily --domain` gives).
WITH domain_rows AS (
    SELECT report, record_no, policy_domain, NULL::VARCHAR AS sender, count, dmarc_pass,
           begin_time, end_time, row(dmarc_pass, dkim = 'pass', spf = 'pass') AS spread_group
    FROM selected
),
sender_rows AS (
    SELECT report, record_no, policy_domain, sender, count, dmarc_pass, begin_time, end_time,
           row(sender, dmarc_pass) AS spread_group
    FROM site_records
),
spread AS (
    FROM spread_by_day('domain_rows')
    UNION ALL
    FROM spread_by_day('sender_rows')
)
SELECT
    policy_domain                                                 AS domain,
    sender,
    strftime(day, '%Y-%m-%d')                                     AS day,
    sum(day_count)                                                AS messages,
    coalesce(sum(day_count) FILTER (WHERE dmarc_pass), 0)         AS dmarc_pass_messages,
    coalesce(sum(day_count) FILTER (WHERE NOT dmarc_pass), 0)     AS dmarc_fail_messages,
    round(dmarc_pass_messages / nullif(sum(day_count), 0), 4)     AS dmarc_pass_rate
FROM spread
WHERE (getvariable('since') IS NULL OR day >= CAST(getvariable('since') AS DATE))
  AND (getvariable('until') IS NULL OR day <= CAST(getvariable('until') AS DATE))
GROUP BY policy_domain, sender, day
HAVING sum(day_count) > 0
ORDER BY domain, sender NULLS FIRST, day;
