//! `duckmarc alerts` posting to a webhook: a real HTTP server on 127.0.0.1, up, down, slow;
//! the URL a secret; two runs at once.

use crate::alerts::{alerts, ingest_days, kinds, CONFIG};
use crate::alerts_sources::one_source;
use crate::common::*;
use serde_json::Value;

/// A real HTTP server on 127.0.0.1 that answers 200 to every request.
pub(crate) struct Webhook {
    pub(crate) url: String,
    http: http::Http,
}

impl Webhook {
    pub(crate) fn start() -> Webhook {
        let http = http::Http::start(|_| (200, String::new()));
        let url = format!("{}/hooks/dmarc", http.base);
        Webhook { url, http }
    }

    /// The JSON bodies posted so far.
    pub(crate) fn bodies(&self) -> Vec<Value> {
        let requests = self.http.requests_to("/hooks/dmarc");
        requests
            .iter()
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

/// An address on 127.0.0.1 where nothing listens: a webhook that is down. Port 1, not a port
/// bound and let go: the system hands ports like that to the next server a concurrent test
/// starts, and then the "down" webhook answered (seen once in a full run). Ports below 1024
/// are never handed out by a bind to port 0, so no test's server can take this one.
fn closed_port() -> std::net::SocketAddr {
    let closed = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    assert!(
        std::net::TcpStream::connect(closed).is_err(),
        "something listens on {closed}: the test needs a port where nothing does"
    );
    closed
}

/// `alerts --webhook URL` with the config and the flags in `extra`, started and left
/// running, its stdout and stderr piped.
fn spawn_alerts(scratch: &Scratch, url: &str, extra: &[&str]) -> std::process::Child {
    let config = scratch.write("config.toml", CONFIG.as_bytes());
    scratch
        .command()
        .arg("--config")
        .arg(config)
        .args(["alerts", "--webhook", url])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A webhook on 127.0.0.1 that takes `seconds` to answer each post.
struct SlowWebhook {
    url: String,
    http: http::Http,
}

impl SlowWebhook {
    fn start(seconds: u64) -> SlowWebhook {
        let http = http::Http::start(move |_| {
            std::thread::sleep(std::time::Duration::from_secs(seconds));
            (200, String::new())
        });
        let url = format!("{}/hook", http.base);
        SlowWebhook { url, http }
    }

    /// `alerts --webhook` to it with the config, started and left running.
    fn spawn_alerts(&self, scratch: &Scratch, extra: &[&str]) -> std::process::Child {
        spawn_alerts(scratch, &self.url, extra)
    }

    /// Waits for the first post: the run posting it then waits for the answer.
    fn wait_for_a_post(&self) {
        let started = std::time::Instant::now();
        while self.posts().is_empty() {
            assert!(
                started.elapsed().as_secs() < 30,
                "the webhook was never posted"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn posts(&self) -> Vec<http::Request> {
        self.http.requests_to("/hook")
    }
}

#[test]
fn a_webhook_that_is_down_keeps_the_alerts_for_the_next_run() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    assert_eq!(alerts(&scratch, &[]).0, Some(0));
    // Nothing has arrived for three days.
    scratch.rewrite("UPDATE reports SET ingested_at = ingested_at - INTERVAL 3 DAY");
    let down = format!("http://{}/hook", closed_port());
    let (code, found, says) = alerts(&scratch, &["--webhook", &down]);
    assert_eq!(code, Some(1), "{says}");
    assert_eq!(
        kinds(&found),
        [("reports_stopped".to_string(), "reports".to_string())]
    );
    assert_eq!(
        says.matches("attempt").count(),
        3,
        "tried three times: {says}"
    );
    assert!(says.contains("stay pending"), "{says}");

    let hook = Webhook::start();
    let (code, found, _) = alerts(&scratch, &["--webhook", &hook.url]);
    assert_eq!(code, Some(4));
    assert_eq!(
        kinds(&found),
        [("reports_stopped".to_string(), "reports".to_string())]
    );
    assert_eq!(hook.bodies().len(), 1);
    let (code, found, _) = alerts(&scratch, &["--webhook", &hook.url]);
    assert_eq!(
        (code, found.len()),
        (Some(0), 0),
        "delivered, so raised once"
    );
    assert_eq!(hook.bodies().len(), 1, "nothing to post");
}

/// A webhook that answers with a redirect has not been given the alerts (a 302 turns the
/// POST into a GET without them, a 307 is not followed): they stay pending, and the error
/// says where it points.
#[test]
fn a_webhook_that_redirects_keeps_the_alerts_for_the_next_run() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    scratch.rewrite("UPDATE reports SET ingested_at = ingested_at - INTERVAL 3 DAY");
    for status in [302, 307] {
        let moved = http::Http::start(move |_| (status, String::new()));
        let (code, found, says) = alerts(&scratch, &["--webhook", &format!("{}/hook", moved.base)]);
        assert_eq!((code, found.len()), (Some(1), 1), "{status}: {says}");
        assert!(says.contains(&format!("answered HTTP {status}")), "{says}");
        assert!(says.contains("stay pending"), "{says}");
        assert_eq!(moved.requests_to("/hook").len(), 1, "asked once: {status}");
    }
    let hook = Webhook::start();
    let (code, found, _) = alerts(&scratch, &["--webhook", &hook.url]);
    assert_eq!((code, found.len()), (Some(4), 1));
    assert_eq!(hook.bodies().len(), 1);
}

/// `alerts --webhook URL | head -1`: the webhook is the delivery, so a reader of stdout gone
/// away does not keep the alerts from it, and the run still says it raised alerts.
#[test]
fn a_reader_of_stdout_gone_away_does_not_keep_the_alerts_from_the_webhook() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    scratch.rewrite("UPDATE reports SET ingested_at = ingested_at - INTERVAL 3 DAY");
    let hook = Webhook::start();
    let mut run = spawn_alerts(&scratch, &hook.url, &[]);
    drop(run.stdout.take()); // the reader is gone before the run prints
    let output = run.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert_eq!(hook.bodies().len(), 1);
    let (code, found, _) = alerts(&scratch, &["--webhook", &hook.url]);
    assert_eq!(
        (code, found.len()),
        (Some(0), 0),
        "delivered, so raised once"
    );
}

/// A webhook URL carries its token in the path: a failing post names the scheme and host
/// only, and the URL may come from a file or the environment instead of the command line.
#[test]
fn a_webhook_url_is_a_secret_never_printed() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    assert_eq!(alerts(&scratch, &[]).0, Some(0));
    scratch.rewrite("UPDATE reports SET ingested_at = ingested_at - INTERVAL 3 DAY");
    let closed = closed_port();
    let secret = format!("http://{closed}/services/T0001/B0002/SECRETTOKENxyz?sig=SIGNATURE");
    // On the command line, in the environment, in a file: the failing path never shows it.
    let file = scratch.write("webhook.url", format!("{secret}\n").as_bytes());
    let config = scratch.write("config.toml", CONFIG.as_bytes());
    let alerts_with = |args: &[&std::ffi::OsStr], env: Option<&str>| {
        let mut command = scratch.command();
        command
            .arg("--config")
            .arg(&config)
            .arg("alerts")
            .args(args);
        if let Some(url) = env {
            command.env("DUCKMARC_WEBHOOK", url);
        }
        command.output().unwrap()
    };
    let runs = [
        alerts_with(&["--webhook".as_ref(), secret.as_ref()], None),
        alerts_with(&[], Some(&secret)),
        alerts_with(&["--webhook-file".as_ref(), file.as_os_str()], None),
    ];
    for output in runs {
        let (out, err) = (stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("http://{closed}/…")), "{err}");
        assert!(err.contains("stay pending"), "{err}");
        for part in ["SECRETTOKENxyz", "SIGNATURE", "T0001"] {
            assert!(
                !out.contains(part) && !err.contains(part),
                "{part} shown: {err}"
            );
        }
    }
    // From the file to a webhook that answers: posted, and raised once.
    let hook = Webhook::start();
    let file = scratch.write("good.url", hook.url.as_bytes());
    let (code, found, _) = alerts(&scratch, &["--webhook-file", file.to_str().unwrap()]);
    assert_eq!((code, found.len()), (Some(4), 1));
    assert_eq!(hook.bodies().len(), 1);
}

/// What arrives while the webhook is being answered is judged by the next run: the run
/// records only what it evaluated.
#[test]
fn a_source_that_arrives_while_the_webhook_is_slow_is_raised_next_run() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    alerts(&scratch, &[]); // the baseline
    ingest_days(&scratch, 3..=3);
    let slow = SlowWebhook::start(3);
    let running = slow.spawn_alerts(&scratch, &[]);
    // Once the webhook is being posted the database is free: a report with a new source
    // goes in meanwhile.
    slow.wait_for_a_post();
    let late = one_source(
        &scratch,
        "late",
        "example.com",
        "203.0.113.44",
        "<p>none</p>",
    );
    assert_success(&scratch.ingest(&[&late]));
    assert!(running.wait_with_output().unwrap().status.code() == Some(4));
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4));
    assert!(
        kinds(&found).contains(&("new_source".into(), "203.0.113.44".into())),
        "{found:?}"
    );
}

/// Two runs at once while the webhook is slow: the second waits for the first to record
/// what it posted, so each alert is posted once (it was posted by both: the first run lets
/// the database go while the webhook answers). A run of another scope does not wait.
#[test]
fn two_runs_at_once_post_each_alert_once() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    assert_eq!(alerts(&scratch, &[]).0, Some(0)); // the baseline
    ingest_days(&scratch, 3..=3);
    let slow = SlowWebhook::start(2);
    let first = slow.spawn_alerts(&scratch, &["--format", "json"]);
    slow.wait_for_a_post();
    let second = slow.spawn_alerts(&scratch, &["--format", "json"]);
    // Another scope keeps its own state: it need not wait (a second aside is plenty).
    let config = scratch.path("config.toml");
    let other = scratch
        .command()
        .arg("--config")
        .arg(&config)
        .args(["--lock-timeout", "1", "alerts", "--domain", "other.example"])
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert_eq!(first.status.code(), Some(4), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        stdout(&second).trim(),
        "[]",
        "raised again: {}",
        stdout(&second)
    );
    let posts = slow.posts();
    assert_eq!(posts.len(), 1, "posted {} times", posts.len());
    let posted: Value = serde_json::from_str(&posts[0].body).unwrap();
    assert!(
        kinds(posted["alerts"].as_array().unwrap())
            .contains(&("new_source".into(), "203.0.113.99".into())),
        "{posted}"
    );
}
