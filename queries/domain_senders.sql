-- Per policy domain, its biggest senders by name with their class (classes.sql), and beneath
-- each sender its biggest source IPs: the HTML page's "Senders by domain". One row per
-- (domain, sender, source IP): the sender_* columns are the sender's own totals in that
-- domain and repeat on each of its source rows; class and diagnosis are the source's own.
-- row_limit senders per domain (10 when unset), 5 sources per sender.
WITH per_source AS MATERIALIZED (
    -- One row per domain, source, class and diagnosis, as in source_classes (classes.sql).
    SELECT
        policy_domain                                         AS domain,
        coalesce(named_sender, 'unknown')                     AS sender,
        named_sender_type                                     AS sender_type,
        source_ip,
        class,
        diagnosis,
        fix,
        messages,
        dmarc_pass_messages                                   AS passing
    FROM source_classes
),
senders AS (
    SELECT domain, sender, any_value(sender_type) AS sender_type, sum(messages) AS messages,
           sum(passing) AS passing, count(DISTINCT source_ip) AS sources
    FROM per_source
    GROUP BY domain, sender
    QUALIFY row_number() OVER (PARTITION BY domain ORDER BY sum(messages) DESC, sender)
            <= coalesce(getvariable('row_limit'), 10)
),
chosen AS (
    SELECT * FROM per_source SEMI JOIN senders USING (domain, sender)
),
-- The class of most of the sender's messages, what to fix, and the diagnosis of most of its
-- failing mail (of all its mail when nothing fails).
sender_class AS (
    SELECT domain, sender, arg_max(class, (n, class)) AS class, arg_max(fix, (n, class)) AS fix
    FROM (SELECT domain, sender, class, sum(messages) AS n, any_value(fix) AS fix FROM chosen GROUP BY ALL)
    GROUP BY ALL
),
sender_diagnosis AS (
    SELECT domain, sender, arg_max(diagnosis, (failing, total, diagnosis)) AS diagnosis
    FROM (SELECT domain, sender, diagnosis, sum(messages - passing) AS failing, sum(messages) AS total
          FROM chosen GROUP BY ALL)
    GROUP BY ALL
),
-- Each sender's five biggest sources (on a tie, the lower address), then the class and
-- diagnosis of most of their mail.
sources AS (
    SELECT domain, sender, unnest(biggest, recursive := true)
    FROM (
        SELECT domain, sender,
               min_by({'source_ip': source_ip, 'messages': messages, 'passing': passing},
                      (-messages, source_ip), 5)                             AS biggest
        FROM (SELECT domain, sender, source_ip, sum(messages) AS messages, sum(passing) AS passing
              FROM chosen
              GROUP BY domain, sender, source_ip)
        GROUP BY domain, sender
    )
),
source_detail AS (
    SELECT domain, sender, source_ip,
           arg_max(class, (messages, class))                                 AS class,
           arg_max(diagnosis, (messages - passing, messages, diagnosis))     AS diagnosis
    FROM chosen SEMI JOIN sources USING (domain, sender, source_ip)
    GROUP BY domain, sender, source_ip
)
SELECT
    s.domain,
    s.sender,
    s.sender_type,
    c.class                                         AS sender_class,
    s.messages                                      AS sender_messages,
    round(s.passing / s.messages, 4)                AS sender_dmarc_pass_rate,
    s.sources                                       AS sender_sources,
    d.diagnosis                                     AS sender_diagnosis,
    c.fix                                           AS sender_fix,
    src.source_ip,
    n.ptr,
    n.country,
    src.messages,
    round(src.passing / src.messages, 4)            AS dmarc_pass_rate,
    sd.class,
    sd.diagnosis
FROM senders s
JOIN sender_class c USING (domain, sender)
JOIN sender_diagnosis d USING (domain, sender)
JOIN sources src USING (domain, sender)
JOIN source_detail sd ON sd.domain = s.domain AND sd.sender = s.sender AND sd.source_ip = src.source_ip
LEFT JOIN source_names n ON n.source_ip = src.source_ip
ORDER BY s.domain, s.messages DESC, s.sender, src.messages DESC, src.source_ip;
