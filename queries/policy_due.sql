-- What `enrich` asks DNS about policies (with DNS on; queries/policy.sql reads the answers):
-- the DMARC record of every policy domain not answered since `policy_cutoff`, and whether
-- the From domains below a policy domain that failing mail names exist (for np), not
-- answered since `existence_cutoff`: the 1,000 with the most failing messages at a time.
CREATE OR REPLACE TEMP VIEW policy_domains_due AS
SELECT DISTINCT domain
FROM reports
WHERE domain NOT IN (SELECT domain FROM dmarc_records WHERE checked_at >= getvariable('policy_cutoff'))
ORDER BY domain;

CREATE OR REPLACE TEMP VIEW from_domains_due AS
SELECT r.header_from AS domain
FROM records r
JOIN reports p ON p.id = r.report
WHERE NOT coalesce(r.dkim = 'pass' OR r.spf = 'pass', false)
  AND ends_with(r.header_from, '.' || p.domain)
  AND r.header_from NOT IN (SELECT domain FROM domain_existence
                            WHERE checked_at >= getvariable('existence_cutoff'))
GROUP BY r.header_from
ORDER BY sum(r.count) DESC, r.header_from
LIMIT 1000;
