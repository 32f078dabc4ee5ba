-- Per UTC day. A report covering several days is spread across them in proportion to the
-- time it covers on each, using differences of floored cumulative shares, so every message
-- lands on exactly one day and the daily totals add up to the report totals. Most reports
-- cover one day and skip the spreading, which is what makes this fast on millions of records.
WITH spans AS (
    SELECT source_ip, reporter_id, count, dmarc_pass, dkim, spf,
           epoch(begin_time)::BIGINT                                     AS b,
           greatest(epoch(end_time)::BIGINT, epoch(begin_time)::BIGINT + 1) AS e,
           date_trunc('day', begin_time)                                 AS first_day,
           date_trunc('day', make_timestamp((e - 1) * 1000000))          AS last_day
    FROM selected
),
days AS (
    SELECT *,
           unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS day
    FROM spans
    WHERE first_day < last_day
),
spread AS (
    SELECT source_ip, reporter_id, dmarc_pass, dkim, spf, first_day AS day, count AS day_count
    FROM spans
    WHERE first_day = last_day
    UNION ALL
    SELECT source_ip, reporter_id, dmarc_pass, dkim, spf, day,
           (count * (least(e, epoch(day)::BIGINT + 86400) - b)) // (e - b)
             - (count * (greatest(b, epoch(day)::BIGINT) - b)) // (e - b) AS day_count
    FROM days
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
    count(DISTINCT reporter_id)                                   AS reporters
FROM spread
WHERE (getvariable('since') IS NULL OR day >= CAST(getvariable('since') AS DATE))
  AND (getvariable('until') IS NULL OR day <= CAST(getvariable('until') AS DATE))
GROUP BY day
HAVING sum(day_count) > 0
ORDER BY day
LIMIT getvariable('row_limit');
