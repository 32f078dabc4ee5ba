//! `duckmarc watch` with real files and real signals.

use crate::common::reports::*;
use crate::common::*;
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::Duration;

fn start_watch(scratch: &Scratch, extra: &[&str]) -> Child {
    let mut command = scratch.command();
    command
        .args(["watch", "--settle", "0.6", "--rescan", "1"])
        .args(extra)
        .arg(scratch.path("inbox"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("start duckmarc watch")
}

/// How long a test waits for the watcher to store what it was given.
const WAIT: Duration = Duration::from_secs(30);

fn xml(id: &str) -> Vec<u8> {
    report_xml(id, 4, 2).into_bytes()
}

#[test]
fn dropped_renamed_and_slowly_written_files_are_each_ingested_once() {
    let scratch = Scratch::new();
    scratch.write("inbox/already-there.xml", &xml("existing"));
    let archive = scratch.path("archive");
    let rejected = scratch.path("rejected");
    let child = start_watch(
        &scratch,
        &[
            "--archive",
            archive.to_str().unwrap(),
            "--rejected",
            rejected.to_str().unwrap(),
        ],
    );
    assert_eq!(
        scratch.wait_for_reports(1, WAIT),
        1,
        "the file present at start is ingested"
    );

    scratch.write("inbox/dropped.xml.gz", &gzip(&xml("dropped")));
    let outside = scratch.write("staging/renamed.xml", &xml("renamed"));
    std::fs::rename(&outside, scratch.path("inbox/renamed.xml")).unwrap();
    scratch.write("inbox/bad.xml", b"<feedback><report_metadata>truncated");
    for other_kind in ["failure-report.eml", "mail.ru-tls.json"] {
        let bytes = std::fs::read(samples().join(other_kind)).unwrap();
        scratch.write(&format!("inbox/{other_kind}"), &bytes);
    }

    // Written in chunks over ~2 s, longer than the settle time between first and last byte.
    let slow = xml("slow");
    let mut file = std::fs::File::create(scratch.path("inbox/slow.xml")).unwrap();
    for chunk in slow.chunks(slow.len() / 5 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    drop(file);

    assert_eq!(scratch.wait_for_reports(4, WAIT), 4);
    // The rejected file is moved once it has stayed unchanged for ten settle times (6 s).
    wait_for(&rejected.join("bad.xml"));
    std::thread::sleep(Duration::from_millis(2500)); // a rescan and a settle more: nothing new
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert_eq!(
        totals(&scratch.stats()),
        [4, 16, 32, 16],
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("slow.xml: "),
        "the slow file was never read half-written: {}",
        stderr(&output)
    );

    let mut archived: Vec<String> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    archived.sort();
    assert_eq!(
        archived,
        [
            "already-there.xml",
            "dropped.xml.gz",
            "failure-report.eml",
            "mail.ru-tls.json",
            "renamed.xml",
            "slow.xml"
        ],
        "failure and TLS reports are archived as stored"
    );
    let reason = std::fs::read_to_string(rejected.join("bad.xml.reason.txt")).unwrap();
    assert!(reason.contains("truncated"), "{reason}");
    assert!(rejected.join("bad.xml").exists());
    let left: Vec<_> = std::fs::read_dir(scratch.path("inbox")).unwrap().collect();
    assert!(left.is_empty(), "the inbox is emptied");
}

/// Waits (up to WAIT) until `path` exists.
fn wait_for(path: &std::path::Path) {
    let started = std::time::Instant::now();
    while !path.exists() && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(path.exists(), "{} never came", path.display());
}

/// A file whose writer paused longer than the settle time is read half-written and
/// rejected; it stays in place while it may still change, and once finished it is read again
/// and stored. Moved to the rejected folder at once, it was finished there, a good report
/// beside a reason saying it was cut short, never stored (review).
#[test]
fn a_file_rejected_half_written_is_read_again_once_finished() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path("inbox")).unwrap();
    let rejected = scratch.path("rejected");
    let child = start_watch(&scratch, &["--rejected", rejected.to_str().unwrap()]);
    let whole = gzip(&xml("paused"));
    let (first, rest) = whole.split_at(whole.len() / 2);
    let mut file = std::fs::File::create(scratch.path("inbox/paused.xml.gz")).unwrap();
    file.write_all(first).unwrap();
    file.flush().unwrap();
    // Longer than the settle time (0.6 s): read and rejected meanwhile.
    std::thread::sleep(Duration::from_millis(2500));
    file.write_all(rest).unwrap();
    drop(file);
    assert_eq!(scratch.wait_for_reports(1, WAIT), 1);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert!(
        stderr(&output).contains("paused.xml.gz"),
        "it was read half-written first: {}",
        stderr(&output)
    );
    assert!(!rejected.join("paused.xml.gz").exists());
}

/// A report deleted by hand while `watch` runs is stored again when it comes again. The
/// writer kept the deleted report's id, looked the copy up by it, found nothing and stopped
/// (review: exit 1, "Query returned no rows").
#[test]
fn a_report_deleted_while_watching_is_stored_when_it_comes_again() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path("inbox")).unwrap();
    let child = start_watch(&scratch, &[]);
    scratch.write("inbox/first.xml", &xml("gone"));
    assert_eq!(scratch.wait_for_reports(1, WAIT), 1);
    // Once the watcher lets the database go (it names the new source after storing).
    let deleted = (0..100).any(|_| {
        let done = duckdb::Connection::open(scratch.db())
            .and_then(|conn| conn.execute_batch("DELETE FROM reports"))
            .is_ok();
        if !done {
            std::thread::sleep(Duration::from_millis(100));
        }
        done
    });
    assert!(deleted, "the watcher kept the database");
    // The same report in another file.
    scratch.write("inbox/again.xml.gz", &gzip(&xml("gone")));
    let stored = scratch.wait_for_reports(1, WAIT);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert_eq!(stored, 1, "{}", stderr(&output));
}

#[test]
fn sigterm_mid_batch_commits_or_rolls_back_whole_and_a_rerun_finishes() {
    let scratch = Scratch::new();
    for i in 0..2500 {
        scratch.write(
            &format!("inbox/r{i}.xml.gz"),
            &gzip(report_xml(&format!("t{i}"), 40, 3).as_bytes()),
        );
    }
    let child = start_watch(&scratch, &[]);
    std::thread::sleep(Duration::from_millis(1800)); // settle done, ingest under way
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert!(
        stdout(&output).contains("inputs:"),
        "a summary is printed: {}",
        stdout(&output)
    );

    let stats = scratch.stats();
    let reports = stats["reports"].as_u64().unwrap();
    assert_eq!(
        stats["records"].as_u64().unwrap(),
        reports * 40,
        "only whole reports"
    );
    assert_success(&scratch.ingest(&[&scratch.path("inbox")]));
    assert_eq!(totals(&scratch.stats()), [2500, 100_000, 300_000, 150_000]);
}

#[test]
fn a_watcher_and_a_cron_ingest_share_the_database() {
    let scratch = Scratch::new();
    let child = start_watch(&scratch, &[]);
    for i in 0..200 {
        scratch.write(&format!("inbox/w{i}.xml"), &xml(&format!("w{i}")));
    }
    for i in 0..200 {
        scratch.write(&format!("cron/c{i}.xml"), &xml(&format!("c{i}")));
    }
    let cron = scratch.ingest(&[&scratch.path("cron")]);
    assert_success(&cron);
    assert_eq!(scratch.wait_for_reports(400, WAIT), 400);
    sigterm(&child);
    assert_success(&child.wait_with_output().unwrap());
    assert_eq!(totals(&scratch.stats()), [400, 1600, 3200, 1600]);
}

#[test]
fn an_archive_inside_the_watched_folder_given_relatively_is_left_alone() {
    let scratch = Scratch::new();
    scratch.write("inbox/one.xml", &xml("relative"));
    let child = scratch
        .command()
        .current_dir(scratch.dir.path())
        .args([
            "watch",
            "--settle",
            "0.3",
            "--rescan",
            "0.5",
            "./inbox",
            "--archive",
            "inbox/done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(scratch.wait_for_reports(1, WAIT), 1);
    std::thread::sleep(Duration::from_millis(3000)); // several rescans and settle times
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    let archived: Vec<_> = std::fs::read_dir(scratch.path("inbox/done"))
        .unwrap()
        .collect();
    assert_eq!(
        archived.len(),
        1,
        "archived once, never picked up again: {}",
        stderr(&output)
    );
    assert!(
        stdout(&output).starts_with("1 inputs:"),
        "{}",
        stdout(&output)
    );
}

/// Without --archive the files stay; the watcher's own reads raise filesystem events, which
/// once made it read every file again every second (a "duplicate" line and a ledger row each).
#[test]
fn files_left_in_place_are_read_once_whatever_events_come() {
    let scratch = Scratch::new();
    scratch.write("inbox/there.xml", &xml("stays-1"));
    let child = start_watch(&scratch, &[]);
    assert_eq!(scratch.wait_for_reports(1, WAIT), 1);
    scratch.write("inbox/later.xml.gz", &gzip(&xml("stays-2")));
    assert_eq!(scratch.wait_for_reports(2, WAIT), 2);
    // Reading the files (as a backup or a grep would) changes nothing either.
    for name in ["there.xml", "later.xml.gz"] {
        std::fs::read(scratch.path(&format!("inbox/{name}"))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(4000)); // several rescans and settle times
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert!(
        !stderr(&output).contains("duplicate"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).starts_with("2 inputs:"),
        "{}",
        stdout(&output)
    );
    let ledger = scratch.query("SELECT count(*) AS n FROM ingest_ledger");
    assert_eq!(ledger[0]["n"], 2);
}

/// A move across filesystems is copy-then-remove; a crash between the two left the file in
/// the inbox and its copy in the archive, and the next run archived it a second time.
#[test]
fn a_move_cut_short_by_a_crash_is_finished_not_repeated() {
    let scratch = Scratch::new();
    let bytes = xml("half-moved");
    scratch.write("inbox/r.xml", &bytes);
    scratch.write("archive/r.xml", &bytes); // the copy the crashed run made
    let archive = scratch.path("archive");
    let child = start_watch(&scratch, &["--archive", archive.to_str().unwrap()]);
    assert_eq!(scratch.wait_for_reports(1, WAIT), 1);
    let deadline = std::time::Instant::now() + WAIT;
    while scratch.path("inbox/r.xml").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    sigterm(&child);
    assert_success(&child.wait_with_output().unwrap());
    let archived: Vec<_> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(archived, ["r.xml"]);
    assert!(!scratch.path("inbox/r.xml").exists());
}

/// A watcher that finds the database busy for longer than --lock-timeout (a long `query`, a
/// backup) waits on, saying so, and stores what came once it is free: it exited 1, and the
/// README says the commands take turns.
#[test]
fn a_busy_database_holds_a_watcher_up_and_does_not_end_it() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[scratch.write("first.xml", &xml("first"))]));
    let mut holder = crate::robustness::hold_database(&scratch);
    scratch.write("inbox/waiting.xml", &xml("waiting"));
    let child = start_watch(&scratch, &["--lock-timeout", "1"]);
    std::thread::sleep(Duration::from_secs(4));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(scratch.wait_for_reports(2, WAIT), 2);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert!(
        stderr(&output).contains("still busy"),
        "{}",
        stderr(&output)
    );
}
