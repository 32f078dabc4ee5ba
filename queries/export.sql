-- What `duckmarc export --parquet DIR` writes: the reports with ids in
-- (export_from, export_to], each dataset partitioned by `day` (the UTC day the report's period
-- begins, YYYY-MM-DD). Every row carries the report's `report_key`, the key that identifies a
-- report across databases: exports of several shards are combined by it
-- (queries/parquet_views.sql). Internal ids are not exported.
CREATE OR REPLACE TEMP VIEW export_reports AS
SELECT
    strftime(begin_time, '%Y-%m-%d') AS day,
    report_key, org_name, email, extra_contact_info, report_id, domain, begin_time, end_time,
    adkim, aspf, p, sp, np, pct, fo, testing, discovery_method, schema_version, generator,
    errors, notes, ingested_at, authenticity, org_domain, record_count, message_count
FROM reports
WHERE id > getvariable('export_from') AND id <= getvariable('export_to');

CREATE OR REPLACE TEMP VIEW export_records AS
SELECT
    strftime(rep.begin_time, '%Y-%m-%d')                    AS day,
    rep.report_key,
    rec.record_no,
    rep.org_name                                            AS reporter,
    rep.domain                                              AS policy_domain,
    rep.begin_time,
    rep.end_time,
    rec.source_ip,
    rec.count,
    rec.disposition,
    rec.dkim,
    rec.spf,
    coalesce(rec.dkim = 'pass' OR rec.spf = 'pass', false) AS dmarc_pass,
    rec.header_from,
    rec.envelope_from,
    rec.envelope_to,
    rec.dkim_aligned,
    rec.spf_aligned,
    rec.diagnosis,
    rec.own_dkim_failed,
    rec.kept_override,
    rec.forwarding_override,
    rec.from_subdomain
FROM records rec
JOIN reports rep ON rep.id = rec.report
WHERE rep.id > getvariable('export_from') AND rep.id <= getvariable('export_to');

CREATE OR REPLACE TEMP VIEW export_dkim_results AS
SELECT strftime(rep.begin_time, '%Y-%m-%d') AS day, rep.report_key, r.* EXCLUDE (report)
FROM dkim_results r JOIN reports rep ON rep.id = r.report
WHERE rep.id > getvariable('export_from') AND rep.id <= getvariable('export_to');

CREATE OR REPLACE TEMP VIEW export_spf_results AS
SELECT strftime(rep.begin_time, '%Y-%m-%d') AS day, rep.report_key, r.* EXCLUDE (report)
FROM spf_results r JOIN reports rep ON rep.id = r.report
WHERE rep.id > getvariable('export_from') AND rep.id <= getvariable('export_to');

CREATE OR REPLACE TEMP VIEW export_override_reasons AS
SELECT strftime(rep.begin_time, '%Y-%m-%d') AS day, rep.report_key, r.* EXCLUDE (report)
FROM override_reasons r JOIN reports rep ON rep.id = r.report
WHERE rep.id > getvariable('export_from') AND rep.id <= getvariable('export_to');
