//! Helpers shared by the integration tests: run the real `duckmarc` binary on a throw-away
//! database and read its results.

pub mod dnsmasq;
pub mod dovecot;
pub mod http;
pub mod reports;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The checkout the tests run in. Read when the test runs, not when it was compiled: a
/// target directory shared by several clones (as CI's is) keeps a test binary built for
/// another clone's path while its sources are the same.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The real-world corpus beside the checkout (never copied into the repo). A user's own
/// clone has none: a printed notice and `None`, or a failure under
/// DUCKMARC_REQUIRE_INTEGRATION=1 (as in CI).
pub fn corpus() -> Option<PathBuf> {
    let path = repo().join("../shared/corpus");
    if path.is_dir() {
        return Some(path);
    }
    skip_or_fail(&format!(
        "the shared corpus is missing at {}",
        path.display()
    ));
    None
}

/// Skipping is fine on a developer's machine; under DUCKMARC_REQUIRE_INTEGRATION=1 it fails.
pub fn skip_or_fail(why: &str) {
    let required = std::env::var("DUCKMARC_REQUIRE_INTEGRATION").is_ok_and(|v| v == "1");
    assert!(!required, "DUCKMARC_REQUIRE_INTEGRATION=1 but {why}");
    eprintln!("NOTICE: skipping: {why}");
}

pub fn samples() -> PathBuf {
    repo().join("sample_reports")
}

/// A fresh directory with a database path inside it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

/// The duckmarc under test: the one cargo built, or DUCKMARC_TEST_BIN (a copy, or an installed
/// build, so a long test can run while cargo builds the next one).
fn binary() -> std::ffi::OsString {
    std::env::var_os("DUCKMARC_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_duckmarc").into())
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("test.duckdb")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Writes `n` distinct gzip reports of 40 records x 3 messages into `dir`.
    pub fn many_reports(&self, dir: &str, prefix: &str, n: usize) {
        for i in 0..n {
            let xml = reports::report_xml(&format!("{prefix}-{i}"), 40, 3);
            let name = format!("{dir}/{prefix}-{i}.xml.gz");
            self.write(&name, &reports::gzip(xml.as_bytes()));
        }
    }

    /// `duckmarc --db <scratch db> ARGS...`
    pub fn command(&self) -> Command {
        self.command_with_db(&self.db())
    }

    /// `duckmarc --db DB ARGS...`, in this scratch's environment.
    pub fn command_with_db(&self, db: &Path) -> Command {
        let mut command = self.command_without_db();
        command.arg("--db").arg(db);
        command
    }

    /// `duckmarc ARGS...` in this scratch's environment (its directory the home directory),
    /// the database where DUCKMARC_DB or a config file says.
    pub fn command_without_db(&self) -> Command {
        let mut command = Command::new(binary());
        command
            .env_remove("DUCKMARC_DB")
            .env_remove("DUCKMARC_CONFIG")
            .env_remove("RUST_LOG")
            // No test depends on the network: DNS tests name their own server.
            .env("DUCKMARC_NO_DNS", "1")
            // Test reports cover a day or a few: `ready` is judged on them. The default
            // minimum (30 days) is tested in readiness.rs.
            .env("DUCKMARC_MIN_DAYS", "1")
            .env("HOME", self.dir.path());
        command
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command().args(args).output().expect("run duckmarc")
    }

    pub fn ingest<P: AsRef<Path>>(&self, paths: &[P]) -> Output {
        let mut command = self.command();
        command.arg("ingest").args(paths.iter().map(AsRef::as_ref));
        command.output().expect("run duckmarc ingest")
    }

    /// `duckmarc stats --json`, parsed.
    pub fn stats(&self) -> Value {
        let output = self.run(["stats", "--json"]);
        assert_success(&output);
        serde_json::from_slice(&output.stdout).expect("stats prints JSON")
    }

    /// Polls `stats` until at least `reports` reports are stored or `limit` passes, and
    /// returns the number last seen.
    pub fn wait_for_reports(&self, reports: u64, limit: std::time::Duration) -> u64 {
        let started = std::time::Instant::now();
        loop {
            let output = self.run(["stats", "--json"]);
            let now = serde_json::from_slice::<Value>(&output.stdout)
                .ok()
                .and_then(|s| s["reports"].as_u64())
                .unwrap_or(0);
            if now >= reports || started.elapsed() > limit {
                return now;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Changes the database directly, as an older duckmarc (or a user) would have left it.
    pub fn rewrite(&self, sql: &str) {
        let conn = duckdb::Connection::open(self.db()).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    /// `duckmarc report REPORT ARGS... --format json`, parsed (`args` starts with the report).
    pub fn report_json(&self, args: &[&str]) -> Vec<Value> {
        let output = self.run([&["report"], args, &["--format", "json"]].concat());
        assert_success(&output);
        let rows: Value = serde_json::from_slice(&output.stdout).expect("report prints JSON");
        rows.as_array().expect("an array").clone()
    }

    /// Runs SQL through `duckmarc query --format json` and returns the rows.
    pub fn query(&self, sql: &str) -> Vec<Value> {
        let file = self.write("query.sql", sql.as_bytes());
        let output = self.run([
            "query".as_ref(),
            file.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_success(&output);
        let rows: Value = serde_json::from_slice(&output.stdout).expect("query prints JSON");
        rows.as_array().expect("an array").clone()
    }
}

/// A child process that is killed if the test fails before it ends on its own, so a
/// failing test never leaves a duckmarc waiting forever.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Asks a long-running duckmarc (watch, fetch --watch) to stop, as systemd would.
pub fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "duckmarc failed with {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The four headline totals of `stats --json`.
pub fn totals(stats: &Value) -> [u64; 4] {
    ["reports", "records", "messages", "dmarc_pass_messages"].map(|k| {
        stats[k]
            .as_u64()
            .unwrap_or_else(|| panic!("stats has no {k}: {stats}"))
    })
}

/// A program the integration tests need (chromium, dovecot). Missing: a printed notice and
/// `None`, or a failure when DUCKMARC_REQUIRE_INTEGRATION=1 (as in CI).
pub fn require_program(candidates: &[&str]) -> Option<PathBuf> {
    let search = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/usr/lib/dovecot"].map(PathBuf::from);
    for name in candidates {
        for dir in std::env::split_paths(&search).chain(extra.iter().cloned()) {
            let path = dir.join(name);
            if path.is_file() {
                return Some(path);
            }
        }
    }
    skip_or_fail(&format!("none of {candidates:?} is installed"));
    None
}
