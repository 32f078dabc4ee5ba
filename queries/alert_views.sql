-- What `duckmarc alerts` reads (queries/alerts.sql), after the selection and classes
-- (selection.sql, policy.sql, classes.sql). duckmarc sets `alert_scope`: the run's filters as
-- one text ('' without any), since alert state is kept per scope (alert_seen.scope,
-- alert_runs.scope): a run for one domain neither records nor compares another's.

-- The records an alert may come from: reports whose e-mail was shown not to be genuine
-- (selection.sql's not_genuine_reports) raise nothing on their own, and a report of a period
-- that has not ended yet (a day of slack) is no news of what happened (one dated a year
-- ahead made every reporter look silent and no day complete). Kept as a table: every alert
-- reads it, and the run judges this one snapshot.
CREATE OR REPLACE TEMP TABLE alertable AS
SELECT * FROM classified
WHERE report NOT IN (FROM not_genuine_reports)
  AND end_time <= getvariable('now') + INTERVAL 1 DAY;

-- The SMTP TLS report policies (RFC 8460) an alert may come from, held back as alertable
-- holds records back while their period has not ended, and as for aggregate reports, none of
-- a report whose e-mail was shown not to be genuine. TLS reports count sessions per policy,
-- not per sending address, so a run narrowed by address, sender, country or AS judges none.
CREATE OR REPLACE TEMP TABLE alertable_tls AS
SELECT p.*, r.ingested_at
FROM selected_tls_policies p
JOIN tls_reports r ON r.id = p.report
WHERE p.end_time <= getvariable('now') + INTERVAL 1 DAY
  AND r.authenticity NOT IN ('fail', 'mismatch', 'none')
  AND NOT narrowed_to_sources();

-- The day a report's mail is counted on: the UTC day of the middle of its period, so a
-- receiver whose day runs 23:00 to 23:00 UTC (midnight in central Europe) dates its report
-- by the day it mostly covers, not by the evening before, and an hourly report by its hour.
CREATE OR REPLACE TEMP MACRO alert_day(begin_time, end_time) AS
    CAST(period_middle(begin_time, end_time) AS DATE);

-- Whether a report covers a day or less. One covering several (a week's) cannot tell on which
-- of them its mail came, so it is left out of the comparisons day by day.
CREATE OR REPLACE TEMP MACRO one_day(begin_time, end_time) AS
    end_time <= begin_time + INTERVAL 26 HOUR;

-- Whether a record is news since the run at `last_run`: its report arrived since, or its
-- period had not ended by then (alertable held it back, a report whose period ends more
-- than a day after that run), so that run did not judge it.
CREATE OR REPLACE TEMP MACRO news_since(last_run, ingested_at, end_time) AS
    ingested_at > last_run OR end_time > last_run + INTERVAL 1 DAY;

-- The state of earlier runs in this scope.
CREATE OR REPLACE TEMP VIEW seen AS
SELECT kind, item, value, domain, seen_at, as_of FROM alert_seen
WHERE scope = getvariable('alert_scope');

-- A policy as one text, each tag only where it says more than its default or inherited
-- value: sp equal to p, np equal to sp (else p), pct 100, t=n and adkim/aspf r are the same
-- policy. DNS gives the record as written and reports write defaults out (Google's sp=none)
-- or leave them out (Yahoo's), so the same record reads the same from either source. '?'
-- (np, pct, t): no report behind the policy could show it (policy.sql's rfc9990_format).
CREATE OR REPLACE TEMP MACRO policy_text(p, sp, np, pct, testing, adkim, aspf) AS
    'p=' || coalesce(p, '-')
    || ' sp=' || coalesce(CASE WHEN sp <> coalesce(p, '') THEN sp END, '-')
    || ' np=' || coalesce(CASE WHEN np <> coalesce(sp, p, '') THEN np END, '-')
    || ' pct=' || coalesce(CASE WHEN pct <> '100' THEN pct END, '-')
    || ' t=' || CASE WHEN testing IN ('y', '?') THEN testing ELSE '-' END
    || ' adkim=' || coalesce(adkim, 'r') || ' aspf=' || coalesce(aspf, 'r');

-- A policy text recorded by an earlier run, written as policy_text writes it now (earlier
-- runs wrote DNS's tags as published: sp=reject beside p=reject, pct=100, t=n).
CREATE OR REPLACE TEMP MACRO normalized_policy(text) AS
    CASE WHEN text IS NOT NULL THEN
        policy_text(policy_tag(text, 'p'), policy_tag(text, 'sp'), policy_tag(text, 'np'),
                    policy_tag(text, 'pct'), policy_tag(text, 't'),
                    policy_tag(text, 'adkim'), policy_tag(text, 'aspf'))
    END;

-- Each domain's published policy as one text, from the policy in force (policy.sql): the
-- DNS record when it is the newest evidence, else what the reports show.
CREATE OR REPLACE TEMP VIEW policies AS
SELECT policy_domain AS domain,
       policy_text(p, sp, CASE WHEN np_unknown THEN '?' ELSE np END,
                   CASE WHEN pct_unknown THEN '?' ELSE CAST(pct AS VARCHAR) END,
                   CASE WHEN testing_unknown THEN '?' ELSE testing END, adkim, aspf) AS policy,
       reported_through AS as_of
FROM policy_in_force;

-- Each domain's policy as the runs know it: this run's, unless it comes from reports of no
-- later day than the policy recorded before (`as_of`). Receivers disagree on the day a
-- record changes (one cached the old record, RFC 9990 section 3.1.1.5: each reports what it
-- found), and a report of that day arriving later is no change back; the next day's
-- reports settle it. `before`: the policy recorded by the last run (NULL on the first).
CREATE OR REPLACE TEMP VIEW policy_state AS
SELECT domain, before,
       CASE WHEN changes THEN policy ELSE before END        AS policy,
       CASE WHEN changes THEN as_of ELSE before_as_of END   AS as_of
FROM (
    SELECT l.domain, l.policy, l.as_of, normalized_policy(s.value) AS before,
           s.as_of AS before_as_of,
           s.value IS NULL OR l.as_of IS NULL OR s.as_of IS NULL OR l.as_of > s.as_of AS changes
    FROM policies l
    LEFT JOIN seen s ON s.kind = 'policy' AND s.item = l.domain
);

-- The domains' own DKIM keys at work: passing signatures whose signing domain is the policy
-- domain's (selection.sql's signatures_of), each key named as its DNS record
-- (selector._domainkey.signing-domain). A result without its selector (optional in RFC
-- 7489's reports) names no key: no key comes or goes with it.
CREATE OR REPLACE TEMP TABLE own_keys AS
SELECT policy_domain, selector || '._domainkey.' || signing_domain AS key, report, source_ip,
       count, begin_time, end_time
FROM signatures_of('alertable')
WHERE passed AND own_domain AND selector <> '';

-- The alertable records by what new_source and new_sender judge in them (kind 'source': the
-- sending address; 'sender': its name, where it has one), for each domain that earlier runs
-- have not seen the item send as.
CREATE OR REPLACE TEMP VIEW unseen_items AS
SELECT i.*
FROM (
    SELECT 'source' AS kind, source_ip AS item, policy_domain, source_ip, named_sender, count,
           dmarc_pass
    FROM alertable
    UNION ALL
    SELECT 'sender', named_sender, policy_domain, source_ip, named_sender, count, dmarc_pass
    FROM alertable
    WHERE named_sender IS NOT NULL
) i
ANTI JOIN seen s ON s.kind = i.kind AND s.item = i.item AND s.domain = i.policy_domain;

-- What this run saw, for the next run to compare with (queries/alerts_record.sql stores it):
-- the new sources and senders of each domain, the new DKIM keys in its scope, and each
-- domain's policy. Sources and senders are known per domain: an ESP's address known for one
-- domain that starts sending as another is news to that other domain's owner.
CREATE OR REPLACE TEMP VIEW seen_now AS
SELECT DISTINCT kind, item, policy_domain AS domain, NULL AS value, NULL::DATE AS as_of
FROM unseen_items
UNION ALL
SELECT 'dkim_selector', key, NULL, NULL, NULL
FROM (SELECT DISTINCT key FROM own_keys)
WHERE key NOT IN (SELECT item FROM seen WHERE kind = 'dkim_selector')
UNION ALL
SELECT 'policy', domain, NULL, policy, as_of FROM policy_state;
