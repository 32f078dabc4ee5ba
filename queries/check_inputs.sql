-- What `duckmarc check` holds the DNS records against: the selected traffic (selection.sql,
-- narrowed by --since, default 30 days), as temp views duckmarc reads one by one.

-- Per policy domain and source: who it is, its messages, those that are the domain's own
-- (an authorised sender's, classes.sql, or with aligned DKIM; never forwarded mail, where
-- DKIM survives the relay and SPF does not, RFC 7960 section 3.2.1), of those the ones an
-- [[authorised]] entry lists (`listed_messages`: aligned DKIM alone cannot tell a forwarder
-- from the domain's own server missing from SPF), the MAIL FROM domains in the policy
-- domain's organisation it used (selection.sql's in_organisation: the domain, a parent or a
-- sibling subdomain, each aligned under relaxed alignment; SPF checked those: spf_results of
-- scope mfrom, or without a scope), and the DKIM domains that signed its mail and passed.
CREATE OR REPLACE TEMP VIEW check_sources AS
WITH per_source AS (
    SELECT policy_domain, source_ip, any_value(named_sender) AS sender, sum(count) AS messages,
           coalesce(sum(count) FILTER (WHERE (class IN ('compliant', 'authorised_failing')
                                           OR dkim_aligned)
                                          AND class <> 'forwarded'), 0) AS own_messages,
           coalesce(sum(count) FILTER (WHERE class IN ('compliant', 'authorised_failing')
                                          AND NOT inferred), 0) AS listed_messages
    FROM classified
    GROUP BY ALL
),
mail_from AS (
    -- A result that names no domain was for the MAIL FROM, the record's envelope_from (as
    -- alignment.rs reads it, RFC 7208 section 2.4).
    SELECT policy_domain, source_ip, list(DISTINCT d) AS mail_from
    FROM (
        SELECT s.policy_domain, s.source_ip, coalesce(r.org_domain, s.policy_domain) AS org_domain,
               coalesce(nullif(f.d, ''),
                        lower(rtrim(split_part(s.envelope_from, '@', -1), '.'))) AS d
        FROM selected s
        JOIN (SELECT report, record_no, lower(rtrim(trim(domain), '.')) AS d, scope
              FROM spf_results) f
          ON f.report = s.report AND f.record_no = s.record_no
        JOIN reports r ON r.id = s.report
        WHERE coalesce(lower(f.scope), 'mfrom') = 'mfrom'
    )
    WHERE in_organisation(d, org_domain)
    GROUP BY ALL
),
signers AS (
    SELECT policy_domain, source_ip, list(DISTINCT signing_domain) AS signers
    FROM signatures_of('selected') WHERE passed GROUP BY ALL
)
SELECT p.*, coalesce(m.mail_from, []) AS mail_from, coalesce(g.signers, []) AS signers,
       n.asn, n.base_domain
FROM per_source p
LEFT JOIN mail_from m USING (policy_domain, source_ip)
LEFT JOIN signers g USING (policy_domain, source_ip)
LEFT JOIN source_names n USING (source_ip)
ORDER BY policy_domain, messages DESC, source_ip;

-- The domain's own DKIM keys that signed in the period (selection.sql's signatures_of),
-- whether they signed in the last 3 days of the domain's reports (`recent`: a missing or
-- revoked key is then an error, not a leftover of a rotation), and whether a signature with
-- it ever passed (`verified`: anyone can write d=DOMAIN and a made-up selector on a forgery;
-- a key that never verified is a forgery's or one never published, which the data cannot
-- tell apart).
CREATE OR REPLACE TEMP VIEW check_selectors AS
SELECT k.policy_domain, k.signing_domain, k.selector, sum(k.count) AS messages,
       strftime(max(last_instant(k.begin_time, k.end_time)), '%Y-%m-%d') AS last_seen,
       max(k.end_time) >= any_value(n.newest) - INTERVAL 3 DAY AS recent,
       bool_or(k.passed) AS verified
FROM signatures_of('selected') k
JOIN (SELECT policy_domain, max(end_time) AS newest FROM selected GROUP BY ALL) n
  USING (policy_domain)
WHERE k.own_domain AND k.selector <> ''
GROUP BY k.policy_domain, k.signing_domain, k.selector
ORDER BY k.policy_domain, messages DESC;

-- SMTP TLS reports per policy domain, a row per `kind`: `reports` for every domain with
-- reports; `mx`, per failing MX host; `no_mx`, the failure details that name no MX host
-- (receiving-mx-hostname is optional, RFC 8460 section 4.4; policy failures, section 4.3.2,
-- come before any host); `undetailed`, failed sessions each report's summary counts beyond
-- its own details (one report's extra details do not cancel another's sessions).
CREATE OR REPLACE TEMP VIEW check_tls AS
WITH policies AS (
    -- enforced: a policy senders enforce, DANE (RFC 7672 section 2.2) or MTA-STS in `mode:
    -- enforce` (RFC 8461 section 5; the policy's lines as the report gives them, one string
    -- each or several in one): a session that fails TLS under it delivers nothing.
    SELECT p.*,
           p.policy_type = 'tlsa'
           OR (p.policy_type = 'sts'
               AND list_bool_or(list_transform(p.policy_strings, lambda s:
                       regexp_matches(lower(s), '(^|[\r\n])[ \t]*mode[ \t]*:[ \t]*enforce[ \t]*($|[\r\n])'))))
               AS enforced
    FROM selected_tls_policies p
),
details AS (
    -- Per place and policy kind: sessions that failed under an enforced policy apart.
    SELECT p.policy_domain, coalesce(f.receiving_mx_hostname, '') AS mx, p.enforced,
           sum(f.failed_sessions) AS failed_sessions,
           string_agg(DISTINCT f.result_type, ', ' ORDER BY f.result_type) AS failure_types
    FROM policies p
    JOIN tls_failures f ON f.report = p.report AND f.policy_no = p.policy_no
    GROUP BY ALL
),
per_policy AS (
    SELECT p.policy_domain, p.enforced,
           greatest(p.failed_sessions - coalesce(sum(f.failed_sessions), 0), 0) AS undetailed
    FROM policies p
    LEFT JOIN tls_failures f ON f.report = p.report AND f.policy_no = p.policy_no
    GROUP BY p.policy_domain, p.report, p.policy_no, p.failed_sessions, p.enforced
)
SELECT * FROM (
    SELECT DISTINCT policy_domain, 'reports' AS kind, NULL AS mx, 0 AS failed_sessions,
           NULL AS failure_types, false AS enforced
    FROM per_policy
    UNION ALL BY NAME
    SELECT *, CASE WHEN mx = '' THEN 'no_mx' ELSE 'mx' END AS kind FROM details
    UNION ALL BY NAME
    SELECT policy_domain, 'undetailed' AS kind, NULL AS mx, sum(undetailed) AS failed_sessions,
           NULL AS failure_types, enforced
    FROM per_policy
    GROUP BY policy_domain, enforced
    HAVING sum(undetailed) > 0
)
ORDER BY policy_domain, failed_sessions DESC, mx;

-- The p= of each domain's latest selected report, to hold against what DNS publishes now.
CREATE OR REPLACE TEMP VIEW check_reported_policy AS
SELECT domain AS policy_domain, arg_max(p, (end_time, id)) AS p
FROM reports
WHERE in_selection(domain, begin_time, end_time, org_name)
GROUP BY domain;
