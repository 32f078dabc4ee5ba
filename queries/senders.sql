-- Who sends mail as your domains, by name: one row per sender, biggest first. Sources that
-- nothing names (no confirmed PTR, no DKIM/SPF domain or AS domain in the sender map) are
-- one row, "unknown". Rates use the receivers' verdicts, as everywhere; `diagnosis` is the
-- main one of the sender's failing mail (or of all its mail when nothing fails).
WITH per_source AS MATERIALIZED (
    -- One row per domain, source, class and diagnosis, as in source_classes (classes.sql):
    -- everything below rolls these up.
    SELECT
        coalesce(named_sender, 'unknown')                     AS sender,
        named_sender_type                                     AS sender_type,
        source_ip,
        policy_domain,
        named_asn                                             AS asn,
        named_country                                         AS country,
        class,
        diagnosis,
        fix,
        messages,
        dmarc_pass_messages                                   AS passing,
        first_time,
        last_time
    FROM source_classes
),
per_sender AS (
    SELECT
        sender,
        any_value(sender_type)                                             AS sender_type,
        sum(messages)                                                      AS messages,
        sum(passing)                                                       AS dmarc_pass_messages,
        count(DISTINCT source_ip)                                          AS sources,
        list(DISTINCT policy_domain ORDER BY policy_domain)                AS domains,
        list(DISTINCT asn ORDER BY asn) FILTER (WHERE asn IS NOT NULL)     AS asns,
        list(DISTINCT country ORDER BY country) FILTER (WHERE country IS NOT NULL) AS countries,
        min(first_time)                                                    AS first_time,
        max(last_time)                                                     AS last_time
    FROM per_source
    GROUP BY sender
    ORDER BY messages DESC, sender
    LIMIT getvariable('row_limit')
),
main_diagnosis AS (
    SELECT sender, arg_max(diagnosis, (failing, total, diagnosis)) AS diagnosis
    FROM (
        SELECT sender, diagnosis, sum(messages - passing) AS failing, sum(messages) AS total
        FROM per_source SEMI JOIN per_sender USING (sender)
        GROUP BY ALL
    )
    GROUP BY sender
),
-- The class of most of the sender's messages (classes.sql).
classes AS (
    SELECT sender, arg_max(class, (n, class)) AS class, arg_max(fix, (n, class)) AS fix
    FROM (SELECT sender, class, sum(messages) AS n, any_value(fix) AS fix FROM per_source GROUP BY ALL)
    GROUP BY sender
)
SELECT
    p.sender,
    p.sender_type,
    p.messages,
    p.dmarc_pass_messages,
    round(p.dmarc_pass_messages / p.messages, 4)    AS dmarc_pass_rate,
    p.sources,
    p.domains,
    coalesce(p.asns, [])                            AS asns,
    coalesce(p.countries, [])                       AS countries,
    m.diagnosis,
    c.class,
    c.fix,
    strftime(p.first_time, '%Y-%m-%d')              AS first_seen,
    strftime(p.last_time, '%Y-%m-%d')               AS last_seen
FROM per_sender p
JOIN main_diagnosis m USING (sender)
JOIN classes c USING (sender)
ORDER BY p.messages DESC, p.sender;
