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

-- The export run that wrote a file: the first report id it exported, from the file's name
-- (`DIR/<dataset>/day=.../reports-FIRST-LAST-N.parquet`); NULL for a file named otherwise.
CREATE OR REPLACE TEMP MACRO export_run(filename) AS
    TRY_CAST(regexp_extract(filename, '/reports-([0-9]+)-[0-9]+-[0-9]+\.parquet$', 1) AS BIGINT);

-- One copy of each report, with where its records are. Within one directory a report is
-- exported twice only when a genuine copy replaced one shown not to be (README "Is a report
-- genuine?"): the later run's, as the database now holds it. Across shards a copy not shown
-- to be forged first (exports from before authenticity have no such column: read as JSON).
CREATE OR REPLACE TEMP VIEW report_copies AS
SELECT * EXCLUDE (filename),
       -- The records of this copy: the same directory, day and run.
       regexp_replace(filename, '/reports/(day=[^/]*/reports-[0-9]+-[0-9]+-)[0-9]+\.parquet$',
                      '/records/\1') AS records_prefix
FROM read_parquet(export_files('reports'), hive_partitioning = true, union_by_name = true,
                  filename = true) r
-- A key compares whatever its case, as a database compares them (README "What `ingest`
-- tells you"): shards that first stored `Yahoo` and `yahoo` hold one report under two keys.
QUALIFY row_number() OVER (
    PARTITION BY lower(report_key)
    ORDER BY coalesce(json_extract_string(to_json(r), '$.authenticity'), '')
                 IN ('fail', 'mismatch', 'none'),
             export_run(filename) DESC NULLS LAST, ingested_at) = 1;

-- A reporter's name as the shards first stored it: two shards that first saw `Yahoo` and
-- `yahoo` are one reporter (as one database makes them, README "What `ingest` tells you").
CREATE OR REPLACE TEMP VIEW reporter_spellings AS
SELECT lower(org_name) AS folded, arg_min(org_name, (ingested_at, report_key)) AS reporter
FROM report_copies
GROUP BY ALL;

CREATE OR REPLACE TEMP VIEW shard_reports AS
SELECT c.* EXCLUDE (records_prefix) REPLACE (s.reporter AS org_name)
FROM report_copies c
JOIN reporter_spellings s ON s.folded = lower(c.org_name);

-- The records of the copy kept, one of each (shards hold the same records; a copy replaced
-- may hold other records, or more). Where no record file is that copy's (renamed files) or
-- no report row came with them, one of each record of any copy.
CREATE OR REPLACE TEMP VIEW shard_records AS
SELECT * EXCLUDE (filename, of_copy, kept_key) REPLACE (kept_key AS report_key)
FROM (
    SELECT r.*, starts_with(r.filename, c.records_prefix) AS of_copy,
           coalesce(c.report_key, r.report_key) AS kept_key   -- as the copy kept spells it
    FROM read_parquet(export_files('records'), hive_partitioning = true,
                      union_by_name = true, filename = true) r
    LEFT JOIN (SELECT report_key, records_prefix FROM report_copies) c
           ON lower(c.report_key) = lower(r.report_key)
)
QUALIFY max(of_copy) OVER (PARTITION BY lower(kept_key)) IS NOT DISTINCT FROM of_copy
    AND row_number() OVER (PARTITION BY lower(kept_key), record_no
                           ORDER BY of_copy DESC NULLS LAST) = 1;

-- `report` is the report's key here (a database's report ids mean nothing in another one),
-- and the reporter's name stands for itself as reporter_id.
CREATE OR REPLACE TEMP VIEW selected AS
SELECT r.* REPLACE (coalesce(s.reporter, r.reporter) AS reporter), report_key AS report,
       coalesce(s.reporter, r.reporter) AS reporter_id
FROM shard_records r
-- Records whose report row is missing (renamed files) keep their own reporter's name.
LEFT JOIN reporter_spellings s ON s.folded = lower(r.reporter)
WHERE in_selection(policy_domain, begin_time, end_time, r.reporter)
  AND count > 0;   -- a record of no message, as selection.sql's selected_records

-- The reports the filters select, with or without selected records, as selection.sql's
-- view of the same name.
CREATE OR REPLACE TEMP VIEW report_heads AS
SELECT report_key AS report, org_name AS reporter, domain AS policy_domain, begin_time,
       end_time
FROM shard_reports
WHERE in_selection(domain, begin_time, end_time, org_name);

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
