-- `report sources` over Parquet exports (`selected` of queries/parquet_views.sql): one row
-- per source IP, biggest first, with its pass and alignment rates (receivers' verdicts,
-- weighted by count). Who each source is stays in the databases (`report sources`).
SELECT
    source_ip,
    sum(count)                                                       AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                AS dmarc_pass_messages,
    round(coalesce(sum(count) FILTER (WHERE dmarc_pass), 0) / sum(count), 4) AS dmarc_pass_rate,
    round(coalesce(sum(count) FILTER (WHERE dkim = 'pass'), 0) / sum(count), 4) AS dkim_aligned_rate,
    round(coalesce(sum(count) FILTER (WHERE spf = 'pass'), 0) / sum(count), 4)  AS spf_aligned_rate,
    list(DISTINCT policy_domain ORDER BY policy_domain)              AS domains,
    list(DISTINCT reporter ORDER BY reporter)                        AS reporters
FROM selected
GROUP BY source_ip
ORDER BY messages DESC, source_ip
LIMIT getvariable('row_limit');
