-- The static site's failing records per sender with a page: its biggest
-- failures_per_sender records that failed DMARC, with every DKIM and SPF result
-- (failing_records_of, record_macros.sql, as `report failures`).
WITH chosen AS (
    SELECT * FROM site_records
    WHERE NOT dmarc_pass
    QUALIFY row_number() OVER (PARTITION BY policy_domain, sender
                               ORDER BY count DESC, begin_time DESC, source_ip, report, record_no)
            <= getvariable('failures_per_sender')
)
SELECT f.* EXCLUDE (report, record_no, begin_time), c.sender
FROM failing_records_of('chosen') f
JOIN chosen c USING (report, record_no)
ORDER BY domain, sender, messages DESC, f.begin_time DESC, source_ip, report, record_no;
