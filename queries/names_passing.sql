-- The SPF domains that passed in reports whose own authenticity was verified
-- (reports.authenticity = 'pass'), lower-cased: a provider's domain whose SPF record
-- authorises the address (RFC 7208 section 2.6.3) says the address is the provider's, when
-- the report saying so is genuine. Only the map of provider domains turns one into a name
-- (src/enrich/names.rs): anyone can publish SPF for a domain of their own.
-- DKIM signing domains never name a source: a d= says who signed a message, and a signed
-- message can be replayed from any address (they are shown as `signed_by`).
CREATE OR REPLACE TEMP VIEW passing_domains AS
SELECT s.report, s.record_no, lower(s.domain) AS domain
FROM spf_results s
SEMI JOIN (SELECT id FROM reports WHERE authenticity = 'pass') r ON r.id = s.report
WHERE s.result = 'pass' AND s.domain IS NOT NULL;
