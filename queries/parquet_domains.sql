-- `report domains` over Parquet exports (`selected` of queries/parquet_views.sql): one row
-- per policy domain with its volume, pass rate and what receivers did.
SELECT
    policy_domain                                                    AS domain,
    sum(count)                                                       AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                AS dmarc_pass_messages,
    round(coalesce(sum(count) FILTER (WHERE dmarc_pass), 0) / sum(count), 4) AS dmarc_pass_rate,
    coalesce(sum(count) FILTER (WHERE disposition = 'quarantine'), 0) AS disposition_quarantine,
    coalesce(sum(count) FILTER (WHERE disposition = 'reject'), 0)    AS disposition_reject,
    count(DISTINCT source_ip)                                        AS sources,
    count(DISTINCT report_key)                                       AS reports
FROM selected
GROUP BY policy_domain
ORDER BY messages DESC, domain
LIMIT getvariable('row_limit');
