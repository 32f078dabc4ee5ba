//! The database's schema (queries/schema.sql), and bringing a database made by an older
//! duckmarc up to it in place.

use super::upgrades::{
    bounce_helo_spf, domains_as_a_labels, has_every_data_upgrade, once, organisational_domains,
    own_dkim_unverified, report_sizes, reporters_case_folded, verdicts_worked_out,
};
use anyhow::{Context, Result};
use duckdb::Connection;

const SCHEMA: &str = include_str!("../../queries/schema.sql");

/// Whether the database has every table and column of [`SCHEMA`], by name, and every
/// upgrade of its data: then neither the schema nor the upgrade runs again (a cron job opens
/// the database often). Columns a user or a newer duckmarc added are no reason to upgrade,
/// nor do they stand in for missing ones.
pub(super) fn schema_is_current(conn: &Connection) -> Result<bool> {
    Ok(has_every_column(conn)? && has_every_data_upgrade(conn)?)
}

pub(super) fn has_every_column(conn: &Connection) -> Result<bool> {
    let expected = schema_columns();
    let names: Vec<String> = expected
        .iter()
        .map(|(table, column)| format!("('{table}', '{column}')"))
        .collect();
    let found: usize = conn.query_row(
        &format!(
            "SELECT count(*) FROM duckdb_columns()
             WHERE database_name = current_database() AND schema_name = 'main'
               AND (table_name, column_name) IN ({})",
            names.join(", ")
        ),
        [],
        |row| row.get(0),
    )?;
    Ok(found == expected.len())
}

/// Table constraints, which are no columns.
const CONSTRAINTS: [&str; 5] = [
    "PRIMARY KEY",
    "UNIQUE",
    "CONSTRAINT",
    "CHECK",
    "FOREIGN KEY",
];

/// Every (table, column) [`SCHEMA`] creates, read from its text: a column is the first word
/// of each comma-separated definition inside a `CREATE TABLE` (table constraints and
/// comments aside). The tests hold this against the columns DuckDB makes of it.
fn schema_columns() -> Vec<(&'static str, &'static str)> {
    let mut columns = Vec::new();
    let mut table = None;
    for line in SCHEMA.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            table = rest.split([' ', '(']).next();
            continue;
        }
        let Some(name) = table else { continue };
        if line.starts_with(')') {
            table = None;
            continue;
        }
        let definitions = line.split("--").next().unwrap_or_default();
        if CONSTRAINTS.iter().any(|c| definitions.starts_with(c)) {
            continue;
        }
        // Several short columns may share a line: `report BIGINT NOT NULL, idx INTEGER`.
        let names = definitions
            .split(',')
            .filter_map(|definition| definition.split_whitespace().next());
        columns.extend(names.map(|column| (name, column)));
    }
    columns
}

/// Creates what the database lacks of [`SCHEMA`], then brings older tables up to it.
pub(super) fn create_or_upgrade(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)
        .context("cannot create the database schema")?;
    upgrade(conn).context("cannot upgrade the database schema")
}

pub(super) fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT count(*) > 0 FROM duckdb_columns()
         WHERE database_name = current_database() AND schema_name = 'main'
           AND table_name = ? AND column_name = ?",
        [table, column],
        |row| row.get(0),
    )?)
}

/// Brings a database made by an older duckmarc up to the current schema.
fn upgrade(conn: &Connection) -> Result<()> {
    // --ip for `report tls` came after the first TLS reports were stored.
    conn.execute_batch(
        "ALTER TABLE tls_failures ADD COLUMN IF NOT EXISTS sending_mta_ip_bytes BLOB",
    )?;
    // Before --keep-xml, every report row had to hold its XML.
    let xml_required: bool = conn.query_row(
        "SELECT is_nullable = 'NO' FROM information_schema.columns
         WHERE table_name = 'reports' AND column_name = 'raw_xml_gz'",
        [],
        |row| row.get(0),
    )?;
    if xml_required {
        conn.execute_batch("ALTER TABLE reports ALTER COLUMN raw_xml_gz DROP NOT NULL")?;
    }
    // Whether the From domain's own DKIM signature failed came with the readiness rules
    // (forwarding by mailing lists). Records stored before get it from their DKIM results,
    // the policy domain standing for the From domain's organisation (no public suffix list
    // in SQL).
    if !has_column(conn, "records", "own_dkim_failed")? {
        conn.execute_batch(
            "ALTER TABLE records ADD COLUMN own_dkim_failed BOOLEAN DEFAULT false;
             UPDATE records SET own_dkim_failed = true
             FROM (SELECT DISTINCT d.report, d.record_no
                   FROM dkim_results d JOIN reports r ON r.id = d.report
                   WHERE d.result = 'fail'
                     AND (lower(d.domain) = r.domain
                          OR ends_with(lower(d.domain), '.' || r.domain))) f
             WHERE records.report = f.report AND records.record_no = f.record_no;",
        )?;
    }
    // What a stricter policy would do with a record moved from the classification to ingest
    // (src/transform/coverage.rs has the same rules): older records get it from their
    // override reasons and From domain.
    if !has_column(conn, "records", "from_subdomain")? {
        conn.execute_batch(
            "ALTER TABLE records ADD COLUMN kept_override BOOLEAN DEFAULT false;
             ALTER TABLE records ADD COLUMN forwarding_override BOOLEAN DEFAULT false;
             ALTER TABLE records ADD COLUMN from_subdomain BOOLEAN DEFAULT false;
             UPDATE records SET kept_override = o.kept, forwarding_override = o.forwarding
             FROM (SELECT report, record_no,
                          bool_or(kind IN ('forwarded', 'mailing_list', 'trusted_forwarder',
                                           'local_policy')) AS kept,
                          bool_or(kind IN ('forwarded', 'mailing_list', 'trusted_forwarder')
                                  OR (kind = 'local_policy'
                                      AND comment ILIKE '%arc=pass%')) AS forwarding
                   FROM (SELECT *, lower(trim(type)) AS kind FROM override_reasons)
                   GROUP BY ALL) o
             WHERE records.report = o.report AND records.record_no = o.record_no;
             UPDATE records SET from_subdomain = true
             FROM reports r
             WHERE r.id = records.report AND r.domain <> ''
               AND ends_with(lower(rtrim(records.header_from, '.')), '.' || r.domain);",
        )?;
    }
    // Report authenticity came with naming from evidence: reports stored before were never
    // checked, and names that came from reported DKIM domains or an AS's domain (which a
    // forged report or a rented address could borrow) are dropped, to be made again by the
    // next `enrich` (or ingest) from evidence about the address.
    if !has_column(conn, "reports", "authenticity")? {
        conn.execute_batch(
            "ALTER TABLE reports ADD COLUMN authenticity VARCHAR DEFAULT 'unverified';
             DELETE FROM source_names WHERE named_by IN ('dkim', 'as_domain');
             DELETE FROM naming_mark;",
        )?;
    }
    // Alert state per scope (the run's filters) came with alerts that record only what a run
    // evaluated: earlier state was the unfiltered runs'. Policies were recorded as the latest
    // report's text: dropped, so the first run records the policy in force instead of
    // raising a change for every domain.
    if !has_column(conn, "alert_runs", "scope")? {
        conn.execute_batch(
            "ALTER TABLE alert_seen ADD COLUMN scope VARCHAR DEFAULT '';
             ALTER TABLE alert_runs ADD COLUMN scope VARCHAR DEFAULT '';
             DELETE FROM alert_seen WHERE kind = 'policy';",
        )?;
    }
    // A raised alert's domain came with alerts per reporter and DKIM key, whose subjects (a
    // reporter) recur across domains; earlier rows keep NULL, which stands for any domain.
    conn.execute_batch("ALTER TABLE alert_seen ADD COLUMN IF NOT EXISTS domain VARCHAR")?;
    // The day a policy from reports is as of came with same-day disagreements being no
    // change; older rows have none, and their policy compares as before.
    conn.execute_batch("ALTER TABLE alert_seen ADD COLUMN IF NOT EXISTS as_of DATE")?;
    // Notes on values duckmarc changed while reading a report came with the bounds checks,
    // and to SMTP TLS reports with the quirks of real reporters.
    conn.execute_batch(
        "ALTER TABLE reports ADD COLUMN IF NOT EXISTS notes VARCHAR;
         ALTER TABLE tls_reports ADD COLUMN IF NOT EXISTS notes VARCHAR;",
    )?;
    // The DMARC record found above a domain by the tree walk came later; older rows were
    // asked at the domain only, and are asked again within the hour (POLICY_TTL_SECONDS).
    conn.execute_batch("ALTER TABLE dmarc_records ADD COLUMN IF NOT EXISTS found_at VARCHAR")?;
    // Several records at a name came to be passed over later (the walk went on above them);
    // older rows stopped there, and are asked again within the hour.
    conn.execute_batch("ALTER TABLE dmarc_records ADD COLUMN IF NOT EXISTS several_at VARCHAR")?;
    // Whether the record found above is a registry's came later still; older rows fall back
    // to "a single label is a top-level domain" until asked again.
    conn.execute_batch(
        "ALTER TABLE dmarc_records ADD COLUMN IF NOT EXISTS found_at_public_suffix BOOLEAN",
    )?;
    // SMTP TLS report e-mails came to be checked later; older rows were not.
    conn.execute_batch(
        "ALTER TABLE tls_reports ADD COLUMN IF NOT EXISTS authenticity VARCHAR DEFAULT 'unverified'",
    )?;
    // Records stored without a DKIM or SPF verdict (no policy_evaluated) counted as failing
    // DMARC; ingest now works the missing verdict out from the record's alignment, which
    // was stored beside it under the same adkim/aspf (columns.rs), and notes it.
    once(conn, "verdicts_worked_out", verdicts_worked_out)?;
    // Domains written as U-labels were stored as written; they are stored as A-labels since
    // (parse/domain.rs), and older rows follow, so one domain is one row. What was worked
    // out from them at ingest (alignment, diagnosis) stays as it was.
    once(conn, "domains_as_a_labels", domains_as_a_labels)?;
    // A reporter's name was compared as written: `WEB.DE` and `web.de` were two reporters.
    // Each reporter is now stored under the name it was first stored with (write.rs
    // KnownReports), and older rows follow; report keys stay as the reports wrote them. A
    // report already stored twice under keys that differ in case keeps both copies:
    // nothing is deleted.
    once(conn, "reporters_case_folded", |conn| {
        reporters_case_folded(conn, "reports")
    })?;
    once(conn, "tls_reporters_case_folded", |conn| {
        reporters_case_folded(conn, "tls_reports")
    })?;
    // Ledger rows of older duckmarcs have no kind and code: derived from their reason text,
    // so an input they skipped for its kind is read again once that kind is stored.
    conn.execute_batch(&format!(
        "ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS kind VARCHAR;
         ALTER TABLE ingest_ledger ADD COLUMN IF NOT EXISTS code VARCHAR;
         UPDATE ingest_ledger SET kind = {LEDGER_KIND_OF_OLD_ROWS},
                code = CASE WHEN outcome = 'skipped' THEN 'unsupported_kind' END
         WHERE kind IS NULL;"
    ))?;
    // The policy domain's organisational domain came with DKIM keys of a sibling subdomain
    // counting as the domain's own (selection.sql's signatures_of); older reports get it
    // from their policy domain, as ingest works it out.
    conn.execute_batch("ALTER TABLE reports ADD COLUMN IF NOT EXISTS org_domain VARCHAR")?;
    // An export directory is told by the id written in it too (render/parquet.rs).
    conn.execute_batch("ALTER TABLE parquet_exports ADD COLUMN IF NOT EXISTS export_id VARCHAR")?;
    organisational_domains(conn)?;
    // Each report's size, which a copy sent again is compared with (counting the stored
    // records took a millisecond a copy), worked out once for the reports stored before: in
    // the upgrade's own transaction, so a run killed before the sizes were filled fills them
    // next time (the columns alone would say the database is current).
    conn.execute_batch(
        "ALTER TABLE reports ADD COLUMN IF NOT EXISTS record_count BIGINT;
         ALTER TABLE reports ADD COLUMN IF NOT EXISTS message_count BIGINT;",
    )?;
    once(conn, "report_sizes", report_sizes)?;
    // The domain's own signature counted as failing only with `fail`; a `permerror` or
    // `temperror` (its key missing or not fetched) counts too since (alignment.rs), and
    // older records follow, the policy domain's organisation standing for the From domain's.
    once(conn, "own_dkim_unverified", own_dkim_unverified)?;
    // A bounce's HELO pass is its MAIL FROM pass since (alignment.rs): older records follow.
    once(conn, "bounce_helo_spf", bounce_helo_spf)
}

/// The kind of a ledger row written before the ledger had kinds, from its reason text.
pub(super) const LEDGER_KIND_OF_OLD_ROWS: &str = "CASE
    WHEN outcome IN ('stored', 'duplicate') THEN 'aggregate'
    WHEN reason LIKE 'SMTP TLS report%' THEN 'smtp_tls'
    WHEN reason LIKE '%failure (forensic) report%' THEN 'failure_report'
    WHEN reason LIKE '%(bounce)%' THEN 'bounce'
    ELSE 'unknown' END";

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    #[test]
    fn the_columns_read_from_the_schema_are_those_duckdb_makes() {
        let conn = fresh();
        let mut made: Vec<(String, String)> = conn
            .prepare(
                "SELECT table_name, column_name FROM duckdb_columns()
                 WHERE schema_name = 'main' AND table_name IN (SELECT table_name FROM duckdb_tables())",
            )
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut read: Vec<(String, String)> = schema_columns()
            .into_iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect();
        made.sort();
        read.sort();
        assert_eq!(read, made);
        assert!(has_every_column(&conn).unwrap());
    }

    /// A database of 2026-12-05 had the naming mark, the newest column then, but not the
    /// DMARC record's place in the tree walk: it was taken for current, and readiness failed
    /// on the missing column. Any column or table missing is an older database.
    #[test]
    fn a_database_missing_any_column_or_table_is_upgraded() {
        for (table, column) in [
            ("dmarc_records", Some("found_at")),
            ("dmarc_records", Some("several_at")),
            ("dmarc_records", Some("found_at_public_suffix")),
            ("alert_seen", Some("as_of")),
            ("tls_reports", Some("authenticity")),
            ("reports", Some("org_domain")),
            ("parquet_exports", Some("export_id")),
            ("naming_mark", None),
            ("data_upgrades", None),
        ] {
            let conn = fresh();
            let older = match column {
                Some(column) => format!("ALTER TABLE {table} DROP COLUMN {column}"),
                None => format!("DROP TABLE {table}"),
            };
            // A column of the user's own does not stand in for the one missing.
            conn.execute_batch(&format!(
                "{older}; ALTER TABLE reports ADD COLUMN my_note VARCHAR"
            ))
            .unwrap();
            assert!(!schema_is_current(&conn).unwrap(), "{older}");
            create_or_upgrade(&conn).unwrap();
            assert!(schema_is_current(&conn).unwrap(), "{older}");
        }
    }

    /// An upgrade of the data that comes without a new column runs on a database that has
    /// every column: it is not current until the upgrade ran.
    #[test]
    fn a_database_missing_an_upgrade_of_its_data_is_upgraded() {
        let conn = fresh();
        create_or_upgrade(&conn).unwrap();
        assert!(schema_is_current(&conn).unwrap());
        conn.execute_batch(
            "INSERT INTO tls_reports (id, report_key, org_name, report_id, begin_time, end_time,
                                      origin, ingested_at)
             VALUES (1, 'k1', 'Microsoft Corporation', 'r1', now()::TIMESTAMP, now()::TIMESTAMP,
                     'a', now()::TIMESTAMP),
                    (2, 'k2', 'MICROSOFT CORPORATION', 'r2', now()::TIMESTAMP, now()::TIMESTAMP,
                     'b', now()::TIMESTAMP);
             DELETE FROM data_upgrades WHERE name = 'tls_reporters_case_folded';",
        )
        .unwrap();
        assert!(!schema_is_current(&conn).unwrap());
        create_or_upgrade(&conn).unwrap();
        assert!(schema_is_current(&conn).unwrap());
        let names: Vec<String> = conn
            .prepare("SELECT DISTINCT org_name FROM tls_reports")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, ["Microsoft Corporation"]);
    }

    /// Reports stored before the organisational domain was kept get it from their policy
    /// domain, by the public suffix list as ingest does; a public suffix has none.
    #[test]
    fn older_reports_get_their_organisational_domain() {
        let conn = fresh();
        conn.execute_batch(
            "ALTER TABLE reports DROP COLUMN org_domain;
             INSERT INTO reports (id, report_key, org_name, report_id, domain, begin_time,
                                  end_time, origin, ingested_at)
             SELECT id, 'k' || id, 'o', 'r' || id, domain, TIMESTAMP '2025-11-01',
                    TIMESTAMP '2025-11-02', 'test', TIMESTAMP '2025-11-02'
             FROM (VALUES (1, 'news.example.co.uk'), (2, 'example.com'), (3, 'co.uk')) v(id, domain);",
        )
        .unwrap();
        create_or_upgrade(&conn).unwrap();
        let stored: Vec<(String, Option<String>)> =
            pairs(&conn, "SELECT domain, org_domain FROM reports ORDER BY id");
        let expected = [
            ("news.example.co.uk", Some("example.co.uk")),
            ("example.com", Some("example.com")),
            ("co.uk", None),
        ]
        .map(|(d, o)| (d.to_string(), o.map(str::to_string)));
        assert_eq!(stored, expected);
    }

    /// The rows of a two-column query.
    fn pairs<A: duckdb::types::FromSql, B: duckdb::types::FromSql>(
        conn: &Connection,
        sql: &str,
    ) -> Vec<(A, B)> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A current database holding one report of example.com (id 1) and then `data`,
    /// brought up to date again.
    fn upgraded_after(data: &str) -> Connection {
        let conn = fresh();
        create_or_upgrade(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO reports (id, report_key, org_name, report_id, domain, org_domain,
                                  begin_time, end_time, origin, ingested_at)
             VALUES (1, 'k1', 'o', 'r1', 'example.com', 'example.com', TIMESTAMP '2025-11-01',
                     TIMESTAMP '2025-11-02', 'test', TIMESTAMP '2025-11-02');",
        )
        .unwrap();
        conn.execute_batch(data).unwrap();
        create_or_upgrade(&conn).unwrap();
        conn
    }

    /// Records stored when only `fail` counted as the domain's own signature failing get a
    /// `permerror` or `temperror` of it counted too; another domain's error is not theirs.
    #[test]
    fn older_records_count_their_own_signature_in_error_as_failed() {
        let conn = upgraded_after(
            "INSERT INTO records (report, record_no, source_ip, count, header_from,
                                  dkim_aligned, spf_aligned, diagnosis)
             SELECT 1, n, '192.0.2.1', 1, 'example.com', false, false, 'dkim_third_party'
             FROM range(3) t(n);
             INSERT INTO dkim_results VALUES (1, 0, 0, 'example.com', 's', 'permerror', NULL),
                                             (1, 1, 0, 'mail.example.com', 's', 'temperror', NULL),
                                             (1, 2, 0, 'esp.example', 's', 'permerror', NULL);
             DELETE FROM data_upgrades WHERE name = 'own_dkim_unverified';",
        );
        let failed: Vec<bool> = conn
            .prepare("SELECT own_dkim_failed FROM records ORDER BY record_no")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(failed, [true, true, false]);
    }

    /// Bounces stored when a HELO pass was left out: the domain's own bounce (HELO pass for
    /// its name) aligns by SPF, another HELO name's pass is SPF for another domain, and a
    /// record with a MAIL FROM keeps what it had.
    #[test]
    fn older_bounces_align_by_their_helo_pass() {
        let conn = upgraded_after(
            "INSERT INTO records (report, record_no, source_ip, count, header_from,
                                  envelope_from, dkim_aligned, spf_aligned, diagnosis)
             VALUES (1, 0, '192.0.2.1', 1, 'example.com', NULL, false, false, 'no_authentication'),
                    (1, 1, '192.0.2.2', 1, 'example.com', NULL, false, false, 'no_authentication'),
                    (1, 2, '192.0.2.3', 1, 'example.com', 'example.com', false, false,
                     'no_authentication');
             INSERT INTO spf_results VALUES (1, 0, 0, 'mx.example.com', 'helo', 'pass', NULL),
                                            (1, 1, 0, 'mx.other.example', 'helo', 'pass', NULL),
                                            (1, 2, 0, 'mx.example.com', 'helo', 'pass', NULL);
             DELETE FROM data_upgrades WHERE name = 'bounce_helo_spf';",
        );
        let stored: Vec<(bool, String)> = pairs(
            &conn,
            "SELECT spf_aligned, diagnosis FROM records ORDER BY record_no",
        );
        let expected = [
            (true, "spf_aligned_only"),
            (false, "spf_other_domain"),
            (false, "no_authentication"),
        ]
        .map(|(a, d)| (a, d.to_string()));
        assert_eq!(stored, expected);
    }
}
