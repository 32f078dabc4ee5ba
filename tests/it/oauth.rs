//! `duckmarc fetch` with OAuth2 access tokens (SASL XOAUTH2 and OAUTHBEARER) against a real
//! Dovecot whose oauth2 passdb checks every token with the introspection endpoint of an
//! authorisation server the test runs on 127.0.0.1, which also issues tokens
//! (client-credentials grant).

use crate::common::dovecot::{Dovecot, USER};
use crate::common::http::{Http, Request};
use crate::common::reports::*;
use crate::common::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "duckmarc-test-app";
const CLIENT_SECRET: &str = "client-s3cret-value";

/// The tokens the authorisation server knows, with when each expires.
type Issued = Arc<Mutex<HashMap<String, Instant>>>;

/// An OAuth2 authorisation server: `/token` issues tokens that live `lifetime` for the
/// right client credentials; `/introspect` says whether a token is active.
struct AuthServer {
    http: Http,
    issued: Issued,
}

impl AuthServer {
    fn start(lifetime: Duration) -> AuthServer {
        let issued: Issued = Arc::default();
        let known = Arc::clone(&issued);
        let http = Http::start(move |request: &Request| match request.path.as_str() {
            "/token" => issue(&known, request, lifetime),
            "/introspect" => {
                let token = request.form("token").unwrap_or_default();
                let active = known
                    .lock()
                    .unwrap()
                    .get(&token)
                    .is_some_and(|e| *e > Instant::now());
                let answer = if active {
                    serde_json::json!({"active": true, "username": USER})
                } else {
                    serde_json::json!({"active": false})
                };
                (200, answer.to_string())
            }
            _ => (404, "{}".into()),
        });
        AuthServer { http, issued }
    }

    fn valid(&self, token: &str) {
        let expiry = Instant::now() + Duration::from_secs(3600);
        self.issued.lock().unwrap().insert(token.into(), expiry);
    }

    /// Tokens Dovecot asked about, in order.
    fn introspected(&self) -> Vec<String> {
        let requests = self.http.requests_to("/introspect");
        requests.iter().filter_map(|r| r.form("token")).collect()
    }
}

fn issue(issued: &Issued, request: &Request, lifetime: Duration) -> (u16, String) {
    let good = request.method == "POST"
        && request.form("grant_type").as_deref() == Some("client_credentials")
        && request.form("client_id").as_deref() == Some(CLIENT_ID)
        && request.form("client_secret").as_deref() == Some(CLIENT_SECRET);
    if !good {
        let refusal = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
        return (401, refusal.into());
    }
    let mut issued = issued.lock().unwrap();
    let token = format!("issued-token-{}", issued.len() + 1);
    issued.insert(token.clone(), Instant::now() + lifetime);
    let answer = serde_json::json!({
        "token_type": "Bearer", "expires_in": lifetime.as_secs(), "access_token": token
    });
    (200, answer.to_string())
}

/// A scratch directory, an authorisation server issuing tokens that live `lifetime`, and a
/// Dovecot checking tokens with it; None when Dovecot is not installed.
fn start(lifetime: Duration) -> Option<(Scratch, AuthServer, Dovecot)> {
    let scratch = Scratch::new();
    let server = AuthServer::start(lifetime);
    let introspect = format!("{}/introspect", server.http.base);
    let dovecot = Dovecot::start_with_oauth(&scratch, &introspect)?;
    Some((scratch, server, dovecot))
}

fn deliver_reports(dovecot: &Dovecot, ids: &[&str]) {
    for id in ids {
        let attachment = gzip(report_xml(id, 3, 2).as_bytes());
        let message = mail_with_attachment(
            "Content-Type: application/gzip; name=\"r.xml.gz\"",
            &attachment,
        );
        dovecot.deliver(id, &message);
    }
}

fn fetch(scratch: &Scratch, dovecot: &Dovecot, extra: &[&str]) -> std::process::Output {
    let mut command = scratch.command();
    command.args(dovecot.server_args("none")).args(extra);
    command.output().expect("run duckmarc fetch")
}

/// A script printing the tokens of `lines` one per run (the last one again after that),
/// counting its runs in `runs`.
fn token_script(scratch: &Scratch, lines: &[&str]) -> String {
    let list = scratch.write("tokens", format!("{}\n", lines.join("\n")).as_bytes());
    let runs = scratch.path("runs");
    let script = format!(
        "n=$(($(cat {r} 2>/dev/null || echo 0) + 1)); echo $n > {r}; \
         sed -n \"$n p\" {l} | grep . || tail -n 1 {l}",
        r = runs.display(),
        l = list.display()
    );
    script
}

fn runs(scratch: &Scratch) -> u32 {
    std::fs::read_to_string(scratch.path("runs"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn xoauth2_with_a_token_command_from_the_config_and_the_token_never_shown() {
    let Some((scratch, server, dovecot)) = start(Duration::from_secs(3600)) else {
        return;
    };
    server.valid("ya29.valid-command-token");
    deliver_reports(&dovecot, &["oauth-a", "oauth-b"]);
    // From the config file this time, as a cron job would have it.
    let command = token_script(&scratch, &["ya29.valid-command-token"]);
    let config = format!("[imap]\nauth = \"xoauth2\"\noauth_token_command = {command:?}\n");
    let config = scratch.write("config.toml", config.as_bytes());
    let output = fetch(
        &scratch,
        &dovecot,
        &["--config", config.to_str().unwrap(), "-v"],
    );
    assert_success(&output);
    assert_eq!(scratch.stats()["reports"], 2);
    assert_eq!(server.introspected(), ["ya29.valid-command-token"]);
    let shown = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        !shown.contains("ya29"),
        "the token is never printed: {shown}"
    );
}

#[test]
fn oauthbearer_replaces_an_expired_token_and_logs_in() {
    let Some((scratch, server, dovecot)) = start(Duration::from_secs(3600)) else {
        return;
    };
    // The first token the command prints has expired; the second is good.
    server
        .issued
        .lock()
        .unwrap()
        .insert("expired-token".into(), Instant::now());
    server.valid("fresh-token");
    deliver_reports(&dovecot, &["bearer-a"]);
    let command = token_script(&scratch, &["expired-token", "fresh-token"]);
    let output = fetch(
        &scratch,
        &dovecot,
        &["--auth", "oauthbearer", "--oauth-token-command", &command],
    );
    assert_success(&output);
    assert_eq!(scratch.stats()["reports"], 1);
    assert_eq!(server.introspected(), ["expired-token", "fresh-token"]);
    assert_eq!(runs(&scratch), 2, "the command ran again after the refusal");
}

#[test]
fn a_revoked_token_fails_with_a_clear_message_and_exit_code_1() {
    let Some((scratch, server, dovecot)) = start(Duration::from_secs(3600)) else {
        return;
    };
    deliver_reports(&dovecot, &["revoked-a"]);
    let command = token_script(&scratch, &["revoked-token"]);
    for mechanism in ["xoauth2", "oauthbearer"] {
        let output = fetch(
            &scratch,
            &dovecot,
            &["--auth", mechanism, "--oauth-token-command", &command],
        );
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let error = stderr(&output);
        assert!(
            error.contains("IMAP login as dmarc at 127.0.0.1")
                && error.contains("refused the access token"),
            "{error}"
        );
        assert_eq!(error.trim().lines().count(), 1, "one line: {error}");
        assert!(
            !error.contains("revoked-token"),
            "the token is not shown: {error}"
        );
    }
    // Each refused once, then again after the command ran anew (it prints the same token).
    assert_eq!(server.introspected(), ["revoked-token"; 4]);
    assert_eq!(runs(&scratch), 4);
    // A command that fails says so, without a login attempt.
    let output = fetch(
        &scratch,
        &dovecot,
        &[
            "--auth",
            "xoauth2",
            "--oauth-token-command",
            "echo 'no cached token' >&2; exit 2",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no cached token"),
        "{}",
        stderr(&output)
    );
    // A command with an inline secret is named by its program only.
    let output = fetch(
        &scratch,
        &dovecot,
        &[
            "--auth",
            "xoauth2",
            "--oauth-token-command",
            "CACHE_KEY=k3y-s3cret get-token --password=hunter2",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(err.contains("program get-token"), "{err}");
    for secret in ["k3y-s3cret", "hunter2"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret}: {err}"
        );
    }
    assert!(!scratch.db().exists(), "nothing fetched, nothing stored");
}

#[test]
fn client_credentials_get_a_token_and_a_bad_secret_is_named() {
    let Some((scratch, server, dovecot)) = start(Duration::from_secs(3600)) else {
        return;
    };
    deliver_reports(&dovecot, &["cc-a", "cc-b", "cc-c"]);
    let token_url = format!("{}/token", server.http.base);
    let wrong = scratch.write("wrong-secret", b"not-the-secret\n");
    let client = |secret: &std::path::Path| {
        let secret = secret.display().to_string();
        let args = [
            "--oauth-client-id",
            CLIENT_ID,
            "--oauth-client-secret-file",
            &secret,
            "--oauth-token-url",
            &token_url,
        ];
        fetch(&scratch, &dovecot, &args)
    };
    let output = client(&wrong);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("Invalid client secret"),
        "{}",
        stderr(&output)
    );

    let secret = scratch.write("client-secret", format!("{CLIENT_SECRET}\n").as_bytes());
    let output = client(&secret);
    assert_success(&output);
    assert_eq!(scratch.stats()["reports"], 3);
    let requests = server.http.requests_to("/token");
    let last = requests.last().unwrap();
    assert_eq!(
        last.form("scope").as_deref(),
        Some("https://outlook.office365.com/.default")
    );
    assert_eq!(server.introspected(), ["issued-token-1"]);
    let shown = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        !shown.contains(CLIENT_SECRET) && !shown.contains("issued-token"),
        "{shown}"
    );
}

#[test]
fn a_watch_logs_in_again_with_a_new_token_before_the_old_one_expires() {
    // Tokens live 6 s: the session is renewed after 3 s (half the lifetime).
    let Some((scratch, server, dovecot)) = start(Duration::from_secs(6)) else {
        return;
    };
    deliver_reports(&dovecot, &["watch-a"]);
    let secret = scratch.write("client-secret", format!("{CLIENT_SECRET}\n").as_bytes());
    let token_url = format!("{}/token", server.http.base);
    let mut command = scratch.command();
    command.args(dovecot.server_args("none")).args([
        "--oauth-client-id",
        CLIENT_ID,
        "--oauth-client-secret-file",
        secret.to_str().unwrap(),
        "--oauth-token-url",
        &token_url,
        "--watch",
    ]);
    let child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(scratch.wait_for_reports(1, Duration::from_secs(20)), 1);
    // Past the first token's lifetime, mail still arrives through a session on a newer one.
    std::thread::sleep(Duration::from_secs(8));
    deliver_reports(&dovecot, &["watch-b"]);
    assert_eq!(scratch.wait_for_reports(2, Duration::from_secs(20)), 2);
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tokens = server.http.requests_to("/token").len();
    assert!(tokens >= 3, "a new token for each renewal: {tokens}");
    let introspected = server.introspected();
    assert!(introspected.len() >= 3, "logged in again: {introspected:?}");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("login"),
        "no failed login"
    );
}
