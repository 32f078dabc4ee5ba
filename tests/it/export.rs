//! `duckmarc export --parquet`: incremental Hive-partitioned exports, and two overlapping
//! shards whose exports, read by a real Apache Spark (pyspark, local mode) and by DuckDB, give
//! exactly the figures of one database holding everything.

use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Our samples plus ten days of reports from two reporters: inputs over many days.
fn inputs(scratch: &Scratch) -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    inputs.sort();
    for day in 0..10u64 {
        for org in ["google.com", "yahoo.com"] {
            let rows = [Row {
                ip: &format!("203.0.113.{}", day + 1),
                count: 10 + day,
                dkim: if day % 3 == 0 { "fail" } else { "pass" },
                spf: "fail",
                from: "example.com",
                dkim_domain: "example.com",
                spf_domain: "example.com",
                reason: None,
                selector: None,
            }];
            let xml = dmarc_report(
                org,
                &format!("{org}-{day}"),
                1_762_000_000 + day * 86_400,
                "<p>none</p>",
                &rows,
            );
            inputs.push(scratch.write(&format!("days/{org}-{day}.xml"), xml.as_bytes()));
        }
    }
    // A report that tells of no message: its domain is still one of the domains reported.
    let mut nothing = passing_row("203.0.113.99", 0);
    nothing.from = "zero.example";
    let zero = dmarc_report("web.de", "zero-1", 1_762_000_000, "<p>none</p>", &[nothing]).replace(
        "<domain>example.com</domain>",
        "<domain>zero.example</domain>",
    );
    inputs.push(scratch.write("days/zero.xml", zero.as_bytes()));
    inputs
}

/// `export --parquet dir` from `db`, which succeeds; its output (with `-v`).
fn export(scratch: &Scratch, db: &Path, dir: &Path) -> std::process::Output {
    let output = scratch
        .command_with_db(db)
        .args(["-v", "export", "--parquet"])
        .arg(dir)
        .output()
        .unwrap();
    assert_success(&output);
    output
}

fn query_parquet(scratch: &Scratch, dirs: &[&Path], sql_file: &str) -> Vec<Value> {
    let mut command = scratch.command();
    command
        .arg("query")
        .arg(repo().join("queries").join(sql_file));
    for dir in dirs {
        command.arg("--parquet").arg(dir);
    }
    let output = command.args(["--format", "json"]).output().unwrap();
    assert_success(&output);
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `count` messages from `ip` that pass DKIM and SPF for example.com.
fn passing_row(ip: &str, count: u64) -> Row<'_> {
    Row {
        ip,
        count,
        dkim: "pass",
        spf: "pass",
        from: "example.com",
        dkim_domain: "example.com",
        spf_domain: "example.com",
        reason: None,
        selector: None,
    }
}

/// A report of 7 messages for late.example, stored after an export.
fn late_report() -> String {
    dmarc_report(
        "late.example",
        "late-1",
        1_762_000_000,
        "<p>none</p>",
        &[passing_row("198.51.100.99", 7)],
    )
}

/// The messages of every domain in the exports under `dir`, read back by DuckDB.
fn exported_messages(scratch: &Scratch, dir: &Path) -> u64 {
    query_parquet(scratch, &[dir], "parquet_domains.sql")
        .iter()
        .map(|d| d["messages"].as_u64().unwrap())
        .sum()
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// pyspark with a Java runtime, or None (after a notice; a failure in CI).
fn spark() -> Option<()> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import pyspark"])
        .output()
        .is_ok_and(|o| o.status.success());
    require_program(&["java"])?;
    if !ok {
        skip_or_fail("pyspark (pip install pyspark) is not installed");
        return None;
    }
    Some(())
}

#[test]
fn two_overlapping_shards_read_by_spark_and_duckdb_equal_one_database() {
    let scratch = Scratch::new();
    let inputs = inputs(&scratch);
    // Shard A takes the first 60% of the inputs, shard B the last 60%: a fifth overlaps.
    let cut = |share: usize| inputs.len() * share / 100;
    let (a, b) = (&inputs[..cut(60)], &inputs[cut(40)..]);
    assert!(cut(40) < cut(60), "the shards overlap");
    // Shard B first stores a report both hold with its reporter's name in capitals, so it
    // names that reporter so: the union still has one reporter, spelt as first stored.
    let shared = inputs[cut(40)..cut(60)]
        .iter()
        .find(|p| p.to_string_lossy().contains("yahoo.com-"))
        .expect("a Yahoo report in both shards");
    let shouted = std::fs::read_to_string(shared).unwrap().replace(
        "<org_name>yahoo.com</org_name>",
        "<org_name>YAHOO.COM</org_name>",
    );
    let shouted = scratch.write("shouted/yahoo.xml", shouted.as_bytes());
    let b = &[std::slice::from_ref(&shouted), b].concat()[..];
    assert_success(&scratch.ingest(&inputs));
    assert_success(&scratch.ingest(&[&shouted]));
    let whole = scratch.stats();
    let mut exports = Vec::new();
    for (name, share) in [("a", a), ("b", b)] {
        let db = scratch.path(&format!("shard-{name}.duckdb"));
        let output = scratch
            .command_with_db(&db)
            .arg("ingest")
            .args(share)
            .output()
            .unwrap();
        assert!(output.status.code() != Some(1), "{}", stderr(&output));
        let dir = scratch.path(&format!("export-{name}"));
        export(&scratch, &db, &dir);
        exports.push(dir);
    }
    let dirs: Vec<&Path> = exports.iter().map(PathBuf::as_path).collect();

    // DuckDB over both exports: the database's own reports, unchanged SQL for daily.
    let daily = query_parquet(&scratch, &dirs, "daily.sql");
    assert_eq!(daily, scratch.report_json(&["daily"]));
    let reporters = query_parquet(&scratch, &dirs, "reporters.sql");
    assert_eq!(reporters, scratch.report_json(&["reporters"]));
    let sources = query_parquet(&scratch, &dirs, "parquet_sources.sql");
    let expected = scratch.report_json(&["sources"]);
    let pick = |rows: &[Value]| -> Vec<(String, u64, u64)> {
        rows.iter()
            .map(|r| {
                let n = |k: &str| r[k].as_u64().unwrap_or(0);
                (
                    r["source_ip"].as_str().unwrap().to_string(),
                    n("messages"),
                    n("dmarc_pass_messages"),
                )
            })
            .collect()
    };
    assert_eq!(pick(&sources), pick(&expected));
    let domains = query_parquet(&scratch, &dirs, "parquet_domains.sql");
    let total: u64 = domains.iter().map(|d| d["reports"].as_u64().unwrap()).sum();
    assert_eq!(total, whole["reports"].as_u64().unwrap());
    let figures = |rows: &[Value]| -> Vec<(String, u64, u64)> {
        let mut figures: Vec<_> = rows
            .iter()
            .map(|r| {
                let n = |k: &str| r[k].as_u64().unwrap_or(0);
                (
                    r["domain"].as_str().unwrap().to_string(),
                    n("messages"),
                    n("reports"),
                )
            })
            .collect();
        figures.sort();
        figures
    };
    assert_eq!(
        figures(&domains),
        figures(&scratch.report_json(&["domains"]))
    );

    // Apache Spark over the same files.
    if spark().is_none() {
        return;
    }
    let script = repo().join("tests/it/spark_totals.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(&dirs)
        .output()
        .unwrap();
    assert!(output.status.success(), "spark: {}", stderr(&output));
    let line = stdout(&output)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let spark: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("spark printed {line}"));
    assert_eq!(
        totals(&spark),
        totals(&whole),
        "spark {spark} whole {whole}"
    );
    assert_eq!(spark["domains"], whole["domains"]);
    assert!(
        spark["days"].as_array().unwrap().len() >= 12,
        "Hive partitions by day: {spark}"
    );
}

#[test]
fn exports_are_incremental_and_a_cut_short_export_is_redone_not_doubled() {
    let scratch = Scratch::new();
    let inputs = inputs(&scratch);
    let dir = scratch.path("export");
    let half = inputs.len() / 2;
    scratch.ingest(&inputs[..half]);
    export(&scratch, &scratch.db(), &dir);
    let first = files(&dir);
    let first_last =
        scratch.query("SELECT last_report FROM parquet_exports")[0]["last_report"].clone();
    assert!(first
        .iter()
        .filter(|(name, _)| name != ".duckmarc-export")
        .all(|(name, _)| name.contains("/day=") && name.ends_with(".parquet")));
    assert!(
        first
            .iter()
            .any(|(name, _)| name.starts_with("records/day=2025-11-01/")),
        "{first:?}"
    );

    scratch.ingest(&inputs[half..]);
    export(&scratch, &scratch.db(), &dir);
    let second = files(&dir);
    for file in &first {
        assert!(second.contains(file), "{} was rewritten", file.0);
    }
    assert!(second.len() > first.len());
    let stats = scratch.stats();
    let messages = exported_messages(&scratch, &dir);
    assert_eq!(messages, stats["messages"].as_u64().unwrap());

    // Nothing new: nothing written.
    export(&scratch, &scratch.db(), &dir);
    assert_eq!(files(&dir), second);

    // An export cut short after recording its range and writing some files (here: the
    // second one, as if it had died before recording that it finished) is written again
    // under the same names by the next run: replaced, not doubled.
    scratch.rewrite(&format!(
        "UPDATE parquet_exports SET pending_to = last_report, last_report = {first_last}"
    ));
    // A report arrives before the export runs again.
    let late = late_report();
    scratch.ingest(&[&scratch.write("late.xml", late.as_bytes())]);
    export(&scratch, &scratch.db(), &dir);
    let names = |files: &[(String, Vec<u8>)]| files.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&files(&dir)),
        names(&second),
        "the same files, no staging left"
    );
    export(&scratch, &scratch.db(), &dir);
    let again = exported_messages(&scratch, &dir);
    assert_eq!(
        again,
        messages + 7,
        "no report counted twice, the late one once"
    );
    let state = scratch.query("SELECT last_report, pending_to FROM parquet_exports");
    assert!(state[0]["pending_to"].is_null(), "{state:?}");
}

/// Deleting the newest reports by hand frees their ids; reports stored afterwards must still
/// be exported, so ids below what an export has passed are never given out again.
#[test]
fn reports_stored_after_a_hand_deletion_are_still_exported() {
    let scratch = Scratch::new();
    let report = |id: &str, day: u64, ip: &'static str| {
        let xml = dmarc_report(
            "google.com",
            id,
            1_762_000_000 + day * 86_400,
            "<p>none</p>",
            &[passing_row(ip, 5)],
        );
        scratch.write(&format!("{id}.xml"), xml.as_bytes())
    };
    let first = [
        report("a", 0, "192.0.2.1"),
        report("b", 1, "192.0.2.2"),
        report("c", 2, "192.0.2.3"),
    ];
    assert_success(&scratch.ingest(&first));
    let dir = scratch.path("export");
    export(&scratch, &scratch.db(), &dir);
    scratch.rewrite("DELETE FROM records WHERE report >= 2; DELETE FROM reports WHERE id >= 2;");
    let later = [report("d", 3, "192.0.2.4"), report("e", 4, "192.0.2.5")];
    assert_success(&scratch.ingest(&later));
    let ids: Vec<i64> = scratch
        .query("SELECT id FROM reports ORDER BY id")
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [1, 4, 5],
        "ids 2 and 3 were exported: never given again"
    );
    export(&scratch, &scratch.db(), &dir);
    let messages = exported_messages(&scratch, &dir);
    assert_eq!(
        messages,
        5 * 5,
        "the three first reports and the two later ones"
    );
}

/// A genuine copy that replaced a forged one after an export (README "Is a report
/// genuine?"): the directory then holds both copies, and the views over it read the one the
/// database holds, once (they read the forged copy's records, or both copies' records mixed).
#[test]
fn a_copy_replaced_after_an_export_is_read_as_the_database_holds_it() {
    use crate::identity::report;
    use crate::report_authenticity::{
        ingest_with_dns, ingest_with_dns_into, passing_record, report_mail_from_source,
        report_mail_of, Signer,
    };
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    let from = "noreply-dmarc-support@google.com";
    // The forged copy holds more records than the genuine one: none of them may count.
    let spoofed = ["203.0.113.97", "203.0.113.98", "203.0.113.99"].map(passing_record);
    let forged = scratch.write(
        "forged.eml",
        &report_mail_of(from, "d-1", &report("google.com", "d-1", &spoofed)),
    );
    let genuine = scratch.write(
        "genuine.eml",
        &signer.sign(
            "google.com",
            &report_mail_from_source(from, "d-1", "192.0.2.10"),
        ),
    );
    let dir = scratch.path("export");
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&forged]));
    export(&scratch, &scratch.db(), &dir);
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&genuine]));
    export(&scratch, &scratch.db(), &dir);

    let sources: Vec<(String, u64)> = query_parquet(&scratch, &[&dir], "parquet_sources.sql")
        .iter()
        .map(|s| {
            let ip = s["source_ip"].as_str().unwrap().to_string();
            (ip, s["messages"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(sources, [("192.0.2.10".to_string(), 5)]);
    assert_eq!(exported_messages(&scratch, &dir), 5);
    // The same with the directory read twice, as two shards holding the same reports.
    let twice = query_parquet(&scratch, &[&dir, &dir], "parquet_sources.sql");
    assert_eq!(twice.len(), 1, "{twice:?}");
    // Beside a shard that holds only the forged copy, under a later report id (its own
    // database's ids mean nothing here): the copy not shown forged is read.
    let forged_shard = scratch.path("forged-shard.duckdb");
    let inputs = [samples(), forged];
    let output = ingest_with_dns_into(&scratch, &forged_shard, &dns.address, &[], &inputs);
    assert_success(&output);
    let other = scratch.path("forged-export");
    export(&scratch, &forged_shard, &other);
    let sql = scratch.write(
        "d1.sql",
        b"SELECT DISTINCT source_ip FROM shard_records WHERE report_key LIKE '%|d-1|%'",
    );
    let d1 = query_parquet(&scratch, &[&other, &dir], sql.to_str().unwrap());
    assert_eq!(d1, [serde_json::json!({"source_ip": "192.0.2.10"})]);
}

/// The directory, not only the database, tells what an export holds: a directory removed
/// (or emptied) since the last export gets every report again, and one holding another
/// database's export is refused, since the same file names would overwrite its files.
#[test]
fn a_removed_export_is_written_again_and_another_databases_is_left_alone() {
    let scratch = Scratch::new();
    let inputs = inputs(&scratch);
    assert_success(&scratch.ingest(&inputs));
    let messages = scratch.stats()["messages"].as_u64().unwrap();
    let dir = scratch.path("export");
    export(&scratch, &scratch.db(), &dir);
    assert_eq!(exported_messages(&scratch, &dir), messages);

    // An export written by a duckmarc from before the marker: the datasets are there, the
    // database knows them, so nothing is exported again.
    std::fs::remove_file(dir.join(".duckmarc-export")).unwrap();
    scratch.rewrite("ALTER TABLE parquet_exports DROP COLUMN export_id");
    let adopted = export(&scratch, &scratch.db(), &dir);
    assert!(
        stderr(&adopted).contains("nothing new to export"),
        "{}",
        stderr(&adopted)
    );
    assert!(dir.join(".duckmarc-export").exists());

    // Emptied as people do (the hidden marker stays), then removed: every report again.
    for dataset in std::fs::read_dir(&dir).unwrap() {
        let dataset = dataset.unwrap().path();
        if dataset.is_dir() {
            std::fs::remove_dir_all(dataset).unwrap();
        }
    }
    let exports_every_report_again = || {
        let again = export(&scratch, &scratch.db(), &dir);
        assert!(
            stderr(&again).contains("no longer holds the reports exported to it"),
            "{}",
            stderr(&again)
        );
        assert_eq!(exported_messages(&scratch, &dir), messages);
    };
    exports_every_report_again();
    std::fs::remove_dir_all(&dir).unwrap();
    exports_every_report_again();

    // A second database, with reports of its own, pointed at the same directory.
    let other = scratch.path("other.duckdb");
    let late = late_report();
    let output = scratch
        .command_with_db(&other)
        .arg("ingest")
        .arg(scratch.write("late.xml", late.as_bytes()))
        .output()
        .unwrap();
    assert_success(&output);
    let before = files(&dir);
    refuses_to_export(&scratch, &other, &dir, "holds another database's export");
    assert!(
        files(&dir) == before,
        "the other export's files are untouched"
    );

    // Datasets without a marker that this database never exported to: refused too.
    let foreign = scratch.path("foreign");
    std::fs::create_dir_all(foreign.join("records/day=2025-11-01")).unwrap();
    refuses_to_export(
        &scratch,
        &other,
        &foreign,
        "holds datasets this database did not export",
    );
}

/// `export --parquet dir` from `db` exits 1 with `reason` on stderr.
fn refuses_to_export(scratch: &Scratch, db: &Path, dir: &Path, reason: &str) {
    let refused = scratch
        .command_with_db(db)
        .args(["export", "--parquet"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(reason), "{}", stderr(&refused));
}
