-- The errors and warnings the latest `duckmarc check` found in the selected domains' DNS
-- records (table check_findings), worst first: the HTML page lists them under its status.
SELECT domain, record, severity, code, message, fix
FROM check_findings
WHERE severity IN ('error', 'warning')
  AND (getvariable('domain') IS NULL
       OR domain = lower(getvariable('domain'))
       OR ends_with(domain, '.' || lower(getvariable('domain'))))
ORDER BY CASE severity WHEN 'error' THEN 0 ELSE 1 END, domain, record, code, message;
