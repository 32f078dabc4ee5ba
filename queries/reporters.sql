-- Per reporting organisation (Google, Microsoft, Yahoo...): what each one saw. The records are
-- summed per report first (a report has one reporter, domain and period), so the figures per
-- reporter read one row per report; the distinct sources take a pass of their own.
WITH with_mail AS (
    SELECT
        report,
        any_value(reporter)                                      AS reporter,
        any_value(policy_domain)                                 AS policy_domain,
        any_value(begin_time)                                    AS begin_time,
        any_value(end_time)                                      AS end_time,
        sum(count)                                               AS messages,
        coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)        AS dmarc_pass_messages
    FROM selected
    GROUP BY report
),
-- A selected report that tells of no message (its records all count 0) counts too, with
-- its reporter, as in `stats` and `report readiness`, unless the run is narrowed to sources.
per_report AS (
    FROM with_mail
    UNION ALL
    SELECT report, reporter, policy_domain, begin_time, end_time, 0, 0
    FROM report_heads
    WHERE NOT narrowed_to_sources() AND report NOT IN (SELECT report FROM with_mail)
),
sources AS (
    SELECT any_value(reporter) AS reporter, count(DISTINCT source_ip) AS sources
    FROM selected
    GROUP BY reporter_id
),
-- Copies of its stored reports that came again with other counts, and whether its reports'
-- e-mails were shown to be genuine (selection.sql).
resent AS (
    FROM resent_by_reporter
),
authentic AS (
    FROM authenticity_by_reporter
)
SELECT
    reporter,
    count(*)                                                     AS reports,
    sum(messages)                                                AS messages,
    sum(dmarc_pass_messages)                                     AS dmarc_pass_messages,
    round(sum(dmarc_pass_messages) / nullif(sum(messages), 0), 4) AS dmarc_pass_rate,
    coalesce(any_value(s.sources), 0)                            AS sources,
    list(DISTINCT policy_domain ORDER BY policy_domain)          AS domains,
    strftime(min(begin_time), '%Y-%m-%d')                        AS first_seen,
    strftime(max(last_instant(begin_time, end_time)), '%Y-%m-%d') AS last_seen,
    coalesce(any_value(x.resent_with_other_counts), 0)           AS resent_with_other_counts,
    any_value(a.authenticity)                                    AS authenticity,
    coalesce(any_value(a.authentic_reports), 0)                  AS authentic_reports
FROM per_report
LEFT JOIN sources s USING (reporter)
LEFT JOIN resent x USING (reporter)
LEFT JOIN authentic a USING (reporter)
GROUP BY reporter
ORDER BY messages DESC, reporter
LIMIT getvariable('row_limit');
