//! The upgrades of stored data that run once, each recorded in `data_upgrades` in the
//! transaction that applies it, so an interrupted one runs again.

use crate::model::{DkimResult, PolicyPublished, Record, SpfResult};
use crate::transform::alignment::{registrable_domain, AlignmentFacts, UNVERIFIED_DKIM_RESULTS};
use anyhow::Result;
use duckdb::Connection;
use std::collections::HashMap;

/// The upgrades of stored data that run once (`once`), by the name data_upgrades records.
const DATA_UPGRADES: [&str; 7] = [
    "verdicts_worked_out",
    "domains_as_a_labels",
    "reporters_case_folded",
    "tls_reporters_case_folded",
    "report_sizes",
    "own_dkim_unverified",
    "bounce_helo_spf",
];

/// Whether every upgrade of the data ran: one that came without a new column (reporters'
/// names in SMTP TLS reports) would otherwise never run on a database that has them all.
pub(super) fn has_every_data_upgrade(conn: &Connection) -> Result<bool> {
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

/// Marks `records.own_dkim_failed` where the domain's own signature did not verify.
pub(super) fn own_dkim_unverified(conn: &Connection) -> Result<()> {
    let results: Vec<String> = UNVERIFIED_DKIM_RESULTS
        .iter()
        .map(|result| format!("'{result}'"))
        .collect();
    conn.execute_batch(&format!(
        "UPDATE records SET own_dkim_failed = true
         FROM (SELECT DISTINCT d.report, d.record_no
               FROM dkim_results d JOIN reports r ON r.id = d.report
               WHERE d.result IN ({})
                 AND (lower(d.domain) = coalesce(r.org_domain, r.domain)
                      OR ends_with(lower(d.domain), '.' || coalesce(r.org_domain, r.domain)))) f
         WHERE records.report = f.report AND records.record_no = f.record_no
           AND NOT records.own_dkim_failed;",
        results.join(", ")
    ))?;
    Ok(())
}

/// The stored records of bounces (no envelope_from, only HELO results: a null MAIL FROM,
/// whose identity is postmaster at the HELO name, RFC 7208 section 2.4) aligned again as
/// alignment.rs aligns them since: their HELO pass was left out, and a domain's own bounces
/// read as unauthenticated.
pub(super) fn bounce_helo_spf(conn: &Connection) -> Result<()> {
    let bounces = "SELECT r.report, r.record_no FROM records r
         WHERE r.envelope_from IS NULL
           AND EXISTS (SELECT 1 FROM spf_results s WHERE s.report = r.report
                         AND s.record_no = r.record_no AND s.scope = 'helo')
           AND NOT EXISTS (SELECT 1 FROM spf_results s WHERE s.report = r.report
                             AND s.record_no = r.record_no AND s.scope IS DISTINCT FROM 'helo')";
    let mut records: HashMap<(i64, i64), (Record, PolicyPublished)> = HashMap::new();
    let mut heads = conn.prepare(&format!(
        "SELECT r.report, r.record_no, r.header_from, p.adkim, p.aspf, r.dkim, r.spf
         FROM records r JOIN reports p ON p.id = r.report SEMI JOIN ({bounces}) b
           ON b.report = r.report AND b.record_no = r.record_no"
    ))?;
    let mut rows = heads.query([])?;
    while let Some(row) = rows.next()? {
        let text = |i| row.get::<_, Option<String>>(i).map(|t| t.map(Into::into));
        // The receiver's verdicts too: a pass for a domain the report leaves empty aligns
        // as they say (alignment.rs).
        let record = Record {
            header_from: text(2)?,
            dkim: text(5)?,
            spf: text(6)?,
            ..Record::default()
        };
        let policy = PolicyPublished {
            adkim: row.get(3)?,
            aspf: row.get(4)?,
            ..PolicyPublished::default()
        };
        records.insert((row.get(0)?, row.get(1)?), (record, policy));
    }
    let results = |table: &str| {
        format!(
            "SELECT s.report, s.record_no, s.domain, s.result, {} FROM {table} s SEMI JOIN
             ({bounces}) b ON b.report = s.report AND b.record_no = s.record_no ORDER BY s.idx",
            if table == "spf_results" {
                "s.scope"
            } else {
                "NULL"
            }
        )
    };
    for table in ["dkim_results", "spf_results"] {
        let mut statement = conn.prepare(&results(table))?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let Some((record, _)) = records.get_mut(&(row.get(0)?, row.get(1)?)) else {
                continue;
            };
            let text = |i| row.get::<_, Option<String>>(i).map(|t| t.map(Into::into));
            let (domain, result) = (text(2)?, text(3)?);
            match table {
                "dkim_results" => record.dkim_results.push(DkimResult {
                    domain,
                    result,
                    ..DkimResult::default()
                }),
                _ => record.spf_results.push(SpfResult {
                    domain,
                    result,
                    scope: text(4)?,
                    ..SpfResult::default()
                }),
            }
        }
    }
    let mut update = conn.prepare(
        "UPDATE records SET dkim_aligned = ?, spf_aligned = ?, diagnosis = ?
         WHERE report = ? AND record_no = ?",
    )?;
    for ((report, record_no), (record, policy)) in &records {
        let aligned = AlignmentFacts::of(record).under(policy);
        update.execute(duckdb::params![
            aligned.dkim_aligned,
            aligned.spf_aligned,
            aligned.diagnosis.code(),
            report,
            record_no
        ])?;
    }
    Ok(())
}

/// Fills `reports.record_count` and `message_count` where they are missing.
pub(super) fn report_sizes(conn: &Connection) -> Result<()> {
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
pub(super) fn organisational_domains(conn: &Connection) -> Result<()> {
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
pub(super) fn once(
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
pub(super) fn verdicts_worked_out(conn: &Connection) -> Result<()> {
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
pub(super) fn domains_as_a_labels(conn: &Connection) -> Result<()> {
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
pub(super) fn reporters_case_folded(conn: &Connection, table: &str) -> Result<()> {
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
