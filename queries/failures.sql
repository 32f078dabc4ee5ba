-- The records that failed DMARC (neither evaluated DKIM nor SPF passed), biggest first, with
-- every auth result (failing_records_of, record_macros.sql), for drill-down. The auth results
-- are gathered only for the records that survive --limit.
WITH chosen AS (
    SELECT * FROM selected
    WHERE NOT dmarc_pass
    ORDER BY count DESC, begin_time DESC, source_ip, report, record_no
    LIMIT getvariable('row_limit')
)
SELECT * EXCLUDE (report, record_no, begin_time)
FROM failing_records_of('chosen')
ORDER BY messages DESC, begin_time DESC, source_ip, report, record_no;
