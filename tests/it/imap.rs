//! `duckmarc fetch` against a real Dovecot on 127.0.0.1.

use crate::common::dovecot::{Dovecot, USER};
use crate::common::reports::*;
use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

fn xml(id: &str) -> Vec<u8> {
    report_xml(id, 3, 2).into_bytes()
}

fn fetch(scratch: &Scratch, dovecot: &Dovecot, tls: &str, extra: &[&str]) -> std::process::Output {
    let mut command = scratch.command();
    command.args(dovecot.args(tls)).args(extra);
    if tls != "none" {
        command.arg("--ca-file").arg(&dovecot.ca_file);
    }
    command.output().expect("run duckmarc fetch")
}

/// Every attachment shape of the ingest tests, one message each, plus two report-less ones.
/// Returns how many reports they hold.
fn deliver_mixed(dovecot: &Dovecot) -> u64 {
    let gz = |id: &str| gzip(&xml(id));
    let with = |headers: &str, data: &[u8]| mail_with_attachment(headers, data);
    let messages = [
        with(
            "Content-Type: application/gzip; name=\"a.xml.gz\"",
            &gz("imap-gzip"),
        ),
        with(
            "Content-Type: application/x-gzip; name=\"a.xml.gz\"",
            &gz("imap-x-gzip"),
        ),
        with(
            "Content-Type: application/zip; name=\"b.zip\"",
            &zip(&[("b.xml", &xml("imap-zip"))]),
        ),
        with(
            "Content-Type: text/xml; name=\"c.xml\"",
            &xml("imap-text-xml"),
        ),
        with(
            "Content-Type: application/octet-stream; name=\"d.xml.gz\"",
            &gz("imap-octet"),
        ),
        with(
            "Content-Type: application/gzip\r\nContent-Disposition: attachment;\r\n \
             filename*0*=UTF-8''google.com%21example.com;\r\n filename*1=\"!1700000000.xml.gz\"",
            &gz("imap-rfc2231"),
        ),
        mail_whole_body(&gz("imap-whole-body")),
        forwarded(&with(
            "Content-Type: application/gzip",
            &gz("imap-forwarded"),
        )),
    ];
    let reports = messages.len() as u64;
    for (i, message) in messages.iter().enumerate() {
        dovecot.deliver(&format!("report-{i}"), message);
    }
    dovecot.deliver(
        "no-report",
        b"From: someone@example.com\r\nSubject: hello\r\n\r\nNo report here.\r\n",
    );
    for other_kind in ["failure-report.eml", "google-tls.eml"] {
        dovecot.deliver(
            other_kind,
            &std::fs::read(samples().join(other_kind)).unwrap(),
        );
    }
    reports
}

#[test]
fn plaintext_fetch_stores_files_and_a_second_run_is_a_no_op() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let reports = deliver_mixed(&dovecot);
    let output = fetch(
        &scratch,
        &dovecot,
        "none",
        &["--move-to", "DMARC/Stored", "--failed-to", "DMARC/Failed"],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "one message held no report: {}{}",
        stderr(&output),
        dovecot.log()
    );
    assert!(
        stderr(&output).contains("e-mail holds no DMARC aggregate, failure or SMTP TLS report"),
        "{}",
        stderr(&output)
    );
    // Each report: 3 records of 2 messages, two of the records passing.
    assert_eq!(
        totals(&scratch.stats()),
        [reports, 3 * reports, 6 * reports, 4 * reports]
    );
    assert_eq!(dovecot.count("INBOX"), 0, "every message was filed");
    assert_eq!(
        dovecot.count("DMARC/Stored") as u64,
        reports + 2,
        "the reports, the failure report and the TLS report, kept not deleted"
    );
    let other_kinds = scratch.query(
        "SELECT (SELECT count(*) FROM failure_reports) AS failure, (SELECT count(*) FROM tls_reports) AS tls",
    );
    assert_eq!(
        (
            other_kinds[0]["failure"].as_u64(),
            other_kinds[0]["tls"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(dovecot.count("DMARC/Failed"), 1);
    let origins = scratch.query("SELECT origin FROM ingest_ledger ORDER BY origin LIMIT 1");
    assert!(
        origins[0]["origin"]
            .as_str()
            .unwrap()
            .starts_with("imap://dmarc@127.0.0.1:"),
        "{origins:?}"
    );

    let again = fetch(
        &scratch,
        &dovecot,
        "none",
        &["--move-to", "DMARC/Stored", "--failed-to", "DMARC/Failed"],
    );
    assert_success(&again);
    assert!(stdout(&again).starts_with("0 inputs"), "{}", stdout(&again));
    assert_eq!(
        totals(&scratch.stats()),
        [reports, 3 * reports, 6 * reports, 4 * reports]
    );
}

#[test]
fn read_only_mailbox_is_not_downloaded_twice() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    dovecot.deliver(
        "1",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("ro-1"))),
    );
    assert_success(&fetch(&scratch, &dovecot, "none", &[]));
    dovecot.deliver(
        "2",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("ro-2"))),
    );
    let second = fetch(&scratch, &dovecot, "none", &[]);
    assert_success(&second);
    assert!(
        stdout(&second).starts_with("1 inputs: 1 new reports"),
        "only the new UID: {}",
        stdout(&second)
    );
    assert_eq!(dovecot.count("INBOX"), 2, "nothing moved without --move-to");
    let third = fetch(&scratch, &dovecot, "none", &[]);
    assert!(stdout(&third).starts_with("0 inputs"), "{}", stdout(&third));
    assert_eq!(totals(&scratch.stats())[0], 2);
}

#[test]
fn starttls_and_implicit_tls_with_a_private_ca() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    dovecot.deliver(
        "1",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("tls-1"))),
    );
    let starttls = fetch(&scratch, &dovecot, "starttls", &[]);
    assert_success(&starttls);
    dovecot.deliver(
        "2",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("tls-2"))),
    );
    let implicit = fetch(&scratch, &dovecot, "implicit", &[]);
    assert_success(&implicit);
    assert_eq!(totals(&scratch.stats())[0], 2);

    // Without the private CA the server's certificate is not trusted.
    let untrusted = scratch
        .command()
        .args(dovecot.args("implicit"))
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(
        stderr(&untrusted).contains("TLS handshake with 127.0.0.1 failed"),
        "{}",
        stderr(&untrusted)
    );
}

#[test]
fn wrong_password_is_a_clear_error() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let wrong = scratch.write("wrong-password", b"not-it\n");
    let mut args = dovecot.args("none");
    let at = args.iter().position(|a| a == "--password-file").unwrap();
    args[at + 1] = wrong.display().to_string();
    let output = scratch.command().args(&args).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let says = stderr(&output);
    assert!(
        says.contains("IMAP login as dmarc at 127.0.0.1:") && says.contains("failed"),
        "{says}"
    );
}

fn start_fetch_watch(scratch: &Scratch, dovecot: &Dovecot) -> std::process::Child {
    scratch
        .command()
        .args(dovecot.args("none"))
        .args(["-vv", "--watch", "--move-to", "Stored"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn watch_stores_a_message_delivered_while_it_waits() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let child = start_fetch_watch(&scratch, &dovecot);
    std::thread::sleep(Duration::from_millis(1500)); // connected and idling
    dovecot.deliver(
        "late",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("late"))),
    );
    let stored = scratch.wait_for_reports(1, Duration::from_secs(10)) == 1;
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert!(
        stored,
        "the message was not stored within 10 s: {}",
        dovecot.log()
    );
    assert_success(&output);
    assert_eq!(dovecot.count("Stored"), 1);
}

#[test]
fn watch_reconnects_after_the_server_drops_the_connection() {
    let scratch = Scratch::new();
    let Some(mut dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let child = start_fetch_watch(&scratch, &dovecot);
    std::thread::sleep(Duration::from_millis(1500));
    dovecot.restart(Duration::from_millis(1500));
    dovecot.deliver(
        "after",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("after"))),
    );
    let stored = scratch.wait_for_reports(1, Duration::from_secs(20)) == 1;
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert!(
        stored,
        "not stored after the reconnect: {}\n{}",
        stderr(&output),
        dovecot.log()
    );
    assert!(
        stderr(&output).contains("reconnecting in"),
        "{}",
        stderr(&output)
    );
    assert_success(&output);
}

#[test]
fn two_thousand_messages_in_batches() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    for i in 0..2000 {
        let message = mail_with_attachment(
            "Content-Type: application/gzip",
            &gzip(&xml(&format!("bulk-{i}"))),
        );
        dovecot.deliver(&format!("m{i}"), &message);
    }
    let output = fetch(
        &scratch,
        &dovecot,
        "none",
        &["--batch-size", "250", "--move-to", "Done"],
    );
    assert_success(&output);
    assert_eq!(totals(&scratch.stats()), [2000, 6000, 12000, 8000]);
    assert_eq!(dovecot.count("Done"), 2000);
    assert_eq!(dovecot.count("INBOX"), 0);
}

/// With --move-to but no --failed-to, a message without a report stays in the folder; it
/// was downloaded and rejected again on every pass.
#[test]
fn a_rejected_message_left_in_place_is_not_downloaded_again() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    dovecot.deliver(
        "good",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("keep-1"))),
    );
    dovecot.deliver(
        "bad",
        b"From: someone@example.com\r\nSubject: hello\r\n\r\nNo report here.\r\n",
    );
    let first = fetch(&scratch, &dovecot, "none", &["--move-to", "Done"]);
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    assert_eq!(dovecot.count("INBOX"), 1, "the rejected message stays");
    let second = fetch(&scratch, &dovecot, "none", &["--move-to", "Done"]);
    assert_success(&second);
    assert!(
        stdout(&second).starts_with("0 inputs"),
        "{}",
        stdout(&second)
    );
    // New mail is still read.
    dovecot.deliver(
        "new",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&xml("keep-2"))),
    );
    let third = fetch(&scratch, &dovecot, "none", &["--move-to", "Done"]);
    assert!(
        stdout(&third).starts_with("1 inputs: 1 new reports"),
        "{}",
        stdout(&third)
    );
}

#[test]
fn folders_named_with_spaces_non_ascii_and_gmail_brackets() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let folder = "Rapports DMARC/Reçus 受信";
    dovecot.doveadm(&["mailbox", "create", "-u", USER, folder], b"");
    for id in ["utf7-a", "utf7-b"] {
        let message = mail_with_attachment("Content-Type: text/xml; name=\"r.xml\"", &xml(id));
        dovecot.doveadm(&["save", "-u", USER, "-m", folder], &message);
    }
    // Dovecot keeps the folder under its modified UTF-7 name: the one duckmarc must send.
    let on_disk = "Rapports DMARC/Re&AOc-us &U9dP4Q-";
    assert_eq!(dovecot.count(on_disk), 2);
    let output = fetch(
        &scratch,
        &dovecot,
        "none",
        &["--folder", folder, "--move-to", "[Gmail]/Tous les messages"],
    );
    assert_success(&output);
    assert_eq!(scratch.stats()["reports"], 2);
    assert_eq!(dovecot.count(on_disk), 0, "moved away");
    assert_eq!(dovecot.count("[Gmail]/Tous les messages"), 2);
}

/// Under --require-authentic, a message whose report is refused as not shown genuine stays
/// in the folder (a run without the flag, or once DNS answers, reads it), and a message with
/// a stored report beside a broken one is filed as stored: only messages with no valid
/// report go to --failed-to.
#[test]
fn messages_are_filed_by_what_their_reports_came_to() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let attachment = |id: &str| {
        let report = gzip(report_xml(id, 1, 2).as_bytes());
        mail_with_attachment("Content-Type: application/gzip; name=\"r.xml.gz\"", &report)
    };
    // A good report beside a broken one: the refused report keeps the message in place too.
    let with_broken = |id: &str| {
        let good = gzip(report_xml(id, 1, 2).as_bytes());
        let broken = b"<feedback><report_metadata>".to_vec();
        let both = zip(&[("a.xml.gz", &good), ("b.xml", &broken)]);
        mail_with_attachment("Content-Type: application/zip; name=\"r.zip\"", &both)
    };
    dovecot.deliver("unsigned", &attachment("unsigned-1"));
    dovecot.deliver("unsigned-broken", &with_broken("unsigned-2"));
    let folders = ["--move-to", "Stored", "--failed-to", "Failed"];
    let strict = scratch
        .command()
        .env_remove("DUCKMARC_NO_DNS")
        .args(dovecot.args("none"))
        .args(["--require-authentic", "--dns-server", "127.0.0.1:1"])
        .args(folders)
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(3), "{}", stderr(&strict));
    assert!(
        stderr(&strict).contains("--require-authentic refuses it"),
        "{}",
        stderr(&strict)
    );
    assert_eq!(
        (
            dovecot.count("INBOX"),
            dovecot.count("Stored"),
            dovecot.count("Failed")
        ),
        (2, 0, 0),
        "left in place"
    );

    // A run without the flag reads both again; a message with a stored report beside a
    // broken one is filed as stored.
    dovecot.deliver("mixed", &with_broken("mixed-good"));
    let output = fetch(&scratch, &dovecot, "none", &folders);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(scratch.stats()["reports"], 3, "every good report");
    assert_eq!(
        (
            dovecot.count("INBOX"),
            dovecot.count("Stored"),
            dovecot.count("Failed")
        ),
        (0, 3, 0)
    );
}

/// The benchmark of `scripts/bench-imap.sh` (not run by `cargo test`): 10,000 report
/// messages fetched from a real Dovecot in one run; prints the time and peak RSS.
#[test]
#[ignore]
fn bench_fetch_ten_thousand_messages() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let messages = 10_000;
    for i in 0..messages {
        let report = gzip(report_xml(&format!("bench-{i}"), 20, 3).as_bytes());
        let message =
            mail_with_attachment("Content-Type: application/gzip; name=\"r.xml.gz\"", &report);
        dovecot.deliver(&format!("bench-{i}"), &message);
    }
    let timing = scratch.path("time");
    let mut command = std::process::Command::new("/usr/bin/time");
    command.arg("-f").arg("%e %M").arg("-o").arg(&timing);
    command
        .arg(env!("CARGO_BIN_EXE_duckmarc"))
        .arg("--db")
        .arg(scratch.db())
        .arg("-q");
    command
        .args(dovecot.args("none"))
        .env("DUCKMARC_NO_DNS", "1");
    assert_success(&command.output().expect("run /usr/bin/time"));
    let measured = std::fs::read_to_string(&timing).unwrap();
    let (seconds, kb) = measured.trim().split_once(' ').unwrap();
    assert_eq!(scratch.stats()["reports"], messages);
    println!(
        "fetch: {messages} messages in {seconds} s ({:.0} messages/s), peak RSS {} MB",
        messages as f64 / seconds.parse::<f64>().unwrap(),
        kb.parse::<u64>().unwrap() / 1024
    );
}
