-- Views over the Parquet exports of one or more databases (shards), each report once however
-- many shards hold it: `shard_reports`, `shard_records`, and `selected` (as in
-- queries/selection.sql, narrowed by the same filters), so queries/daily.sql and
-- queries/reporters.sql run over the exports unchanged, and queries/parquet_sources.sql and
-- queries/parquet_domains.sql give the numbers of `report sources` and `report domains`.
-- `duckmarc query --parquet DIR [--parquet DIR ...] FILE` runs this first; in the DuckDB CLI:
--   SET VARIABLE exports = ['/data/shard-a', '/data/shard-b'];
--   .read queries/filters.sql
--   .read queries/parquet_views.sql
CREATE OR REPLACE TEMP MACRO export_files(dataset) AS
    list_transform(getvariable('exports'), lambda dir: dir || '/' || dataset || '/*/*.parquet');

-- Which copy of a report a file holds: its export directory and the first report id of the
-- export run that wrote it (`DIR/<dataset>/day=.../reports-FIRST-LAST-N.parquet`), the same
-- for a report's row and its records. NULL for a file named otherwise.
CREATE OR REPLACE TEMP MACRO export_copy(filename) AS
    regexp_extract(filename, '^(.*)/[a-z_]+/day=[^/]*/reports-([0-9]+)-[0-9]+-[0-9]+\.parquet$',
                   ['directory', 'first']);

-- One copy of each report. Within one directory a report is exported twice only when a
-- genuine copy replaced one shown not to be (README "Is a report genuine?"): the later
-- export's, as the database now holds. Across shards the copies are alike.
CREATE OR REPLACE TEMP VIEW shard_reports AS
SELECT * EXCLUDE (filename), export_copy(filename) AS export_copy
FROM read_parquet(export_files('reports'), hive_partitioning = true, union_by_name = true,
                  filename = true)
QUALIFY row_number() OVER (PARTITION BY report_key
                           ORDER BY TRY_CAST(export_copy(filename)['first'] AS BIGINT) DESC NULLS LAST,
                                    ingested_at) = 1;

-- The records of that copy (copies in several shards hold the same records; a copy replaced
-- may hold others): one of each.
CREATE OR REPLACE TEMP VIEW shard_records AS
SELECT r.* EXCLUDE (filename)
FROM read_parquet(export_files('records'), hive_partitioning = true, union_by_name = true,
                  filename = true) r
JOIN (SELECT report_key, export_copy FROM shard_reports) c USING (report_key)
QUALIFY row_number() OVER (PARTITION BY r.report_key, r.record_no
                           ORDER BY export_copy(r.filename) IS NOT DISTINCT FROM c.export_copy DESC) = 1;

-- `report` is the report's key here (a database's report ids mean nothing in another one),
-- and the reporter's name stands for itself as reporter_id.
CREATE OR REPLACE TEMP VIEW selected AS
SELECT *, report_key AS report, reporter AS reporter_id
FROM shard_records
WHERE in_selection(policy_domain, begin_time, end_time, reporter);

-- Whether each reporter's reports' e-mails were authentic, as selection.sql's view of the
-- same name, so queries/reporters.sql runs unchanged. Read through the row as JSON: exports
-- written before duckmarc checked authenticity have no such column (NULL then).
CREATE OR REPLACE TEMP VIEW authenticity_by_reporter AS
SELECT org_name AS reporter,
       arg_max(authenticity, (end_time, report_key))    AS authenticity,
       count(*) FILTER (WHERE authenticity = 'pass')    AS authentic_reports
FROM (SELECT org_name, end_time, report_key, domain, begin_time,
             json_extract_string(to_json(r), '$.authenticity') AS authenticity
      FROM shard_reports r)
WHERE in_selection(domain, begin_time, end_time, org_name)
GROUP BY org_name;

-- Exports carry the reports stored, not the copies that came again with other counts
-- (selection.sql's view of the same name): none, so queries/reporters.sql runs unchanged.
CREATE OR REPLACE TEMP VIEW resent_by_reporter AS
SELECT NULL::VARCHAR AS reporter, 0::BIGINT AS resent_with_other_counts
WHERE false;
