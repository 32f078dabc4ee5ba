//! How reports are written out: every format carries the same rows, terminal tables fit the
//! terminal, and a reader that goes away early is no error.

use super::reports::{fixture, report, DAY, NOV_1};
use crate::common::*;

#[test]
fn every_format_carries_the_same_rows() {
    let scratch = fixture();
    let csv = scratch.run(["report", "sources", "--format", "csv"]);
    assert_success(&csv);
    let text = stdout(&csv);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header[..11],
        [
            "source_ip",
            "sender",
            "sender_type",
            "named_by",
            "signed_by",
            "ptr",
            "base_domain",
            "asn",
            "as_name",
            "country",
            "messages"
        ]
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    let value = |column: &str| first[header.iter().position(|h| *h == column).unwrap()];
    assert_eq!(
        [value("source_ip"), value("sender"), value("named_by")],
        ["2001:db8::1", "unknown", ""]
    );
    assert_eq!(
        [
            value("messages"),
            value("dmarc_pass_messages"),
            value("dmarc_pass_rate")
        ],
        ["110", "110", "1.0"]
    );
    assert_eq!(text.lines().count(), 1 + 6);

    let shown = sources_table_at_100_columns(&scratch);
    assert!(
        shown.contains("2001:db8::1") && shown.contains("110"),
        "{shown}"
    );
    assert!(
        shown.lines().all(|l| l.chars().count() <= 100),
        "fits 100 columns:\n{shown}"
    );

    let empty = scratch.run(["report", "failures", "--domain", "nothing.example"]);
    assert!(stdout(&empty).contains("no rows"), "{}", stdout(&empty));
}

#[test]
fn terminal_tables_break_codes_between_their_words() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let diagnoses: Vec<String> = scratch
        .report_json(&["sources"])
        .iter()
        .map(|s| s["diagnosis"].as_str().unwrap().to_string())
        .collect();
    assert!(diagnoses
        .iter()
        .any(|d| d == "dkim_aligned_spf_other_domain"));
    let shown = sources_table_at_100_columns(&scratch);
    // At 100 columns the diagnosis column is narrower than its longest code: the code wraps
    // between its words, each word whole.
    let tokens: Vec<&str> = shown.split_whitespace().collect();
    for word in diagnoses.iter().flat_map(|d| d.split('_')) {
        assert!(tokens.contains(&word), "{word} is not whole in:\n{shown}");
    }
}

/// `report sources` as a terminal of 100 columns shows it.
fn sources_table_at_100_columns(scratch: &Scratch) -> String {
    let table = scratch
        .command()
        .args(["report", "sources"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert_success(&table);
    stdout(&table)
}

/// `duckmarc report ... | head -1`: the reader goes away before duckmarc writes, which is
/// nothing to complain about (no message, exit 0), in tables, CSV and JSON alike.
#[test]
fn output_closed_early_is_a_quiet_success() {
    let scratch = fixture();
    // More than the writers buffer (8 KiB for CSV), so the reader's going is met mid-table.
    let long = scratch.write("long.sql", b"SELECT range AS n FROM range(100000)");
    let long = long.to_str().unwrap();
    let runs = ["table", "csv", "json"].into_iter().flat_map(|format| {
        [
            vec!["report", "senders", "--format", format],
            vec!["query", long, "--format", format],
        ]
    });
    for args in runs {
        let format = args.join(" ");
        let mut child = scratch
            .command()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run duckmarc");
        drop(child.stdout.take()); // the reader is gone before the first line is written
        let output = child.wait_with_output().expect("wait for duckmarc");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{format}: {:?} {said}",
            output.status
        );
        assert!(said.is_empty(), "{format}: {said}");
    }
}

/// `duckmarc ingest ... | true`: the summary has nowhere to go, and the exit code still says
/// that an input was rejected (a panic, 101, hid it); the good input is stored.
#[test]
fn an_ingest_whose_output_is_closed_keeps_its_exit_code() {
    let scratch = Scratch::new();
    let good = report(
        "Google",
        "r-good",
        "example.com",
        NOV_1,
        NOV_1 + DAY,
        "",
        &[],
    );
    let good = scratch.write("good.xml", good.as_bytes());
    let bad = scratch.write("bad.xml", b"<feedback><report_metadata>");
    let mut child = scratch
        .command()
        .arg("ingest")
        .args([&good, &bad])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run duckmarc");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for duckmarc");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    assert_eq!(scratch.stats()["reports"], 1);
}

/// A command line that cannot work as given is exit 2 (README "Exit codes"), whether clap
/// or duckmarc finds it; 1 is for what fails while running.
#[test]
fn a_command_line_that_cannot_work_is_exit_2_naming_what_is_missing() {
    let scratch = Scratch::new();
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "report",
                "sources",
                "--since",
                "2025-11-05",
                "--until",
                "2025-11-01",
            ],
            "is after",
        ),
        (
            &[
                "report",
                "changes",
                "--compare-since",
                "2025-11-05",
                "--compare-until",
                "2025-11-01",
            ],
            "--compare-since 2025-11-05 is after --compare-until 2025-11-01",
        ),
        (
            &["report", "tls", "--sender", "Google"],
            "report tls takes no --sender",
        ),
        (
            &["report", "sources", "--compare-since", "2025-11-01"],
            "for `report changes` only",
        ),
        (&["fetch", "--user", "dmarc"], "no IMAP server: use --host"),
        (
            &[
                "fetch",
                "--host",
                "127.0.0.1",
                "--user",
                "u",
                "--oauth-client-id",
                "x",
            ],
            "--oauth-tenant",
        ),
    ];
    for (args, says) in cases {
        let output = scratch
            .command()
            .env_remove("DUCKMARC_IMAP_PASSWORD")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// `config check` names the file it read, or says none was there; every fetch flag but
/// --watch may live in `[imap]`, --batch-size too.
#[test]
fn config_check_names_the_file_it_read_and_imap_takes_the_batch_size() {
    let scratch = Scratch::new();
    let output = scratch.run(["config", "check"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("no configuration file"),
        "{}",
        stdout(&output)
    );
    let config = scratch.write(
        "config.toml",
        b"[imap]\nhost = \"127.0.0.1\"\nbatch_size = 50\n",
    );
    let output = scratch
        .command()
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_success(&output);
    let said = stdout(&output);
    assert!(
        said.contains(&format!("configuration read from {}", config.display())),
        "{said}"
    );
}

/// A column of a user's `query` that holds only an untyped NULL (`SELECT NULL`, a variable
/// not set, `CASE ... THEN NULL END`) is a column of nulls: it panicked (exit 101).
#[test]
fn a_query_column_of_untyped_nulls_is_nulls() {
    let scratch = fixture();
    let sql = scratch.write(
        "nulls.sql",
        b"SELECT 1 AS a, NULL AS b, getvariable('no_such_variable') AS c",
    );
    let output = scratch.run(["query", sql.to_str().unwrap(), "--format", "json"]);
    assert_success(&output);
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows, serde_json::json!([{"a": 1, "b": null, "c": null}]));
}
