-- Per UTC day. A report covering several days is spread across them in proportion to the
-- time it covers on each (spread_by_day, record_macros.sql), so every message lands on exactly
-- one day and the daily totals add up to the report totals. Its passing and failing mail,
-- and its DKIM- and SPF-aligned mail, are each spread so: a day's rates are the report's.
WITH spans AS (
    SELECT report, record_no, source_ip, reporter_id, count, dmarc_pass, dkim, spf,
           begin_time, end_time,
           row(dmarc_pass, dkim = 'pass', spf = 'pass') AS spread_group
    FROM selected
),
spread AS (
    FROM spread_by_day('spans')
)
SELECT
    strftime(day, '%Y-%m-%d')                                     AS day,
    sum(day_count)                                                AS messages,
    coalesce(sum(day_count) FILTER (WHERE dmarc_pass), 0)         AS dmarc_pass_messages,
    coalesce(sum(day_count) FILTER (WHERE NOT dmarc_pass), 0)     AS dmarc_fail_messages,
    round(dmarc_pass_messages / nullif(sum(day_count), 0), 4)     AS dmarc_pass_rate,
    coalesce(sum(day_count) FILTER (WHERE dkim = 'pass'), 0)      AS dkim_aligned_messages,
    coalesce(sum(day_count) FILTER (WHERE spf = 'pass'), 0)       AS spf_aligned_messages,
    -- Only those with messages on the day: a report's rows are spread over its days.
    count(DISTINCT source_ip) FILTER (WHERE day_count > 0)        AS sources,
    count(DISTINCT reporter_id) FILTER (WHERE day_count > 0)      AS reporters
FROM spread
WHERE (getvariable('since') IS NULL OR day >= CAST(getvariable('since') AS DATE))
  AND (getvariable('until') IS NULL OR day <= CAST(getvariable('until') AS DATE))
GROUP BY day
HAVING sum(day_count) > 0
ORDER BY day
LIMIT getvariable('row_limit');
