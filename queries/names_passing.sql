-- Every DKIM signature and SPF result that passed, lower-cased: the domains a sender's own
-- mail authenticated with (d=sendgrid.net, amazonses.com), which can name it without DNS.
CREATE OR REPLACE TEMP VIEW passing_domains AS
SELECT report, record_no, 'dkim' AS method, lower(domain) AS domain
FROM dkim_results
WHERE result = 'pass' AND domain IS NOT NULL
UNION ALL
SELECT report, record_no, 'spf', lower(domain)
FROM spf_results
WHERE result = 'pass' AND domain IS NOT NULL;
