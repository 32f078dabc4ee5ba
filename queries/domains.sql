-- Per policy domain: how much mail, how much passes, what policy is published, and how many
-- messages p=reject would block today: those failing DMARC, except mail under an explicit sp
-- (a new p does not change it) and mail a receiver let through by an override (forwarded,
-- mailing_list, local_policy ...). `report readiness` splits them by class. The policy shown is the
-- one of the latest report, taken whole: a tag that report leaves out is shown as NULL, not
-- as an older report's value.
WITH per_report AS (
    -- One row per report, with the report's own domain, reporter and period, so the figures
    -- per domain below read 150,000 rows, not 10 million records.
    SELECT
        b.report,
        r.domain                                                 AS policy_domain,
        r.org_name                                               AS reporter,
        r.begin_time,
        r.end_time,
        b.messages,
        b.dmarc_pass_messages,
        b.reject_blocks_messages
    FROM (
        SELECT
            report,
            sum(count)                                           AS messages,
            coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)    AS dmarc_pass_messages,
            coalesce(sum(count) FILTER (WHERE would_block), 0)   AS reject_blocks_messages
        FROM blockable   -- classes.sql
        GROUP BY report
    ) b
    JOIN reports r ON r.id = b.report
),
sources AS (
    SELECT policy_domain, count(DISTINCT source_ip) AS sources
    FROM selected
    GROUP BY policy_domain
),
per_domain AS (
    SELECT
        policy_domain,
        sum(messages)                                            AS messages,
        sum(dmarc_pass_messages)                                 AS dmarc_pass_messages,
        sum(reject_blocks_messages)                              AS reject_blocks_messages,
        arg_max(report, (end_time, report))                      AS latest_report,
        any_value(s.sources)                                     AS sources,
        count(DISTINCT reporter)                                 AS reporters,
        count(*)                                                 AS reports,
        min(begin_time)                                          AS first_time,
        max(end_time)                                            AS last_time
    FROM per_report
    JOIN sources s USING (policy_domain)
    GROUP BY policy_domain
)
SELECT
    d.policy_domain                                              AS domain,
    d.messages,
    d.dmarc_pass_messages,
    round(d.dmarc_pass_messages / nullif(d.messages, 0), 4)      AS dmarc_pass_rate,
    d.reject_blocks_messages,
    latest.p                                                     AS policy,
    latest.sp                                                    AS subdomain_policy,
    latest.pct,
    d.sources,
    d.reporters,
    d.reports,
    strftime(d.first_time, '%Y-%m-%d')                           AS first_seen,
    strftime(d.last_time, '%Y-%m-%d')                            AS last_seen
FROM per_domain d
JOIN reports latest ON latest.id = d.latest_report
ORDER BY d.messages DESC, domain
LIMIT getvariable('row_limit');
