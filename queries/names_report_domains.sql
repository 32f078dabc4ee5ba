-- For the addresses in names_pending: the passing SPF domains of their records
-- (names_passing.sql), with the From domain they were reported with and the messages behind
-- them. Only domains in the temp table mapped_domains (those the sender map knows, which
-- duckmarc works out first) are listed.
SELECT r.source_ip, p.domain,
       lower(coalesce(r.header_from, '')) AS header_from, sum(r.count) AS messages
FROM records r
SEMI JOIN names_pending n ON n.source_ip = r.source_ip
JOIN passing_domains p ON p.report = r.report AND p.record_no = r.record_no
SEMI JOIN mapped_domains m ON m.domain = p.domain
GROUP BY ALL
ORDER BY 1, 4 DESC, 2;
