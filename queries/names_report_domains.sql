-- For the addresses in names_pending: the domains of DKIM signatures and SPF results that
-- passed in their records, with the From domain they were reported with and the messages
-- behind them. A sender that signs or bounces with its own domain (d=sendgrid.net,
-- amazonses.com) is named by it without any DNS. Only domains in the temp table
-- mapped_domains (those the sender map knows, which duckmarc works out first) are listed.
SELECT r.source_ip, 'dkim' AS method, lower(d.domain) AS domain,
       lower(coalesce(r.header_from, '')) AS header_from, sum(r.count) AS messages
FROM records r
SEMI JOIN names_pending p ON p.source_ip = r.source_ip
JOIN dkim_results d ON d.report = r.report AND d.record_no = r.record_no
SEMI JOIN mapped_domains m ON m.domain = lower(d.domain)
WHERE d.result = 'pass'
GROUP BY ALL
UNION ALL
SELECT r.source_ip, 'spf', lower(s.domain), lower(coalesce(r.header_from, '')), sum(r.count)
FROM records r
SEMI JOIN names_pending p ON p.source_ip = r.source_ip
JOIN spf_results s ON s.report = r.report AND s.record_no = r.record_no
SEMI JOIN mapped_domains m ON m.domain = lower(s.domain)
WHERE s.result = 'pass'
GROUP BY ALL
ORDER BY 1, 2, 5 DESC, 3;
