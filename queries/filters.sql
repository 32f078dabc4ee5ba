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

-- Whether the run is narrowed to sources (--ip, --sender, --country, --asn): then what is
-- known only per report (SMTP TLS sessions, reports that tell of no message) is left out,
-- since other sources' mail is in it.
CREATE OR REPLACE TEMP MACRO narrowed_to_sources() AS
    getvariable('ip_low') IS NOT NULL OR getvariable('sender') IS NOT NULL
    OR getvariable('country') IS NOT NULL OR getvariable('asn') IS NOT NULL;

-- The reporter an SMTP TLS report is selected by: its organization-name is a company's name
-- ("Google Inc.", "Microsoft Corporation", RFC 8460 section 4.4) where aggregate reports name
-- a domain ("google.com"), so `--reporter google.com` also selects the TLS reports whose
-- contact-info is an address at that domain.
CREATE OR REPLACE TEMP MACRO tls_reporter(org_name, contact_info) AS
    CASE WHEN lower(regexp_extract(contact_info, '@([A-Za-z0-9.-]+)', 1)) = lower(getvariable('reporter'))
         THEN getvariable('reporter') ELSE org_name END;
