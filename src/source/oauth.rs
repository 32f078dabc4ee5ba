//! How `fetch` logs in: a password, or an OAuth2 access token over SASL XOAUTH2 (Gmail,
//! Microsoft 365) or OAUTHBEARER (RFC 7628).
//!
//! Tokens come from a command the user already has (`--oauth-token-command`, as msmtp, isync
//! and aerc get theirs) or from the OAuth2 client-credentials flow (Microsoft 365 app-only
//! access). A token is fetched when a login needs one, kept until two minutes before it
//! expires (half its lifetime, if shorter), and fetched again after the server refused it. Tokens and secrets are `Secret`s:
//! never logged, never in an error message, never on a command line.

use super::imap::Secret;
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// The SASL mechanism for an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// LOGIN with a password
    Password,
    /// SASL XOAUTH2 (Gmail, Microsoft 365)
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628)
    Oauthbearer,
}

/// Where access tokens come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A shell command that prints an access token on its first line.
    Command(String),
    /// The OAuth2 client-credentials grant (RFC 6749 4.4).
    ClientCredentials {
        token_url: String,
        client_id: String,
        secret: Secret,
        scope: String,
    },
}

/// Microsoft 365's token endpoint for a tenant (its id or domain).
pub fn microsoft_token_url(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
}

/// The scope Microsoft 365 requires for IMAP with app-only access.
pub const MICROSOFT_IMAP_SCOPE: &str = "https://outlook.office365.com/.default";

/// A token is renewed this long before it expires (half its lifetime if that is shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(120);

/// Access tokens from one source, kept until shortly before they expire.
#[derive(Debug, Clone)]
pub struct Tokens {
    source: TokenSource,
    /// The token in hand and when to renew it (never, for a command's token: it is not kept).
    current: Option<(Secret, Option<Instant>)>,
}

impl Tokens {
    pub fn new(source: TokenSource) -> Tokens {
        Tokens {
            source,
            current: None,
        }
    }

    /// A token not yet due for renewal.
    pub fn token(&mut self) -> Result<Secret> {
        let fresh = |renew: &Option<Instant>| renew.is_some_and(|at| Instant::now() < at);
        match &self.current {
            Some((token, renew)) if fresh(renew) => Ok(token.clone()),
            _ => {
                let (token, renew) = self.fetch()?;
                self.current = Some((token.clone(), renew));
                Ok(token)
            }
        }
    }

    /// When the token in hand is due for renewal, if its lifetime is known: a session
    /// logged in with it should log in again by then.
    pub fn renew_at(&self) -> Option<Instant> {
        self.current.as_ref().and_then(|(_, renew)| *renew)
    }

    /// The server refused the token: the next `token()` fetches a new one.
    pub fn refused(&mut self) {
        self.current = None;
    }

    fn fetch(&self) -> Result<(Secret, Option<Instant>)> {
        match &self.source {
            // A command's token has no known lifetime: it is run again for every login.
            TokenSource::Command(command) => Ok((run_token_command(command)?, None)),
            TokenSource::ClientCredentials {
                token_url,
                client_id,
                secret,
                scope,
            } => {
                let issued = Instant::now();
                let (token, lifetime) = client_credentials(token_url, client_id, secret, scope)?;
                let renew = issued + lifetime - RENEW_BEFORE.min(lifetime / 2);
                Ok((token, Some(renew)))
            }
        }
    }
}

fn run_token_command(command: &str) -> Result<Secret> {
    // The command may carry a secret inline (`--password=...`): messages name its program.
    let program = program_of(command);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run the OAuth token command ({program})"))?;
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        let why = why.lines().next().unwrap_or("").trim();
        bail!(
            "the OAuth token command ({program}) failed ({}){}",
            output.status,
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        );
    }
    let stdout = String::from_utf8(output.stdout)
        .with_context(|| format!("the OAuth token command ({program}) printed no text"))?;
    let token = stdout.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        bail!("the OAuth token command ({program}) printed no token");
    }
    Ok(Secret::new(token))
}

/// The program a shell command runs, by its file name: `oauth2l` for
/// `TOKEN_CACHE=x /usr/bin/oauth2l fetch --secret=...`. Leading variable assignments and
/// every argument are left out: any of them may be a secret.
fn program_of(command: &str) -> String {
    let word = command
        .split_whitespace()
        .find(|word| !word.contains('='))
        .unwrap_or("");
    let name = word.rsplit('/').next().unwrap_or("");
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if name.is_empty() {
        "a shell command".into()
    } else {
        format!("program {name}")
    }
}

/// The client-credentials grant: the access token and how long it lives.
fn client_credentials(
    token_url: &str,
    client_id: &str,
    secret: &Secret,
    scope: &str,
) -> Result<(Secret, Duration)> {
    let response = ureq::post(token_url)
        .timeout(Duration::from_secs(30))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret.expose()),
            ("scope", scope),
        ]);
    let body: serde_json::Value = match response {
        Ok(response) => response
            .into_json()
            .with_context(|| format!("the token endpoint {token_url} answered no JSON"))?,
        Err(ureq::Error::Status(status, response)) => {
            // The endpoint's own words (`error`, `error_description`), which hold no secret.
            let body: serde_json::Value = response.into_json().unwrap_or_default();
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given");
            let why = why.lines().next().unwrap_or("");
            bail!("the token endpoint {token_url} refused the client credentials (HTTP {status}): {why}")
        }
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot reach the token endpoint {token_url}"))
        }
    };
    let token = body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .with_context(|| format!("the token endpoint {token_url} sent no access_token"))?;
    // RFC 6749 5.1: expires_in is recommended, not required; an hour is the usual lifetime.
    let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

/// The SASL client side for one login attempt: the initial response, then (if the server
/// sends a challenge, which for these mechanisms means it refused the token) the one-byte
/// answer that lets the server finish with NO. The challenge, the server's JSON error, is
/// kept for the error message.
pub struct Sasl<'a> {
    mechanism: Mechanism,
    initial: Option<Vec<u8>>,
    refusal: &'a mut Option<String>,
}

impl<'a> Sasl<'a> {
    pub fn new(
        mechanism: Mechanism,
        user: &str,
        token: &Secret,
        (host, port): (&str, u16),
        refusal: &'a mut Option<String>,
    ) -> Sasl<'a> {
        let token = token.expose();
        let initial = match mechanism {
            Mechanism::Oauthbearer => {
                format!(
                    "n,a={},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01",
                    gs2_name(user)
                )
            }
            _ => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        };
        Sasl {
            mechanism,
            initial: Some(initial.into_bytes()),
            refusal,
        }
    }
}

impl async_imap::Authenticator for Sasl<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.initial.take() {
            Some(initial) => initial,
            None => {
                *self.refusal = Some(String::from_utf8_lossy(challenge).into_owned());
                match self.mechanism {
                    // RFC 7628 section 3.2.3: a dummy %x01 ends the exchange.
                    Mechanism::Oauthbearer => vec![1],
                    // Google's XOAUTH2 documentation: an empty response ends it.
                    _ => Vec::new(),
                }
            }
        }
    }
}

/// RFC 5801: in a GS2 authorisation identity, "," and "=" are escaped.
fn gs2_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// The mechanism's name in AUTHENTICATE.
pub fn sasl_name(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::Oauthbearer => "OAUTHBEARER",
        _ => "XOAUTH2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::Authenticator;

    #[test]
    fn initial_responses_follow_the_specs() {
        let token = Secret::new("ya29.token");
        let mut refusal = None;
        let mut xoauth2 = Sasl::new(
            Mechanism::Xoauth2,
            "dmarc@example.com",
            &token,
            ("imap.example.com", 993),
            &mut refusal,
        );
        assert_eq!(
            xoauth2.process(b""),
            b"user=dmarc@example.com\x01auth=Bearer ya29.token\x01\x01"
        );
        assert_eq!(xoauth2.process(b"{\"status\":\"401\"}"), b"");
        assert_eq!(refusal.as_deref(), Some("{\"status\":\"401\"}"));
        let mut refusal = None;
        let mut bearer = Sasl::new(
            Mechanism::Oauthbearer,
            "a,b=c",
            &token,
            ("imap.example.com", 993),
            &mut refusal,
        );
        assert_eq!(
            bearer.process(b""),
            b"n,a=a=2Cb=3Dc,\x01host=imap.example.com\x01port=993\x01auth=Bearer ya29.token\x01\x01"
        );
        assert_eq!(bearer.process(b"{\"status\":\"401\"}"), b"\x01");
    }

    #[test]
    fn a_command_token_is_its_first_line_and_a_failing_command_says_why() {
        let mut tokens = Tokens::new(TokenSource::Command("printf 'abc\\nrest'".into()));
        assert_eq!(tokens.token().unwrap().expose(), "abc");
        assert_eq!(tokens.renew_at(), None);
        let mut failing = Tokens::new(TokenSource::Command("echo nope >&2; exit 3".into()));
        let error = format!("{:#}", failing.token().unwrap_err());
        assert!(
            error.contains("failed") && error.contains("nope"),
            "{error}"
        );
        let mut silent = Tokens::new(TokenSource::Command("true".into()));
        assert!(format!("{:#}", silent.token().unwrap_err()).contains("printed no token"));
        // Only the program is named: the rest of the command may hold a secret.
        let secret = "SECRET=s3cr3t /usr/local/bin/get-token --password=hunter2 >&2; exit 1";
        let error = format!(
            "{:#}",
            Tokens::new(TokenSource::Command(secret.into()))
                .token()
                .unwrap_err()
        );
        assert!(error.contains("program get-token"), "{error}");
        assert!(
            !error.contains("s3cr3t") && !error.contains("hunter2"),
            "{error}"
        );
    }
}
