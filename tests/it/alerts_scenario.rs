//! `duckmarc alerts` run from "cron" every 10 minutes over a month of reports that arrive as
//! they really do: each reporter at its own hour the next day, one of them two days late and
//! out of order, one that stops, receivers that write the same DMARC record differently. The
//! clock is simulated (DUCKMARC_NOW) so a month runs in minutes; every alert expected is
//! raised exactly once, and nothing else.

use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;

const DAY0: u64 = 1_761_955_200; // 2025-11-01 00:00 UTC: day 1 of the scenario
const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;
/// How often "cron" runs `duckmarc alerts`.
const STEP: u64 = 600;

const CONFIG: &str = r#"
[[authorised]]
domain = "example.com"
networks = ["192.0.2.0/24", "198.51.100.25"]
"#;

/// Day `n` (1-based) as the UTC date text alerts use.
fn date(n: u64) -> String {
    let day = chrono::DateTime::from_timestamp((DAY0 + (n - 1) * DAY) as i64, 0).unwrap();
    day.format("%Y-%m-%d").to_string()
}

struct Reporter {
    org: &'static str,
    /// Hours after the reported day ends when its report arrives.
    delay_hours: u64,
    last_day: u64,
    /// The policy as this receiver writes it, before and after the change on day 26.
    policy: [&'static str; 2],
}

const REPORTERS: [Reporter; 4] = [
    // Yahoo leaves out tags at their default values ...
    Reporter {
        org: "Yahoo",
        delay_hours: 3,
        last_day: 30,
        policy: ["<p>none</p>", "<p>quarantine</p>"],
    },
    // ... Google and Microsoft write them out (sp = p, pct = 100) for the same record.
    Reporter {
        org: "google.com",
        delay_hours: 6,
        last_day: 30,
        policy: [
            "<p>none</p><sp>none</sp>",
            "<p>quarantine</p><sp>quarantine</sp>",
        ],
    },
    Reporter {
        org: "Outlook.com",
        delay_hours: 14,
        last_day: 30,
        policy: [
            "<p>none</p><sp>none</sp><pct>100</pct>",
            "<p>quarantine</p><sp>quarantine</sp><pct>100</pct>",
        ],
    },
    // Mail.Ru reports the first 8 days and then never again.
    Reporter {
        org: "Mail.Ru",
        delay_hours: 9,
        last_day: 8,
        policy: ["<p>none</p>", "<p>none</p>"],
    },
];

/// What `reporter` saw of day `n`.
fn rows(reporter: &Reporter, n: u64) -> Vec<Row<'static>> {
    let row = |ip, count, verdicts: [&'static str; 2], domains: [&'static str; 2], selector| Row {
        ip,
        count,
        dkim: verdicts[0],
        spf: verdicts[1],
        from: "example.com",
        dkim_domain: domains[0],
        spf_domain: domains[1],
        reason: None,
        selector,
    };
    // The domain's own server signs with s2025 until day 19, then with s2026.
    let selector = if n < 20 { "s2025" } else { "s2026" };
    let mut rows = vec![row(
        "192.0.2.10",
        200,
        ["pass", "pass"],
        ["example.com", "example.com"],
        Some(selector),
    )];
    if reporter.org == "Mail.Ru" {
        return rows;
    }
    // An authorised ESP that passes by SPF, except on day 22.
    let spf = if n == 22 { "fail" } else { "pass" };
    rows.push(row(
        "198.51.100.25",
        100,
        ["fail", spf],
        ["esp.example.net", "example.com"],
        Some("esp"),
    ));
    if reporter.org == "google.com" && n == 10 {
        rows.push(row(
            "203.0.113.99",
            20,
            ["fail", "fail"],
            ["spoof.example", "spoof.example"],
            None,
        ));
    }
    if reporter.org == "google.com" && n >= 15 {
        rows.push(row(
            "167.89.115.25",
            5,
            ["fail", "fail"],
            ["sendgrid.net", "sendgrid.net"],
            Some("s1"),
        ));
    }
    rows
}

/// Every report of the month by its arrival time (epoch seconds): the next day at the
/// reporter's hour; Yahoo's report of day 12 comes two days late, after those of days 13
/// and 14.
fn arrivals(scratch: &Scratch) -> BTreeMap<u64, Vec<std::path::PathBuf>> {
    let mut arrivals: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for reporter in &REPORTERS {
        for n in 1..=reporter.last_day {
            let begin = DAY0 + (n - 1) * DAY;
            let late = if reporter.org == "Yahoo" && n == 12 {
                2 * DAY
            } else {
                0
            };
            let policy = reporter.policy[usize::from(n >= 26)];
            let xml = dmarc_report(
                reporter.org,
                &format!("{}-{n}", reporter.org),
                begin,
                policy,
                &rows(reporter, n),
            );
            let file = scratch.write(&format!("{}/{n}.xml", reporter.org), xml.as_bytes());
            let at = begin + DAY + reporter.delay_hours * HOUR + late;
            arrivals.entry(at).or_default().push(file);
        }
    }
    arrivals
}

pub(crate) fn at(scratch: &Scratch, now: u64) -> std::process::Command {
    let mut command = scratch.command();
    command
        .env("DUCKMARC_NOW", now.to_string())
        .env("DUCKMARC_NO_DNS", "1")
        .arg("--config")
        .arg(scratch.path("config.toml"));
    command
}

#[test]
fn a_month_of_cron_runs_raises_each_alert_exactly_once() {
    let scratch = Scratch::new();
    scratch.write("config.toml", CONFIG.as_bytes());
    let arrivals = arrivals(&scratch);
    let first = *arrivals.keys().next().unwrap();
    let end = DAY0 + 30 * DAY + 15 * HOUR; // after the last report of day 30
    let mut pending = arrivals.into_iter().peekable();
    let mut raised: Vec<(String, String, String)> = Vec::new();
    let mut runs = 0;
    // The first run comes with the first report: it records what there is.
    let mut now = first;
    while now <= end {
        let mut due = Vec::new();
        while let Some((_, files)) = pending.next_if(|(arrival, _)| *arrival <= now) {
            due.extend(files);
        }
        if !due.is_empty() {
            assert_success(&at(&scratch, now).arg("ingest").args(&due).output().unwrap());
        }
        let output = at(&scratch, now)
            .args(["alerts", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            matches!(output.status.code(), Some(0 | 4)),
            "alerts failed at {now}: {}",
            stderr(&output)
        );
        let alerts: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        for alert in alerts {
            let text = |k: &str| alert[k].as_str().unwrap_or("").to_string();
            raised.push((text("kind"), text("subject"), text("value")));
        }
        runs += 1;
        now += STEP;
    }
    assert!(pending.peek().is_none(), "every report arrived");
    assert!(
        runs > 4_000 * 600 / STEP,
        "alerts ran every 10 minutes: {runs} runs"
    );

    let sendgrid = raised
        .iter()
        .find(|(kind, _, _)| kind == "new_sender")
        .map(|(_, subject, _)| subject.clone())
        .unwrap_or_default();
    assert!(sendgrid.contains("SendGrid"), "{raised:#?}");
    let mut expected: Vec<(String, String, String)> = [
        ("reporter_silent", "Mail.Ru", date(8)),
        ("new_source", "203.0.113.99", String::new()),
        ("new_source", "167.89.115.25", String::new()),
        ("new_sender", sendgrid.as_str(), String::new()),
        ("new_dkim_selector", "s2026._domainkey.example.com", String::new()),
        ("authorised_failing", "198.51.100.25", date(22)),
        ("reporter_pass_rate_drop", "Yahoo", date(22)),
        ("reporter_pass_rate_drop", "google.com", date(22)),
        ("reporter_pass_rate_drop", "Outlook.com", date(22)),
        ("pass_rate_drop", "example.com", date(22)),
        ("dkim_selector_silent", "s2025._domainkey.example.com", date(19)),
        // The change is raised from the first reports of p=quarantine (Yahoo's, Google's),
        // whose format has no pct: Outlook.com, which writes it, has not reported the new
        // record yet, so its pct is not known and not shown (policy.sql's rfc9990_format).
        (
            "policy_changed",
            "example.com",
            "p=none sp=- np=- pct=- t=- adkim=r aspf=r -> p=quarantine sp=- np=- t=- adkim=r aspf=r"
                .to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, s, v)| (k.to_string(), s.to_string(), v))
    .collect();
    expected.sort();
    raised.sort();
    assert_eq!(raised, expected);
}
