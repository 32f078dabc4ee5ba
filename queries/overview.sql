-- The headline numbers of the HTML report, for the selected records: volume, DMARC pass rate,
-- alignment rates, how many sources/domains/reporters, the period covered, and the
-- alignment and disposition breakdowns (all from the receivers' policy_evaluated verdicts).
-- The messages are first summed per verdict combination (a handful of rows), so the many
-- filtered sums below read those rows, not every record.
WITH parts AS (
    SELECT dmarc_pass, dkim, spf, disposition, sum(count) AS n
    FROM selected
    GROUP BY ALL
),
-- Sources from source_classes (classes.sql), which the page has stored already.
spread AS (
    SELECT count(DISTINCT source_ip) AS sources FROM source_classes
),
reports AS (
    -- Reports with selected mail, and those whose records tell of no message (`<count>0`
    -- only, or none), which `selected` leaves out: the page says "nothing to judge" for
    -- their domain, not "no reports match", and counts it among the domains. Not in a run
    -- narrowed to sources (--ip ...).
    SELECT count(*)                                                 AS reports,
           count(DISTINCT reporter)                                 AS reporters,
           count(DISTINCT policy_domain)                            AS domains,
           strftime(min(begin_time), '%Y-%m-%d')                    AS first_day,
           strftime(max(last_instant(begin_time, end_time)), '%Y-%m-%d') AS last_day
    FROM (SELECT report, any_value(reporter) AS reporter, any_value(policy_domain) AS policy_domain,
                 any_value(begin_time) AS begin_time, any_value(end_time) AS end_time
          FROM selected GROUP BY report
          UNION
          SELECT report, reporter, policy_domain, begin_time, end_time FROM report_heads
          WHERE NOT narrowed_to_sources())
),
totals AS (
    SELECT
        coalesce(sum(n), 0)                                         AS messages,
        coalesce(sum(n) FILTER (WHERE dmarc_pass), 0)               AS dmarc_pass_messages,
        coalesce(sum(n) FILTER (WHERE dkim = 'pass'), 0)            AS dkim_aligned_messages,
        coalesce(sum(n) FILTER (WHERE spf = 'pass'), 0)             AS spf_aligned_messages,
        coalesce(sum(n) FILTER (WHERE dkim = 'pass' AND spf = 'pass'), 0)               AS both_aligned_messages,
        coalesce(sum(n) FILTER (WHERE dkim = 'pass' AND spf IS DISTINCT FROM 'pass'), 0) AS dkim_only_messages,
        coalesce(sum(n) FILTER (WHERE spf = 'pass' AND dkim IS DISTINCT FROM 'pass'), 0) AS spf_only_messages,
        coalesce(sum(n) FILTER (WHERE NOT dmarc_pass), 0)                               AS neither_aligned_messages,
        coalesce(sum(n) FILTER (WHERE disposition = 'none'), 0)                         AS disposition_none,
        coalesce(sum(n) FILTER (WHERE disposition = 'quarantine'), 0)                   AS disposition_quarantine,
        coalesce(sum(n) FILTER (WHERE disposition = 'reject'), 0)                       AS disposition_reject,
        coalesce(sum(n) FILTER (WHERE disposition NOT IN ('none', 'quarantine', 'reject')
                                   OR disposition IS NULL), 0)                          AS disposition_other
    FROM parts
)
SELECT
    t.messages,
    t.dmarc_pass_messages,
    round(t.dmarc_pass_messages / nullif(t.messages, 0), 4)         AS dmarc_pass_rate,
    t.dkim_aligned_messages,
    round(t.dkim_aligned_messages / nullif(t.messages, 0), 4)       AS dkim_aligned_rate,
    t.spf_aligned_messages,
    round(t.spf_aligned_messages / nullif(t.messages, 0), 4)        AS spf_aligned_rate,
    s.sources,
    r.domains,
    r.reporters,
    r.reports,
    r.first_day,
    r.last_day,
    t.both_aligned_messages,
    t.dkim_only_messages,
    t.spf_only_messages,
    t.neither_aligned_messages,
    t.disposition_none,
    t.disposition_quarantine,
    t.disposition_reject,
    t.disposition_other
FROM totals t, spread s, reports r;
