-- The static site's DKIM keys per sender with a page: the signing domains and selectors
-- (signatures_of, selection.sql) on its mail, how much of it each signed and how much of
-- that passed. own_domain: the policy domain's own key (it aligns); anyone else's key only
-- says who signed, never who sent.
WITH signatures AS (
    FROM signatures_of('site_records')
)
SELECT
    g.policy_domain                                               AS domain,
    coalesce(n.sender, g.source_ip)                               AS sender,
    g.signing_domain,
    g.selector,
    bool_or(g.own_domain)                                         AS own_domain,
    sum(g.count)                                                  AS messages,
    coalesce(sum(g.count) FILTER (WHERE g.passed), 0)             AS pass_messages,
    round(pass_messages / sum(g.count), 4)                        AS pass_rate
FROM signatures g
LEFT JOIN source_names n USING (source_ip)
GROUP BY ALL
ORDER BY domain, sender, messages DESC, signing_domain, selector;
