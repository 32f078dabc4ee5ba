//! duckmarc's clock: the "now" stored state is stamped with and compared against, which
//! `DUCKMARC_NOW` can set so a scenario can be replayed day by day.

use anyhow::{Context, Result};
use std::time::{SystemTime, UNIX_EPOCH};

/// The clock: microseconds since the Unix epoch (UTC), or the time `DUCKMARC_NOW` sets
/// (epoch seconds), so a scenario can be replayed day by day (README: "Environment").
pub fn now_micros() -> i64 {
    match clock_override() {
        Ok(Some(seconds)) => seconds * 1_000_000,
        _ => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64),
    }
}

/// `DUCKMARC_NOW` as epoch seconds; `None` when unset. The command line checks it once at
/// start, so an unreadable value stops the run instead of being ignored here.
pub fn clock_override() -> Result<Option<i64>> {
    match std::env::var("DUCKMARC_NOW") {
        Err(_) => Ok(None),
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .with_context(|| format!("DUCKMARC_NOW={text:?} is not a time in epoch seconds")),
    }
}

/// Seconds since the Unix epoch (UTC): the "now" that stored state is compared with.
pub fn now_seconds() -> i64 {
    now_micros() / 1_000_000
}
