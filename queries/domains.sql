-- Per policy domain: how much mail, how much passes, the policy in force (policy_in_force,
-- policy.sql: from DNS when it was asked, else inferred from the reports; policy_source says
-- which), and how many messages p=reject would block (`would_block`, classes.sql: failing
-- mail covered by the new policy, except what receivers keep letting through by an
-- override). `report readiness` splits them by class.
WITH per_report AS (
    -- One row per report, with the report's own domain, reporter and period, so the figures
    -- per domain below read 150,000 rows, not 10 million records. A selected report that
    -- tells of no message (records of <count>0 only, or none) keeps its domain on the list,
    -- with 0 messages, as in `report readiness`, unless the run is narrowed to sources.
    SELECT
        h.report,
        h.policy_domain,
        h.reporter,
        h.begin_time,
        h.end_time,
        coalesce(b.messages, 0)                                  AS messages,
        coalesce(b.dmarc_pass_messages, 0)                       AS dmarc_pass_messages,
        coalesce(b.reject_blocks_messages, 0)                    AS reject_blocks_messages
    FROM report_heads h   -- selection.sql
    LEFT JOIN (
        SELECT
            report,
            sum(count)                                           AS messages,
            coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)    AS dmarc_pass_messages,
            coalesce(sum(count) FILTER (WHERE would_block), 0)   AS reject_blocks_messages
        FROM blockable   -- classes.sql
        GROUP BY report
    ) b ON h.report = b.report
    WHERE b.report IS NOT NULL OR NOT narrowed_to_sources()
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
        coalesce(any_value(s.sources), 0)                        AS sources,
        count(DISTINCT reporter)                                 AS reporters,
        count(*)                                                 AS reports,
        min(begin_time)                                          AS first_time,
        max(last_instant(begin_time, end_time))                  AS last_time
    FROM per_report
    LEFT JOIN sources s USING (policy_domain)
    GROUP BY policy_domain
)
SELECT
    d.policy_domain                                              AS domain,
    d.messages,
    d.dmarc_pass_messages,
    round(d.dmarc_pass_messages / nullif(d.messages, 0), 4)      AS dmarc_pass_rate,
    d.reject_blocks_messages,
    pf.p                                                         AS policy,
    pf.sp                                                        AS subdomain_policy,
    pf.pct,
    pf.policy_source,
    d.sources,
    d.reporters,
    d.reports,
    strftime(d.first_time, '%Y-%m-%d')                           AS first_seen,
    strftime(d.last_time, '%Y-%m-%d')                            AS last_seen,
    -- t=y: receivers apply the policy one level lower (RFC 9989 section 4.7).
    pf.testing
FROM per_domain d
JOIN policy_in_force pf USING (policy_domain)
ORDER BY d.messages DESC, domain
LIMIT getvariable('row_limit');
