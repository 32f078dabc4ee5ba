-- `classified`: every selected record with its class, answering "is this mail mine?".
-- Authorised senders come from the config's [[authorised]] entries, which duckmarc loads
-- into the temp table authorised_rules (domain: NULL for every domain, else the domain and
-- its subdomains, matched on each record's From domain; kind: sender / base_domain / dkim /
-- network; value; low/high for networks).
-- A domain with no entry gets an inferred list: mail with aligned, passing DKIM for it is
-- "probably yours" (`inferred` says so).
-- The rules, first match wins (the README's table "Classes" follows this order):
--   1 compliant            listed as authorised, passes DMARC
--   2 authorised_failing   listed as authorised, fails DMARC (`fix` says what to fix)
--   3 compliant            no list: DKIM aligns and passes for the domain (its own servers,
--                          missing from SPF or not), in a report not shown to be forged (a
--                          report that fails authenticity makes nothing yours)
--   4 forwarded            evidence of a forwarder or mailing list in the report:
--                          a receiver override the receiver keeps applying for forwarded mail
--                          (trusted_forwarder, mailing_list: RFC 9990 section 3.1.6;
--                          forwarded: RFC 7489 appendix C), Google's ARC override (local_policy with "arc=pass" in its
--                          comment: the message's ARC chain vouched for an earlier pass);
--                          the domain's own DKIM signature present but failing while another
--                          party's DKIM or SPF passes (a list that changed the message and
--                          signed or relayed it itself, RFC 9989 section 7.4); aligned DKIM
--                          passing with SPF failing (a plain forward: DKIM survives a relay,
--                          SPF does not, RFC 7960 section 3.2.1)
--   5 unauthorised         fails DMARC, none of the above: spoofing, or a sender not listed
--   6 unknown              passes DMARC but is not on your list
-- `would_block` says whether publishing p=quarantine or p=reject (no pct, t=n) would
-- quarantine or reject the record (queries/policy.sql has the policy it replaces,
-- subdomain_policy and covered_by_target): failing mail, covered by the new policy or already quarantined or
-- rejected, except where the receiver let it through by an override it keeps applying under
-- any policy (forwarded, trusted_forwarder, mailing_list, local_policy). The overrides that
-- vanish under the target (sampled_out: pct; policy_test_mode: t=y) and `other` do not
-- exempt. It needs no names or rules, so it is in the view `blockable`, which reports that
-- need only it read.
-- They are table macros over any relation with the columns of `selected` (by name), so a
-- report can classify the few records it shows instead of all of them: `classes_of('chosen')`
-- (class, fix, would_block ...), `classified_of('chosen')` (the same with who the source is,
-- named_*, from source_names); the views `blockable` and `classified` are all of `selected`.
CREATE OR REPLACE TEMP MACRO blockable_of(rows) AS TABLE
-- From the record's own columns, worked out at ingest (src/transform/coverage.rs):
-- kept_override (the receiver's override is one it keeps applying), forwarding_override (a
-- forwarder, list or ARC override) and from_subdomain (sp or np covers it, not p; neither
-- that nor the policy domain itself: another domain's policy covers it).
-- CASE decides branch by branch on the rows left, so only failing subdomain mail pays for
-- the lookups (policy.sql).
SELECT
    *,
    -- Mail from another organisation's From domain, in this domain's report (a receiver
    -- filing it under the wrong record): that domain's own policy governs it (RFC 9989
    -- section 4.10), not this one's, and no list for this domain is needed to judge it.
    NOT from_subdomain AND header_from IS NOT NULL
        AND lower(rtrim(header_from, '.')) <> policy_domain          AS from_elsewhere,
    -- Subdomain mail counted as covered only because the reports cannot show whether sp
    -- is published: `report readiness` says so in its next step.
    CASE WHEN dmarc_pass OR NOT from_subdomain THEN false
         ELSE struct_extract(subdomain_policy(policy_domain), 'sp_published') IS NULL
    END                                                               AS sp_assumed,
    -- Failing mail the stricter policy would hit, whatever the receiver's override: an
    -- exemption is one receiver's choice for the messages it saw (RFC 9990 section 3.1.6),
    -- no sign that the same sender's mail passes elsewhere. Mail of your own authorised
    -- senders is judged by this one.
    CASE WHEN dmarc_pass OR from_elsewhere THEN false
         WHEN policy_rank(disposition) >= 1 OR NOT from_subdomain THEN true
         WHEN list_contains(getvariable('missing_names'), header_from)
              THEN covered_by_target('np', subdomain_policy(policy_domain))
         ELSE covered_by_target('sp', subdomain_policy(policy_domain))
    END                                                               AS would_block_unexempted,
    -- The same, but for mail a receiver let through by an override it keeps applying
    -- (unless it quarantined or rejected it anyway).
    would_block_unexempted
        AND (policy_rank(disposition) >= 1 OR NOT kept_override)      AS would_block
FROM query_table(rows);

CREATE OR REPLACE TEMP VIEW blockable AS FROM blockable_of('selected');

-- What to fix for an authorised sender whose mail fails, by the diagnosis of that mail and
-- whether its DKIM signature for the domain's own organisation was there but failed
-- (records.own_dkim_failed): then DKIM is set up, and its key or the signing path is what
-- to fix (RFC 9989 section 4.4.1), not a DKIM set-up.
CREATE OR REPLACE TEMP MACRO authorised_fix(diagnosis, own_dkim_failed) AS
    CASE
        WHEN own_dkim_failed AND diagnosis IN ('spf_other_domain', 'dkim_third_party', 'no_authentication') THEN
            'its DKIM signature for your domain fails: check the key its selector publishes '
            || '(rotated or wrong) and that nothing changes the message after signing (a '
            || 'footer added by a gateway)'
            || CASE diagnosis WHEN 'no_authentication' THEN '; SPF does not cover this source either'
                              WHEN 'spf_other_domain' THEN '; SPF passes only for another domain'
                              ELSE '' END
        WHEN diagnosis = 'spf_other_domain'  THEN 'DKIM is not set up (or not aligned) for your domain, and SPF passes only for another domain'
        WHEN diagnosis = 'dkim_third_party'  THEN 'DKIM signs with another domain: sign with your own domain (d=)'
        WHEN diagnosis = 'no_authentication' THEN 'neither SPF nor DKIM covers this source: add it to SPF and set up DKIM'
        WHEN diagnosis = 'strict_alignment'  THEN 'DKIM or SPF passes for a subdomain or parent of the From domain, which strict alignment (adkim=s, aspf=s) refuses: sign with d= and send from a MAIL FROM of the From domain itself, or relax adkim/aspf'
        ELSE 'receivers saw no aligned pass: check its SPF record and DKIM key'
    END;

-- The customer's own identifier in a record, authenticated (a shared sender authorises only
-- with it): a DKIM signature or SPF domain that passed and aligns with the From domain
-- (dkim_aligned / spf_aligned, worked out from the auth results at ingest), or that passed
-- for the domain's own organisation where strict alignment refuses it (the diagnosis
-- strict_alignment: only the domain's owner can make em123.example.com pass, RFC 9989
-- section 4.4). An envelope-from in the domain that SPF did not pass is none: anyone on
-- the same provider can write it. Without one, mail from SendGrid's addresses is any
-- SendGrid customer's, spoofing yours.
CREATE OR REPLACE TEMP MACRO customer_identifier(dkim_aligned, spf_aligned, diagnosis) AS
    coalesce(dkim_aligned OR spf_aligned, false) OR diagnosis = 'strict_alignment';

-- `listed_shared_sources`: the sources listed by name or PTR base domain (as listed_sources
-- below), per policy domain of the selected reports. Their failing mail without the
-- customer's identifier may be the domain's own (the provider set up without DKIM for it) or
-- another customer's, which `report readiness` says it cannot tell (readiness.sql). A few
-- rows, worked out from the reports rather than carried through the grouping of every record.
-- A rule for a subdomain counts for the reports of the domain above it too, which carry that
-- subdomain's mail (classes_of below): the policy domain's mail from such a source is then
-- counted as undecided, the cautious side.
-- Whether a rule for `rule_domain` (NULL: every domain) concerns the reports of `domain`:
-- the domain itself, a subdomain of it, or one above it (whose reports carry its mail).
CREATE OR REPLACE TEMP MACRO rule_concerns(rule_domain, domain) AS
    rule_domain IS NULL OR domain = rule_domain OR ends_with(domain, '.' || rule_domain)
    OR ends_with(rule_domain, '.' || domain);

-- Whether a rule listing a sender by name or PTR base domain names a source, by the
-- source's sender and base_domain (source_names).
CREATE OR REPLACE TEMP MACRO rule_names_source(kind, value, sender, base_domain) AS
    (kind = 'sender' AND lower(sender) = value)
    OR (kind = 'base_domain' AND base_domain = value);

CREATE OR REPLACE TEMP VIEW listed_shared_sources AS
SELECT DISTINCT d.domain AS policy_domain, n.source_ip
FROM (SELECT DISTINCT domain FROM reports
      WHERE in_selection(domain, begin_time, end_time, org_name)) d
JOIN authorised_rules a ON rule_concerns(a.domain, d.domain)
JOIN source_names n ON rule_names_source(a.kind, a.value, n.sender, n.base_domain);

CREATE OR REPLACE TEMP MACRO classes_of(rows) AS TABLE
WITH from_domains AS (
    -- A rule is matched on the record's From domain (the policy domain where a record names
    -- none), not on its report's policy domain: receivers report a subdomain's mail under
    -- the domain whose DMARC record they found (RFC 9990 section 3.1.1.5), so a rule for
    -- news.example.com must apply to news.example.com mail in example.com's reports.
    SELECT DISTINCT coalesce(header_from, policy_domain) AS from_domain
    FROM query_table(rows)
),
covering AS (
    -- Each From domain with the domain of every rule that covers it: a rule for a domain
    -- covers it and its subdomains; one without a domain (NULL), every domain.
    SELECT f.from_domain, r.domain
    FROM from_domains f
    JOIN (SELECT DISTINCT domain FROM authorised_rules) r
      ON r.domain IS NULL OR f.from_domain = r.domain OR ends_with(f.from_domain, '.' || r.domain)
),
rule_sets AS (
    -- From domains covered by the same rules share one key, so that the lists below have
    -- a row per key, not per From domain (a spoofer can make up thousands of subdomains).
    SELECT from_domain, list_sort(list(coalesce(domain, '')))::VARCHAR AS rule_set
    FROM covering
    GROUP BY from_domain
),
rule_applies AS (
    -- (rule set, rule) pairs: the rules' domains of each set first, a few rows however
    -- many From domains share the set.
    SELECT DISTINCT d.rule_set, a.*
    FROM (SELECT DISTINCT k.rule_set, c.domain
          FROM rule_sets k JOIN covering c USING (from_domain)) d
    JOIN authorised_rules a ON a.domain IS NOT DISTINCT FROM d.domain
),
keyed AS (
    SELECT s.*, k.rule_set
    FROM query_table(rows) s
    LEFT JOIN rule_sets k ON k.from_domain = coalesce(s.header_from, s.policy_domain)
),
listed_sources AS (
    -- Sources listed by name or PTR base domain, per rule set: shared infrastructure
    -- (an e-mail provider's addresses send for every customer), so they authorise a record
    -- only with the customer's own identifier (listed_records below).
    SELECT DISTINCT r.rule_set, n.source_ip
    FROM rule_applies r
    JOIN source_names n ON rule_names_source(r.kind, r.value, n.sender, n.base_domain)
),
listed_networks AS (
    -- Addresses the user lists as theirs: they authorise on their own.
    -- Driven by the rules: without network rules, the records are not read here at all.
    SELECT DISTINCT r.rule_set, s.source_ip
    FROM rule_applies r
    JOIN keyed s
      ON r.kind = 'network' AND s.rule_set = r.rule_set
     AND s.source_ip_bytes BETWEEN r.low AND r.high
),
listed_records AS (
    -- Records authorised by a passing DKIM signature of a listed signing domain, unless the
    -- report saying so was shown not to be genuine (selection.sql): anyone can mail a
    -- report claiming your d= passed for their address.
    SELECT DISTINCT r.rule_set, d.report, d.record_no
    FROM dkim_results d
    JOIN rule_applies r ON r.kind = 'dkim' AND lower(d.domain) = r.value
    WHERE d.result = 'pass'
      AND d.report NOT IN (FROM not_genuine_reports)
),
own_key_refused AS (
    -- Records whose DKIM passed for the domain's own organisation (reports.org_domain) but
    -- not for the From domain itself, which adkim=s refuses (the diagnosis
    -- strict_alignment): a key only the domain's DNS publishes signed them, so without a
    -- list they are the domain's own mail, failing (RFC 9989 section 4.4.1), as an aligned
    -- pass makes them its own passing mail (rule 3 below).
    SELECT DISTINCT d.report, d.record_no
    FROM (SELECT report, record_no FROM query_table(rows) WHERE diagnosis = 'strict_alignment') s
    JOIN reports r ON r.id = s.report
    JOIN dkim_results d ON d.report = s.report AND d.record_no = s.record_no
    WHERE d.result = 'pass' AND in_organisation(lower(rtrim(d.domain, '.')), r.org_domain)
),
ruled AS (
    SELECT
        s.* EXCLUDE (rule_set),
        s.rule_set IS NOT NULL                                    AS has_list,
        (ls.source_ip IS NOT NULL
         AND customer_identifier(s.dkim_aligned, s.spf_aligned, s.diagnosis))
            OR ln.source_ip IS NOT NULL OR lr.report IS NOT NULL  AS listed,
        ng.id IS NOT NULL                                         AS not_genuine,
        ok.report IS NOT NULL                                     AS own_key_refused,
        -- A mailing list's work: the domain's own signature broken (records.own_dkim_failed)
        -- while another party's DKIM or SPF passes (the diagnosis).
        s.own_dkim_failed AND s.diagnosis IN ('spf_other_domain', 'dkim_third_party')
                                                                  AS own_signature_broken
    FROM blockable_of('keyed') s
    LEFT JOIN listed_sources ls
           ON ls.source_ip = s.source_ip AND ls.rule_set = s.rule_set
    LEFT JOIN listed_networks ln
           ON ln.source_ip = s.source_ip AND ln.rule_set = s.rule_set
    LEFT JOIN listed_records lr
           ON lr.report = s.report AND lr.record_no = s.record_no AND lr.rule_set = s.rule_set
    LEFT JOIN not_genuine_reports ng ON ng.id = s.report
    LEFT JOIN own_key_refused ok ON ok.report = s.report AND ok.record_no = s.record_no
)
SELECT
    *,
    NOT has_list AND NOT from_elsewhere                           AS inferred,
    CASE
        WHEN has_list AND listed AND dmarc_pass                   THEN 'compliant'
        WHEN has_list AND listed                                  THEN 'authorised_failing'
        WHEN NOT has_list AND dkim_aligned AND dmarc_pass AND NOT not_genuine
                                                                  THEN 'compliant'
        WHEN NOT has_list AND own_key_refused AND NOT dmarc_pass AND NOT not_genuine
                                                                  THEN 'authorised_failing'
        WHEN forwarding_override OR own_signature_broken
             OR diagnosis = 'forwarded'                           THEN 'forwarded'
        WHEN NOT dmarc_pass                                       THEN 'unauthorised'
        ELSE 'unknown'
    END                                                           AS class,
    CASE WHEN NOT dmarc_pass AND ((has_list AND listed)
                                  OR (NOT has_list AND own_key_refused AND NOT not_genuine))
         THEN authorised_fix(diagnosis, own_dkim_failed) END      AS fix
FROM ruled;

-- Who each row's source is (source_names; NULL when nothing named it), as named_* columns.
CREATE OR REPLACE TEMP MACRO with_names(rows) AS TABLE
SELECT
    r.*,
    n.sender                                                      AS named_sender,
    n.sender_type                                                 AS named_sender_type,
    n.asn                                                         AS named_asn,
    n.country                                                     AS named_country
FROM query_table(rows) r
LEFT JOIN source_names n USING (source_ip);

-- Who a source is as a sender, where senders are counted and named for a fix: its name,
-- unless that is only its network's (sender_type Network: a cloud's network holds anyone's
-- servers, so two servers there are two senders), else its address.
CREATE OR REPLACE TEMP MACRO sender_of(named_sender, named_sender_type, source_ip) AS
    CASE WHEN named_sender_type = 'Network' THEN source_ip
         ELSE coalesce(named_sender, source_ip) END;

CREATE OR REPLACE TEMP MACRO classified_of(rows) AS TABLE
WITH classes AS (FROM classes_of(rows))
FROM with_names('classes');

CREATE OR REPLACE TEMP VIEW classified AS FROM classified_of('selected');

-- Reports from Google and Yahoo, whose bulk-sender rules (2024) `report readiness` checks;
-- records are matched to them by report id, which is much cheaper than testing the
-- reporter's name on each record.
CREATE OR REPLACE TEMP VIEW bulk_reports AS
SELECT id AS report, true AS bulk_reporter
FROM reports
WHERE lower(org_name) LIKE '%google%' OR lower(org_name) LIKE '%yahoo%';

-- `source_classes`: the classified records summed per source, domain, class and diagnosis,
-- with the sums the reports by sender, domain and readiness need, in one pass over the
-- records (a few rows per source). The HTML page stores it once as a temp table and points
-- this view at it (snapshot.sql), so its sections do not each classify every record again.
CREATE OR REPLACE TEMP VIEW source_classes AS
WITH per_source AS (
    SELECT
        policy_domain, source_ip, class, diagnosis,
        bool_or(inferred)                                                     AS inferred,
        -- All of it From another organisation's domain, which that domain's policy governs.
        bool_and(from_elsewhere)                                              AS from_elsewhere,
        sum(count)                                                            AS messages,
        coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                     AS dmarc_pass_messages,
        -- Your own senders' failing mail counts only from reports not shown to be forged
        -- (RFC 9990 section 8.2: anyone can mail a report saying your server failed); what
        -- only those say is counted apart, for the next step to name.
        coalesce(sum(count) FILTER (WHERE CASE class WHEN 'authorised_failing'
                                                     THEN would_block_unexempted AND NOT not_genuine
                                                     ELSE would_block END), 0)  AS would_block_messages,
        coalesce(sum(count) FILTER (WHERE class = 'authorised_failing'
                                      AND would_block_unexempted AND not_genuine), 0)
                                                                              AS would_block_not_genuine_messages,
        coalesce(sum(count) FILTER (WHERE would_block AND sp_assumed), 0)     AS sp_assumed_messages,
        -- Forwarded by inference alone: the domain's own signature broken beside another
        -- party's pass, which no receiver override or ARC result vouches for.
        coalesce(sum(count) FILTER (WHERE would_block AND class = 'forwarded'
                                      AND own_signature_broken AND NOT forwarding_override), 0)
                                                                              AS would_block_broken_signature_messages,
        -- What the receivers did with the failing mail this domain's policy covers, under
        -- p=reject as their genuine reports state it (not days still at p=none).
        coalesce(sum(count) FILTER (WHERE under_reject AND disposition = 'reject'), 0)
                                                                              AS failing_rejected_messages,
        coalesce(sum(count) FILTER (WHERE under_reject AND disposition = 'quarantine'), 0)
                                                                              AS failing_quarantined_messages,
        coalesce(sum(count) FILTER (WHERE under_reject
                                      AND disposition IS DISTINCT FROM 'reject'
                                      AND disposition IS DISTINCT FROM 'quarantine'), 0)
                                                                              AS failing_delivered_messages,
        coalesce(sum(count) FILTER (WHERE bulk_reporter), 0)                  AS bulk_messages,
        coalesce(sum(count) FILTER (WHERE bulk_reporter AND dmarc_pass), 0)   AS bulk_dmarc_pass_messages,
        -- Most of the messages carried the domain's own failing signature.
        coalesce(sum(count) FILTER (WHERE own_dkim_failed), 0) * 2 > sum(count) AS own_dkim_failed,
        min(begin_time)                                                       AS first_time,
        max(last_instant(begin_time, end_time))                               AS last_time
    FROM (SELECT *, NOT dmarc_pass AND NOT from_elsewhere AND NOT not_genuine
                    AND p = 'reject' AS under_reject
          FROM classes_of('selected')) LEFT JOIN bulk_reports USING (report)
    GROUP BY policy_domain, source_ip, class, diagnosis
),
with_fix AS (
    SELECT * EXCLUDE (own_dkim_failed),
           CASE WHEN class = 'authorised_failing'
                THEN authorised_fix(diagnosis, own_dkim_failed) END AS fix
    FROM per_source
)
FROM with_names('with_fix');
