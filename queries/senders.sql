-- Who sends mail as your domains, by name: one row per sender and class (classes.sql), biggest
-- first, so no row mixes mail that is yours with mail that is not: a sender with compliant
-- and unauthorised mail has a row for each. A source that nothing names (no confirmed PTR,
-- no DKIM/SPF domain or AS domain in the sender map) is its own sender, by its address
-- (sender_type NULL): unnamed sources are never lumped together. Rates use the receivers'
-- verdicts, as everywhere; `diagnosis` is the main one of the row's failing mail (or of all
-- its mail when nothing fails).
WITH per_source AS MATERIALIZED (
    -- One row per domain, source, class and diagnosis, as in source_classes (classes.sql):
    -- everything below rolls these up.
    SELECT
        coalesce(named_sender, source_ip)                     AS sender,
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
-- The senders that survive --limit, picked by their message count alone (cheap even with
-- 200,000 unnamed sources, each its own sender); everything else for those only.
biggest AS (
    SELECT sender, class
    FROM per_source
    GROUP BY sender, class
    ORDER BY sum(messages) DESC, sender, class
    LIMIT getvariable('row_limit')
),
chosen AS (
    SELECT * FROM per_source SEMI JOIN biggest USING (sender, class)
),
per_sender AS (
    SELECT
        sender,
        class,
        any_value(sender_type)                                             AS sender_type,
        sum(messages)                                                      AS messages,
        sum(passing)                                                       AS dmarc_pass_messages,
        count(DISTINCT source_ip)                                          AS sources,
        list(DISTINCT policy_domain ORDER BY policy_domain)                AS domains,
        list(DISTINCT asn ORDER BY asn) FILTER (WHERE asn IS NOT NULL)     AS asns,
        list(DISTINCT country ORDER BY country) FILTER (WHERE country IS NOT NULL) AS countries,
        min(first_time)                                                    AS first_time,
        max(last_time)                                                     AS last_time
    FROM chosen
    GROUP BY sender, class
),
-- The DKIM domains that signed the row's mail (its sources' in its domains, of its class)
-- and passed: what they are, signers, never the sender's name. Of the row's class: the
-- spoofed mail of an address that also sends the domain's own did not carry its signature.
signers AS (
    SELECT c.sender, c.class,
           list(DISTINCT lower(d.domain) ORDER BY lower(d.domain)) AS signed_by
    FROM (SELECT DISTINCT sender, class, source_ip, policy_domain FROM chosen) c
    JOIN classes_of('selected') s
      ON s.source_ip = c.source_ip AND s.policy_domain = c.policy_domain AND s.class = c.class
    JOIN dkim_results d ON d.report = s.report AND d.record_no = s.record_no
    WHERE d.result = 'pass' AND d.domain IS NOT NULL
    GROUP BY c.sender, c.class
),
main_diagnosis AS (
    SELECT sender, class, arg_max(diagnosis, (failing, total, diagnosis)) AS diagnosis,
           arg_max(fix, (failing, total, diagnosis)) AS fix
    FROM (
        SELECT sender, class, diagnosis, sum(messages - passing) AS failing, sum(messages) AS total,
               any_value(fix) AS fix
        FROM chosen
        GROUP BY ALL
    )
    GROUP BY sender, class
)
SELECT
    p.sender,
    p.sender_type,
    coalesce(g.signed_by, [])                       AS signed_by,
    p.messages,
    p.dmarc_pass_messages,
    round(p.dmarc_pass_messages / p.messages, 4)    AS dmarc_pass_rate,
    p.sources,
    p.domains,
    coalesce(p.asns, [])                            AS asns,
    coalesce(p.countries, [])                       AS countries,
    m.diagnosis,
    p.class,
    m.fix,
    strftime(p.first_time, '%Y-%m-%d')              AS first_seen,
    strftime(p.last_time, '%Y-%m-%d')               AS last_seen
FROM per_sender p
JOIN main_diagnosis m USING (sender, class)
LEFT JOIN signers g USING (sender, class)
ORDER BY p.messages DESC, p.sender, p.class;
