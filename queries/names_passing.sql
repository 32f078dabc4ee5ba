-- The SPF domains that passed in reports whose own authenticity was verified
-- (reports.authenticity = 'pass'), lower-cased: a domain whose SPF record authorises the
-- address (RFC 7208 section 2.6.1) says who runs it, when the report saying so is genuine.
-- DKIM signing domains never name a source: a d= says who signed a message, and a signed
-- message can be replayed from any address (they are shown as `signed_by`).
CREATE OR REPLACE TEMP VIEW passing_domains AS
SELECT s.report, s.record_no, 'spf' AS method, lower(s.domain) AS domain
FROM spf_results s
SEMI JOIN (SELECT id FROM reports WHERE authenticity = 'pass') r ON r.id = s.report
WHERE s.result = 'pass' AND s.domain IS NOT NULL;
