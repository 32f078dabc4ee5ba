-- `policy_in_force`: per policy domain of the selection, the DMARC policy published today,
-- which a stricter one would replace, and where duckmarc learnt it (`policy_source`):
--   dns      the record itself, as DNS answered it (table dmarc_records, filled by `enrich`
--            unless --no-dns; the same resolver options as naming)
--   reports  inferred from what receivers reported. RFC 9990 section 3.1.1.5: in
--            <policy_published> "unspecified tags have their default values", so Google,
--            Microsoft, GMX, Mail.Ru ... write sp equal to p when the record has none, and
--            adkim/aspf r, pct 100, fo 0. A reported value is evidence that it was published
--            only where it differs from its default or inherited value (sp = p, np = sp,
--            adkim/aspf = r, pct = 100).
-- Each reporter's latest report is read whole; each tag is then what the most recent of
-- those that states it says, among those that show the latest p (reports of the same day:
-- the value that enforces less, t=y, the lower pct, an sp or np of its own), so a receiver that has not reported since a change does not
-- outvote newer reports: a month-old t=y does not outlast the t=n written since. Reports
-- shown not to be genuine (selection.sql) say nothing about the policy, and a report
-- dated ahead of its arrival (a clock set ahead) counts as older than every other.
-- sp_published / np_published: the record has its own sp / np, which a new p does not change.
-- NULL where the reports cannot tell (no reporter wrote a value that differs from p): then
-- subdomain mail is counted as covered by p, the safe side, and `report readiness` says so.
-- pct is historic under RFC 9989 (section 9.3) but RFC 7489 receivers still sample by it.
CREATE OR REPLACE TEMP MACRO policy_rank(policy) AS
    CASE policy WHEN 'reject' THEN 2 WHEN 'quarantine' THEN 1 ELSE 0 END;

-- Whether a report is in RFC 9990's format, which has np, testing and discovery_method and no
-- pct (RFC 9989 section 9.3 removed it), rather than RFC 7489's (appendix C), which requires
-- pct and has no np or testing. A tag its report's format cannot hold says nothing of the
-- record: it is unknown, not its default value (a GMX report in the old format, then the new
-- one, showed "np=none -> np=reject" for a record that never changed).
CREATE OR REPLACE TEMP MACRO rfc9990_format(pct, np, testing, discovery_method) AS
    pct IS NULL OR np IS NOT NULL OR testing IS NOT NULL OR discovery_method IS NOT NULL;

-- A tag of a policy text ('p=reject sp=none ...'; '-' and a missing tag: NULL).
CREATE OR REPLACE TEMP MACRO policy_tag(text, tag) AS
    nullif(nullif(regexp_extract(text, '(?:^| )' || tag || '=(\S+)', 1), ''), '-');

-- A policy text as people read it: without the tags no report could show.
CREATE OR REPLACE TEMP MACRO policy_shown(text) AS
    regexp_replace(text, ' [a-z]+=\?', '', 'g');

-- Whether two policy texts (each tag in the same order, as policy_text and changes.sql
-- write them) differ in a tag both know: '?' is a tag the reports behind a text could not
-- show (rfc9990_format), which is no change. Each text is named once: a macro expands its
-- arguments wherever they appear, and a policy worked out from DNS and reports named 56
-- times made `alerts` three times slower.
CREATE OR REPLACE TEMP MACRO policy_differs(a, b) AS
    list_bool_or(list_transform(
        list_zip(string_split(a, ' '), string_split(b, ' ')),
        lambda pair: pair[1] <> pair[2] AND NOT suffix(pair[1], '=?')
                     AND NOT suffix(pair[2], '=?')));


CREATE OR REPLACE TEMP VIEW policy_in_force AS
WITH selected_reports AS (
    SELECT * FROM reports WHERE in_selection(domain, begin_time, end_time, org_name)
),
-- A report whose period ends more than a day after it arrived (a clock set ahead) ranks
-- below every other (several such by when they arrived): otherwise it outvotes every
-- report written after it, even when a backlog arrives in one run.
-- `as_of`: the middle of its period, the time its policy is evidence for: a weekly report
-- that ends at midnight saw the policy of its week, not of the day a daily report ending a
-- second earlier saw (which outvoted the newer daily reports, and alerts said the policy
-- went back and forth).
-- A reporter that writes no <testing> (optional in RFC 9990 section 3.1.1.5, absent from
-- RFC 7489's reports) but exempted mail by `policy_test_mode` ("the testing mode ("t" tag)
-- in the DMARC Policy Record", section 3.1.6) in any of its selected reports of the same p
-- says t=y in each of them: a day without such mail (nothing failing) is no sign of t=n.
genuine_reports AS (
    SELECT * EXCLUDE (ahead, test_mode) REPLACE (
               CASE WHEN ahead THEN ingested_at - INTERVAL 100 YEAR ELSE end_time END
                   AS end_time,
               CASE WHEN testing IS NULL AND test_mode THEN 'y' ELSE testing END AS testing),
           CASE WHEN ahead THEN ingested_at - INTERVAL 100 YEAR
                ELSE period_middle(begin_time, end_time)
           END AS as_of
    FROM (SELECT *, end_time > ingested_at + INTERVAL 1 DAY AS ahead,
                 rfc9990_format(pct, np, testing, discovery_method) AS rfc9990,
                 bool_or(id IN (SELECT report FROM override_reasons
                                WHERE lower(type) = 'policy_test_mode'))
                     OVER (PARTITION BY domain, lower(org_name), p) AS test_mode
          FROM selected_reports
          WHERE id NOT IN (FROM not_genuine_reports))
),
-- The whole latest report of each reporter: a tag it leaves out has its default value
-- (RFC 9990 section 3.1.1.5), so it must not come from that reporter's older reports
-- (arg_max skips NULLs: taken value by value, it would).
latest_by_reporter AS (
    SELECT domain, org_name, end_time, as_of, id, latest.p, latest.sp, latest.np, latest.pct,
           latest.testing, latest.adkim, latest.aspf, latest.rfc9990
    FROM (
        SELECT domain, org_name, max(end_time) AS end_time, arg_max(id, (end_time, id)) AS id,
               arg_max(as_of, (end_time, id)) AS as_of,
               arg_max({'p': p, 'sp': sp, 'np': np, 'pct': pct, 'testing': testing,
                        'adkim': adkim, 'aspf': aspf, 'rfc9990': rfc9990},
                       (end_time, id)) AS latest
        FROM genuine_reports
        GROUP BY domain, org_name
    )
),
-- The p of the newest report; of reporters whose newest reports are of the same day and
-- disagree (one still caching the old record), the least enforcing that states one, as for
-- pct and t below: the reports cannot tell which record is in force, and the order they
-- were stored in decided it.
latest_p AS (
    SELECT domain, arg_max({'p': p}, (CAST(as_of AS DATE), p IS NOT NULL, -policy_rank(p), as_of, id)).p AS p,
           max(period_day(end_time))                      AS reported_through
    FROM latest_by_reporter
    GROUP BY domain
),
stated AS (
    SELECT
        r.domain,
        any_value(c.p)                                                              AS p,
        any_value(c.reported_through)                                               AS reported_through,
        arg_max(r.sp, (period_day(r.end_time), r.sp <> c.p, r.end_time, r.id))
            FILTER (WHERE r.sp IS NOT NULL)                                         AS sp,
        arg_max(r.np, (period_day(r.end_time), r.np <> coalesce(r.sp, c.p), r.end_time, r.id))
            FILTER (WHERE r.np IS NOT NULL)                                         AS np,
        arg_max(r.pct, (period_day(r.end_time), -r.pct, r.end_time, r.id))
            FILTER (WHERE r.pct IS NOT NULL)                                        AS pct,
        arg_max(r.testing, (period_day(r.end_time), r.testing = 'y', r.end_time, r.id))
            FILTER (WHERE r.testing IS NOT NULL)                                    AS testing,
        arg_max(r.adkim, (period_day(r.end_time), r.adkim = 's', r.end_time, r.id))
            FILTER (WHERE r.adkim IS NOT NULL)                                      AS adkim,
        arg_max(r.aspf, (period_day(r.end_time), r.aspf = 's', r.end_time, r.id))
            FILTER (WHERE r.aspf IS NOT NULL)                                       AS aspf,
        bool_or(r.rfc9990)                                                          AS shows_np,
        bool_or(NOT r.rfc9990)                                                      AS shows_pct
    FROM latest_by_reporter r
    JOIN latest_p c ON c.domain = r.domain AND r.p IS NOT DISTINCT FROM c.p
    GROUP BY r.domain
),
-- A value equal to its default or inherited one is no evidence that it was published. A
-- domain whose every report was shown not to be genuine is kept, its policy unknown.
from_reports AS (
    SELECT
        domain,
        p,
        CASE WHEN sp <> p THEN sp END                                               AS sp,
        CASE WHEN np <> coalesce(CASE WHEN sp <> p THEN sp END, p) THEN np END      AS np,
        CASE WHEN pct <> 100 THEN pct END                                           AS pct,
        CASE WHEN testing = 'y' THEN 'y' END                                        AS testing,
        coalesce(adkim, 'r')                                                        AS adkim,
        coalesce(aspf, 'r')                                                         AS aspf,
        NOT coalesce(shows_np, false)                                               AS np_unknown,
        NOT coalesce(shows_np, false) AND testing IS DISTINCT FROM 'y'              AS testing_unknown,
        NOT coalesce(shows_pct, false)                                              AS pct_unknown,
        reported_through
    FROM (SELECT DISTINCT domain FROM selected_reports) LEFT JOIN stated USING (domain)
),
-- What DNS answered, when it answered: a record (`found`), or none or several, which are
-- no policy at all (RFC 9989 section 4.10): then p is NULL, whatever old reports say. An
-- answer counts while it is the newest evidence: once genuine reports cover a period ending
-- more than a day after it was asked (DNS off since, or not answering), they show what
-- receivers found since, and the policy comes from them.
dns AS (
    SELECT d.*
    FROM dmarc_records d
    LEFT JOIN (
        SELECT domain, max(end_time) AS newest
        FROM reports
        WHERE id NOT IN (FROM not_genuine_reports)
          AND end_time <= ingested_at + INTERVAL 1 DAY   -- not dated ahead
        GROUP BY domain
    ) n USING (domain)
    WHERE n.newest IS NULL OR d.checked_at + INTERVAL 1 DAY >= n.newest
)
SELECT
    r.domain                                                        AS policy_domain,
    CASE WHEN d.domain IS NULL THEN 'reports' ELSE 'dns' END        AS policy_source,
    CASE WHEN d.domain IS NULL THEN r.p
         WHEN d.status IN ('found', 'invalid') THEN coalesce(d.p, 'none') END AS p,
    CASE WHEN d.domain IS NULL THEN r.sp ELSE d.sp END              AS sp,
    CASE WHEN d.domain IS NOT NULL THEN d.sp IS NOT NULL
         WHEN r.sp IS NOT NULL THEN true END                        AS sp_published,
    CASE WHEN d.domain IS NULL THEN r.np ELSE d.np END              AS np,
    CASE WHEN d.domain IS NOT NULL THEN d.np IS NOT NULL
         WHEN r.np IS NOT NULL THEN true END                        AS np_published,
    CASE WHEN d.domain IS NULL THEN r.pct ELSE d.pct END            AS pct,
    CASE WHEN d.domain IS NULL THEN r.testing ELSE d.testing END    AS testing,
    CASE WHEN d.domain IS NULL THEN r.adkim ELSE coalesce(d.adkim, 'r') END AS adkim,
    CASE WHEN d.domain IS NULL THEN r.aspf ELSE coalesce(d.aspf, 'r') END   AS aspf,
    -- Tags no report behind a policy from the reports could show (rfc9990_format).
    d.domain IS NULL AND r.np_unknown                               AS np_unknown,
    d.domain IS NULL AND r.testing_unknown                          AS testing_unknown,
    d.domain IS NULL AND r.pct_unknown                              AS pct_unknown,
    d.record                                                        AS dmarc_record,
    d.status                                                        AS dns_status,
    d.found_at                                                      AS policy_found_at,
    d.several_at                                                    AS several_records_at,
    -- A record found at a public suffix is its registry's; rows of an older duckmarc know
    -- only that a single label is a top-level domain.
    coalesce(d.found_at_public_suffix, NOT contains(d.found_at, '.'))
                                                                    AS policy_found_at_registry,
    -- The last day the reports behind a policy from the reports cover (NULL from DNS):
    -- receivers that disagree on that day (a record cached across a change) are no change.
    CASE WHEN d.domain IS NULL THEN r.reported_through END          AS reported_through
FROM from_reports r
LEFT JOIN dns d ON d.domain = r.domain;

-- The subdomain policy of `policy_domain` (a struct: sp_published, sp, np_published, np),
-- from the variables policy_variables.sql sets.
CREATE OR REPLACE TEMP MACRO subdomain_policy(policy_domain) AS
    map_extract(getvariable('subdomain_policies'), policy_domain)[1];

-- Whether mail from a subdomain would be quarantined or rejected once the domain publishes
-- the target policy (p=quarantine or p=reject, no pct, t=n), by the tag that covers it
-- (RFC 9989 section 4.10.1): `sp` for an existing subdomain, `np` for one DNS says does not
-- exist (section 3.2.13). A new p changes sp and np only where they are not published on
-- their own; a published sp=none keeps subdomain mail out. (Mail from the policy domain
-- itself is covered by the new p.) Both targets hit the same messages (whatever covers a
-- message is at least quarantine, or it is not hit); they differ in what happens to them.
CREATE OR REPLACE TEMP MACRO covered_by_target(covered_by, policy) AS
    CASE WHEN covered_by = 'np' AND coalesce(struct_extract(policy, 'np_published'), false)
              THEN policy_rank(struct_extract(policy, 'np')) >= 1
         ELSE NOT coalesce(struct_extract(policy, 'sp_published'), false)
              OR policy_rank(struct_extract(policy, 'sp')) >= 1
    END;
