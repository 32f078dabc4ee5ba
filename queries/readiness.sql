-- Is it safe to move to p=reject? Per policy domain, from `classified` (classes.sql).
-- The policy that applies to a record: p for the domain itself, sp for its subdomains (p when
-- no sp is published). The *_blocks_* figures count, by class, the messages that publishing
-- p=quarantine (to spam) or p=reject (refused) at pct=100 without t=y would hit
-- (`would_block`, classes.sql). Both policies hit the same messages; they differ in what
-- happens to them.
-- Bulk-sender check (Gmail, Yahoo, since 2024), on the mail Google and Yahoo reported: SPF
-- and DKIM both pass, DMARC aligns, sending addresses have a confirmed PTR name. DMARC data
-- cannot show the spam rate or one-click unsubscribe.
-- The trend compares the DMARC pass rate of the last 7 days of the selection (up to its newest
-- report) with the 7 days before; senders are counted by name (an unnamed source by its IP);
-- TLS failures come from the SMTP TLS reports for the same domain and period.
WITH newest AS (
    SELECT max(end_time) AS t FROM selected
),
blocked AS (
    SELECT
        c.*,
        CASE WHEN c.end_time > n.t - INTERVAL 7 DAY  THEN 'last'
             WHEN c.end_time > n.t - INTERVAL 14 DAY THEN 'previous' END                AS week,
        (lower(reporter) LIKE '%google%' OR lower(reporter) LIKE '%yahoo%')              AS bulk_reporter
    FROM classified c, newest n
),
-- The messages per combination of what the figures below filter on: a few rows per domain,
-- so the many filtered sums read those instead of every record.
parts AS (
    SELECT policy_domain, dmarc_pass, week, would_block, class, bulk_reporter, inferred,
           sum(count) AS n
    FROM blocked
    GROUP BY ALL
),
-- Per domain, what the latest report published, and the fix for most of the mail of the
-- authorised senders that p=reject would block.
latest AS (
    SELECT
        policy_domain,
        arg_max(fix, (count, fix)) FILTER (WHERE would_block AND class = 'authorised_failing') AS main_fix,
        arg_max(p, end_time)                                                            AS policy,
        arg_max(sp, end_time)                                                           AS subdomain_policy,
        arg_max(pct, end_time)                                                          AS pct,
        arg_max(testing, end_time)                                                      AS testing
    FROM blocked
    GROUP BY policy_domain
),
-- Mail reported by Google and Yahoo where SPF and DKIM both pass (whatever the alignment).
bulk_authenticated AS (
    SELECT policy_domain, sum(count) AS messages
    FROM blocked b
    WHERE bulk_reporter
      AND EXISTS (SELECT 1 FROM spf_results r
                  WHERE r.report = b.report AND r.record_no = b.record_no AND r.result = 'pass')
      AND EXISTS (SELECT 1 FROM dkim_results r
                  WHERE r.report = b.report AND r.record_no = b.record_no AND r.result = 'pass')
    GROUP BY policy_domain
),
per_domain AS (
    SELECT
        policy_domain                                                                   AS domain,
        sum(n)                                                                          AS messages,
        coalesce(sum(n) FILTER (WHERE dmarc_pass), 0)                                   AS dmarc_pass_messages,
        sum(n) FILTER (WHERE dmarc_pass AND week = 'last') / sum(n) FILTER (WHERE week = 'last') AS last_week_rate,
        sum(n) FILTER (WHERE dmarc_pass AND week = 'previous')
            / sum(n) FILTER (WHERE week = 'previous')                                   AS previous_week_rate,
        coalesce(sum(n) FILTER (WHERE would_block AND class = 'authorised_failing'), 0) AS blocks_authorised,
        coalesce(sum(n) FILTER (WHERE would_block AND class = 'forwarded'), 0)          AS blocks_forwarded,
        coalesce(sum(n) FILTER (WHERE would_block AND class IN ('unauthorised', 'unknown')), 0) AS blocks_unauthorised,
        bool_or(inferred)                                                               AS inferred,
        any_value(l.main_fix)                                                           AS main_fix,
        any_value(l.policy)                                                             AS policy,
        any_value(l.subdomain_policy)                                                   AS subdomain_policy,
        any_value(l.pct)                                                                AS pct,
        any_value(l.testing)                                                            AS testing,
        coalesce(sum(n) FILTER (WHERE bulk_reporter), 0)                                AS bulk_messages,
        coalesce(any_value(a.messages), 0)                                              AS bulk_spf_and_dkim,
        coalesce(sum(n) FILTER (WHERE bulk_reporter AND dmarc_pass), 0)                 AS bulk_aligned
    FROM parts
    JOIN latest l USING (policy_domain)
    LEFT JOIN bulk_authenticated a USING (policy_domain)
    GROUP BY policy_domain
),
-- Who sends, per domain and class, in one pass over the records; the distinct counts and
-- lists below read these few rows instead of each taking a pass of its own.
per_source AS (
    SELECT policy_domain AS domain, source_ip, coalesce(named_sender, source_ip) AS who, class,
           bool_or(would_block) AS blocks, bool_or(bulk_reporter) AS bulk
    FROM blocked
    GROUP BY ALL
),
senders AS (
    SELECT
        domain,
        count(DISTINCT who) FILTER (WHERE class = 'unauthorised')                     AS unauthorised_senders,
        count(DISTINCT who) FILTER (WHERE class = 'authorised_failing')               AS authorised_failing_senders,
        list(DISTINCT who ORDER BY who) FILTER (WHERE blocks AND class = 'authorised_failing') AS blocking_senders,
        count(DISTINCT source_ip) FILTER (WHERE bulk AND class = 'compliant'
            AND source_ip NOT IN (SELECT source_ip FROM source_names WHERE ptr_confirmed)) AS bulk_sources_without_ptr
    FROM per_source
    GROUP BY domain
),
tls AS (
    SELECT policy_domain AS domain, sum(successful_sessions) AS successful, sum(failed_sessions) AS failed
    FROM selected_tls_policies
    GROUP BY policy_domain
)
SELECT
    domain,
    CASE WHEN blocks_authorised = 0 AND messages > 0
              AND NOT (inferred AND blocks_unauthorised > 0) THEN 'ready' ELSE 'not_ready' END AS verdict,
    messages,
    round(dmarc_pass_messages / messages, 4)        AS dmarc_pass_rate,
    round(last_week_rate, 4)                        AS dmarc_pass_rate_last_7_days,
    round(previous_week_rate, 4)                    AS dmarc_pass_rate_previous_7_days,
    round(last_week_rate - previous_week_rate, 4)   AS dmarc_pass_rate_trend,
    unauthorised_senders,
    authorised_failing_senders,
    tls.failed                                      AS tls_failed_sessions,
    round(tls.failed / nullif(tls.successful + tls.failed, 0), 4) AS tls_failure_rate,
    blocks_authorised                               AS quarantine_blocks_authorised,
    blocks_forwarded                                AS quarantine_blocks_forwarded,
    blocks_unauthorised                             AS quarantine_blocks_unauthorised,
    blocks_authorised                               AS reject_blocks_authorised,
    blocks_forwarded                                AS reject_blocks_forwarded,
    blocks_unauthorised                             AS reject_blocks_unauthorised,
    coalesce(blocking_senders, [])                  AS blocking_senders,
    CASE
        WHEN blocks_authorised > 0 THEN
            'fix ' || array_to_string(blocking_senders, ', ') || ': ' || main_fix
        WHEN inferred AND blocks_unauthorised > 0 THEN
            'list your authorised senders ([[authorised]] in the config): duckmarc cannot tell '
            || blocks_unauthorised || ' failing messages from spoofing without it'
        WHEN coalesce(policy, 'none') = 'none' THEN 'publish p=quarantine with pct=10, then raise pct'
        WHEN policy = 'quarantine' AND coalesce(pct, 100) < 100 THEN 'raise pct to 100 at p=quarantine'
        WHEN policy = 'quarantine' THEN 'publish p=reject'
        WHEN testing = 'y' THEN 'remove t=y: receivers apply p=reject only without it'
        ELSE 'none: p=reject is in place'
    END                                             AS next_step,
    policy,
    subdomain_policy,
    pct,
    testing,
    inferred                                        AS authorised_inferred,
    bulk_messages                                   AS bulk_sender_messages,
    round(bulk_spf_and_dkim / nullif(bulk_messages, 0), 4) AS bulk_spf_and_dkim_pass_rate,
    round(bulk_aligned / nullif(bulk_messages, 0), 4)      AS bulk_dmarc_aligned_rate,
    bulk_sources_without_ptr,
    'spam rate and one-click unsubscribe are not in DMARC data' AS bulk_sender_not_shown
FROM per_domain
JOIN senders USING (domain)
LEFT JOIN tls USING (domain)
ORDER BY messages DESC, domain
LIMIT getvariable('row_limit');
