-- Totals over the whole database: what `duckmarc stats` prints. reports, records ... are
-- the aggregate reports'; tls_reports and failure_reports count the other kinds.
-- messages are weighted by <count>; a message passes DMARC when the receiver's evaluated
-- DKIM or SPF verdict (policy_evaluated) is pass.
SELECT
    (SELECT count(*) FROM reports)                                   AS reports,
    count(*)                                                         AS records,
    coalesce(sum(count), 0)                                          AS messages,
    coalesce(sum(count) FILTER (WHERE dkim = 'pass' OR spf = 'pass'), 0) AS dmarc_pass_messages,
    (SELECT count(DISTINCT domain) FROM reports)                     AS domains,
    (SELECT count(DISTINCT org_name) FROM reports)                   AS reporters,
    count(DISTINCT source_ip) FILTER (WHERE count > 0)               AS sources,  -- that sent mail
    (SELECT strftime(min(begin_time), '%Y-%m-%dT%H:%M:%SZ') FROM reports) AS first_report_begin,
    (SELECT strftime(max(end_time), '%Y-%m-%dT%H:%M:%SZ') FROM reports)   AS last_report_end,
    -- inputs whose latest attempt was rejected (a later success clears them)
    (SELECT count(*) FROM (
        SELECT arg_max(outcome, seen_at) AS latest FROM ingest_ledger GROUP BY input_hash
     ) WHERE latest = 'rejected')                                    AS rejected_inputs,
    -- the other kinds of report stored beside the aggregate ones
    (SELECT count(*) FROM tls_reports)                               AS tls_reports,
    (SELECT count(*) FROM failure_reports)                           AS failure_reports
FROM records;
