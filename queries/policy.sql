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
-- Reports are read as each reporter's latest one, among those that show the latest p, so an
-- old report of a receiver that has not reported since a change does not count.
-- sp_published / np_published: the record has its own sp / np, which a new p does not change.
-- NULL where the reports cannot tell (no reporter wrote a value that differs from p): then
-- subdomain mail is counted as covered by p, the safe side, and `report readiness` says so.
-- pct is historic under RFC 9989 (section 9.3) but RFC 7489 receivers still sample by it.
CREATE OR REPLACE TEMP MACRO policy_rank(policy) AS
    CASE policy WHEN 'reject' THEN 2 WHEN 'quarantine' THEN 1 ELSE 0 END;

CREATE OR REPLACE TEMP VIEW policy_in_force AS
WITH selected_reports AS (
    SELECT * FROM reports WHERE in_selection(domain, begin_time, end_time, org_name)
),
-- The whole latest report of each reporter (arg_max skips NULLs: taken value by value, a
-- tag the latest report leaves out would come from an older one).
latest_by_reporter AS (
    SELECT domain, org_name, end_time, id, latest.p, latest.sp, latest.np, latest.pct,
           latest.testing, latest.adkim, latest.aspf
    FROM (
        SELECT domain, org_name, max(end_time) AS end_time, arg_max(id, (end_time, id)) AS id,
               arg_max({'p': p, 'sp': sp, 'np': np, 'pct': pct, 'testing': testing,
                        'adkim': adkim, 'aspf': aspf}, (end_time, id)) AS latest
        FROM selected_reports
        GROUP BY domain, org_name
    )
),
latest_p AS (
    SELECT domain, arg_max({'p': p}, (end_time, id)).p AS p
    FROM latest_by_reporter
    GROUP BY domain
),
from_reports AS (
    SELECT
        l.domain,
        any_value(c.p)                                                             AS p,
        arg_max(l.sp, l.end_time) FILTER (WHERE l.sp IS NOT NULL AND l.sp <> c.p)   AS sp,
        arg_max(l.np, l.end_time)
            FILTER (WHERE l.np IS NOT NULL AND l.np <> coalesce(l.sp, c.p))         AS np,
        arg_max(l.pct, l.end_time) FILTER (WHERE l.pct <> 100)                     AS pct,
        CASE WHEN bool_or(l.testing = 'y') THEN 'y' END                            AS testing,
        CASE WHEN bool_or(l.adkim = 's') THEN 's' ELSE 'r' END                     AS adkim,
        CASE WHEN bool_or(l.aspf = 's') THEN 's' ELSE 'r' END                      AS aspf
    FROM latest_by_reporter l
    JOIN latest_p c ON c.domain = l.domain AND l.p IS NOT DISTINCT FROM c.p
    GROUP BY l.domain
),
-- What DNS answered, when it answered: a record (`found`), or none or several, which are
-- no policy at all (RFC 9989 section 4.10): then p is NULL, whatever old reports say.
dns AS (
    SELECT * FROM dmarc_records
)
SELECT
    r.domain                                                        AS policy_domain,
    CASE WHEN d.domain IS NULL THEN 'reports' ELSE 'dns' END        AS policy_source,
    CASE WHEN d.domain IS NULL THEN r.p
         WHEN d.status = 'found' THEN coalesce(d.p, 'none') END     AS p,
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
    d.record                                                        AS dmarc_record,
    d.status                                                        AS dns_status
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
