//! `report readiness`'s 7-day pass-rate trend: each domain's last 7 days against the 7
//! before, a report counting in each week by how much of its period lies there.

use crate::common::reports::{dmarc_report, dmarc_report_of_period, Row};
use crate::common::*;

const DAY: u64 = 86_400;

/// Midnight UTC `days` days before today's.
fn days_ago(days: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now / DAY - days) * DAY
}

/// The trend figures of `domain`'s row, with the flags in `extra`.
fn trend(scratch: &Scratch, domain: &str, extra: &[&str]) -> [Option<f64>; 3] {
    let rows = scratch.report_json(&[&["readiness"], extra].concat());
    let row = rows
        .iter()
        .find(|r| r["domain"] == domain)
        .unwrap_or_else(|| panic!("no row for {domain}: {rows:?}"));
    let field = |name: &str| row[name].as_f64();
    [
        field("dmarc_pass_rate_last_7_days"),
        field("dmarc_pass_rate_previous_7_days"),
        field("dmarc_pass_rate_trend"),
    ]
}

/// A week's report ending in the last 7 days sent most of its mail in the week before: its
/// 70 failing messages count there in proportion (60 and 10), as `report daily` shows them,
/// so the trend is up (70 of 80 passing against 70 of 130), not down by half.
#[test]
fn a_weekly_report_counts_in_each_week_by_its_days() {
    let scratch = Scratch::new();
    let start = days_ago(30);
    let mut files = Vec::new();
    for day in 0..14 {
        let daily = dmarc_report(
            "google.com",
            &format!("g-{day}"),
            start + day * DAY,
            "<p>none</p>",
            &[Row::own("192.0.2.1", 10, "pass", "pass")],
        );
        files.push(scratch.write(&format!("g-{day}.xml"), daily.as_bytes()));
    }
    let weekly = dmarc_report_of_period(
        "weekly.example",
        "w-1",
        (start + DAY, start + 8 * DAY),
        "<p>none</p>",
        &[Row::spoof("198.51.100.66", 70)],
    );
    files.push(scratch.write("weekly.xml", weekly.as_bytes()));
    assert_success(&scratch.ingest(&files));
    let [last, previous, change] = trend(&scratch, "example.com", &[]);
    let near = |got: Option<f64>, want: f64| got.is_some_and(|v| (v - want).abs() < 0.001);
    assert!(near(last, 70.0 / 80.0), "{last:?}");
    assert!(near(previous, 70.0 / 130.0), "{previous:?}");
    assert!(near(change, 70.0 / 80.0 - 70.0 / 130.0), "{change:?}");
}

/// Each domain's weeks end with its own newest report: a domain whose reports stopped a
/// week before another's keeps its trend whether or not the other is selected.
#[test]
fn each_domain_has_the_trend_of_its_own_last_two_weeks() {
    let scratch = Scratch::new();
    let start = days_ago(40);
    let mut files = Vec::new();
    for day in 0..14 {
        let rows = match day {
            0..7 => vec![Row::own("192.0.2.1", 10, "pass", "pass")],
            _ => vec![
                Row::own("192.0.2.1", 5, "pass", "pass"),
                Row::spoof("198.51.100.7", 5),
            ],
        };
        let xml = dmarc_report(
            "google.com",
            &format!("c-{day}"),
            start + day * DAY,
            "",
            &rows,
        );
        files.push(scratch.write(&format!("c-{day}.xml"), xml.as_bytes()));
    }
    for day in 0..21 {
        let mut other = Row::own("192.0.2.9", 10, "pass", "pass");
        other.from = "example.org";
        let xml = dmarc_report(
            "google.com",
            &format!("o-{day}"),
            start + day * DAY,
            "",
            &[other],
        )
        .replace(
            "<domain>example.com</domain>",
            "<domain>example.org</domain>",
        );
        files.push(scratch.write(&format!("o-{day}.xml"), xml.as_bytes()));
    }
    assert_success(&scratch.ingest(&files));
    let alone = trend(&scratch, "example.com", &["--domain", "example.com"]);
    assert_eq!(alone, [Some(0.5), Some(1.0), Some(-0.5)]);
    assert_eq!(trend(&scratch, "example.com", &[]), alone);
}

/// A report of no length (begin = end) is mail of that instant: the newest one's failures
/// are the last week's, as `report daily` shows them on its day.
#[test]
fn a_newest_report_of_no_length_counts_in_the_last_week() {
    let scratch = Scratch::new();
    let start = days_ago(30);
    let mut files = Vec::new();
    for (day, id) in [(0, "g-0"), (7, "g-7")] {
        let xml = dmarc_report(
            "google.com",
            id,
            start + day * DAY,
            "",
            &[Row::own("192.0.2.1", 10, "pass", "pass")],
        );
        files.push(scratch.write(&format!("{id}.xml"), xml.as_bytes()));
    }
    let instant = start + 14 * DAY;
    let spoof = [Row::spoof("198.51.100.66", 30)];
    let xml = dmarc_report_of_period("other.example", "o-1", (instant, instant), "", &spoof);
    files.push(scratch.write("o-1.xml", xml.as_bytes()));
    assert_success(&scratch.ingest(&files));
    assert_eq!(
        trend(&scratch, "example.com", &[]),
        [Some(0.25), Some(1.0), Some(-0.75)]
    );
}
