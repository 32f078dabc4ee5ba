-- SMTP TLS reports (RFC 8460), per policy domain (`selected_tls_policies`, selection.sql):
-- how many TLS sessions senders made to your MX hosts, how many failed and why, and who
-- reported them. Filters: --domain (the policy domain and its subdomains), --since/--until
-- (the report period), --reporter, --ip (only policies with failures reported for sending
-- MTAs in that range; failure_types and failing_mx_hosts then count only those failures;
-- session totals stay the policy's own, as reports give them per policy, not per sending
-- address).
WITH failures AS (
    SELECT p.policy_domain, f.*
    FROM tls_failures f
    JOIN selected_tls_policies p ON p.report = f.report AND p.policy_no = f.policy_no
    WHERE getvariable('ip_low') IS NULL
       OR f.sending_mta_ip_bytes BETWEEN getvariable('ip_low') AND getvariable('ip_high')
),
failure_types AS (
    SELECT policy_domain, result_type, sum(failed_sessions) AS sessions
    FROM failures
    GROUP BY ALL
),
failing_mx AS (
    SELECT DISTINCT policy_domain, receiving_mx_hostname AS mx
    FROM failures
    WHERE receiving_mx_hostname IS NOT NULL
)
SELECT
    p.policy_domain,
    list_sort(list_distinct(list(p.policy_type)))                      AS policy_types,
    sum(p.successful_sessions)                                         AS successful_sessions,
    sum(p.failed_sessions)                                             AS failed_sessions,
    round(sum(p.failed_sessions)
          / nullif(sum(p.successful_sessions) + sum(p.failed_sessions), 0), 4) AS failure_rate,
    coalesce((SELECT list(t.result_type || ': ' || t.sessions ORDER BY t.sessions DESC, t.result_type)
              FROM failure_types t WHERE t.policy_domain = p.policy_domain), [])  AS failure_types,
    coalesce((SELECT list(m.mx ORDER BY m.mx)
              FROM failing_mx m WHERE m.policy_domain = p.policy_domain), [])     AS failing_mx_hosts,
    list_sort(list_distinct(list(p.org_name)))                         AS reporters,
    count(DISTINCT p.report)                                           AS reports,
    strftime(min(p.begin_time), '%Y-%m-%d')                            AS first_seen,
    strftime(max(last_instant(p.begin_time, p.end_time)), '%Y-%m-%d')  AS last_seen
FROM selected_tls_policies p
WHERE getvariable('ip_low') IS NULL
   OR (p.report, p.policy_no) IN (SELECT (report, policy_no) FROM failures)
GROUP BY p.policy_domain
ORDER BY failed_sessions DESC, p.policy_domain
LIMIT getvariable('row_limit');
