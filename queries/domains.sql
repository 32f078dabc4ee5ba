-- Per policy domain: how much mail, how much passes, what policy is published, and how many
-- messages p=reject would block today (everything that fails DMARC).
SELECT
    policy_domain                                                AS domain,
    sum(count)                                                   AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                         AS dmarc_pass_messages,
    round(dmarc_pass_messages / sum(count), 4)      AS dmarc_pass_rate,
    coalesce(sum(count) FILTER (WHERE NOT dmarc_pass), 0)                     AS blocked_by_reject_messages,
    arg_max(p, end_time)                                         AS policy,
    arg_max(sp, end_time)                                        AS subdomain_policy,
    arg_max(pct, end_time)                                       AS pct,
    count(DISTINCT source_ip)                                    AS sources,
    count(DISTINCT reporter)                                     AS reporters,
    count(DISTINCT report)                                       AS reports,
    strftime(min(begin_time), '%Y-%m-%d')                        AS first_seen,
    strftime(max(end_time), '%Y-%m-%d')                          AS last_seen
FROM selected
GROUP BY policy_domain
ORDER BY messages DESC, domain
LIMIT getvariable('row_limit');
