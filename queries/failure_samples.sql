-- DMARC failure reports (RFC 6591), newest first: one row per reported message, beside what
-- the aggregate reports say about its source IP for the same domain (messages, DMARC pass
-- rate, duckmarc's main diagnosis), so a failing source shows its samples and a sample shows
-- its source.
-- Filters: --domain (the reported domain and its subdomains), --since/--until (the arrival
-- date, else the report's date), --reporter (the reporting address, or its domain), --ip,
-- --sender, --country, --asn (who the source is, from source_names).
WITH samples AS (
    SELECT f.*, coalesce(f.arrival_date, f.reported_at) AS seen,
           coalesce(n.sender, 'unknown') AS sender, n.country
    FROM failure_reports f
    LEFT JOIN source_names n ON n.source_ip = f.source_ip
    WHERE (getvariable('domain') IS NULL
           OR reported_domain = lower(getvariable('domain'))
           OR ends_with(reported_domain, '.' || lower(getvariable('domain'))))
      AND (getvariable('since') IS NULL
           OR coalesce(arrival_date, reported_at) >= CAST(getvariable('since') AS DATE))
      AND (getvariable('until') IS NULL
           OR coalesce(arrival_date, reported_at) < CAST(getvariable('until') AS DATE) + INTERVAL 1 DAY)
      AND (getvariable('reporter') IS NULL
           OR reporter = lower(getvariable('reporter'))
           OR ends_with(reporter, '@' || lower(getvariable('reporter')))
           OR ends_with(reporter, '.' || lower(getvariable('reporter'))))
      AND (getvariable('ip_low') IS NULL
           OR source_ip_bytes BETWEEN getvariable('ip_low') AND getvariable('ip_high'))
      AND (getvariable('sender') IS NULL
           OR lower(coalesce(n.sender, 'unknown')) = lower(getvariable('sender'))
           -- an unnamed source by its address, the name `report senders` gives it
           OR (n.sender IS NULL AND f.source_ip = lower(getvariable('sender'))))
      AND (getvariable('country') IS NULL OR n.country = upper(getvariable('country')))
      AND (getvariable('asn') IS NULL OR n.asn = getvariable('asn'))
    -- samples_per_domain (the static site's domain pages): the newest so many of each
    -- reported domain, so a domain with few samples keeps them beside one with many.
    QUALIFY getvariable('samples_per_domain') IS NULL
         OR row_number() OVER (PARTITION BY reported_domain ORDER BY seen DESC NULLS LAST, id DESC)
            <= getvariable('samples_per_domain')
    ORDER BY seen DESC NULLS LAST, id DESC
    LIMIT getvariable('row_limit')
),
-- All the aggregate data on these sources, per policy domain, whatever its dates: the
-- sample is one message, the aggregate is the source's record.
source_totals AS (
    SELECT rec.source_ip,
           rep.domain                                                             AS policy_domain,
           sum(rec.count)                                                         AS messages,
           coalesce(sum(rec.count) FILTER (WHERE rec.dkim = 'pass' OR rec.spf = 'pass'), 0) AS passing,
           arg_max(rec.diagnosis, rec.count)                                      AS diagnosis
    FROM records rec
    JOIN reports rep ON rep.id = rec.report
    WHERE rec.source_ip IN (SELECT source_ip FROM samples)
      AND (getvariable('domain') IS NULL
           OR rep.domain = lower(getvariable('domain'))
           OR ends_with(rep.domain, '.' || lower(getvariable('domain'))))
    GROUP BY rec.source_ip, rep.domain
),
-- Each sample beside the figures of the same source and domain: the policy domain that is
-- the reported domain or the nearest above it.
beside AS (
    SELECT s.id, t.messages, t.passing, t.diagnosis
    FROM samples s
    JOIN source_totals t
      ON t.source_ip = s.source_ip
     AND (s.reported_domain = t.policy_domain OR ends_with(s.reported_domain, '.' || t.policy_domain))
    QUALIFY row_number() OVER (PARTITION BY s.id ORDER BY length(t.policy_domain) DESC) = 1
)
SELECT
    strftime(s.seen, '%Y-%m-%d %H:%M')                  AS arrival,
    s.reported_domain,
    s.source_ip,
    s.feedback_type,
    s.auth_failure,
    s.delivery_result,
    s.identity_alignment,
    s.original_mail_from,
    s.header_from,
    s.subject,
    s.message_id,
    s.dkim_domain,
    s.authentication_results,
    s.reporter,
    s.sender                                            AS source_sender,
    s.country                                           AS source_country,
    coalesce(t.messages, 0)                             AS source_messages,
    round(t.passing / t.messages, 4)                    AS source_dmarc_pass_rate,
    t.diagnosis                                         AS source_diagnosis
FROM samples s
LEFT JOIN beside t USING (id)
ORDER BY s.seen DESC NULLS LAST, s.id DESC;
