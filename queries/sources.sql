-- Who sends mail as my domain, and does it pass? One row per source IP, biggest first.
-- Rates and pass counts come from the receivers' policy_evaluated verdicts, weighted by
-- message count. `diagnosis` is duckmarc's own reading of the auth results for the bulk of
-- the source's failing mail (or of all its mail when nothing fails); `disagreeing_messages`
-- counts messages where that reading and the receiver's verdict differ.
WITH per_diagnosis AS (
    SELECT source_ip,
           diagnosis,
           coalesce(sum(count) FILTER (WHERE NOT dmarc_pass), 0) AS failing,
           sum(count) AS total
    FROM selected
    GROUP BY ALL
),
main_diagnosis AS (
    SELECT source_ip,
           arg_max(diagnosis, (coalesce(failing, 0), total)) AS diagnosis
    FROM per_diagnosis
    GROUP BY source_ip
)
SELECT
    s.source_ip,
    sum(count)                                                   AS messages,
    coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                         AS dmarc_pass_messages,
    round(dmarc_pass_messages / sum(count), 4)      AS dmarc_pass_rate,
    coalesce(sum(count) FILTER (WHERE dkim = 'pass'), 0)                      AS dkim_aligned_messages,
    round(dkim_aligned_messages / sum(count), 4)    AS dkim_aligned_rate,
    coalesce(sum(count) FILTER (WHERE spf = 'pass'), 0)                       AS spf_aligned_messages,
    round(spf_aligned_messages / sum(count), 4)     AS spf_aligned_rate,
    coalesce(sum(count) FILTER (WHERE disposition = 'none'), 0)               AS disposition_none,
    coalesce(sum(count) FILTER (WHERE disposition = 'quarantine'), 0)         AS disposition_quarantine,
    coalesce(sum(count) FILTER (WHERE disposition = 'reject'), 0)             AS disposition_reject,
    coalesce(sum(count) FILTER (WHERE disposition = 'pass'), 0)               AS disposition_pass,
    any_value(m.diagnosis)                                       AS diagnosis,
    coalesce(sum(count) FILTER (WHERE (dkim_aligned OR spf_aligned) <> dmarc_pass), 0) AS disagreeing_messages,
    list(DISTINCT header_from ORDER BY header_from)              AS header_from,
    list(DISTINCT reporter ORDER BY reporter)                    AS reporters,
    strftime(min(begin_time), '%Y-%m-%d')                        AS first_seen,
    strftime(max(end_time), '%Y-%m-%d')                          AS last_seen
FROM selected s
JOIN main_diagnosis m USING (source_ip)
GROUP BY s.source_ip
ORDER BY messages DESC, s.source_ip
LIMIT getvariable('row_limit');
