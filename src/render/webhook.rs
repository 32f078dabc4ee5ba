//! Posting alerts to a webhook as JSON: `{"source": "duckmarc", "alerts": [...]}`. A webhook
//! that is down is tried again twice (after 1 s, then 3 s); then the error is the caller's,
//! who keeps the alerts pending for the next run.

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};
use std::time::Duration;

const ATTEMPTS: u32 = 3;

pub fn post(url: &str, alerts: &[Map<String, Value>]) -> Result<()> {
    let body = json!({ "source": "duckmarc", "alerts": alerts });
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        match agent.post(url).send_json(&body) {
            Ok(_) => return Ok(()),
            Err(error) => {
                last_error = error.to_string();
                log::warn!("webhook {url}: attempt {attempt} of {ATTEMPTS} failed: {last_error}");
                if attempt < ATTEMPTS {
                    std::thread::sleep(Duration::from_secs(u64::from(attempt * attempt)));
                }
            }
        }
    }
    Err(anyhow!(
        "webhook {url} failed {ATTEMPTS} times ({last_error}); the alerts stay pending and are \
         raised again next run"
    ))
}
