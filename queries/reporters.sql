-- Per reporting organisation (Google, Microsoft, Yahoo...): what each one saw.
SELECT
    reporter,
    count(DISTINCT report)                                       AS reports,
    sum(count)                                                   AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                         AS dmarc_pass_messages,
    round(dmarc_pass_messages / sum(count), 4)      AS dmarc_pass_rate,
    count(DISTINCT source_ip)                                    AS sources,
    list(DISTINCT policy_domain ORDER BY policy_domain)          AS domains,
    strftime(min(begin_time), '%Y-%m-%d')                        AS first_seen,
    strftime(max(end_time), '%Y-%m-%d')                          AS last_seen
FROM selected
GROUP BY reporter
ORDER BY messages DESC, reporter
LIMIT getvariable('row_limit');
