-- What changed since the last `duckmarc alerts` run in this scope (state in alert_seen and
-- alert_runs), one row per alert: kind, domain, subject, value, message. Reads
-- queries/alert_views.sql (alertable: the classified records of reports not shown to be
-- forged; seen: the state of earlier runs in this scope; policies: the policy in force).
-- Thresholds, set by duckmarc (see README): drop_threshold (a fraction: 0.10 is 10 points),
-- min_messages, silent_days, stopped_hours, complete_hours, selector_share and
-- tls_failure_threshold (fractions), tls_min_failures, and now (TIMESTAMP, UTC). A report's mail is counted
-- on the day of the middle of its period (alert_views.sql's alert_day).
--   new_source          an address not seen sending as the domain by an earlier run (none for
--   new_sender          a domain no earlier run saw: its first sight records what there is);
--                       a sender name likewise. Each domain has its own: an address known for
--                       one domain that starts sending as another is new to the other, and
--                       raised when some of that mail fails DMARC (known_anywhere)
--   authorised_failing  an authorised sender with mail failing DMARC in reports that arrived
--                       since the last run, once per day of mail (value: the day), so a
--                       second reporter's copy of the same day raises nothing more; the
--                       first run, its latest day only (the earlier ones counted in it)
--   pass_rate_drop      a domain's DMARC pass rate on a complete day below the 14 days
--                       before it by drop_threshold or more (both with min_messages or
--                       more; value: the day). Each run judges the latest complete day and
--                       those of the 14 before it with news since the last run (a report of
--                       the day stored since, or complete by time since), so a day whose
--                       reports came late, after a later day's, is judged when they come.
--                       A day is complete once it has ended and every usual reporter of
--                       the domain (one that reported it on 3 of the 14 days before) has
--                       reported it (reports spanning 20 hours of it), or complete_hours
--                       after the day ended: a day only some receivers have reported yet
--                       is not judged (reporters' pass rates differ a lot). Reports of
--                       several days (weekly) are left out: they cannot tell which day.
--   reporter_pass_rate_drop  the same, a reporter against its own history: the domain's
--                       pass rate in a reporter's report day below that reporter's 14 days
--                       before (the same days judged) (receivers judge differently, so each is its own baseline;
--                       a reporter's day is complete once its reports of it are in)
--   new_dkim_selector   a DKIM key of the domain itself (selector._domainkey.domain, signing
--                       domain the policy domain, a subdomain or a parent) with passing
--                       signatures, not seen by an earlier run
--   dkim_selector_silent  such a key that signed selector_share or more of the domain's mail
--                       in the 14 days up to its last passing signature, on 3 days or more,
--                       and nothing in the silent_days before the domain's latest report,
--                       nor for longer than it usually pauses (usual_gaps: a weekly
--                       newsletter's key): a key rotated out, or a signer that broke
--   reporter_silent     a reporter that reported a domain on 3 days or more, and not in the
--                       silent_days before the domain's latest report, nor for longer than
--                       it usually pauses (one that reports only the days it got mail)
--   domain_silent       a domain reported on 7 of the 14 days up to its last report, with
--                       no report in the silent_days before the newest report of another
--                       domain (in scope or not; value: its last day): it sent no mail, or
--                       its DMARC record or rua= address broke; not in runs narrowed by
--                       anything but --domain
--   tls_failing         SMTP TLS reports (RFC 8460) of a day stored since the last run show
--                       tls_failure_threshold or more of the sessions to a policy domain
--                       failing, and tls_min_failures sessions or more (all reports of that
--                       day counted; value: the day), once per day; the first run, its
--                       latest such day only (the earlier counted)
--   reports_stopped     no report arrived (ingested) in the last stopped_hours
--   policy_changed      a domain's policy in force differs from the last run's (value: the
--                       change); each change is raised once, since the run it is raised in
--                       records the new policy, and a change back and forth again is
--                       raised again; a policy from reports of no later day than the one
--                       recorded is no change (alert_views.sql's policy_state)
-- An alert about the same domain, subject and value is raised once (but policy_changed).
WITH runs AS (
    SELECT count(*) AS runs, max(run_at) AS last_run
    FROM alert_runs WHERE scope = getvariable('alert_scope')
),
-- What has news since the last run: the (domain, reporter, day)s of reports stored since,
-- or held back by it for a period not yet ended (none on the first run). Both times are kept to the microsecond, so an ingest and an
-- alerts run in the same second are told apart.
fresh AS (
    SELECT DISTINCT a.policy_domain, a.reporter, alert_day(a.begin_time, a.end_time) AS day
    FROM alertable a
    JOIN reports r ON r.id = a.report
    WHERE news_since((SELECT last_run FROM runs), r.ingested_at, a.end_time)
),
-- The domains whose mail an earlier run in this scope judged (it recorded their sources): a
-- domain's first sight is its baseline, as the first run is everyone's, so a run before any
-- report came (cron set up first) or a domain that starts reporting later raises none of its
-- sources, senders and keys as new. Its policy is no sight of its mail: a domain whose first
-- report was held back (dated ahead) or that is known from DNS only has none judged yet.
known_domains AS (
    SELECT DISTINCT domain FROM seen WHERE kind = 'source'
),
-- The sources and senders an earlier run saw for any domain. One known for another domain
-- that starts sending as this one is raised only with mail failing DMARC for it (a spoofer
-- on someone's legitimate server): a shared pool's addresses (Google Workspace, an ESP) are
-- new to each domain they send for, day after day, with mail that passes.
known_anywhere AS (
    SELECT DISTINCT kind, item FROM seen WHERE kind IN ('source', 'sender')
),
-- The days of reports of a day or less (alert_views.sql's one_day), and which reporters have
-- reported which domain on which day: their reports of it span most of it (20 hours), so a
-- receiver that reports hourly has not reported a day with its first hour's report.
report_days AS (
    SELECT policy_domain, reporter_id, reporter, alert_day(begin_time, end_time) AS day,
           max(end_time) - min(begin_time) >= INTERVAL 20 HOUR AS whole
    FROM alertable
    WHERE one_day(begin_time, end_time)
    GROUP BY ALL
),
reported AS (
    SELECT policy_domain, reporter_id, reporter, day FROM report_days WHERE whole
),
-- A day is complete once it has ended and every usual reporter has reported it, or
-- complete_hours after it ended.
complete_days AS (
    SELECT d.policy_domain, d.day
    FROM (SELECT DISTINCT policy_domain, day FROM report_days) d
    WHERE d.day + INTERVAL 1 DAY
              + to_hours(CAST(getvariable('complete_hours') AS INTEGER)) <= getvariable('now')
       OR d.day + INTERVAL 1 DAY <= getvariable('now') AND NOT EXISTS (
            -- a usual reporter of the domain that has not reported the day (yet)
            SELECT 1
            FROM reported u
            WHERE u.policy_domain = d.policy_domain
              AND u.day < d.day AND u.day >= d.day - 14
            GROUP BY u.reporter_id
            HAVING count(*) >= 3
               AND u.reporter_id NOT IN (SELECT reporter_id FROM reported r
                                         WHERE r.policy_domain = d.policy_domain
                                           AND r.day = d.day))
),
-- Per own DKIM key (alert_views.sql's own_keys): the days it signed, its last one, and its
-- share of the domain's mail in the 14 days up to that day.
key_days AS (
    SELECT policy_domain, key, alert_day(begin_time, end_time) AS day, sum(count) AS signed,
           max(end_time) AS last_end
    FROM own_keys GROUP BY ALL
),
domain_days AS (
    SELECT policy_domain, alert_day(begin_time, end_time) AS day, sum(count) AS messages
    FROM alertable GROUP BY ALL
),
-- How long each own DKIM key and each reporter of a domain goes without signing or
-- reporting as a matter of course: the gap between two of its days in the 28 up to its last
-- that three in four of those gaps do not exceed. A key that signs a weekly newsletter, or a
-- receiver that reports only the days it got mail, is silent for days every week; only a
-- silence longer than that is news. One outage before does not make the next one wait.
usual_gaps AS (
    SELECT kind, policy_domain, item, coalesce(quantile_disc(gap, 0.75), 0) AS usual_gap
    FROM (
        SELECT *, day - lag(day) OVER (PARTITION BY kind, policy_domain, item ORDER BY day) AS gap
        FROM (
            SELECT *
            FROM (SELECT DISTINCT 'key' AS kind, policy_domain, key AS item, day FROM key_days
                  UNION ALL
                  SELECT DISTINCT 'reporter', policy_domain, reporter,
                         alert_day(begin_time, end_time)
                  FROM alertable)
            QUALIFY day > max(day) OVER (PARTITION BY kind, policy_domain, item) - 28
        )
    )
    GROUP BY ALL
),
key_shares AS (
    SELECT k.policy_domain, k.key, k.last_day, k.last_end, k.days,
           (SELECT sum(signed) FROM key_days x
            WHERE x.policy_domain = k.policy_domain AND x.key = k.key
              AND x.day BETWEEN k.last_day - 13 AND k.last_day)   AS signed,
           (SELECT sum(messages) FROM domain_days y
            WHERE y.policy_domain = k.policy_domain
              AND y.day BETWEEN k.last_day - 13 AND k.last_day)   AS messages
    FROM (SELECT policy_domain, key, max(day) AS last_day, max(last_end) AS last_end,
                 count(*) AS days
          FROM key_days GROUP BY ALL) k
),
judged_days AS (
    -- The domain's latest complete day, and any of the 14 before it with news since the last
    -- run: a report of that day stored since, or complete by time since (a day's reports
    -- may come after a later day's). Each day's alert is raised once (its value).
    SELECT c.policy_domain, c.day
    FROM complete_days c
    LEFT JOIN (SELECT DISTINCT policy_domain, day AS fresh_day FROM fresh) f
           ON f.policy_domain = c.policy_domain AND f.fresh_day = c.day
    QUALIFY c.day = max(c.day) OVER (PARTITION BY c.policy_domain)
         OR (c.day >= max(c.day) OVER (PARTITION BY c.policy_domain) - 14
             AND (f.fresh_day IS NOT NULL
                  OR c.day + INTERVAL 1 DAY + to_hours(CAST(getvariable('complete_hours') AS INTEGER))
                     > (SELECT last_run FROM runs)))
),
reporter_judged_days AS (
    -- The same per reporter, whose day is complete once its reports of it are in (reported),
    -- or complete_hours after it ended.
    SELECT d.policy_domain, d.reporter, d.day
    FROM (SELECT DISTINCT policy_domain, reporter, day FROM report_days) d
    LEFT JOIN (SELECT policy_domain, reporter, day AS fresh_day FROM fresh) f
           ON f.policy_domain = d.policy_domain AND f.reporter = d.reporter AND f.fresh_day = d.day
    WHERE (d.policy_domain, d.reporter, d.day) IN (SELECT (policy_domain, reporter, day) FROM reported)
       OR d.day + INTERVAL 1 DAY
              + to_hours(CAST(getvariable('complete_hours') AS INTEGER)) <= getvariable('now')
    QUALIFY d.day = max(d.day) OVER (PARTITION BY d.policy_domain, d.reporter)
         OR (d.day >= max(d.day) OVER (PARTITION BY d.policy_domain, d.reporter) - 14
             AND (f.fresh_day IS NOT NULL
                  OR d.day + INTERVAL 1 DAY + to_hours(CAST(getvariable('complete_hours') AS INTEGER))
                     > (SELECT last_run FROM runs)))
),
-- SMTP TLS sessions per policy domain and day (a TLS report covers a UTC day, RFC 8460
-- section 4.1), for the days with a report stored since the last run (every day on the
-- first): all the reports of such a day are counted, as a receiver's report of a day may
-- come after another's.
tls_days AS (
    SELECT policy_domain, CAST(begin_time AS DATE) AS day,
           sum(successful_sessions) AS successful, sum(failed_sessions) AS failed,
           string_agg(DISTINCT org_name, ', ' ORDER BY org_name) AS reporters
    FROM alertable_tls
    WHERE (policy_domain, CAST(begin_time AS DATE)) IN (
        SELECT (policy_domain, CAST(begin_time AS DATE)) FROM alertable_tls
        WHERE news_since(coalesce((SELECT last_run FROM runs), TIMESTAMP '1970-01-01'),
                         ingested_at, end_time))
    GROUP BY ALL
),
-- What failed on those days: each result type with its sessions and the MX hosts it named.
tls_day_failures AS (
    SELECT policy_domain, day,
           string_agg(result_type || ' ' || sessions || coalesce(' (' || hosts || ')', ''), ', '
                      ORDER BY sessions DESC, result_type) AS failures
    FROM (
        SELECT t.policy_domain, CAST(t.begin_time AS DATE) AS day, f.result_type,
               sum(f.failed_sessions) AS sessions,
               string_agg(DISTINCT f.receiving_mx_hostname, ', '
                          ORDER BY f.receiving_mx_hostname) AS hosts
        FROM alertable_tls t
        JOIN tls_failures f ON f.report = t.report AND f.policy_no = t.policy_no
        GROUP BY ALL
    )
    GROUP BY ALL
),
candidates AS (
    SELECT 'new_' || u.kind AS kind, u.policy_domain AS domain, u.item AS subject,
           NULL AS value,
           CASE u.kind
               WHEN 'source' THEN 'new source ' || u.item || ' ('
                                  || coalesce(any_value(u.named_sender), 'unknown') || ')'
               ELSE 'new sender ' || u.item
           END
           || ' for ' || u.policy_domain || ': ' || sum(u.count) || ' messages'
           || CASE u.kind WHEN 'sender'
                  THEN ' from ' || count(DISTINCT u.source_ip) || ' addresses' ELSE '' END
           || ', ' || coalesce(sum(u.count) FILTER (WHERE u.dmarc_pass), 0) || ' passing DMARC'
           || CASE WHEN bool_or(k.item IS NOT NULL) THEN ' (known for other domains)' ELSE '' END
           AS message
    FROM unseen_items u
    LEFT JOIN known_anywhere k ON k.kind = u.kind AND k.item = u.item
    WHERE u.policy_domain IN (FROM known_domains)
    GROUP BY u.kind, u.policy_domain, u.item
    HAVING NOT bool_or(k.item IS NOT NULL) OR bool_or(NOT u.dmarc_pass)
    UNION ALL
    SELECT 'authorised_failing', policy_domain, who, CAST(day AS VARCHAR),
           who || ' is authorised for ' || policy_domain || ' but ' || messages
           || ' messages of ' || day || ' failed DMARC: ' || fix
           || CASE WHEN days > 1 AND (SELECT runs FROM runs) = 0
                   THEN ' (and on ' || (days - 1) || ' earlier days, before the first alerts run)'
                   ELSE '' END
    FROM (
        SELECT *, count(*) OVER sender AS days, max(day) OVER sender AS last_day
        FROM (
            SELECT c.policy_domain, coalesce(c.named_sender, c.source_ip) AS who,
                   alert_day(c.begin_time, c.end_time) AS day, sum(c.count) AS messages,
                   any_value(c.fix) AS fix
            FROM alertable c
            JOIN reports r ON r.id = c.report
            WHERE c.class = 'authorised_failing'
              AND news_since(coalesce((SELECT last_run FROM runs), TIMESTAMP '1970-01-01'),
                             r.ingested_at, c.end_time)
            GROUP BY ALL
            HAVING sum(c.count) > 0    -- a record of no messages is no failure
        )
        WINDOW sender AS (PARTITION BY policy_domain, who)
    )
    -- The first run, over the history already stored, raises a sender's latest failing day
    -- and counts the others in its message, instead of one alert per day of the history.
    WHERE (SELECT runs FROM runs) > 0 OR day = last_day
    UNION ALL
    SELECT 'pass_rate_drop', policy_domain, policy_domain, CAST(day AS VARCHAR),
           'DMARC pass rate of ' || policy_domain || ' on ' || day || ': '
           || round(100 * day_pass / day_messages, 1) || '% against '
           || round(100 * base_pass / base_messages, 1) || '% over the 14 days before'
    FROM (
        SELECT d.policy_domain, l.day,
               sum(d.messages) FILTER (WHERE d.day = l.day)                         AS day_messages,
               sum(d.pass) FILTER (WHERE d.day = l.day)                             AS day_pass,
               sum(d.messages) FILTER (WHERE d.day < l.day AND d.day >= l.day - 14) AS base_messages,
               sum(d.pass) FILTER (WHERE d.day < l.day AND d.day >= l.day - 14)     AS base_pass
        FROM (SELECT policy_domain, alert_day(begin_time, end_time) AS day, sum(count) AS messages,
                     coalesce(sum(count) FILTER (WHERE dmarc_pass), 0) AS pass
              FROM alertable WHERE one_day(begin_time, end_time) GROUP BY ALL) d
        JOIN judged_days l USING (policy_domain)
        GROUP BY ALL
    )
    WHERE day_messages >= getvariable('min_messages')
      AND base_messages >= getvariable('min_messages')
      AND base_pass / base_messages - day_pass / day_messages >= getvariable('drop_threshold')
    UNION ALL
    SELECT 'reporter_pass_rate_drop', policy_domain, reporter, CAST(day AS VARCHAR),
           'DMARC pass rate of ' || policy_domain || ' at ' || reporter || ' on ' || day || ': '
           || round(100 * day_pass / day_messages, 1) || '% against '
           || round(100 * base_pass / base_messages, 1) || '% at the same reporter over the 14 days before'
    FROM (
        SELECT d.policy_domain, d.reporter, l.day,
               sum(d.messages) FILTER (WHERE d.day = l.day)                         AS day_messages,
               sum(d.pass) FILTER (WHERE d.day = l.day)                             AS day_pass,
               sum(d.messages) FILTER (WHERE d.day < l.day AND d.day >= l.day - 14) AS base_messages,
               sum(d.pass) FILTER (WHERE d.day < l.day AND d.day >= l.day - 14)     AS base_pass
        FROM (SELECT policy_domain, reporter, alert_day(begin_time, end_time) AS day,
                     sum(count) AS messages, coalesce(sum(count) FILTER (WHERE dmarc_pass), 0) AS pass
              FROM alertable WHERE one_day(begin_time, end_time) GROUP BY ALL) d
        JOIN reporter_judged_days l USING (policy_domain, reporter)
        GROUP BY ALL
    )
    WHERE day_messages >= getvariable('min_messages')
      AND base_messages >= getvariable('min_messages')
      AND base_pass / base_messages - day_pass / day_messages >= getvariable('drop_threshold')
    UNION ALL
    SELECT 'new_dkim_selector', any_value(policy_domain), key, NULL,
           'new DKIM key ' || key || ' signing for ' || any_value(policy_domain) || ': '
           || sum(count) || ' messages from ' || count(DISTINCT source_ip) || ' addresses'
    FROM own_keys
    WHERE policy_domain IN (FROM known_domains)
      AND key NOT IN (SELECT item FROM seen WHERE kind = 'dkim_selector')
    GROUP BY key
    UNION ALL
    SELECT 'dkim_selector_silent', k.policy_domain, k.key, CAST(k.last_day AS VARCHAR),
           'DKIM key ' || k.key || ' signed ' || round(100 * k.signed / k.messages, 1)
           || '% of the mail of ' || k.policy_domain || ' in the 14 days up to ' || k.last_day
           || ', and nothing since (latest report ' || strftime(period_day(n.newest), '%Y-%m-%d')
           || '): a key rotated out, or a signer that broke'
    FROM key_shares k
    JOIN (SELECT policy_domain, max(end_time) AS newest FROM alertable GROUP BY ALL) n
      USING (policy_domain)
    JOIN usual_gaps g ON g.kind = 'key' AND g.policy_domain = k.policy_domain AND g.item = k.key
    WHERE k.days >= 3
      AND k.signed >= getvariable('selector_share') * k.messages
      AND k.last_end < n.newest - to_days(greatest(CAST(getvariable('silent_days') AS INTEGER),
                                                   CAST(g.usual_gap AS INTEGER)))
    UNION ALL
    SELECT 'reporter_silent', r.policy_domain, r.reporter,
           strftime(period_day(r.last_end), '%Y-%m-%d'),
           r.reporter || ' reported ' || r.policy_domain || ' on ' || r.days
           || ' days, but not since ' || strftime(period_day(r.last_end), '%Y-%m-%d')
           || ' (latest report ' || strftime(period_day(n.newest), '%Y-%m-%d') || ')'
    FROM (SELECT policy_domain, reporter,
                 count(DISTINCT alert_day(begin_time, end_time)) AS days, max(end_time) AS last_end
          FROM alertable GROUP BY ALL) r
    JOIN (SELECT policy_domain, max(end_time) AS newest FROM alertable GROUP BY ALL) n
      USING (policy_domain)
    JOIN usual_gaps g
      ON g.kind = 'reporter' AND g.policy_domain = r.policy_domain AND g.item = r.reporter
    WHERE r.days >= 3
      AND r.last_end < n.newest - to_days(greatest(CAST(getvariable('silent_days') AS INTEGER),
                                                   CAST(g.usual_gap AS INTEGER)))
    UNION ALL
    -- Compared with the newest genuine report of the other domains, in scope or not, rather
    -- than with the clock: while other domains' reports keep coming, one domain's stopping is
    -- its own (reports_stopped covers all of them stopping). Only a domain reported on most
    -- days (7 of the 14 up to its last report): one that sends mail now and then falls silent
    -- in between. Not in a run narrowed by anything but the domain (reporter, period,
    -- address, sender ...): its records cannot show that a domain stopped.
    SELECT 'domain_silent', d.policy_domain, d.policy_domain,
           strftime(period_day(d.last_end), '%Y-%m-%d'),
           'no report for ' || d.policy_domain || ' since '
           || strftime(period_day(d.last_end), '%Y-%m-%d') || ', after reports on ' || d.days
           || ' of the 14 days before, while other domains'' reports go on (latest '
           || strftime(period_day(max(n.end_time)), '%Y-%m-%d') || '): it sent no mail since, '
           || 'or its DMARC record or rua= address broke'
    FROM (SELECT a.policy_domain, any_value(l.last_end) AS last_end,
                 count(DISTINCT alert_day(a.begin_time, a.end_time)) AS days
          FROM alertable a
          JOIN (SELECT policy_domain, max(end_time) AS last_end FROM alertable GROUP BY ALL) l
            USING (policy_domain)
          WHERE a.begin_time >= l.last_end - INTERVAL 14 DAY
          GROUP BY ALL) d
    JOIN (SELECT domain, end_time FROM reports
          WHERE id NOT IN (FROM not_genuine_reports)
            AND end_time <= getvariable('now') + INTERVAL 1 DAY) n
      ON n.domain <> d.policy_domain
    WHERE d.days >= 7
      AND getvariable('reporter') IS NULL AND getvariable('since') IS NULL
      AND getvariable('until') IS NULL AND NOT narrowed_to_sources()
    GROUP BY d.policy_domain, d.last_end, d.days
    HAVING d.last_end < max(n.end_time) - to_days(CAST(getvariable('silent_days') AS INTEGER))
    UNION ALL
    SELECT 'tls_failing', policy_domain, policy_domain, CAST(day AS VARCHAR),
           'SMTP TLS to ' || policy_domain || ' on ' || day || ': ' || failed || ' of '
           || (successful + failed) || ' sessions failed ('
           || round(100 * failed / (successful + failed), 1) || '%)'
           || coalesce(': ' || failures, '') || '; reported by ' || reporters
           || CASE WHEN days > 1 AND (SELECT runs FROM runs) = 0
                   THEN ' (and on ' || (days - 1) || ' earlier days, before the first alerts run)'
                   ELSE '' END
    FROM (
        SELECT d.*, f.failures, count(*) OVER domain AS days, max(d.day) OVER domain AS last_day
        FROM tls_days d
        LEFT JOIN tls_day_failures f USING (policy_domain, day)
        WHERE d.failed >= greatest(getvariable('tls_min_failures'), 1)
          AND d.failed >= getvariable('tls_failure_threshold') * (d.successful + d.failed)
        WINDOW domain AS (PARTITION BY d.policy_domain)
    )
    WHERE (SELECT runs FROM runs) > 0 OR day = last_day
    UNION ALL
    SELECT 'reports_stopped', NULL, 'reports', strftime(max(ingested_at), '%Y-%m-%d %H:%M'),
           'no report has arrived since ' || strftime(max(ingested_at), '%Y-%m-%d %H:%M') || ' UTC'
    FROM reports
    HAVING max(ingested_at) < getvariable('now') - to_hours(CAST(getvariable('stopped_hours') AS INTEGER))
    UNION ALL
    SELECT 'policy_changed', domain, domain, policy_shown(before) || ' -> ' || policy_shown(policy),
           'published policy of ' || domain || ' changed: ' || policy_shown(before) || ' -> '
           || policy_shown(policy)
    FROM policy_state
    WHERE policy_differs(before, policy)
)
SELECT c.*
FROM candidates c
WHERE c.value IS NULL OR c.kind = 'policy_changed'
   OR NOT EXISTS (SELECT 1 FROM seen s
                  WHERE s.kind = c.kind AND s.item = c.subject AND s.value = c.value
                    -- state recorded before alerts kept the domain stands for every domain
                    AND (s.domain IS NULL OR s.domain = coalesce(c.domain, '')))
ORDER BY c.kind, c.domain, c.subject;
