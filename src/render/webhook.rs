//! Posting alerts to a webhook as JSON: `{"source": "duckmarc", "alerts": [...]}`. A webhook
//! that is down is tried again twice (after 1 s, then 4 s); then the error is the caller's,
//! who keeps the alerts pending for the next run. Only a 2xx answer delivers: a redirect is
//! not followed (a 301 or 302 would turn the POST into a GET without the alerts, RFC 9110
//! section 15.4) and counts as a failure, named with where it points.
//!
//! A webhook URL is a secret (Slack, Teams and Discord URLs carry their token in the path),
//! so it is never printed: messages name its scheme and host only ([`redacted`]).

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};
use std::time::Duration;

const ATTEMPTS: u32 = 3;

pub fn post(url: &str, alerts: &[Map<String, Value>]) -> Result<()> {
    let body = json!({ "source": "duckmarc", "alerts": alerts });
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .build();
    let shown = redacted(url);
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        match agent.post(url).send_json(&body) {
            Ok(response) if (200..300).contains(&response.status()) => return Ok(()),
            // Asking again gets the same answer: the URL is what has to change.
            Ok(response) => return Err(anyhow!(not_delivered(&shown, &response))),
            Err(error) => {
                last_error = failure(&error);
                log::warn!("webhook {shown}: attempt {attempt} of {ATTEMPTS} failed: {last_error}");
                if attempt < ATTEMPTS {
                    std::thread::sleep(Duration::from_secs(u64::from(attempt * attempt)));
                }
            }
        }
    }
    Err(anyhow!(
        "webhook {shown} failed {ATTEMPTS} times ({last_error}); the alerts stay pending and are \
         raised again next run"
    ))
}

/// A webhook's answer that is neither a success nor an error: a redirect, never followed,
/// or an interim 1xx that ureq reads no further (delivery unknown: at least once, so not
/// taken for delivered).
fn not_delivered(shown: &str, response: &ureq::Response) -> String {
    let status = response.status();
    let what = match response.header("location") {
        Some(location) if (300..400).contains(&status) => format!(
            "a redirect to {} (give the URL it points to)",
            redacted(location)
        ),
        _ => "not a success (2xx)".to_string(),
    };
    format!(
        "webhook {shown} answered HTTP {status} {}, {what}: the alerts stay pending and are \
         raised again next run",
        response.status_text()
    )
}

/// What went wrong, without the URL that ureq's own message starts with.
fn failure(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Status(code, response) => format!("HTTP {code} {}", response.status_text()),
        ureq::Error::Transport(transport) => {
            let mut text = transport.kind().to_string();
            for part in [
                transport.message().map(str::to_string),
                std::error::Error::source(transport).map(|s| s.to_string()),
            ]
            .into_iter()
            .flatten()
            {
                text.push_str(": ");
                text.push_str(&part);
            }
            text
        }
    }
}

/// `https://hooks.example.com/…`: the scheme and host of a URL, never its user, path or query.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    match scheme {
        "" => "(a URL without a scheme)".into(),
        _ => format!("{scheme}://{host}/…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scheme_and_host_are_shown() {
        assert_eq!(
            redacted("https://hooks.slack.com/services/T000/B000/XXXXsecret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redacted("https://user:pw@example.com:8443?token=abc"),
            "https://example.com:8443/…"
        );
        assert_eq!(
            redacted("hooks.example.com/secret"),
            "(a URL without a scheme)"
        );
    }
}
