-- Who sends mail as my domain, and does it pass? One row per source IP, biggest first.
-- Rates and pass counts come from the receivers' policy_evaluated verdicts, weighted by
-- message count. `diagnosis` is duckmarc's own reading of the auth results for the bulk of
-- the source's failing mail (or of all its mail when nothing fails); `disagreeing_messages`
-- counts messages where that reading and the receiver's verdict differ; `failure_samples`
-- counts the failure reports about its selected domains in the period (see `report
-- failure-samples`). Who the
-- source is (ptr ... country) comes from source_names, filled in by `enrich`; `named_by` says
-- which evidence gave the name (ptr, spf, network); `signed_by` lists the DKIM domains that
-- signed its mail and passed, which say who signed, not who runs the address.
-- The sources that survive --limit are picked by their message count alone, a cheap pass
-- over the records; everything else is computed for those sources only.
WITH biggest AS (
    SELECT source_ip, sum(count) AS messages
    FROM selected
    GROUP BY source_ip
    ORDER BY messages DESC, source_ip
    LIMIT getvariable('row_limit')
),
chosen AS (
    SELECT * FROM selected SEMI JOIN biggest USING (source_ip)
),
per_source AS (
    SELECT
        source_ip,
        sum(count)                                                            AS messages,
        coalesce(sum(count) FILTER (WHERE dmarc_pass), 0)                     AS dmarc_pass_messages,
        coalesce(sum(count) FILTER (WHERE dkim = 'pass'), 0)                  AS dkim_aligned_messages,
        coalesce(sum(count) FILTER (WHERE spf = 'pass'), 0)                   AS spf_aligned_messages,
        coalesce(sum(count) FILTER (WHERE disposition = 'none'), 0)           AS disposition_none,
        coalesce(sum(count) FILTER (WHERE disposition = 'quarantine'), 0)     AS disposition_quarantine,
        coalesce(sum(count) FILTER (WHERE disposition = 'reject'), 0)         AS disposition_reject,
        coalesce(sum(count) FILTER (WHERE disposition = 'pass'), 0)           AS disposition_pass,
        coalesce(sum(count) FILTER (WHERE (dkim_aligned OR spf_aligned) <> dmarc_pass), 0)
                                                                              AS disagreeing_messages,
        min(begin_time)                                                       AS first_time,
        max(last_instant(begin_time, end_time))                               AS last_time
    FROM chosen
    GROUP BY source_ip
),
main_diagnosis AS (
    SELECT source_ip, arg_max(diagnosis, (failing, total, diagnosis)) AS diagnosis
    FROM (
        SELECT source_ip, diagnosis,
               coalesce(sum(count) FILTER (WHERE NOT dmarc_pass), 0) AS failing,
               sum(count)                                            AS total
        FROM chosen
        GROUP BY ALL
    )
    GROUP BY source_ip
),
-- The class of most of the source's messages (classes.sql), and what to fix if it is yours
-- and failing; only the chosen sources' records are classified.
class_totals AS (
    SELECT source_ip, class, sum(count) AS n, any_value(fix) AS fix
    FROM classes_of('chosen')
    GROUP BY ALL
),
classes AS (
    -- One struct: arg_max skips NULLs, and a fix must come from the same class.
    SELECT source_ip, main.class, main.fix
    FROM (SELECT source_ip, arg_max({'class': class, 'fix': fix}, (n, class)) AS main
          FROM class_totals
          GROUP BY source_ip)
),
-- The failure reports `report failure-samples` shows for the source: about a policy domain
-- its selected mail came under (or a subdomain of one), within --since/--until, not every
-- domain's (a shared address sends for many).
samples AS (
    SELECT f.source_ip, count(DISTINCT f.id) AS failure_samples
    FROM failure_reports f
    JOIN (SELECT DISTINCT source_ip, policy_domain FROM chosen) d
      ON d.source_ip = f.source_ip
     AND (f.reported_domain = d.policy_domain
          OR ends_with(f.reported_domain, '.' || d.policy_domain))
    WHERE (getvariable('since') IS NULL
           OR coalesce(f.arrival_date, f.reported_at) >= CAST(getvariable('since') AS DATE))
      AND (getvariable('until') IS NULL
           OR coalesce(f.arrival_date, f.reported_at)
              < CAST(getvariable('until') AS DATE) + INTERVAL 1 DAY)
    GROUP BY f.source_ip
),
signers AS (
    SELECT c.source_ip, list(DISTINCT lower(d.domain) ORDER BY lower(d.domain)) AS signed_by
    FROM chosen c
    JOIN dkim_results d ON d.report = c.report AND d.record_no = c.record_no
    WHERE d.result = 'pass' AND d.domain IS NOT NULL
    GROUP BY c.source_ip
),
lists AS (
    SELECT source_ip,
           list(DISTINCT header_from ORDER BY header_from) AS header_from,
           list(DISTINCT reporter ORDER BY reporter)       AS reporters
    FROM chosen
    GROUP BY source_ip
)
SELECT
    p.source_ip,
    coalesce(n.sender, 'unknown')                   AS sender,
    n.sender_type,
    n.named_by,
    coalesce(g.signed_by, [])                       AS signed_by,
    n.ptr,
    n.base_domain,
    n.asn,
    n.as_name,
    n.country,
    p.messages,
    p.dmarc_pass_messages,
    round(p.dmarc_pass_messages / p.messages, 4)    AS dmarc_pass_rate,
    p.dkim_aligned_messages,
    round(p.dkim_aligned_messages / p.messages, 4)  AS dkim_aligned_rate,
    p.spf_aligned_messages,
    round(p.spf_aligned_messages / p.messages, 4)   AS spf_aligned_rate,
    p.disposition_none,
    p.disposition_quarantine,
    p.disposition_reject,
    p.disposition_pass,
    m.diagnosis,
    c.class,
    c.fix,
    p.disagreeing_messages,
    l.header_from,
    l.reporters,
    coalesce(s.failure_samples, 0)                  AS failure_samples,
    strftime(p.first_time, '%Y-%m-%d')              AS first_seen,
    strftime(p.last_time, '%Y-%m-%d')               AS last_seen
FROM per_source p
JOIN main_diagnosis m USING (source_ip)
JOIN lists l USING (source_ip)
JOIN classes c USING (source_ip)
LEFT JOIN samples s USING (source_ip)
LEFT JOIN signers g USING (source_ip)
LEFT JOIN source_names n USING (source_ip)
ORDER BY p.messages DESC, p.source_ip;
