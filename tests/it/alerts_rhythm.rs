//! `duckmarc alerts` against the rhythms of real reporting: keys that sign weekly, receivers
//! that report only the days they got mail, hourly or weekly reports, days that run 23:00 to
//! 23:00 UTC, and cron set up before the first report came.

use crate::alerts::{row, CONFIG};
use crate::alerts_scenario::at;
use crate::common::reports::{dmarc_report_of_period, Row};
use crate::common::*;
use serde_json::Value;

const DAY0: u64 = 1_763_596_800; // 2025-11-20 00:00 UTC
const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;

fn date(n: u64) -> String {
    let day = chrono::DateTime::from_timestamp((DAY0 + n * DAY) as i64, 0).unwrap();
    day.format("%Y-%m-%d").to_string()
}

/// Writes the report of `org` for `(begin, end)` and returns its path.
fn report(scratch: &Scratch, org: &str, period: (u64, u64), rows: &[Row]) -> std::path::PathBuf {
    let id = format!("{org}-{}-{}", period.0, period.1);
    let xml = dmarc_report_of_period(org, &id, period, "<p>none</p>", rows);
    scratch.write(&format!("{id}.xml"), xml.as_bytes())
}

/// Day `n` (00:00 to 23:59:59 UTC).
fn day(n: u64) -> (u64, u64) {
    (DAY0 + n * DAY, DAY0 + n * DAY + DAY - 1)
}

/// Ingests `files` and runs `alerts --format json` at `now`: (kind, subject, value) of each.
fn ingest_and_alert(
    scratch: &Scratch,
    now: u64,
    files: &[std::path::PathBuf],
) -> Vec<(String, String, String)> {
    scratch.write("config.toml", CONFIG.as_bytes());
    if !files.is_empty() {
        assert_success(&at(scratch, now).arg("ingest").args(files).output().unwrap());
    }
    let output = at(scratch, now)
        .args(["alerts", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 4)),
        "{}",
        stderr(&output)
    );
    let alerts: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    alerts
        .iter()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
            (text("kind"), text("subject"), text("value"))
        })
        .collect()
}

/// No `pass_rate_drop` nor `reporter_pass_rate_drop` among `found`.
fn assert_no_pass_rate_drop(found: &[(String, String, String)], why: &str) {
    assert!(
        found.iter().all(|(k, _, _)| !k.contains("pass_rate_drop")),
        "{why}: {found:?}"
    );
}

fn signed(ip: &'static str, count: u64, selector: &'static str) -> Row<'static> {
    Row {
        selector: Some(selector),
        ..row(ip, count, true, "example.com")
    }
}

/// A newsletter key that signs every Saturday and a receiver that reports only some days
/// (its periods ending at midnight) are silent for days as a matter of course: raised only
/// once silent for longer than they ever were, and dated by their last day.
#[test]
fn keys_and_reporters_are_silent_only_beyond_their_own_rhythm() {
    let scratch = Scratch::new();
    let weekly = [2, 9, 16, 23];
    let yahoo_days = [0, 4, 9, 13, 18, 23];
    let days = |range: std::ops::RangeInclusive<u64>| -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for n in range {
            let mut rows = vec![signed("192.0.2.10", 300, "s1")];
            if weekly.contains(&n) {
                rows.push(signed("192.0.2.20", 2000, "k1"));
            }
            files.push(report(&scratch, "google.com", day(n), &rows));
            if yahoo_days.contains(&n) {
                let midnight = (DAY0 + n * DAY, DAY0 + (n + 1) * DAY);
                let rows = [row("192.0.2.10", 40, true, "example.com")];
                files.push(report(&scratch, "Yahoo", midnight, &rows));
            }
        }
        files
    };
    // Four days after the newsletter's and Yahoo's last: both within their rhythm.
    let found = ingest_and_alert(&scratch, DAY0 + 28 * DAY, &days(0..=27));
    assert!(
        found.iter().all(|(k, _, _)| !k.ends_with("_silent")),
        "{found:?}"
    );
    // A week and a day without either: the newsletter's signer broke, Yahoo stopped.
    let found = ingest_and_alert(&scratch, DAY0 + 32 * DAY, &days(28..=31));
    let silent: Vec<_> = found
        .iter()
        .filter(|(k, _, _)| k.ends_with("_silent"))
        .cloned()
        .collect();
    assert_eq!(
        silent,
        [
            (
                "dkim_selector_silent".into(),
                "k1._domainkey.example.com".into(),
                date(23)
            ),
            ("reporter_silent".into(), "Yahoo".into(), date(23)),
        ],
        "{found:?}"
    );
}

/// A receiver that reports every hour: a day is not judged on its first hours (a bad first
/// hour read as a bad day), only once it has ended and its reports are in.
#[test]
fn an_hourly_reporter_s_day_is_judged_once_its_hours_are_in() {
    let scratch = Scratch::new();
    let hours = |n: u64, bad_first_hour: bool| -> Vec<std::path::PathBuf> {
        (0..24)
            .map(|h| {
                let begin = DAY0 + n * DAY + h * HOUR;
                let failing = if bad_first_hour && h == 0 { 30 } else { 0 };
                let rows = [
                    row("192.0.2.10", 60 - failing, true, "example.com"),
                    row("192.0.2.11", failing, false, "example.com"),
                ];
                report(&scratch, "hourly.example", (begin, begin + HOUR), &rows)
            })
            .collect()
    };
    let history: Vec<_> = (0..14).flat_map(|n| hours(n, false)).collect();
    ingest_and_alert(&scratch, DAY0 + 14 * DAY + 30 * 60, &history);
    // 01:30 on day 14: only its first hour is in, half of it failing.
    let day14 = hours(14, true);
    let found = ingest_and_alert(&scratch, DAY0 + 14 * DAY + 90 * 60, &day14[..1]);
    assert_no_pass_rate_drop(&found, "judged on its first hour");
    // The day's other hours, all passing: 2% of the day failed, no drop.
    let found = ingest_and_alert(&scratch, DAY0 + 15 * DAY + HOUR, &day14[1..]);
    assert_no_pass_rate_drop(&found, "2% of the day failed");
}

/// A week's report cannot tell on which of its days its mail failed: it is not put whole on
/// its first day (a weekly receiver at 50% beside a daily one at 100% made a "drop" there).
#[test]
fn a_weekly_report_makes_no_pass_rate_drop_on_its_first_day() {
    let scratch = Scratch::new();
    let daily = |n: u64| {
        report(
            &scratch,
            "google.com",
            day(n),
            &[row("192.0.2.10", 100, true, "example.com")],
        )
    };
    let week = |w: u64| {
        let rows = [
            row("192.0.2.10", 500, true, "example.com"),
            row("192.0.2.11", 500, false, "example.com"),
        ];
        let period = (DAY0 + 7 * w * DAY, DAY0 + 7 * (w + 1) * DAY - 1);
        report(&scratch, "weekly.example", period, &rows)
    };
    let mut first: Vec<_> = (0..14).map(daily).collect();
    first.extend([week(0), week(1)]);
    ingest_and_alert(&scratch, DAY0 + 15 * DAY, &first);
    let mut second: Vec<_> = (14..21).map(daily).collect();
    second.push(week(2));
    let found = ingest_and_alert(&scratch, DAY0 + 22 * DAY, &second);
    assert_no_pass_rate_drop(&found, "a week's report on its first day");
}

/// A receiver whose day runs 23:00 to 23:00 UTC (midnight in central Europe) reports the
/// same failing day as Google: one alert, dated that day, not a second for the evening
/// before.
#[test]
fn a_day_that_starts_at_23_00_utc_is_the_day_it_mostly_covers() {
    let scratch = Scratch::new();
    let good = [row("198.51.100.25", 100, true, "example.com")];
    let bad = [row("198.51.100.25", 100, false, "example.com")];
    let evening = |n: u64| (DAY0 + n * DAY - HOUR, DAY0 + (n + 1) * DAY - HOUR);
    let baseline = [
        report(&scratch, "google.com", day(1), &good),
        report(&scratch, "web.de", evening(1), &good),
    ];
    ingest_and_alert(&scratch, DAY0 + 3 * DAY, &baseline);
    let failing = [
        report(&scratch, "google.com", day(3), &bad),
        report(&scratch, "web.de", evening(3), &bad),
    ];
    let found = ingest_and_alert(&scratch, DAY0 + 5 * DAY, &failing);
    let failing: Vec<_> = found
        .iter()
        .filter(|(k, _, _)| k == "authorised_failing")
        .collect();
    assert_eq!(
        failing,
        [&("authorised_failing".into(), "198.51.100.25".into(), date(3))],
        "{found:?}"
    );
}

/// Cron set up before the first report came: that empty run is no baseline, so the first
/// reports raise none of their sources as new; a source after them does.
#[test]
fn a_run_before_any_report_is_no_baseline() {
    let scratch = Scratch::new();
    assert!(ingest_and_alert(&scratch, DAY0, &[]).is_empty());
    let first = report(
        &scratch,
        "google.com",
        day(0),
        &[row("192.0.2.10", 100, true, "example.com")],
    );
    let found = ingest_and_alert(&scratch, DAY0 + 2 * DAY, &[first]);
    assert!(
        found.iter().all(|(k, _, _)| !k.starts_with("new_")),
        "{found:?}"
    );
    let later = report(
        &scratch,
        "google.com",
        day(2),
        &[row("203.0.113.7", 5, false, "spoof.example")],
    );
    let found = ingest_and_alert(&scratch, DAY0 + 4 * DAY, &[later]);
    assert!(
        found.contains(&("new_source".into(), "203.0.113.7".into(), String::new())),
        "{found:?}"
    );
}

/// A receiver that reports daily but was out for nine days earlier: its usual pause is a day,
/// so its stopping is raised after --silent-days, not after nine.
#[test]
fn one_outage_does_not_delay_the_next_silence() {
    let scratch = Scratch::new();
    let good = [row("192.0.2.10", 40, true, "example.com")];
    let mut files: Vec<_> = (0..35)
        .map(|n| report(&scratch, "google.com", day(n), &good))
        .collect();
    let yahoo = (0..=10).chain(20..=30);
    files.extend(yahoo.map(|n| report(&scratch, "Yahoo", day(n), &good)));
    let found = ingest_and_alert(&scratch, DAY0 + 35 * DAY + HOUR, &files);
    assert!(
        found.contains(&("reporter_silent".into(), "Yahoo".into(), date(30))),
        "{found:?}"
    );
}

/// A reporter's day whose reports cover only part of it is judged once it is complete by
/// time, even after a later full day was judged.
#[test]
fn a_partly_reported_day_is_judged_once_complete_by_time() {
    let scratch = Scratch::new();
    let good = [row("192.0.2.10", 100, true, "example.com")];
    let bad = [row("192.0.2.11", 100, false, "example.com")];
    let history: Vec<_> = (0..14)
        .map(|n| report(&scratch, "google.com", day(n), &good))
        .collect();
    ingest_and_alert(&scratch, DAY0 + 14 * DAY + HOUR, &history);
    let half = (DAY0 + 14 * DAY, DAY0 + 14 * DAY + 12 * HOUR);
    let later = [
        report(&scratch, "google.com", half, &bad),
        report(&scratch, "google.com", day(15), &good),
    ];
    let found = ingest_and_alert(&scratch, DAY0 + 16 * DAY + 6 * HOUR, &later);
    assert_no_pass_rate_drop(&found, "day 14 is not complete yet");
    let found = ingest_and_alert(&scratch, DAY0 + 17 * DAY + 6 * HOUR, &[]);
    assert!(
        found.contains(&(
            "reporter_pass_rate_drop".into(),
            "google.com".into(),
            date(14)
        )),
        "{found:?}"
    );
}

/// A DKIM result without its selector (optional in RFC 7489's reports) names no key: a
/// receiver that leaves selectors out raises no "new DKIM key ._domainkey.example.com", and
/// `report changes` shows none.
#[test]
fn a_signature_without_its_selector_is_no_new_key() {
    let scratch = Scratch::new();
    let google = |n| {
        report(
            &scratch,
            "google.com",
            day(n),
            &[signed("192.0.2.10", 300, "s1")],
        )
    };
    ingest_and_alert(
        &scratch,
        DAY0 + 7 * DAY,
        &(0..7).map(google).collect::<Vec<_>>(),
    );
    let mut files: Vec<_> = (7..14).map(google).collect();
    let rows = [row("192.0.2.10", 40, true, "example.com")];
    files.extend((7..14).map(|n| report(&scratch, "Yahoo", day(n), &rows)));
    let found = ingest_and_alert(&scratch, DAY0 + 14 * DAY, &files);
    assert!(
        found.iter().all(|(k, _, _)| !k.contains("dkim_selector")),
        "{found:?}"
    );
    let changes = scratch.report_json(&["changes"]);
    assert!(
        changes
            .iter()
            .all(|r| !r["change"].as_str().unwrap().contains("dkim_selector")),
        "{changes:#?}"
    );
}
