-- `report dkim`: the DKIM keys that signed the selected mail, one row per policy domain,
-- signing domain and selector (selection.sql's signatures_of), the domain's own keys first,
-- then by messages: when the key first and last signed, how many messages carried its
-- signature and how many of those it passed for, and from how many source addresses.
-- `own_domain`: the signing domain is in the policy domain's organisation (signatures_of), so a
-- passing signature aligns under relaxed alignment (RFC 9989 section 4.4.1; under adkim=s
-- only the From domain itself does). A selector that stops signing a share of
-- the mail is what `duckmarc alerts` raises as dkim_selector_silent. Rates use the signature
-- results the receivers reported (auth_results), not the policy-evaluated verdict.
WITH keys AS (
    SELECT
        policy_domain                                          AS domain,
        signing_domain,
        selector,
        any_value(own_domain)                                  AS own_domain,
        min(begin_time)                                        AS first_time,
        max(last_instant(begin_time, end_time))                AS last_time,
        sum(count)                                             AS messages,
        coalesce(sum(count) FILTER (WHERE passed), 0)          AS pass_messages,
        count(DISTINCT source_ip)                              AS sources,
        count(DISTINCT source_ip) FILTER (WHERE passed)        AS passing_sources
    FROM signatures_of('selected')
    GROUP BY ALL
)
SELECT
    domain,
    signing_domain,
    selector,
    own_domain,
    strftime(first_time, '%Y-%m-%d')                           AS first_seen,
    strftime(last_time, '%Y-%m-%d')                            AS last_seen,
    messages,
    pass_messages,
    round(pass_messages / messages, 4)                         AS pass_rate,
    sources,
    passing_sources
FROM keys
ORDER BY domain, own_domain DESC, messages DESC, signing_domain, selector
LIMIT getvariable('row_limit');
