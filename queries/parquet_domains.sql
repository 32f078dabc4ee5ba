-- `report domains` over Parquet exports (`selected` and `report_heads` of
-- queries/parquet_views.sql): one row per policy domain with its volume, pass rate and what
-- receivers did. A report that tells of no message (its records all count 0) still counts
-- among its domain's reports, as in `report domains`.
WITH mail AS (
    SELECT
        policy_domain,
        sum(count)                                                   AS messages,
        coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)            AS dmarc_pass_messages,
        coalesce(sum(count) FILTER (WHERE disposition = 'quarantine'), 0) AS disposition_quarantine,
        coalesce(sum(count) FILTER (WHERE disposition = 'reject'), 0) AS disposition_reject,
        count(DISTINCT source_ip)                                    AS sources
    FROM selected
    GROUP BY policy_domain
),
reports AS (
    SELECT policy_domain, count(DISTINCT report) AS reports
    FROM (SELECT policy_domain, report FROM selected
          UNION
          SELECT policy_domain, report FROM report_heads)
    GROUP BY policy_domain
)
SELECT
    policy_domain                                                    AS domain,
    coalesce(m.messages, 0)                                          AS messages,
    coalesce(m.dmarc_pass_messages, 0)                               AS dmarc_pass_messages,
    round(m.dmarc_pass_messages / nullif(m.messages, 0), 4)          AS dmarc_pass_rate,
    coalesce(m.disposition_quarantine, 0)                            AS disposition_quarantine,
    coalesce(m.disposition_reject, 0)                                AS disposition_reject,
    coalesce(m.sources, 0)                                           AS sources,
    r.reports
FROM reports r
LEFT JOIN mail m USING (policy_domain)
ORDER BY messages DESC, domain
LIMIT getvariable('row_limit');
