-- The static site's reporters: who reported the mail of each policy domain (sender NULL) and
-- of each sender with a page (site_records), with the receivers' verdicts.
WITH domain_rows AS (
    SELECT policy_domain, NULL::VARCHAR AS sender, reporter, reporter_id, report, source_ip,
           count, dmarc_pass
    FROM selected
),
sender_rows AS (
    SELECT policy_domain, sender, reporter, reporter_id, report, source_ip, count, dmarc_pass
    FROM site_records
),
both_rows AS (
    FROM domain_rows
    UNION ALL
    FROM sender_rows
)
SELECT
    policy_domain                                                 AS domain,
    sender,
    any_value(reporter)                                           AS reporter,
    count(DISTINCT report)                                        AS reports,
    sum(count)                                                    AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)             AS dmarc_pass_messages,
    round(dmarc_pass_messages / sum(count), 4)                    AS dmarc_pass_rate,
    count(DISTINCT source_ip)                                     AS sources
FROM both_rows
GROUP BY policy_domain, sender, reporter_id
ORDER BY domain, sender NULLS FIRST, messages DESC, reporter;
