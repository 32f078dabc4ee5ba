-- duckmarc runs this before selection.sql and parquet_views.sql.
-- `in_selection`: whether a report (its policy domain, period and reporter) passes the
-- domain, since/until and reporter filters; used for aggregate and SMTP TLS reports alike.
CREATE OR REPLACE TEMP MACRO in_selection(domain, begin_time, end_time, org_name) AS
    (getvariable('domain') IS NULL
     OR domain = lower(getvariable('domain'))
     OR ends_with(domain, '.' || lower(getvariable('domain'))))
    AND (getvariable('since') IS NULL
         OR end_time > CAST(getvariable('since') AS DATE)
         OR begin_time >= CAST(getvariable('since') AS DATE))
    AND (getvariable('until') IS NULL
         OR begin_time < CAST(getvariable('until') AS DATE) + INTERVAL 1 DAY)
    AND (getvariable('reporter') IS NULL OR lower(org_name) = lower(getvariable('reporter')));
