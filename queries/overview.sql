-- The headline numbers of the HTML report, for the selected records: volume, DMARC pass rate,
-- alignment rates, how many sources/domains/reporters, the period covered, and the
-- alignment and disposition breakdowns (all from the receivers' policy_evaluated verdicts).
SELECT
    coalesce(sum(count), 0)                                         AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)               AS dmarc_pass_messages,
    round(dmarc_pass_messages / nullif(sum(count), 0), 4)           AS dmarc_pass_rate,
    coalesce(sum(count) FILTER (WHERE dkim = 'pass'), 0)            AS dkim_aligned_messages,
    round(dkim_aligned_messages / nullif(sum(count), 0), 4)         AS dkim_aligned_rate,
    coalesce(sum(count) FILTER (WHERE spf = 'pass'), 0)             AS spf_aligned_messages,
    round(spf_aligned_messages / nullif(sum(count), 0), 4)          AS spf_aligned_rate,
    count(DISTINCT source_ip)                                       AS sources,
    count(DISTINCT policy_domain)                                   AS domains,
    count(DISTINCT reporter)                                        AS reporters,
    count(DISTINCT report)                                          AS reports,
    strftime(min(begin_time), '%Y-%m-%d')                           AS first_day,
    strftime(max(end_time), '%Y-%m-%d')                             AS last_day,
    coalesce(sum(count) FILTER (WHERE dkim = 'pass' AND spf = 'pass'), 0)               AS both_aligned_messages,
    coalesce(sum(count) FILTER (WHERE dkim = 'pass' AND spf IS DISTINCT FROM 'pass'), 0) AS dkim_only_messages,
    coalesce(sum(count) FILTER (WHERE spf = 'pass' AND dkim IS DISTINCT FROM 'pass'), 0) AS spf_only_messages,
    coalesce(sum(count) FILTER (WHERE NOT dmarc_pass), 0)                               AS neither_aligned_messages,
    coalesce(sum(count) FILTER (WHERE disposition = 'none'), 0)                         AS disposition_none,
    coalesce(sum(count) FILTER (WHERE disposition = 'quarantine'), 0)                   AS disposition_quarantine,
    coalesce(sum(count) FILTER (WHERE disposition = 'reject'), 0)                       AS disposition_reject,
    coalesce(sum(count) FILTER (WHERE disposition NOT IN ('none', 'quarantine', 'reject')
                                   OR disposition IS NULL), 0)                          AS disposition_other
FROM selected;
