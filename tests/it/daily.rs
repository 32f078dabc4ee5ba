//! `duckmarc report daily`: messages per UTC day, a report covering several days spread over
//! them.

use super::identity::row;
use super::reports::{fixture, report, sum, Rec, DAY, NOV_1};
use crate::common::*;

#[test]
fn daily_spreads_multi_day_reports_and_conserves_messages() {
    let scratch = fixture();
    let days = scratch.report_json(&["daily"]);
    let names: Vec<&str> = days.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(names, ["2025-11-01", "2025-11-02", "2025-11-03"]);
    // Yahoo's 17 messages over three days in proportion, each record rounded at its middle
    // (10 -> 3,4,3 and 7 -> 2,3,2), Google's 102 on day one, the co.uk 12 on day two.
    let messages: Vec<u64> = days
        .iter()
        .map(|d| d["messages"].as_u64().unwrap())
        .collect();
    assert_eq!(messages, [102 + 5, 12 + 7, 5]);
    // Distinct reporters and sources per day: Google and Yahoo on day one; Yahoo's two
    // reports (5 addresses) on day two; the 3-day report's two addresses on day three.
    let column =
        |name: &str| -> Vec<u64> { days.iter().map(|d| d[name].as_u64().unwrap()).collect() };
    assert_eq!(column("reporters"), [2, 1, 1]);
    assert_eq!(column("sources"), [3, 5, 2]);
    assert_eq!(sum(&days, "messages"), 131);
    assert_eq!(sum(&days, "dmarc_pass_messages"), 114);
    assert_eq!(
        sum(&days, "dmarc_pass_messages") + sum(&days, "dmarc_fail_messages"),
        131
    );
    let one_day = scratch.report_json(&["daily", "--since", "2025-11-02", "--until", "2025-11-02"]);
    assert_eq!(one_day.len(), 1);
    assert_eq!(one_day[0]["messages"], 19);
}

/// A report of three days with one message from 192.0.2.1 puts it on one of them: the other
/// two days have no message from that source or reporter, and do not count them. A report
/// that ends at midnight (Microsoft's run 00:00 to 00:00) was last seen the day before.
#[test]
fn a_day_counts_only_the_sources_with_mail_that_day_and_a_midnight_end_is_the_day_before() {
    let scratch = Scratch::new();
    let one = |ip| {
        Rec(
            ip,
            1,
            "pass",
            "pass",
            "example.com",
            "example.com=pass",
            "example.com=pass",
        )
    };
    let long = report(
        "Yahoo",
        "y-3",
        "example.com",
        NOV_1,
        NOV_1 + 3 * DAY,
        "",
        &[one("192.0.2.1")],
    );
    let day = report(
        "Outlook.com",
        "o-1",
        "example.com",
        NOV_1,
        NOV_1 + DAY,
        "",
        &[one("192.0.2.2")],
    );
    assert_success(&scratch.ingest(&[
        scratch.write("long.xml", long.as_bytes()),
        scratch.write("day.xml", day.as_bytes()),
    ]));
    let days = scratch.report_json(&["daily"]);
    assert_eq!(sum(&days, "messages"), 2);
    assert_eq!(sum(&days, "sources"), 2, "{days:?}");
    assert_eq!(sum(&days, "reporters"), 2, "{days:?}");
    let sources = scratch.report_json(&["sources"]);
    assert_eq!(
        row(&sources, "source_ip", "192.0.2.2")["last_seen"],
        "2025-11-01"
    );
    assert_eq!(
        row(&sources, "source_ip", "192.0.2.1")["last_seen"],
        "2025-11-03"
    );
    let reporters = scratch.report_json(&["reporters", "--reporter", "Outlook.com"]);
    assert_eq!(reporters[0]["last_seen"], "2025-11-01");
}

/// A report from noon to noon holding its sender's 1,000 passing messages in one record and
/// 300 forged ones in records of one message: each day gets half of each, so both days show
/// the report's pass rate. Spread record by record, the 300 landed on the second day: 100%
/// then 62.5%, a spoofing wave that never was. A week's report of 70 single messages puts
/// 10 on each day, not 70 on its last.
#[test]
fn a_report_over_several_days_keeps_its_pass_rate_on_each() {
    let scratch = Scratch::new();
    let sender = Rec(
        "192.0.2.10",
        1000,
        "pass",
        "pass",
        "example.com",
        "example.com=pass",
        "example.com=pass",
    );
    let forged: Vec<String> = (0..300)
        .map(|n| format!("10.0.{}.{}", n / 256, n % 256))
        .collect();
    let mut recs = vec![sender];
    recs.extend(forged.iter().map(|ip| {
        Rec(
            ip,
            1,
            "fail",
            "fail",
            "example.com",
            "spoof.example=pass",
            "spoof.example=pass",
        )
    }));
    let noon = report(
        "Receiver",
        "noon-1",
        "example.com",
        NOV_1 + DAY / 2,
        NOV_1 + 3 * DAY / 2,
        "",
        &recs,
    );
    let addresses: Vec<String> = (1..=70).map(|n| format!("198.51.100.{n}")).collect();
    let singles: Vec<Rec> = addresses
        .iter()
        .map(|ip| {
            Rec(
                ip,
                1,
                "pass",
                "pass",
                "example.org",
                "example.org=pass",
                "example.org=pass",
            )
        })
        .collect();
    let week = report(
        "Weekly",
        "week-1",
        "example.org",
        NOV_1,
        NOV_1 + 7 * DAY,
        "",
        &singles,
    );
    assert_success(&scratch.ingest(&[
        scratch.write("noon.xml", noon.as_bytes()),
        scratch.write("week.xml", week.as_bytes()),
    ]));
    let days = scratch.report_json(&["daily", "--domain", "example.com"]);
    let column =
        |name: &str| -> Vec<u64> { days.iter().map(|d| d[name].as_u64().unwrap()).collect() };
    assert_eq!(column("messages"), [650, 650], "{days:#?}");
    assert_eq!(column("dmarc_pass_messages"), [500, 500]);
    assert_eq!(column("dmarc_fail_messages"), [150, 150]);
    // The forged addresses are spread as their messages are, the sender's on both days.
    assert_eq!(column("sources"), [151, 151]);
    let week = scratch.report_json(&["daily", "--domain", "example.org"]);
    let messages: Vec<u64> = week
        .iter()
        .map(|d| d["messages"].as_u64().unwrap())
        .collect();
    assert_eq!(messages, [10; 7], "{week:#?}");
}

/// A week's report of 20 sources with 50 messages each shows the 20 on every day, about 7
/// messages each (lined up and cut into days, each source's messages fell on one day or
/// two: 3 or 4 sources a day, review); a report of three days with one message puts it on
/// the middle day, not the last.
#[test]
fn a_sources_messages_are_on_every_day_they_cover_and_one_message_on_the_middle_day() {
    let scratch = Scratch::new();
    let addresses: Vec<String> = (1..=20).map(|n| format!("192.0.2.{n}")).collect();
    let recs: Vec<Rec> = addresses
        .iter()
        .map(|ip| {
            Rec(
                ip,
                50,
                "pass",
                "pass",
                "example.com",
                "example.com=pass",
                "example.com=pass",
            )
        })
        .collect();
    let week = report(
        "Weekly",
        "week-2",
        "example.com",
        NOV_1,
        NOV_1 + 7 * DAY,
        "",
        &recs,
    );
    let one = [Rec(
        "198.51.100.1",
        1,
        "fail",
        "fail",
        "example.org",
        "spoof.example=pass",
        "spoof.example=pass",
    )];
    let three = report(
        "Other",
        "three-1",
        "example.org",
        NOV_1,
        NOV_1 + 3 * DAY,
        "",
        &one,
    );
    assert_success(&scratch.ingest(&[
        scratch.write("week.xml", week.as_bytes()),
        scratch.write("three.xml", three.as_bytes()),
    ]));
    let days = scratch.report_json(&["daily", "--domain", "example.com"]);
    let sources: Vec<u64> = days
        .iter()
        .map(|d| d["sources"].as_u64().unwrap())
        .collect();
    assert_eq!(sources, [20; 7], "{days:#?}");
    assert_eq!(sum(&days, "messages"), 1000);
    let other = scratch.report_json(&["daily", "--domain", "example.org"]);
    assert_eq!(other.len(), 1, "{other:#?}");
    assert_eq!(other[0]["day"], "2025-11-02");
    // From noon to noon the middle is midnight, the first instant of the second day.
    let noon = report(
        "Noon",
        "noon-1",
        "example.net",
        NOV_1 + DAY / 2,
        NOV_1 + 3 * DAY / 2,
        "",
        &one,
    );
    assert_success(&scratch.ingest(&[scratch.write("noon.xml", noon.as_bytes())]));
    let noon = scratch.report_json(&["daily", "--domain", "example.net"]);
    assert_eq!(noon.len(), 1, "{noon:#?}");
    assert_eq!(noon[0]["day"], "2025-11-02");
}

/// A report whose day runs from 21:00 UTC (Mail.Ru's, Moscow's midnight) is mostly about the
/// second UTC day: `report failures` dates its records by the middle of its period, as
/// `report changes` and `alerts` do, so that `--since` that day lists them under that day,
/// not under the day before the one asked for.
#[test]
fn failures_are_dated_by_the_middle_of_their_reports_period() {
    use crate::common::reports::{dmarc_report_of_period, Row};
    let scratch = Scratch::new();
    let begin = 1_762_808_400; // 2025-11-10 21:00 UTC
    let rows = [Row::spoof("203.0.113.9", 24)];
    let xml = dmarc_report_of_period(
        "Mail.Ru",
        "moscow-1",
        (begin, begin + 86_400),
        "<p>none</p>",
        &rows,
    );
    assert_success(&scratch.ingest(&[scratch.write("mailru.xml", xml.as_bytes())]));
    let failures = scratch.report_json(&["failures", "--since", "2025-11-11"]);
    let days: Vec<&str> = failures
        .iter()
        .map(|r| r["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2025-11-11"], "{failures:#?}");
}
