//! The database's schema (queries/schema.sql), and bringing a database made by an older
//! duckmarc up to it in place.

use crate::transform::alignment::registrable_domain;
use anyhow::{Context, Result};
use duckdb::Connection;
use std::collections::HashMap;

const SCHEMA: &str = include_str!("../../queries/schema.sql");

/// The upgrades of stored data that run once (`once`), by the name data_upgrades records.
const DATA_UPGRADES: [&str; 5] = [
    "verdicts_worked_out",
    "domains_as_a_labels",
    "reporters_case_folded",
    "tls_reporters_case_folded",
    "report_sizes",
];

/// Whether the database has every table and column of [`SCHEMA`], by name, and every
/// upgrade of its data: then neither the schema nor the upgrade runs again (a cron job opens
/// the database often). Columns a user or a newer duckmarc added are no reason to upgrade,
/// nor do they stand in for missing ones.
pub(super) fn schema_is_current(conn: &Connection) -> Result<bool> {
    Ok(has_every_column(conn)? && has_every_data_upgrade(conn)?)
}

/// Whether every upgrade of the data ran: one that came without a new column (reporters'
/// names in SMTP TLS reports) would otherwise never run on a database that has them all.
fn has_every_data_upgrade(conn: &Connection) -> Result<bool> {
    let names: Vec<String> = DATA_UPGRADES.iter().map(|n| format!("'{n}'")).collect();
    let applied: usize = conn.query_row(
        &format!(
            "SELECT count(DISTINCT name) FROM data_upgrades WHERE name IN ({})",
            names.join(", ")
        ),
        [],
        |row| row.get(0),
    )?;
    Ok(applied == DATA_UPGRADES.len())
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
    organisational_domains(conn)?;
    // Each report's size, which a copy sent again is compared with (counting the stored
    // records took a millisecond a copy), worked out once for the reports stored before: in
    // the upgrade's own transaction, so a run killed before the sizes were filled fills them
    // next time (the columns alone would say the database is current).
    conn.execute_batch(
        "ALTER TABLE reports ADD COLUMN IF NOT EXISTS record_count BIGINT;
         ALTER TABLE reports ADD COLUMN IF NOT EXISTS message_count BIGINT;",
    )?;
    once(conn, "report_sizes", report_sizes)
}

/// Fills `reports.record_count` and `message_count` where they are missing.
fn report_sizes(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "UPDATE reports SET record_count = c.records, message_count = c.messages
         FROM (SELECT r.id, count(rec.report) AS records, coalesce(sum(rec.count), 0) AS messages
               FROM reports r LEFT JOIN records rec ON rec.report = r.id
               WHERE r.record_count IS NULL OR r.message_count IS NULL
               GROUP BY r.id) c
         WHERE reports.id = c.id;",
    )?;
    Ok(())
}

/// Fills `reports.org_domain` where it is missing, one policy domain at a time (a public
/// suffix has none, and is looked at again by the next upgrade: a few rows).
fn organisational_domains(conn: &Connection) -> Result<()> {
    let domains: Vec<String> = conn
        .prepare("SELECT DISTINCT domain FROM reports WHERE org_domain IS NULL")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut fill =
        conn.prepare("UPDATE reports SET org_domain = ? WHERE domain = ? AND org_domain IS NULL")?;
    for domain in &domains {
        fill.execute(duckdb::params![registrable_domain(domain), domain])?;
    }
    Ok(())
}

/// Runs `apply` unless the upgrade `name` (one of [`DATA_UPGRADES`]) was applied
/// (data_upgrades), and records it.
fn once(
    conn: &Connection,
    name: &str,
    apply: impl FnOnce(&Connection) -> Result<()>,
) -> Result<()> {
    debug_assert!(
        DATA_UPGRADES.contains(&name),
        "{name} is not in DATA_UPGRADES"
    );
    let applied: bool = conn.query_row(
        "SELECT count(*) > 0 FROM data_upgrades WHERE name = ?",
        [name],
        |row| row.get(0),
    )?;
    if applied {
        return Ok(());
    }
    // With its mark, or not at all: run twice, a note would be added twice.
    super::in_transaction(conn, |conn| {
        apply(conn)?;
        conn.execute(
            "INSERT INTO data_upgrades VALUES (?, now()::TIMESTAMP)",
            [name],
        )?;
        Ok(())
    })
}

/// The upgrade of records stored without a verdict: each report's note first (it counts
/// them, in the words ingest uses), then the verdicts.
fn verdicts_worked_out(conn: &Connection) -> Result<()> {
    let counts: Vec<(i64, usize)> = conn
        .prepare(
            "SELECT report, count(*) FROM records WHERE dkim IS NULL OR spf IS NULL GROUP BY report",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut note =
        conn.prepare("UPDATE reports SET notes = concat_ws(chr(10), notes, ?) WHERE id = ?")?;
    for (report, records) in counts {
        note.execute(duckdb::params![
            super::columns::verdicts_worked_out_note(records),
            report
        ])?;
    }
    Ok(conn.execute_batch(
        "UPDATE records SET dkim = CASE WHEN dkim_aligned THEN 'pass' ELSE 'fail' END
         WHERE dkim IS NULL;
         UPDATE records SET spf = CASE WHEN spf_aligned THEN 'pass' ELSE 'fail' END
         WHERE spf IS NULL;",
    )?)
}

/// The columns holding a domain (or a DKIM selector) as a report wrote it, and the domain
/// alert state is kept for.
const DOMAIN_COLUMNS: [(&str, &str); 9] = [
    ("reports", "domain"),
    ("records", "header_from"),
    ("records", "envelope_from"),
    ("records", "envelope_to"),
    ("dkim_results", "domain"),
    ("dkim_results", "selector"),
    ("spf_results", "domain"),
    ("failure_reports", "reported_domain"),
    ("alert_seen", "domain"),
];

/// A report's key holds its domain (org|id|domain|begin|end): the same report sent again
/// is known by the key it has now. Not where that key is taken (the report stored twice,
/// once in each form, which the key could not tell apart then).
const REPORT_KEYS_AS_A_LABELS: &str = "
    UPDATE reports SET report_key = k.stored
    FROM (SELECT r.id, replace(r.report_key, '|' || a.written || '|', '|' || a.stored || '|')
                 AS stored
          FROM reports r JOIN a_labels a ON r.domain = a.written) k
    WHERE reports.id = k.id AND k.stored NOT IN (SELECT report_key FROM reports)";

/// Every value of [`DOMAIN_COLUMNS`] with other than ASCII characters, as it is stored now.
fn domains_as_a_labels(conn: &Connection) -> Result<()> {
    conn.execute_batch("CREATE OR REPLACE TEMP TABLE a_labels (written VARCHAR, stored VARCHAR)")?;
    for (table, column) in DOMAIN_COLUMNS {
        let written: Vec<String> = conn
            .prepare(&format!(
                "SELECT DISTINCT {column} FROM {table} WHERE strlen({column}) <> length({column})"
            ))?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut converted = conn.prepare("INSERT INTO a_labels VALUES (?, ?)")?;
        for name in &written {
            if let Ok(stored) = crate::parse::domain::canonical_domain(name) {
                converted.execute([name, &stored])?;
            }
        }
        if table == "reports" {
            conn.execute_batch(REPORT_KEYS_AS_A_LABELS)?;
        }
        conn.execute_batch(&format!(
            "UPDATE {table} SET {column} = a.stored FROM a_labels a WHERE {column} = a.written;
             DELETE FROM a_labels;"
        ))?;
    }
    Ok(conn.execute_batch("DROP TABLE a_labels")?)
}

/// Each report's reporter in `table` (reports, tls_reports) under the name it was first
/// stored with, as ingest stores it now.
fn reporters_case_folded(conn: &Connection, table: &str) -> Result<()> {
    let names: Vec<String> = conn
        .prepare(&format!(
            "SELECT org_name FROM {table} GROUP BY org_name ORDER BY min(id)"
        ))?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut first_spelling: HashMap<String, &str> = HashMap::new();
    let mut rename = conn.prepare(&format!(
        "UPDATE {table} SET org_name = ? WHERE org_name = ?"
    ))?;
    for name in &names {
        let first = *first_spelling.entry(name.to_lowercase()).or_insert(name);
        if first != name {
            rename.execute([first, name])?;
        }
    }
    Ok(())
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
        let stored: Vec<(String, Option<String>)> = conn
            .prepare("SELECT domain, org_domain FROM reports ORDER BY id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [
            ("news.example.co.uk", Some("example.co.uk")),
            ("example.com", Some("example.com")),
            ("co.uk", None),
        ]
        .map(|(d, o)| (d.to_string(), o.map(str::to_string)));
        assert_eq!(stored, expected);
    }
}
