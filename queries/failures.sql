-- The records that failed DMARC (neither evaluated DKIM nor SPF passed), biggest first, with
-- every auth result, for drill-down. The auth results are gathered only for the records that
-- survive --limit.
WITH chosen AS (
    SELECT * FROM selected
    WHERE NOT dmarc_pass
    ORDER BY count DESC, begin_time DESC, source_ip, report, record_no
    LIMIT getvariable('row_limit')
),
dkim AS (
    SELECT report, record_no,
           string_agg(coalesce(domain, '?') || coalesce('/' || selector, '') || '=' || coalesce(result, '?'),
                      ' ' ORDER BY idx) AS dkim_results
    FROM dkim_results SEMI JOIN chosen USING (report, record_no)
    GROUP BY ALL
),
spf AS (
    SELECT report, record_no,
           string_agg(coalesce(scope || ':', '') || coalesce(domain, '?') || '=' || coalesce(result, '?'),
                      ' ' ORDER BY idx) AS spf_results
    FROM spf_results SEMI JOIN chosen USING (report, record_no)
    GROUP BY ALL
),
reasons AS (
    SELECT report, record_no,
           string_agg(coalesce(type, '?') || coalesce(' (' || comment || ')', ''), '; ' ORDER BY idx) AS reasons
    FROM override_reasons SEMI JOIN chosen USING (report, record_no)
    GROUP BY ALL
)
SELECT
    strftime(s.begin_time, '%Y-%m-%d')   AS day,
    s.reporter,
    s.source_ip,
    s.count                              AS messages,
    s.header_from,
    s.envelope_from,
    s.disposition,
    s.dkim                               AS dkim_evaluated,
    s.spf                                AS spf_evaluated,
    dkim.dkim_results,
    spf.spf_results,
    reasons.reasons,
    s.diagnosis,
    s.policy_domain                      AS domain,
    s.report_id
FROM chosen s
LEFT JOIN dkim    USING (report, record_no)
LEFT JOIN spf     USING (report, record_no)
LEFT JOIN reasons USING (report, record_no)
ORDER BY s.count DESC, s.begin_time DESC, s.source_ip, s.report, s.record_no;
