//! Fault injection: thousands of damaged inputs made from the real corpus, kills at random
//! moments, a full filesystem. Whatever happens, no panic, every input gets exactly one
//! outcome, and what is good is stored exactly once.

use crate::common::reports::*;
use crate::common::*;
use duckmarc::pipeline::{each_document, ReadOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Every input file of the corpus (when present) and of our samples.
fn seeds() -> Vec<Vec<u8>> {
    // The golden fixtures bring SMTP TLS reports and failure reports in the shapes real
    // reporters use, so those parsers are fuzzed too, with or without the corpus.
    let fixtures = repo().join("tests/fixtures");
    let mut roots = vec![samples(), fixtures];
    roots.extend(corpus());
    let mut seeds = Vec::new();
    for root in roots {
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file()
                && !["README.md", "expected.tsv", "SOURCE"].contains(&name.as_ref())
                && !name.ends_with(".stored.json")
            {
                seeds.push(std::fs::read(entry.path()).unwrap());
            }
        }
    }
    assert!(seeds.len() >= 10, "seeds found: {}", seeds.len());
    let holding = |marker: &[u8]| {
        seeds
            .iter()
            .any(|s| s.windows(marker.len()).any(|w| w == marker))
    };
    assert!(holding(b"organization-name") && holding(b"message/feedback-report"));
    seeds
}

/// One damaged version of `seed`: truncated, bytes flipped, inserted or removed, numbers
/// made huge, re-compressed or nested in another container.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    let len = data.len().max(1);
    match rng.below(9) {
        0 => data.truncate(rng.below(len)),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(len);
                if let Some(byte) = data.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            let at = rng.below(len);
            let noise: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.next() as u8).collect();
            data.splice(at.min(data.len())..at.min(data.len()), noise);
        }
        3 => {
            let at = rng.below(len).min(data.len());
            let end = (at + rng.below(256)).min(data.len());
            data.drain(at..end);
        }
        4 => {
            // A number somewhere made enormous, negative or fractional.
            let text = String::from_utf8_lossy(&data).into_owned();
            let huge = [
                "99999999999999999999999",
                "-1",
                "4294967296",
                "1e300",
                "NaN",
                "",
            ];
            let pick = huge[rng.below(huge.len())];
            let tag = ["count", "begin", "end", "pct"][rng.below(4)];
            data = text
                .replacen(&format!("<{tag}>"), &format!("<{tag}>{pick}"), 1)
                .into_bytes();
        }
        5 => data = gzip(&mutate(seed, rng)),
        6 => {
            data = zip(&[
                ("inner.xml", &mutate(seed, rng)),
                ("other.xml.gz", &gzip(seed)),
            ])
        }
        7 => {
            data = mail_with_attachment("Content-Type: application/gzip", &gzip(&mutate(seed, rng)))
        }
        _ => {
            // A chunk repeated: markup opened twice, elements duplicated.
            let at = rng.below(len).min(data.len());
            let end = (at + rng.below(512)).min(data.len());
            let chunk = data[at..end].to_vec();
            data.splice(at..at, chunk);
        }
    }
    data
}

#[test]
fn thousands_of_damaged_inputs_never_panic_the_parsers() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_0001);
    let read = ReadOptions::default();
    for n in 0..6000 {
        let seed = &seeds[n % seeds.len()];
        let damaged = mutate(seed, &mut rng);
        let mut documents = 0;
        each_document(&damaged, &read, &mut |_| documents += 1);
        assert!(documents > 0, "mutant {n} got no outcome");
    }
}

#[test]
fn damaged_inputs_beside_good_ones_in_one_batch() {
    let scratch = Scratch::new();
    let seeds = seeds();
    let mut rng = Rng(0x5eed_0002);
    let damaged = 1500;
    for n in 0..damaged {
        let seed = &seeds[n % seeds.len()];
        scratch.write(&format!("in/m{n:05}"), &mutate(seed, &mut rng));
    }
    let good = 25;
    for n in 0..good {
        let xml = report_xml(&format!("fuzz-good-{n}"), 4, 3).replace("Test Org", "Fuzz Good Org");
        scratch.write(&format!("in/good-{n}.xml.gz"), &gzip(xml.as_bytes()));
    }
    let inputs = damaged + good;
    for round in 0..2 {
        let output = scratch.ingest(&[&scratch.path("in")]);
        assert!(
            matches!(output.status.code(), Some(0) | Some(3)),
            "round {round}: exit {:?}: {}",
            output.status.code(),
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
        assert!(
            stdout(&output).starts_with(&format!("{inputs} inputs:")),
            "every input gets one outcome: {}",
            stdout(&output)
        );
        let stored = scratch.query(
            "SELECT count(DISTINCT r.id) AS reports, sum(c.count) AS messages
             FROM reports r JOIN records c ON c.report = r.id WHERE r.org_name = 'Fuzz Good Org'",
        );
        assert_eq!(stored[0]["reports"], good as u64, "round {round}");
        assert_eq!(
            stored[0]["messages"],
            (good * 4 * 3) as u64,
            "round {round}"
        );
    }
    // Every input is in the ledger once per run that parsed it; none twice in one run.
    let ledger = scratch
        .query("SELECT count(*) AS rows, count(DISTINCT origin) AS origins FROM ingest_ledger");
    assert_eq!(ledger[0]["origins"], inputs as u64);
}

#[test]
fn kills_at_random_moments_then_a_rerun_gives_exact_totals() {
    let scratch = Scratch::new();
    scratch.many_reports("in", "k", 3000);
    let mut rng = Rng(0x5eed_0003);
    for round in 0..4 {
        let mut child = scratch
            .command()
            .arg("ingest")
            .arg(scratch.path("in"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + rng.below(900) as u64));
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        if !scratch.db().exists() {
            continue; // killed before the database was created
        }
        let partial = scratch.stats();
        let reports = partial["reports"].as_u64().unwrap();
        assert_eq!(
            partial["records"].as_u64().unwrap(),
            reports * 40,
            "round {round}: no half-stored report after a kill: {partial}"
        );
    }
    assert_success(&scratch.ingest(&[&scratch.path("in")]));
    assert_eq!(totals(&scratch.stats()), [3000, 120_000, 360_000, 180_000]);
}

/// `duckmarc --db DB ingest <scratch>/in`'s output, or a failure (after killing it) if it
/// runs longer than `limit`.
fn ingest_at_most(scratch: &Scratch, db: &Path, limit: Duration) -> std::process::Output {
    let mut child = scratch
        .command_with_db(db)
        .arg("ingest")
        .arg(scratch.path("in"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}: hung");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// A small tmpfs mounted for the test and unmounted when it ends.
struct SmallFilesystem {
    path: PathBuf,
}

impl SmallFilesystem {
    /// Needs root (as CI runs); otherwise a printed notice and `None`.
    fn mount(path: &Path, size: &str) -> Option<SmallFilesystem> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallFilesystem {
                path: path.to_path_buf(),
            }),
            other => {
                eprintln!("NOTICE: skipping the full-filesystem test: cannot mount a tmpfs (needs root): {other:?}");
                None
            }
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_full_filesystem_fails_clearly_and_a_rerun_with_space_stores_everything() {
    let scratch = Scratch::new();
    // Full long before the last input: the writer fails while parsers are still sending.
    let Some(small) = SmallFilesystem::mount(&scratch.path("small"), "3m") else {
        return;
    };
    scratch.many_reports("in", "full", 1500);
    let db = small.path.join("full.duckdb");
    let ingest = |args: &[&str]| scratch.command_with_db(&db).args(args).output().unwrap();
    let full = ingest_at_most(&scratch, &db, Duration::from_secs(120));
    assert_eq!(full.status.code(), Some(1), "{}", stderr(&full));
    let says = stderr(&full);
    assert!(says.lines().count() <= 3, "a short, clear error: {says}");
    assert!(
        says.contains("space") || says.contains("full") || says.contains("write"),
        "{says}"
    );
    assert!(!says.contains("panicked"), "{says}");
    // DuckDB's C API ends its messages with a generic code that says nothing.
    assert!(!says.contains("Unknown error code"), "{says}");

    small.resize("512m");
    let stats = ingest(&["stats", "--json"]);
    if db.exists() {
        assert_success(&stats);
    }
    assert_success(&ingest(&["ingest", scratch.path("in").to_str().unwrap()]));
    let stats: serde_json::Value =
        serde_json::from_slice(&ingest(&["stats", "--json"]).stdout).unwrap();
    assert_eq!(totals(&stats), [1500, 60_000, 180_000, 90_000]);
}

/// A database path that cannot be a database fails with DuckDB's reason, not its generic
/// "Error code 1: Unknown error code" after it (review).
#[test]
fn a_database_that_cannot_be_opened_says_why_and_only_that() {
    let scratch = Scratch::new();
    let dir = scratch.path("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let output = scratch
        .command_with_db(&dir)
        .args(["ingest", samples().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let says = stderr(&output);
    assert!(says.contains("Is a directory"), "{says}");
    assert!(!says.contains("Unknown error code"), "{says}");
}

/// A writer that fails while the parsers still have batches to hand over used to leave them
/// blocked on the full channel, and the run hung instead of exiting.
#[test]
fn a_writer_failing_mid_run_ends_the_run() {
    let scratch = Scratch::new();
    for i in 0..1000 {
        scratch.write(
            &format!("in/w-{i}.xml"),
            report_xml(&format!("w-{i}"), 1, 1).as_bytes(),
        );
    }
    // The database's folder cannot be created: its parent is a file.
    let blocker = scratch.write("not-a-folder", b"");
    let output = ingest_at_most(
        &scratch,
        &blocker.join("db.duckdb"),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot create directory"),
        "{}",
        stderr(&output)
    );
}

/// A first `html --site` cut short (here by a full filesystem; a kill does the same) left
/// pages but no manifest, and every later run refused the directory as someone else's until
/// it was emptied by hand. The manifest comes first now: the next run finishes the site.
#[test]
fn a_site_cut_short_is_finished_by_the_next_run() {
    let scratch = Scratch::new();
    let Some(small) = SmallFilesystem::mount(&scratch.path("small"), "200k") else {
        return;
    };
    assert_success(&scratch.ingest(&[samples()]));
    let site = small.path.join("site");
    let write_site = || scratch.run(["html", "--site", site.to_str().unwrap()]);
    let cut = write_site();
    assert_eq!(cut.status.code(), Some(1), "{}", stderr(&cut));
    assert!(site
        .read_dir()
        .is_ok_and(|mut pages| pages.next().is_some()));
    small.resize("64m");
    assert_success(&write_site());
    assert!(site.join("index.html").exists());
}
