//! Idempotency, crashes and concurrent writers, with real processes.

use crate::common::reports::*;
use crate::common::*;
use std::time::Duration;

#[test]
fn re_ingesting_changes_nothing() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let before = scratch.stats();
    let ledger_rows = "SELECT count(*) AS n FROM ingest_ledger";
    let ledger_before = scratch.query(ledger_rows);
    let again = scratch.ingest(&[&samples()]);
    assert_success(&again);
    // Every input is recognised by its hash and not parsed again.
    let inputs = std::fs::read_dir(samples()).unwrap().count();
    let expected = format!(
        "{inputs} inputs: 0 new reports (0 records, 0 messages), 0 duplicate reports, \
         {inputs} inputs already seen, 0 skipped, 0 rejected"
    );
    assert!(stdout(&again).contains(&expected), "{}", stdout(&again));
    assert_eq!(scratch.stats(), before);
    // The ledger already tells what became of them: no row per re-run.
    assert_eq!(scratch.query(ledger_rows), ledger_before);
}

#[test]
fn two_concurrent_writers_both_finish_with_exact_totals() {
    let scratch = Scratch::new();
    scratch.many_reports("a", "a", 1500);
    scratch.many_reports("b", "b", 1500);
    // Both also share one folder, so they race on the same reports too.
    scratch.many_reports("shared", "s", 300);
    let spawn = |dir: &str| {
        scratch
            .command()
            .args(["--lock-timeout", "120", "ingest"])
            .arg(scratch.path(dir))
            .arg(scratch.path("shared"))
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("a"));
        let b = s.spawn(|| spawn("b"));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_success(&a);
    assert_success(&b);
    assert_eq!(totals(&scratch.stats()), [3300, 132_000, 396_000, 198_000]);
}

/// Starts a read-only `duckmarc query` that keeps the database open for a few seconds.
pub(crate) fn hold_database(scratch: &Scratch) -> std::process::Child {
    let slow = scratch.write(
        "slow.sql",
        b"SELECT sum(i) AS s FROM range(6000000000) t(i)",
    );
    let holder = scratch
        .command()
        .arg("query")
        .arg(slow)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    holder
}

#[test]
fn a_busy_database_fails_clearly_after_the_timeout() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let mut holder = hold_database(&scratch);
    // A new report: it must be written, which the reader prevents.
    let new = scratch.write("new.xml", report_xml("busy", 2, 5).as_bytes());
    let output = scratch.run([
        "--lock-timeout".as_ref(),
        "0".as_ref(),
        "ingest".as_ref(),
        new.as_os_str(),
    ]);
    holder.wait().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let says = stderr(&output);
    assert!(
        says.contains("is busy") && says.contains("--lock-timeout"),
        "{says}"
    );
}

#[test]
fn a_writer_waits_for_a_busy_database() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let mut holder = hold_database(&scratch);
    scratch.many_reports("more", "m", 5);
    let output = scratch.ingest(&[&scratch.path("more")]);
    assert!(
        holder.try_wait().unwrap().is_some(),
        "the writer went ahead while the holder ran"
    );
    holder.wait().unwrap();
    assert_success(&output);
    assert!(
        stdout(&output).contains("5 new reports"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn processes_racing_to_create_a_new_database_all_succeed() {
    for round in 0..30 {
        let scratch = Scratch::new();
        for i in 0..6 {
            let xml = report_xml(&format!("race-{round}-{i}"), 2, 1);
            scratch.write(&format!("in{i}/r.xml"), xml.as_bytes());
        }
        let children: Vec<_> = (0..6)
            .map(|i| {
                scratch
                    .command()
                    .arg("ingest")
                    .arg(scratch.path(&format!("in{i}")))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(scratch.path("log")).unwrap())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert_success(&output);
        }
        assert_eq!(totals(&scratch.stats())[0], 6, "round {round}");
    }
}

#[test]
fn a_slow_input_does_not_keep_the_database_from_others() {
    let scratch = Scratch::new();
    // More reports than one batch holds, then a pipe nobody writes to yet: the writer
    // stores the first batches while the parsers wait on the pipe.
    scratch.many_reports("first", "f", 385);
    let pipe = scratch.path("pipe.xml");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    assert!(made.unwrap().success());
    let mut slow = Reaped(
        scratch
            .command()
            .arg("ingest")
            .arg(scratch.path("first"))
            .arg(&pipe)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Within its hold time (3 s) the waiting writer commits what it has and lets others in.
    let committed = scratch.wait_for_reports(1, Duration::from_secs(20));
    assert!(
        (1..385).contains(&committed),
        "{committed} reports committed"
    );
    let other = scratch.write("other.xml", report_xml("other", 2, 5).as_bytes());
    assert_success(&scratch.ingest(&[&other]));
    assert!(
        slow.0.try_wait().unwrap().is_none(),
        "still waiting on the pipe"
    );

    std::fs::write(&pipe, report_xml("piped", 2, 5)).unwrap();
    assert!(slow.0.wait().unwrap().success());
    assert_eq!(totals(&scratch.stats())[0], 385 + 1 + 1);
}

#[test]
fn a_batch_of_large_reports_is_stored_whole_in_parts() {
    // Six reports of 230,000 records (over 16 MiB of XML each: an input holding one is parsed
    // and stored in its turn) hold about 135 MB of rows together: two alone, four in one zip,
    // whose rows (90 MB) go to the writer in two parts, beside twenty small reports.
    let scratch = Scratch::new();
    let small = 20;
    scratch.many_reports("in", "small", small);
    let (reports, records) = (6u64, 230_000u64);
    let large: Vec<Vec<u8>> = (0..reports)
        .map(|n| {
            let rows: String = (0..records)
                .map(|i| {
                    format!(
                        "<record><row><source_ip>10.{n}.{}.{}</source_ip><count>2</count>\
                         <policy_evaluated><dkim>pass</dkim></policy_evaluated></row></record>",
                        i / 256 % 256,
                        i % 256
                    )
                })
                .collect();
            let xml = format!(
                "<feedback><report_metadata><org_name>Big</org_name><email>a@big.example</email>\
                 <report_id>large-{n}</report_id><date_range><begin>1700000000</begin>\
                 <end>1700086399</end></date_range></report_metadata><policy_published>\
                 <domain>example.com</domain><p>none</p></policy_published>{rows}</feedback>"
            );
            assert!(xml.len() > 16 << 20);
            xml.into_bytes()
        })
        .collect();
    for (n, xml) in large[..2].iter().enumerate() {
        scratch.write(&format!("in/large-{n}.xml.gz"), &gzip(xml));
    }
    let members: Vec<(String, &[u8])> = (2..6)
        .map(|n| (format!("large-{n}.xml"), large[n].as_slice()))
        .collect();
    let members: Vec<(&str, &[u8])> = members.iter().map(|(n, x)| (n.as_str(), *x)).collect();
    scratch.write("in/four-large.zip", &zip(&members));
    let inputs = scratch.path("in");
    let input_count = 3 + small as u64;
    // A large input that never gave its turn back would leave the next one waiting forever.
    let mut ingest = Reaped(
        scratch
            .command()
            .args(["-vv", "ingest"])
            .arg(&inputs)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(scratch.path("log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    while ingest.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "ingest still running after 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(scratch.path("log")).unwrap();
    assert!(
        log.contains("four-large.zip: 3 documents go ahead of the rest"),
        "{log}"
    );
    assert!(ingest.0.wait().unwrap().success());
    // Each small report: 40 records of 3 messages, half of them passing.
    let expected = [
        reports + small as u64,
        reports * records + small as u64 * 40,
        reports * records * 2 + small as u64 * 120,
        reports * records * 2 + small as u64 * 60,
    ];
    assert_eq!(totals(&scratch.stats()), expected);
    // The zip has one ledger row, written with its last part.
    let ledger = scratch.query(
        "SELECT count(*) AS n, sum(new_reports) AS new FROM ingest_ledger WHERE origin LIKE '%.zip'",
    );
    assert_eq!(
        (ledger[0]["n"].as_u64(), ledger[0]["new"].as_u64()),
        (Some(1), Some(4))
    );

    // Every input was settled with its rows: a re-run finds them all seen.
    let again = scratch.ingest(&[&inputs]);
    assert_success(&again);
    assert!(
        stdout(&again).contains(&format!("{input_count} inputs already seen")),
        "{}",
        stdout(&again)
    );
    assert_eq!(totals(&scratch.stats()), expected);
}

/// A long ingest lets processes waiting for the database in at each of its commits (every
/// 3 s or so), as the README promises: it used to open the database again within
/// milliseconds, and a `stats` polling for it gave up after its `--lock-timeout` while the
/// ingest went on (review: 5 of 5 runs with `--lock-timeout 5` failed beside a 25 s ingest).
#[test]
fn a_long_ingest_lets_waiting_processes_take_their_turn() {
    let scratch = Scratch::new();
    // 4 million records: about 10 s on two cores, so that it commits a few times.
    for i in 0..10_000 {
        let xml = report_xml(&format!("long-{i}"), 400, 3);
        scratch.write(&format!("long/{i}.xml.gz"), &gzip(xml.as_bytes()));
    }
    let started = std::time::Instant::now();
    let mut writer = scratch
        .command()
        .arg("ingest")
        .arg(scratch.path("long"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the writer has the database (its first transaction).
    while !scratch.db().exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let stats = scratch.run(["--lock-timeout", "6", "stats"]);
    let writer_done = writer.try_wait().unwrap().is_some();
    let stats_done = started.elapsed();
    assert!(writer.wait().unwrap().success());
    println!(
        "stats done after {stats_done:?}, ingest after {:?}",
        started.elapsed()
    );
    assert!(
        !writer_done,
        "the ingest ended before stats got in ({stats_done:?}): this test needs a longer one"
    );
    assert_success(&stats);
}

/// A run killed after its last commit, before it named the sources it stored, leaves them
/// unnamed; the next run names them though it stores nothing new (review: re-running the
/// same ingest left 65,024 sources `unknown` until some later report came).
#[test]
fn sources_a_killed_run_left_unnamed_are_named_by_the_next() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let named = "SELECT count(*) AS n FROM source_names";
    let sources = "SELECT count(DISTINCT source_ip) AS n FROM records";
    assert_eq!(scratch.query(named), scratch.query(sources));
    // As a run killed between its last commit and naming leaves the database.
    scratch.rewrite("DELETE FROM source_names; DELETE FROM naming_mark;");
    let again = scratch.ingest(&[&samples()]);
    assert_success(&again);
    assert!(
        stdout(&again).contains(" 0 new reports"),
        "{}",
        stdout(&again)
    );
    assert_eq!(scratch.query(named), scratch.query(sources));
}

/// The database named in the config file or DUCKMARC_DB (which nothing expands): `~` is the
/// home directory, for every command and for the lock files alike (DuckDB alone expanded it,
/// so `stats` found no database where `ingest` wrote one). An empty name or `:memory:` is
/// refused (exit 1): DuckDB kept the reports in memory, lost them at exit, and exit code 0
/// said all was well.
#[test]
fn the_database_name_is_a_file_and_tilde_is_home() {
    let scratch = Scratch::new();
    let report = scratch.write("r.xml", report_xml("home-1", 2, 3).as_bytes());
    let cwd = scratch.path("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let with_env = |db: &str, args: &[&str]| {
        let mut command = scratch.command_without_db();
        command.env("DUCKMARC_DB", db).args(args).current_dir(&cwd);
        command.output().unwrap()
    };
    assert_success(&with_env(
        "~/reports.duckdb",
        &["ingest", report.to_str().unwrap()],
    ));
    assert!(scratch.path("reports.duckdb").exists());
    assert!(!cwd.join("~").exists(), "lock files beside no database");
    let stats = with_env("~/reports.duckdb", &["stats", "--json"]);
    assert_success(&stats);
    assert!(String::from_utf8_lossy(&stats.stdout).contains("\"reports\": 1"));
    for memory in [":memory:", " "] {
        let config = scratch.write("config.toml", format!("db = {memory:?}\n").as_bytes());
        let mut command = scratch.command_without_db();
        let output = command
            .arg("--config")
            .arg(&config)
            .args(["ingest", report.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{memory:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("is no file"),
            "{}",
            stderr(&output)
        );
    }
}

/// Relative paths in the config file are the config file's directory's, whatever directory
/// a command runs in: from the working directory, cron (in $HOME), systemd (in /) and a
/// shell each had a database of their own, and the reports were split between them.
#[test]
fn relative_paths_in_the_config_are_the_config_files() {
    let scratch = Scratch::new();
    let report = scratch.write("r.xml", report_xml("rel-1", 2, 3).as_bytes());
    scratch.write("etc/our-senders.csv", b"base_reverse_dns,name,type\n");
    let config = scratch.write(
        "etc/config.toml",
        b"db = \"dmarc.duckdb\"\nsender_maps = [\"our-senders.csv\"]\n",
    );
    let run_in = |dir: &str, args: &[&str]| {
        let cwd = scratch.path(dir);
        std::fs::create_dir_all(&cwd).unwrap();
        let mut command = scratch.command_without_db();
        command
            .arg("--config")
            .arg(&config)
            .args(args)
            .current_dir(&cwd);
        command.output().unwrap()
    };
    // A database where an earlier version put it (the working directory) is named.
    scratch.write("cron/dmarc.duckdb", b"an earlier version's database");
    let ingest = run_in("cron", &["ingest", report.to_str().unwrap()]);
    assert_success(&ingest);
    assert!(
        stderr(&ingest).contains("earlier versions used ./dmarc.duckdb"),
        "{}",
        stderr(&ingest)
    );
    assert!(scratch.path("etc/dmarc.duckdb").exists());
    let stats = run_in("shell", &["stats", "--json"]);
    assert_success(&stats);
    assert!(String::from_utf8_lossy(&stats.stdout).contains("\"reports\": 1"));
}

/// Every configuration example in the README is one `config check` accepts: users copy them
/// (one ended in `batch_size = 100"`, and every command then exited 1).
#[test]
fn the_readmes_config_examples_are_valid() {
    let scratch = Scratch::new();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .collect();
    assert!(blocks.len() >= 3, "{} toml blocks", blocks.len());
    for (no, block) in blocks.iter().enumerate() {
        let config = scratch.write(&format!("config-{no}.toml"), block.as_bytes());
        let output = scratch.run(["--config", config.to_str().unwrap(), "config", "check"]);
        assert!(
            !stderr(&output).contains("invalid config file"),
            "README block {no}:\n{block}\n{}",
            stderr(&output)
        );
    }
}

/// `alerts` with nothing to raise prints nothing on stdout (cron mails whatever a job prints:
/// the README's cron line would mail every morning), only a word on stderr, not even that
/// with -q.
#[test]
fn alerts_with_nothing_to_raise_print_nothing() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[samples()]));
    scratch.run(["alerts"]);
    let output = scratch.run(["alerts"]);
    assert_success(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert!(stderr(&output).contains("no alerts"), "{}", stderr(&output));
    let quiet = scratch.run(["-q", "alerts"]);
    assert_eq!((quiet.stdout.len(), stderr(&quiet)), (0, String::new()));
}

/// A database whose tables have more columns than duckmarc writes (a newer duckmarc's, or
/// one a user added) takes new reports all the same: every ingest failed with "table
/// records has 19 columns but 18 values were supplied".
#[test]
fn tables_with_columns_of_their_own_take_new_reports() {
    let scratch = Scratch::new();
    let first = scratch.write("r1.xml", report_xml("own-1", 2, 3).as_bytes());
    assert_success(&scratch.ingest(&[&first]));
    let one = totals(&scratch.stats());
    scratch.rewrite(
        "ALTER TABLE records ADD COLUMN note VARCHAR;
         ALTER TABLE dkim_results ADD COLUMN note VARCHAR;
         ALTER TABLE spf_results ADD COLUMN note VARCHAR;
         ALTER TABLE source_names ADD COLUMN note VARCHAR;",
    );
    let second = scratch.write("r2.xml", report_xml("own-2", 2, 3).as_bytes());
    assert_success(&scratch.ingest(&[&second]));
    assert_eq!(totals(&scratch.stats()), one.map(|n| 2 * n));
}
