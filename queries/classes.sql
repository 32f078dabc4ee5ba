-- `classified`: every selected record with its class, answering "is this mail mine?".
-- Authorised senders come from the config's [[authorised]] entries, which duckmarc loads
-- into the temp table authorised_rules (domain: NULL for every domain, else the domain and
-- its subdomains; kind: sender / base_domain / dkim / network; value; low/high for networks).
-- A domain with no entry gets an inferred list: mail with aligned, passing DKIM for it is
-- "probably yours" (`inferred` says so).
--   compliant            authorised, passes DMARC
--   authorised_failing   authorised, fails DMARC (`fix` says what to fix)
--   forwarded            forwarders and mailing lists: the receiver's override says so, or
--                        SPF fails where the original DKIM survives
--   unauthorised         fails DMARC, not authorised, no sign of forwarding: spoofing, or a
--                        sender you have not listed
--   unknown              passes DMARC but is not on your list
-- `would_block` says whether a stricter published policy would hit the record; it needs no
-- names or rules, so it is in the view `blockable`, which reports that need only it read.
CREATE OR REPLACE TEMP VIEW blockable AS
WITH overrides AS (
    SELECT report, record_no,
           bool_or(lower(type) IN ('forwarded', 'mailing_list', 'trusted_forwarder')) AS forwarder_override
    FROM override_reasons
    GROUP BY ALL
)
SELECT
    s.*,
    coalesce(o.forwarder_override, false)                         AS forwarder_override,
    o.report IS NOT NULL                                          AS let_through,
    -- Would p=quarantine or p=reject (pct=100, no t=y) hit it? Failing mail, except mail
    -- under an explicit sp (a new p does not change it) and mail a receiver let through by
    -- an override (forwarded, mailing_list, local_policy ...).
    NOT s.dmarc_pass AND o.report IS NULL
        AND NOT (s.header_from IS NOT NULL AND lower(s.header_from) <> s.policy_domain
                 AND s.sp IS NOT NULL)                            AS would_block
FROM selected s
LEFT JOIN overrides o ON o.report = s.report AND o.record_no = s.record_no;

CREATE OR REPLACE TEMP VIEW classified AS
WITH rule_applies AS (
    -- (policy domain, rule) pairs: a rule for a domain covers it and its subdomains.
    SELECT d.policy_domain, a.*
    FROM (SELECT DISTINCT policy_domain FROM selected) d
    JOIN authorised_rules a
      ON a.domain IS NULL OR d.policy_domain = a.domain OR ends_with(d.policy_domain, '.' || a.domain)
),
listed_sources AS (
    -- Sources authorised by name, PTR base domain or network, per policy domain.
    SELECT DISTINCT r.policy_domain, n.source_ip
    FROM rule_applies r
    JOIN source_names n
      ON (r.kind = 'sender' AND lower(n.sender) = r.value)
      OR (r.kind = 'base_domain' AND n.base_domain = r.value)
    UNION
    -- Driven by the rules: without network rules, the records are not read here at all.
    SELECT DISTINCT r.policy_domain, s.source_ip
    FROM rule_applies r
    JOIN selected s
      ON r.kind = 'network' AND s.policy_domain = r.policy_domain
     AND s.source_ip_bytes BETWEEN r.low AND r.high
),
listed_records AS (
    -- Records authorised by a passing DKIM signature of a listed signing domain.
    SELECT DISTINCT r.policy_domain, d.report, d.record_no
    FROM dkim_results d
    JOIN rule_applies r ON r.kind = 'dkim' AND lower(d.domain) = r.value
    WHERE d.result = 'pass'
),
ruled AS (
    SELECT
        s.*,
        n.sender                                                  AS named_sender,
        n.sender_type                                             AS named_sender_type,
        n.asn                                                     AS named_asn,
        n.country                                                 AS named_country,
        s.policy_domain IN (SELECT policy_domain FROM rule_applies) AS has_list,
        ls.source_ip IS NOT NULL OR lr.report IS NOT NULL         AS listed
    FROM blockable s
    LEFT JOIN source_names n USING (source_ip)
    LEFT JOIN listed_sources ls
           ON ls.source_ip = s.source_ip AND ls.policy_domain = s.policy_domain
    LEFT JOIN listed_records lr
           ON lr.report = s.report AND lr.record_no = s.record_no AND lr.policy_domain = s.policy_domain
)
SELECT
    *,
    NOT has_list                                                  AS inferred,
    CASE
        WHEN has_list AND listed AND dmarc_pass                   THEN 'compliant'
        WHEN has_list AND listed                                  THEN 'authorised_failing'
        WHEN forwarder_override OR diagnosis = 'forwarded'        THEN 'forwarded'
        WHEN NOT has_list AND dkim_aligned AND dmarc_pass         THEN 'compliant'
        WHEN NOT dmarc_pass                                       THEN 'unauthorised'
        ELSE 'unknown'
    END                                                           AS class,
    CASE WHEN has_list AND listed AND NOT dmarc_pass THEN
        CASE diagnosis
            WHEN 'spf_other_domain'  THEN 'DKIM is not set up (or not aligned) for your domain, and SPF passes only for another domain'
            WHEN 'dkim_third_party'  THEN 'DKIM signs with another domain: sign with your own domain (d=)'
            WHEN 'no_authentication' THEN 'neither SPF nor DKIM covers this source: add it to SPF and set up DKIM'
            ELSE 'receivers saw no aligned pass: check its SPF record and DKIM key'
        END
    END                                                           AS fix
FROM ruled;
