-- Per UTC day. A report covering several days is spread across them in proportion to the
-- time it covers on each, using differences of floored cumulative shares, so every message
-- lands on exactly one day and the daily totals add up to the report totals.
WITH spans AS (
    SELECT *,
           epoch(begin_time)::BIGINT                                     AS b,
           greatest(epoch(end_time)::BIGINT, epoch(begin_time)::BIGINT + 1) AS e
    FROM selected
),
days AS (
    SELECT *,
           unnest(generate_series(date_trunc('day', begin_time),
                                  date_trunc('day', make_timestamp((e - 1) * 1000000)),
                                  INTERVAL 1 DAY)) AS day
    FROM spans
),
shares AS (
    SELECT *,
           least(e, epoch(day)::BIGINT + 86400) - b    AS covered_to,
           greatest(b, epoch(day)::BIGINT) - b         AS covered_from
    FROM days
),
spread AS (
    SELECT *,
           (count * covered_to) // (e - b) - (count * covered_from) // (e - b) AS day_count
    FROM shares
)
SELECT
    strftime(day, '%Y-%m-%d')                                     AS day,
    sum(day_count)                                                AS messages,
    coalesce(sum(day_count) FILTER (WHERE dmarc_pass), 0)         AS dmarc_pass_messages,
    coalesce(sum(day_count) FILTER (WHERE NOT dmarc_pass), 0)     AS dmarc_fail_messages,
    round(dmarc_pass_messages / nullif(sum(day_count), 0), 4)     AS dmarc_pass_rate,
    coalesce(sum(day_count) FILTER (WHERE dkim = 'pass'), 0)      AS dkim_aligned_messages,
    coalesce(sum(day_count) FILTER (WHERE spf = 'pass'), 0)       AS spf_aligned_messages,
    count(DISTINCT source_ip)                                     AS sources,
    count(DISTINCT reporter)                                      AS reporters
FROM spread
WHERE (getvariable('since') IS NULL OR day >= CAST(getvariable('since') AS DATE))
  AND (getvariable('until') IS NULL OR day <= CAST(getvariable('until') AS DATE))
GROUP BY day
ORDER BY day
LIMIT getvariable('row_limit');
