-- `report changes`: this period against the one before, the weekly digest. duckmarc sets
-- period_since/period_until (default: the 7 days that end with the latest day reported) and
-- compare_since/compare_until (default: the period of the same length just before), and
-- narrows `selected` to both. A report belongs to the period its middle falls in, so a report
-- that straddles midnight between the two periods counts once.
-- One row per change (`change`):
--   policy_changed     a reporter's latest report in each period shows another policy, with
--                      each tag's default filled in (sp = p, np = sp, pct = 100, t = n,
--                      adkim = aspf = r: RFC 9990 section 3.1.1.5), so a reporter that writes
--                      defaults out and one that leaves them out read alike; one row per
--                      change, the reporters that showed it in `detail`. A tag the report's
--                      format cannot hold is unknown, left out and no change (RFC 7489's
--                      format has no np or t, RFC 9990's no pct). Reports shown not to be genuine
--                      (selection.sql's not_genuine_reports) are not read for it.
--   new_sender / vanished_sender    a named sender seen in one period only (unnamed
--                      sources are listed as sources, not again as senders)
--   new_source / vanished_source    a source address seen in one period only
--   new_reporter / vanished_reporter
--   new_dkim_selector / vanished_dkim_selector   a key (selector._domainkey.signing-domain)
--                      with passing signatures in one period only (`detail`: the domain's
--                      own key or a third party's; messages: those it signed and passed)
--   sender             a named sender seen in both: messages and DMARC pass rate before and
--                      after
-- --limit applies to each kind of change on its own (the biggest first).
WITH tagged AS MATERIALIZED (
    SELECT *,
           CASE WHEN mid >= CAST(getvariable('period_since') AS DATE)
                 AND mid < CAST(getvariable('period_until') AS DATE) + INTERVAL 1 DAY THEN 'after'
                WHEN mid >= CAST(getvariable('compare_since') AS DATE)
                 AND mid < CAST(getvariable('compare_until') AS DATE) + INTERVAL 1 DAY THEN 'before'
           END AS period
    FROM (SELECT *, period_middle(begin_time, end_time) AS mid
          FROM with_names('selected'))
),
-- Volume and pass rate per period of one kind of subject.
by_subject AS (
    SELECT 'sender' AS kind, policy_domain, named_sender AS subject, NULL AS detail, period,
           sum(count) AS messages, coalesce(sum(count) FILTER (WHERE dmarc_pass), 0) AS passing
    FROM tagged WHERE period IS NOT NULL AND named_sender IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT 'source', policy_domain, source_ip, any_value(named_sender), period,
           sum(count), coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)
    FROM tagged WHERE period IS NOT NULL GROUP BY policy_domain, source_ip, period
    UNION ALL
    SELECT 'reporter', policy_domain, reporter, NULL, period,
           sum(count), coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)
    FROM tagged WHERE period IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT 'dkim_selector', policy_domain, selector || '._domainkey.' || signing_domain,
           CASE WHEN any_value(own_domain) THEN 'the domain''s own key' ELSE 'a third party''s key' END,
           period, sum(count), NULL
    FROM (SELECT s.*, t.period FROM signatures_of('selected') s
          JOIN (SELECT DISTINCT report, period FROM tagged) t USING (report))
    -- A result without its selector (optional in RFC 7489's reports) names no key.
    WHERE passed AND period IS NOT NULL AND selector <> ''
    GROUP BY policy_domain, selector, signing_domain, period
),
paired AS (
    SELECT kind, policy_domain, subject,
           any_value(detail)                                      AS detail,
           sum(messages) FILTER (WHERE period = 'before')         AS messages_before,
           sum(messages) FILTER (WHERE period = 'after')          AS messages_after,
           sum(passing) FILTER (WHERE period = 'before')          AS passing_before,
           sum(passing) FILTER (WHERE period = 'after')           AS passing_after
    FROM by_subject
    GROUP BY ALL
),
subject_changes AS (
    SELECT CASE WHEN messages_before IS NULL THEN 'new_' || kind
                WHEN messages_after IS NULL THEN 'vanished_' || kind
                ELSE kind END                                     AS change,
           policy_domain, subject, detail,
           coalesce(messages_before, 0)                           AS messages_before,
           coalesce(messages_after, 0)                            AS messages_after,
           round(passing_before / messages_before, 4)             AS dmarc_pass_rate_before,
           round(passing_after / messages_after, 4)               AS dmarc_pass_rate_after
    FROM paired
    -- Senders in both periods are compared; every other subject matters only when it came or went.
    WHERE kind = 'sender' OR messages_before IS NULL OR messages_after IS NULL
),
-- Each reporter's latest genuine report per domain and period, its policy with defaults filled
-- in, and '?' for a tag its format cannot hold (policy.sql's rfc9990_format).
report_policies AS (
    SELECT domain, org_name, period,
           arg_max('p=' || coalesce(p, '-') || ' sp=' || coalesce(sp, p, '-')
                   || ' np=' || CASE WHEN rfc9990 THEN coalesce(np, sp, p, '-') ELSE '?' END
                   || ' pct=' || CASE WHEN rfc9990 THEN '?' ELSE coalesce(CAST(pct AS VARCHAR), '100') END
                   || ' t=' || CASE WHEN rfc9990 THEN coalesce(testing, 'n') ELSE '?' END
                   || ' adkim=' || coalesce(adkim, 'r')
                   || ' aspf=' || coalesce(aspf, 'r'), (end_time, id)) AS policy
    FROM (SELECT r.*, t.period, rfc9990_format(r.pct, r.np, r.testing, r.discovery_method) AS rfc9990
          FROM reports r
          JOIN (SELECT DISTINCT report, period FROM tagged WHERE period IS NOT NULL) t
            ON t.report = r.id
          WHERE r.id NOT IN (FROM not_genuine_reports))
    GROUP BY ALL
),
policy_changes AS (
    SELECT 'policy_changed' AS change, b.domain AS policy_domain,
           policy_shown(b.policy) || ' -> ' || policy_shown(a.policy) AS subject,
           'shown by ' || string_agg(b.org_name, ', ' ORDER BY b.org_name) AS detail
    FROM report_policies b
    JOIN report_policies a ON a.domain = b.domain AND a.org_name = b.org_name
    WHERE b.period = 'before' AND a.period = 'after' AND policy_differs(b.policy, a.policy)
    GROUP BY b.domain, b.policy, a.policy
),
every_change AS (
    SELECT change, policy_domain, subject, detail, messages_before, messages_after,
           dmarc_pass_rate_before, dmarc_pass_rate_after
    FROM subject_changes
    UNION ALL
    SELECT change, policy_domain, subject, detail, NULL, NULL, NULL, NULL
    FROM policy_changes
)
SELECT
    change,
    policy_domain                                                  AS domain,
    subject,
    detail,
    messages_before,
    messages_after,
    dmarc_pass_rate_before,
    dmarc_pass_rate_after,
    round(dmarc_pass_rate_after - dmarc_pass_rate_before, 4)                   AS dmarc_pass_rate_change
FROM every_change
QUALIFY row_number() OVER (
            PARTITION BY change
            ORDER BY greatest(coalesce(messages_before, 0), coalesce(messages_after, 0)) DESC,
                     domain, subject)
        <= coalesce(getvariable('row_limit'), 9223372036854775807)
ORDER BY CASE change WHEN 'policy_changed' THEN 0 WHEN 'new_sender' THEN 1
                     WHEN 'vanished_sender' THEN 2 WHEN 'new_source' THEN 3
                     WHEN 'vanished_source' THEN 4 WHEN 'new_reporter' THEN 5
                     WHEN 'vanished_reporter' THEN 6 WHEN 'new_dkim_selector' THEN 7
                     ELSE 8 END,
         greatest(coalesce(messages_before, 0), coalesce(messages_after, 0)) DESC,
         domain, subject;
