-- Is it safe to move to p=reject? Per policy domain, from `source_classes` (classes.sql)
-- and the policy in force (`policy_in_force`, policy.sql: from DNS when it was asked, else
-- inferred from the reports; `policy_source` says which).
-- The *_blocks_* figures count, by class, the messages that publishing p=quarantine or
-- p=reject (no pct, t=n) would quarantine or reject (`would_block`, classes.sql): the policy
-- that covers each record's From domain (p, sp, np), overrides that vanish under the new
-- policy (sampled_out, policy_test_mode) not exempting. Both policies hit the same messages;
-- they differ in what happens to them.
-- verdict:
--   enforced   p=reject is in force for every failing message (no pct below 100, no t=y):
--              the figures are what it blocks with no receiver's exemption; the next step
--              says what the receivers did
--   not_ready  p=reject would block mail of an authorised sender; or mail from the addresses
--              of a sender listed by name or PTR domain without the domain's own DKIM or SPF,
--              which may be the domain's own mail (the provider set up without DKIM for it)
--              or another customer's: duckmarc cannot tell; or no senders are listed
--              ([[authorised]]) and some failing mail would be blocked, which duckmarc
--              cannot tell from your own without the list;
--              or the selected reports watch the domain for fewer than `min_days` UTC days
--              (`--min-days`, default 30, `days_reported`): fewer cannot show the senders
--              that mail weekly or monthly (invoices, payroll), whose mail p=reject would
--              then reject unseen (RFC 9989 sections 5.1.5 and 5.1.7);
--              or a sender's mail passes DMARC on SPF alone (spf_only, RFC 9989 section 7.4)
--   ready      otherwise; next_step says what to publish next
-- Bulk-sender check (Gmail, Yahoo, since 2024), on the mail Google and Yahoo reported: SPF
-- and DKIM both pass, DMARC aligns, sending addresses have a confirmed PTR name. DMARC data
-- cannot show the spam rate or one-click unsubscribe.
-- The trend compares the DMARC pass rate of the last 7 days of the selection (up to its newest
-- report) with the 7 days before; senders are counted by name (an unnamed source by its IP);
-- TLS failures come from the SMTP TLS reports for the same domain and period.
WITH classes AS MATERIALIZED (
    -- A few rows per source (source_classes, classes.sql): the figures by class read these;
    -- listed_shared: the source is listed by name or PTR domain (classes.sql); key_works:
    -- its mail is forwarded (the domain's own signature broken beside another party's
    -- pass) while the same sender's other mail passes with the domain's identifier, so the
    -- domain's DKIM works there: a mailing list's work (Google Groups for a Google Workspace
    -- customer) or a forgery, which the reports cannot tell from the domain's own mail
    -- changed after signing (RFC 9989 section 5.1.6): said so in the next step.
    -- who: the sender (sender_of, classes.sql).
    SELECT c.*, sender_of(c.named_sender, c.named_sender_type, c.source_ip) AS who,
           l.source_ip IS NOT NULL AS listed_shared,
           c.class = 'forwarded' AND p.who IS NOT NULL AS key_works
    FROM source_classes c
    LEFT JOIN listed_shared_sources l USING (policy_domain, source_ip)
    LEFT JOIN (SELECT DISTINCT policy_domain,
                      sender_of(named_sender, named_sender_type, source_ip) AS who
               FROM source_classes WHERE class = 'compliant') p
           ON p.policy_domain = c.policy_domain
          AND p.who = sender_of(c.named_sender, c.named_sender_type, c.source_ip)
),
-- The reports the filters on reports select (domain, period, reporter). Materialised: the
-- newest one's end, read as a subquery of `reports`, made the pass over the records below
-- 30% slower on 10 M records.
selected_reports AS MATERIALIZED (
    SELECT * FROM reports WHERE in_selection(domain, begin_time, end_time, org_name)
),
-- How many UTC days the selected reports watch each domain: from the first day of the
-- first report's period to the last day of the last's (a day without mail has no report but
-- was watched all the same), within --since/--until. A period counts from the day of its
-- first full half-day to that of its last, so a receiver whose day runs 10:00 to 10:00
-- covers one day, not two. Reports shown not to be genuine and reports dated ahead (ending
-- more than a day after they arrived) show nothing: one such report of a year-long period
-- made a domain of one day's mail `ready`.
report_days AS (
    SELECT domain AS policy_domain,
           greatest(1, date_diff('day',
               greatest(min(CAST(begin_time + INTERVAL 12 HOUR AS DATE)),
                        coalesce(CAST(getvariable('since') AS DATE), DATE '1970-01-01')),
               least(max(CAST(end_time - INTERVAL 12 HOUR AS DATE)),
                     coalesce(CAST(getvariable('until') AS DATE), DATE '9999-12-31'))) + 1)
               AS days_reported
    FROM selected_reports
    WHERE end_time <= ingested_at + INTERVAL 1 DAY
      AND id NOT IN (FROM not_genuine_reports)
    GROUP BY domain
),
-- The pass rates of the 7 days up to the end of each domain's newest selected report (of
-- those not dated ahead of their arrival, as report_days) and of the 7 days before. Each
-- record counts in each week in proportion to how much of its report's period lies in it,
-- as `report daily` spreads it: a weekly report ending this week sent most of its mail in
-- the week before. Per domain: a domain whose reports stopped a week before another's
-- still has its own last two weeks.
newest AS (
    SELECT domain AS policy_domain, max(end_time) AS t
    FROM selected_reports
    WHERE end_time <= ingested_at + INTERVAL 1 DAY   -- not dated ahead
    GROUP BY domain
),
in_weeks AS (
    SELECT s.policy_domain, s.count, s.dmarc_pass,
           share_of_period(s.begin_time, s.end_time, n.t - INTERVAL 7 DAY, n.t) AS last_week,
           share_of_period(s.begin_time, s.end_time, n.t - INTERVAL 14 DAY,
                           n.t - INTERVAL 7 DAY)                                AS previous_week
    FROM selected s
    JOIN newest n USING (policy_domain)
    -- Filtered here too: the join then keeps only recent reports. (A report dated ahead
    -- ends after n.t; the part of its period up to n.t counts.)
    WHERE s.end_time > n.t - INTERVAL 14 DAY AND s.begin_time <= n.t
),
weeks AS (
    SELECT
        policy_domain,
        sum(count * last_week) FILTER (WHERE dmarc_pass)
            / nullif(sum(count * last_week), 0)                                     AS last_week_rate,
        sum(count * previous_week) FILTER (WHERE dmarc_pass)
            / nullif(sum(count * previous_week), 0)                                 AS previous_week_rate
    FROM in_weeks
    GROUP BY policy_domain
),
-- What each authorised sender that p=reject would block has to fix (the fix for most of its
-- blocked mail): "A, B: fix; C: other fix", senders with the same fix together, the fix
-- that unblocks the most mail first.
sender_fixes AS (
    SELECT policy_domain,
           string_agg(senders || ': ' || fix, '; ' ORDER BY blocked DESC, fix) AS sender_fixes
    FROM (
        SELECT policy_domain, fix,
               string_agg(who || CASE WHEN fixed_since IS NOT NULL THEN fixed_since ELSE '' END,
                          ', ' ORDER BY who) AS senders,
               sum(blocked) AS blocked
        FROM (
            -- A sender whose mail has only passed for a week since its last failure may be
            -- fixed: the whole period still counts its failures, and the step says how to
            -- judge from the fix on.
            SELECT *,
                   CASE WHEN last_passed >= last_failed + INTERVAL 7 DAY THEN
                        ' (failing until ' || CAST(last_failed AS DATE) || ', passing for '
                        || date_diff('day', last_failed, last_passed) || ' days since: if it is '
                        || 'fixed, judge from ' || (CAST(last_failed AS DATE) + 1) || ' with --since'
                        -- Not before the days since then are enough to judge from, which
                        -- readiness would otherwise refuse ("widen --since").
                        || CASE WHEN date_diff('day', last_failed, last_passed) < getvariable('min_days')
                                THEN ' once the reports since then cover ' || getvariable('min_days')
                                     || ' days (from ' || (CAST(last_failed AS DATE) + getvariable('min_days'))
                                     || ', or lower --min-days)'
                                ELSE '' END
                        || ')'
                   END AS fixed_since
            FROM (
                SELECT policy_domain, who,
                       arg_max(fix, (would_block_messages, fix))
                           FILTER (WHERE class = 'authorised_failing') AS fix,
                       sum(would_block_messages) FILTER (WHERE class = 'authorised_failing') AS blocked,
                       max(last_time) FILTER (WHERE class = 'authorised_failing') AS last_failed,
                       max(last_time) FILTER (WHERE class = 'compliant')          AS last_passed
                FROM classes
                WHERE (would_block_messages > 0 AND class = 'authorised_failing')
                   OR class = 'compliant'
                GROUP BY policy_domain, who
                HAVING blocked > 0
            )
        )
        GROUP BY policy_domain, fix
    )
    GROUP BY policy_domain
),
-- Mail reported by Google and Yahoo where SPF and DKIM both pass (whatever the alignment).
-- SPF for the MAIL FROM domain: a pass for the HELO name (a bounce's empty MAIL FROM) is no
-- SPF for the domain (RFC 7208 section 2.3; DMARC reads only MAIL FROM, RFC 9989 section
-- 4.4.2), as alignment.rs has it.
bulk_authenticated AS (
    SELECT policy_domain, sum(count) AS spf_and_dkim_messages
    FROM selected s SEMI JOIN bulk_reports USING (report)   -- classes.sql
    WHERE EXISTS (SELECT 1 FROM spf_results r
                  WHERE r.report = s.report AND r.record_no = s.record_no AND r.result = 'pass'
                    AND r.scope IS DISTINCT FROM 'helo')
      AND EXISTS (SELECT 1 FROM dkim_results r
                  WHERE r.report = s.report AND r.record_no = s.record_no AND r.result = 'pass')
    GROUP BY policy_domain
),
-- The senders whose mail passes DMARC on SPF alone: most of their passing messages carry
-- no DKIM signature aligned with the From domain (spf_aligned_only,
-- spf_aligned_dkim_third_party), listed or not (a pass is the domain's own mail to DMARC).
-- A domain at p=reject "MUST NOT rely solely on SPF" and "MUST apply valid DKIM signatures"
-- (RFC 9989 section 7.4): forwarding breaks SPF, not DKIM, so their forwarded copies, which
-- the reports show as failing mail from the forwarders, would be rejected.
spf_only AS (
    SELECT policy_domain, sum(spf_only) AS spf_only_messages,
           list(who ORDER BY who) AS spf_only_senders
    FROM (
        SELECT policy_domain, who,
               sum(dmarc_pass_messages) FILTER (
                   WHERE diagnosis IN ('spf_aligned_only', 'spf_aligned_dkim_third_party'))
                   AS spf_only,
               sum(dmarc_pass_messages) AS passing
        FROM classes
        WHERE NOT from_elsewhere AND dmarc_pass_messages > 0
        GROUP BY policy_domain, who
    )
    WHERE spf_only * 2 > passing
    GROUP BY policy_domain
),
-- The domains to judge: those with selected mail, and those whose selected reports tell of
-- none (records of <count>0 only, or no records: "nothing to judge", said so), unless the
-- run is narrowed to sources (--ip, --sender, --country, --asn): other sources' mail is there.
judged_domains AS (
    SELECT DISTINCT policy_domain FROM classes
    UNION
    SELECT domain FROM selected_reports
    WHERE NOT narrowed_to_sources()
),
per_domain AS (
    SELECT
        policy_domain                                                                   AS domain,
        coalesce(sum(messages), 0)                                                      AS messages,
        coalesce(sum(dmarc_pass_messages), 0)                                           AS dmarc_pass_messages,
        any_value(w.last_week_rate)                                                     AS last_week_rate,
        any_value(w.previous_week_rate)                                                 AS previous_week_rate,
        coalesce(sum(would_block_messages) FILTER (WHERE class = 'authorised_failing'), 0) AS blocks_authorised,
        coalesce(sum(would_block_not_genuine_messages), 0)                              AS blocks_authorised_not_genuine,
        coalesce(sum(would_block_messages) FILTER (WHERE class = 'forwarded'), 0)       AS blocks_forwarded,
        coalesce(sum(would_block_messages) FILTER (WHERE class IN ('unauthorised', 'unknown')), 0) AS blocks_unauthorised,
        coalesce(sum(would_block_messages)
                 FILTER (WHERE listed_shared AND class IN ('unauthorised', 'forwarded')), 0) AS blocks_listed_unverified,
        coalesce(sum(would_block_messages)
                 FILTER (WHERE listed_shared AND class = 'forwarded'), 0)              AS blocks_listed_forwarded,
        coalesce(sum(would_block_broken_signature_messages) FILTER (WHERE NOT listed_shared), 0)
                                                                                        AS blocks_broken_signature,
        coalesce(sum(would_block_messages)
                 FILTER (WHERE listed_shared AND key_works), 0)                        AS blocks_listed_key_works,
        sum(sp_assumed_messages)                                                        AS sp_assumed_messages,
        coalesce(sum(failing_rejected_messages), 0)                                     AS failing_rejected,
        coalesce(sum(failing_quarantined_messages), 0)                                  AS failing_quarantined,
        coalesce(sum(failing_delivered_messages), 0)                                    AS failing_delivered,
        bool_or(inferred)                                                               AS inferred,
        any_value(f.sender_fixes)                                                       AS sender_fixes,
        any_value(l.policy_source)                                                      AS policy_source,
        any_value(l.p)                                                                  AS policy,
        any_value(l.sp)                                                                 AS subdomain_policy,
        any_value(l.sp_published)                                                       AS sp_published,
        any_value(l.np)                                                                 AS nonexistent_subdomain_policy,
        any_value(l.np_published)                                                       AS np_published,
        any_value(l.dns_status)                                                         AS dns_status,
        any_value(l.policy_found_at)                                                    AS policy_found_at,
        any_value(l.several_records_at)                                                 AS several_records_at,
        any_value(l.policy_found_at_registry)                                           AS policy_found_at_registry,
        any_value(l.pct)                                                                AS pct,
        any_value(l.testing)                                                            AS testing,
        coalesce(sum(bulk_messages), 0)                                                 AS bulk_messages,
        coalesce(any_value(a.spf_and_dkim_messages), 0)                                            AS bulk_spf_and_dkim,
        coalesce(sum(bulk_dmarc_pass_messages), 0)                                      AS bulk_aligned,
        coalesce(any_value(d.days_reported), 0)                                         AS days_reported,
        coalesce(any_value(o.spf_only_messages), 0)                                     AS spf_only_messages,
        coalesce(any_value(o.spf_only_senders), [])                                     AS spf_only_senders
    FROM judged_domains
    LEFT JOIN classes USING (policy_domain)
    JOIN policy_in_force l USING (policy_domain)   -- policy.sql
    LEFT JOIN weeks w USING (policy_domain)
    LEFT JOIN sender_fixes f USING (policy_domain)
    LEFT JOIN bulk_authenticated a USING (policy_domain)
    LEFT JOIN report_days d USING (policy_domain)
    LEFT JOIN spf_only o USING (policy_domain)
    GROUP BY policy_domain
),
-- Who sends unauthorised or failing authorised mail, per domain (a sender by name, a
-- source named only after its network, or not at all, by its address): one row per sender
-- and class, counted below; and the listed senders' forwarded mail, for
-- listed_unverified_senders.
failing_senders AS (
    SELECT policy_domain AS domain, class, who,
           bool_or(would_block_messages > 0) AS blocks,
           bool_or(would_block_messages > 0 AND listed_shared) AS listed_blocks
    FROM classes
    -- Mail From another organisation's domain is not this domain's to count (blockable_of).
    WHERE NOT from_elsewhere
      AND (class IN ('unauthorised', 'authorised_failing')
           OR (class = 'forwarded' AND listed_shared))
    GROUP BY ALL
),
senders AS (
    SELECT
        domain,
        count(*) FILTER (WHERE class = 'unauthorised')                                AS unauthorised_senders,
        count(*) FILTER (WHERE class = 'authorised_failing')                          AS authorised_failing_senders,
        list(who ORDER BY who) FILTER (WHERE blocks AND class = 'authorised_failing') AS blocking_senders,
        -- The listed senders whose failing mail carries none of the domain's identifiers.
        list(DISTINCT who ORDER BY who)
            FILTER (WHERE listed_blocks AND class IN ('unauthorised', 'forwarded'))
                                                                                      AS listed_unverified_senders
    FROM failing_senders
    GROUP BY domain
),
bulk_without_ptr AS (
    SELECT policy_domain AS domain, count(DISTINCT source_ip) AS bulk_sources_without_ptr
    FROM classes
    WHERE bulk_messages > 0 AND class = 'compliant'
      AND source_ip NOT IN (SELECT source_ip FROM source_names WHERE ptr_confirmed)
    GROUP BY policy_domain
),
tls AS (
    SELECT policy_domain AS domain, sum(successful_sessions) AS successful, sum(failed_sessions) AS failed
    FROM selected_tls_policies
    GROUP BY policy_domain
),
-- What the latest `duckmarc check` found in the domain's DNS (table check_findings): its
-- errors, and the SPF include an authorised sender's provider documents, which is then
-- the fix to name.
dns_findings AS (
    SELECT domain,
           count(*) FILTER (WHERE severity = 'error')                          AS dns_errors,
           string_agg(fix, '; ' ORDER BY fix) FILTER (WHERE code = 'spf_include_missing') AS dns_fix
    FROM check_findings
    GROUP BY domain
),
-- The senders listed by name or PTR domain for each domain that no source of the selection
-- is named after (unmapped_listed: those whose name is in none of the sender maps, likely
-- misspelt), and whether any source of the domain has a confirmed PTR name. Names come from
-- a forward-confirmed PTR name or a provider's SPF that DNS confirms. A name no map has, or
-- no PTR name at all (DNS off, or not answering), means duckmarc could not have named the
-- sender: its mail would be among the unauthorised, which it cannot tell apart, and says so
-- instead of taking it for spoofing. Otherwise the sender sent nothing, or is named
-- otherwise: a note.
unmatched_listed AS (
    SELECT d.domain, list(DISTINCT a.value ORDER BY a.value) AS unmatched_listed,
           list(DISTINCT a.value ORDER BY a.value) FILTER (WHERE a.unmapped) AS unmapped_listed
    FROM (SELECT DISTINCT policy_domain AS domain FROM classes) d
    JOIN authorised_rules a
      ON a.kind IN ('sender', 'base_domain') AND rule_concerns(a.domain, d.domain)
    WHERE NOT EXISTS (SELECT 1 FROM classes c JOIN source_names n USING (source_ip)
                      WHERE c.policy_domain = d.domain
                        AND rule_names_source(a.kind, a.value, n.sender, n.base_domain))
    GROUP BY d.domain
),
named_by_ptr AS (
    SELECT c.policy_domain AS domain, bool_or(n.named_by = 'ptr') AS named_by_ptr
    FROM classes c JOIN source_names n USING (source_ip)
    GROUP BY ALL
),
judged AS (
    SELECT
        *,
        CASE
            WHEN policy = 'reject' AND coalesce(pct, 100) = 100 AND coalesce(testing, 'n') <> 'y'
                THEN 'enforced'
            WHEN blocks_authorised > 0 THEN 'not_ready'
            WHEN blocks_listed_unverified > 0 THEN 'not_ready'
            WHEN listed_unnameable AND blocks_unauthorised > 0 THEN 'not_ready'
            WHEN inferred AND blocks_unauthorised + blocks_forwarded > 0 THEN 'not_ready'
            WHEN spf_only_messages > 0 THEN 'not_ready'
            WHEN days_reported < getvariable('min_days') THEN 'not_ready'
            WHEN messages > 0 THEN 'ready'
            ELSE 'not_ready'
        END                                                                             AS verdict
    FROM (
        SELECT *,
               unmapped_listed IS NOT NULL
               OR (unmatched_listed IS NOT NULL AND NOT coalesce(named_by_ptr, false))
                                                                                AS listed_unnameable
        FROM per_domain
        LEFT JOIN unmatched_listed USING (domain)
        LEFT JOIN named_by_ptr USING (domain)
    )
)
SELECT
    domain,
    verdict,
    messages,
    round(dmarc_pass_messages / messages, 4)        AS dmarc_pass_rate,
    round(last_week_rate, 4)                        AS dmarc_pass_rate_last_7_days,
    round(previous_week_rate, 4)                    AS dmarc_pass_rate_previous_7_days,
    round(last_week_rate - previous_week_rate, 4)   AS dmarc_pass_rate_trend,
    coalesce(unauthorised_senders, 0)               AS unauthorised_senders,
    coalesce(authorised_failing_senders, 0)         AS authorised_failing_senders,
    tls.failed                                      AS tls_failed_sessions,
    round(tls.failed / nullif(tls.successful + tls.failed, 0), 4) AS tls_failure_rate,
    dns_errors,                                     -- NULL: `duckmarc check` has not run
    blocks_authorised                               AS quarantine_blocks_authorised,
    blocks_forwarded                                AS quarantine_blocks_forwarded,
    blocks_unauthorised                             AS quarantine_blocks_unauthorised,
    blocks_authorised                               AS reject_blocks_authorised,
    blocks_forwarded                                AS reject_blocks_forwarded,
    blocks_unauthorised                             AS reject_blocks_unauthorised,
    coalesce(blocking_senders, [])                  AS blocking_senders,
    spf_only_messages,
    spf_only_senders,
    blocks_listed_unverified                        AS listed_unverified_messages,
    coalesce(listed_unverified_senders, [])         AS listed_unverified_senders,
    -- What to do first, then what it leaves out: an sp the reports cannot show, and
    -- subdomains that a published sp keeps below reject.
    CASE
        WHEN messages = 0 THEN
            'no messages were reported for ' || domain || ' in this period: nothing to judge'
        WHEN blocks_authorised > 0 THEN
            CASE WHEN verdict = 'enforced' THEN 'p=reject rejects your own mail today: ' ELSE '' END
            || 'fix ' || CASE WHEN dns_fix IS NOT NULL
                              THEN array_to_string(blocking_senders, ', ') || ': ' || dns_fix
                              ELSE sender_fixes END
        -- What the receivers did, as their reports say (the disposition, RFC 9990 section
        -- 3.1.1.9), not what p=reject would do with no exemption: mail they delivered or
        -- quarantined all the same (an override, t=y not yet seen, an sp or np below reject
        -- for subdomains) is said as such.
        WHEN verdict = 'enforced' THEN
            'none: p=reject is in place; receivers rejected ' || failing_rejected
            || ' failing messages'
            || CASE WHEN failing_quarantined > 0
                    THEN ', quarantined ' || failing_quarantined ELSE '' END
            || CASE WHEN failing_delivered > 0
                    THEN ' and delivered ' || failing_delivered || ' (their own overrides, or '
                         || 'a policy below reject for subdomains)' ELSE '' END
        -- RFC 9989 section 4.10.1: a p, sp or np that is not valid makes the record p=none.
        WHEN policy_source = 'dns' AND dns_status = 'invalid' THEN
            'fix the DMARC record at _dmarc.' || coalesce(policy_found_at, domain)
            || ': a p, sp or np value in it is '
            || 'not valid, so receivers act as if it said p=none'
        WHEN blocks_listed_unverified > 0 THEN
            'check ' || array_to_string(listed_unverified_senders, ', ') || ': '
            || blocks_listed_unverified || ' failing messages from their addresses pass '
            || 'neither DKIM nor SPF for your domain; '
            || CASE WHEN blocks_listed_key_works = blocks_listed_unverified THEN
                    'they carry your DKIM signature broken beside another party''s pass, '
                    || 'while your DKIM passes on their other mail: a mailing list that changed '
                    || 'them, a forgery, or your own mail changed after signing; find which '
                    || 'before p=reject (duckmarc cannot tell them apart)'
                    ELSE 'if they are yours, set up DKIM for ' || domain || ' there before '
                    || 'p=reject (duckmarc cannot tell them from another customer''s mail)' END
        WHEN listed_unnameable AND blocks_unauthorised > 0 THEN
            'find ' || array_to_string(coalesce(unmapped_listed, unmatched_listed), ', ')
            || ' (listed in [[authorised]]): no source is named so, and '
            || CASE WHEN unmapped_listed IS NOT NULL
                    THEN 'the name is in none of the sender maps (duckmarc config check)'
                    ELSE 'none has a confirmed PTR name (DNS off, or not answering)' END
            || ', so duckmarc cannot tell its mail from the ' || blocks_unauthorised
            || ' unauthorised messages p=reject would block; '
            -- A provider's networks carry its other customers' mail: listed, their
            -- failing mail would count as the domain's own.
            || CASE WHEN unmapped_listed IS NOT NULL
                    THEN 'write the name `report senders` gives'
                    ELSE 'name the sources with DNS on' END
            || ' (list networks only of servers that send for you alone: a provider''s carry '
            || 'its other customers'' mail too)'
        WHEN inferred AND blocks_unauthorised + blocks_forwarded > 0 THEN
            'list your authorised senders ([[authorised]] in the config): duckmarc cannot tell '
            || (blocks_unauthorised + blocks_forwarded)
            || ' failing messages from your own mail without it'
        -- RFC 9989 section 4.10: no DMARC record, or several, is no policy at all.
        WHEN policy_source = 'dns' AND dns_status <> 'found' THEN
            'publish one DMARC record at _dmarc.' || coalesce(policy_found_at, domain) || ': DNS has '
            || CASE dns_status WHEN 'several' THEN 'several, which receivers take for none'
                               ELSE 'none' END
            || ', so receivers apply no policy'
        WHEN policy IS NULL AND policy_source = 'reports' THEN
            'look up the DMARC record at _dmarc.' || domain || ': none of its reports was shown '
            || 'to be genuine, so they do not show the policy in force'
        WHEN spf_only_messages > 0 THEN
            'sign the mail of ' || array_to_string(spf_only_senders, ', ') || ' with DKIM for '
            || domain || ': ' || spf_only_messages || ' messages pass DMARC on SPF alone, and '
            || 'a domain at p=reject must not rely on SPF alone (RFC 9989 section 7.4): '
            || 'forwarding breaks SPF, so their forwarded copies would be rejected'
        -- Before the steps that raise the policy: too few days cannot show every sender.
        WHEN days_reported < getvariable('min_days') THEN
            CASE WHEN getvariable('since') IS NULL AND getvariable('until') IS NULL
                 THEN 'keep collecting reports before enforcing more: they cover '
                 ELSE 'widen --since/--until to judge: the selected period covers ' END
            || days_reported || CASE days_reported WHEN 1 THEN ' day' ELSE ' days' END
            || ' of the ' || getvariable('min_days') || ' needed to see senders that mail '
            || 'weekly or monthly (--min-days)'
        -- RFC 9989 section 4.7: under t=y receivers apply one level lower.
        WHEN testing = 'y' AND policy IN ('quarantine', 'reject') THEN
            'remove t=y: while it is set receivers apply p='
            || CASE policy WHEN 'reject' THEN 'quarantine' ELSE 'none' END
            || ' instead of p=' || policy
        WHEN coalesce(policy, 'none') = 'none' THEN 'publish p=quarantine, then p=reject'
        -- RFC 7489 section 6.6.4: receivers apply the policy to pct% of failing mail; RFC
        -- 9989 drops the tag (section 9.3, historic).
        WHEN coalesce(pct, 100) < 100 THEN
            'remove pct=' || pct || ': p=' || policy || ' applies to only ' || pct
            || '% of failing mail at receivers that still read it'
        ELSE 'publish p=reject'
    END
    || CASE WHEN spf_only_messages > 0 AND verdict = 'enforced' THEN
            '; ' || spf_only_messages || ' messages of ' || array_to_string(spf_only_senders, ', ')
            || ' pass on SPF alone: sign them with DKIM for ' || domain || ' (RFC 9989 section '
            || '7.4 requires it under p=reject: their forwarded copies are rejected)'
       ELSE '' END
    || CASE WHEN unmatched_listed IS NOT NULL AND NOT listed_unnameable THEN
            '; no source of the selection is named ' || array_to_string(unmatched_listed, ', ')
            || ' (listed in [[authorised]]): it sent nothing in this period, or the name is not '
            || 'the one duckmarc gives (compare `report senders`)'
       ELSE '' END
    || CASE WHEN blocks_authorised_not_genuine > 0 THEN
            '; ' || blocks_authorised_not_genuine || ' failing messages of your listed senders '
            || 'are only in reports not shown to be genuine (report reporters shows their '
            || 'authenticity): they do not count here; if you know their receiver, fix those '
            || 'senders first (report senders names them)'
       ELSE '' END
    || CASE WHEN sp_assumed_messages > 0 AND verdict <> 'enforced' THEN
            '; ' || sp_assumed_messages || ' failing messages from subdomains were counted as '
            || 'covered by p, since the reports do not show whether your record has sp: keep an '
            || 'explicit sp=none if subdomains should stay unenforced'
       ELSE '' END
    -- A policy found above the domain (the tree walk) is no sp of its own: the record it
    -- publishes will set its subdomains' policy (RFC 9989 section 4.10.1).
    || CASE WHEN sp_published AND verdict <> 'not_ready' AND subdomain_policy <> 'reject'
                 AND policy_found_at IS NULL THEN
            '; subdomains stay at sp=' || subdomain_policy
       ELSE '' END
    || CASE WHEN np_published AND verdict <> 'not_ready'
                 AND nonexistent_subdomain_policy <> 'reject' AND policy_found_at IS NULL THEN
            '; non-existent subdomains stay at np=' || nonexistent_subdomain_policy
       ELSE '' END
    -- RFC 9989 section 7.4: p=reject rejects what mailing lists change, unless receivers
    -- let it through (ARC, overrides).
    -- (The listed senders' forwarded mail is in the step above already.)
    || CASE WHEN blocks_forwarded > blocks_listed_forwarded + blocks_broken_signature
                 AND NOT (inferred AND verdict = 'not_ready') THEN
            '; p=reject would also block '
            || (blocks_forwarded - blocks_listed_forwarded - blocks_broken_signature)
            || ' forwarded messages '
            || '(mailing lists that change messages: ask them to rewrite From or sign with ARC)'
       ELSE '' END
    -- Mail classed forwarded only because the domain's signature broke beside another
    -- party's pass: a list's work is the likely story, not the only one.
    || CASE WHEN blocks_broken_signature > 0 AND NOT (inferred AND verdict = 'not_ready') THEN
            '; p=reject would also block ' || blocks_broken_signature
            || ' messages carrying your DKIM signature broken beside another party''s pass, '
            || 'whose receivers do not say they were forwarded: a mailing list that changed them, a '
            || 'sender of yours whose key for your domain fails, or a forgery, which the reports '
            || 'cannot tell apart (report failures shows their signatures)'
       ELSE '' END
    -- RFC 9989 section 4.10: without a record of its own (or with several, which receivers
    -- discard), the Organizational Domain's record, which the tree walk finds above the
    -- domain, applies by its sp (else p).
    || CASE WHEN policy_found_at IS NOT NULL AND dns_status IN ('found', 'invalid') THEN
            '; ' || CASE WHEN several_records_at IS NULL
                         THEN domain || ' has no DMARC record of its own'
                         ELSE '_dmarc.' || several_records_at || ' has several DMARC records, '
                              || 'which receivers discard' END
            || ': its policy is the sp (else p) '
            || 'of _dmarc.' || policy_found_at || ', found by the DNS tree walk'
            || CASE WHEN several_records_at IS NOT NULL THEN
                    ': keep one record at _dmarc.' || several_records_at
                    -- A public suffix's record is its registry's, not the domain owner's.
                    WHEN verdict <> 'enforced' AND policy_found_at_registry THEN
                    ': publish a record at _dmarc.' || domain
                    WHEN verdict <> 'enforced' THEN
                    ': change it there, or publish a record at _dmarc.' || domain ELSE '' END
       ELSE '' END                                  AS next_step,
    policy_source,
    policy,
    subdomain_policy,
    nonexistent_subdomain_policy,
    pct,
    testing,
    inferred                                        AS authorised_inferred,
    bulk_messages                                   AS bulk_sender_messages,
    round(bulk_spf_and_dkim / nullif(bulk_messages, 0), 4) AS bulk_spf_and_dkim_pass_rate,
    round(bulk_aligned / nullif(bulk_messages, 0), 4)      AS bulk_dmarc_aligned_rate,
    coalesce(bulk_sources_without_ptr, 0)           AS bulk_sources_without_ptr,
    'spam rate and one-click unsubscribe are not in DMARC data' AS bulk_sender_not_shown,
    days_reported,
    policy_found_at,
    several_records_at
FROM judged
LEFT JOIN dns_findings USING (domain)
LEFT JOIN senders USING (domain)
LEFT JOIN bulk_without_ptr USING (domain)
LEFT JOIN tls USING (domain)
ORDER BY messages DESC, domain
LIMIT getvariable('row_limit');
