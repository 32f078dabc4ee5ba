-- Per policy domain, its biggest senders by name and class (classes.sql), and beneath each
-- its biggest source IPs: the HTML page's "Senders by domain". A sender whose mail falls in
-- two classes has a row for each (no row mixes classes); an unnamed source is its own sender,
-- by its address. One row per (domain, sender, class, source IP): the sender_* columns are
-- the sender's own totals in that domain and class and repeat on each of its source rows;
-- diagnosis is the source's own. row_limit senders per domain (10 when unset), and
-- sources_per_sender sources each (5 when unset; the static site shows more).
WITH per_source AS MATERIALIZED (
    -- One row per domain, source, class and diagnosis, as in source_classes (classes.sql).
    SELECT
        policy_domain                                         AS domain,
        coalesce(named_sender, source_ip)                     AS sender,
        named_sender_type                                     AS sender_type,
        source_ip,
        class,
        diagnosis,
        fix,
        messages,
        dmarc_pass_messages                                   AS passing
    FROM source_classes
),
-- The biggest senders per domain, picked by their message count alone (cheap even with
-- 200,000 unnamed sources, each its own sender; a top-N aggregate, not a window over them
-- all, which took twice as long); their figures from their own rows only.
biggest AS (
    SELECT domain, unnest(top, recursive := true)
    FROM (
        SELECT domain,
               min_by({'sender': sender, 'class': class}, (-messages, sender, class),
                      coalesce(getvariable('row_limit'), 10))                AS top
        FROM (SELECT domain, sender, class, sum(messages) AS messages
              FROM per_source
              GROUP BY domain, sender, class)
        GROUP BY domain
    )
),
chosen AS (
    SELECT * FROM per_source SEMI JOIN biggest USING (domain, sender, class)
),
senders AS (
    SELECT domain, sender, class, any_value(sender_type) AS sender_type, sum(messages) AS messages,
           sum(passing) AS passing, count(DISTINCT source_ip) AS sources
    FROM chosen
    GROUP BY domain, sender, class
),
-- What to fix and the diagnosis of most of the failing mail (of all the mail when nothing
-- fails), per sender and class.
sender_diagnosis AS (
    SELECT domain, sender, class, arg_max(diagnosis, (failing, total, diagnosis)) AS diagnosis,
           arg_max(fix, (failing, total, diagnosis)) AS fix
    FROM (SELECT domain, sender, class, diagnosis, sum(messages - passing) AS failing,
                 sum(messages) AS total, any_value(fix) AS fix
          FROM chosen GROUP BY ALL)
    GROUP BY ALL
),
-- Each sender's five biggest sources in the class (on a tie, the lower address), then the
-- diagnosis of most of their mail.
sources AS (
    SELECT domain, sender, class, unnest(biggest, recursive := true)
    FROM (
        SELECT domain, sender, class,
               min_by({'source_ip': source_ip, 'messages': messages, 'passing': passing},
                      (-messages, source_ip),
                      coalesce(getvariable('sources_per_sender'), 5))        AS biggest
        FROM (SELECT domain, sender, class, source_ip, sum(messages) AS messages,
                     sum(passing) AS passing
              FROM chosen
              GROUP BY domain, sender, class, source_ip)
        GROUP BY domain, sender, class
    )
),
source_detail AS (
    SELECT domain, sender, class, source_ip,
           arg_max(diagnosis, (messages - passing, messages, diagnosis))     AS diagnosis
    FROM chosen SEMI JOIN sources USING (domain, sender, class, source_ip)
    GROUP BY domain, sender, class, source_ip
)
SELECT
    s.domain,
    s.sender,
    s.sender_type,
    s.class                                         AS sender_class,
    s.messages                                      AS sender_messages,
    round(s.passing / s.messages, 4)                AS sender_dmarc_pass_rate,
    s.sources                                       AS sender_sources,
    d.diagnosis                                     AS sender_diagnosis,
    d.fix                                           AS sender_fix,
    src.source_ip,
    n.ptr,
    n.country,
    n.asn,
    n.as_name,
    src.messages,
    round(src.passing / src.messages, 4)            AS dmarc_pass_rate,
    s.class,
    sd.diagnosis
FROM senders s
JOIN sender_diagnosis d USING (domain, sender, class)
JOIN sources src USING (domain, sender, class)
JOIN source_detail sd
  ON sd.domain = s.domain AND sd.sender = s.sender AND sd.class = s.class AND sd.source_ip = src.source_ip
LEFT JOIN source_names n ON n.source_ip = src.source_ip
ORDER BY s.domain, s.messages DESC, s.sender, s.class, src.messages DESC, src.source_ip;
