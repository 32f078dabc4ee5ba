//! `duckmarc alerts` over a week of reports built for the purpose: a spoofing source and a
//! new sender on day 3, an authorised ESP whose DKIM breaks on day 5, a reporter that goes
//! silent after day 3, a policy tightened on day 6; the webhook a real HTTP server on
//! 127.0.0.1, up and down.

use crate::alerts_sources::report_for;
use crate::alerts_webhook::Webhook;
use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;

pub(crate) const FIRST_DAY: u64 = 1_763_596_800; // 2025-11-20

pub(crate) const CONFIG: &str = r#"
[[authorised]]
domain = "example.com"
networks = ["192.0.2.0/24", "198.51.100.25"]
"#;

pub(crate) fn row(
    ip: &'static str,
    count: u64,
    pass: bool,
    dkim_domain: &'static str,
) -> Row<'static> {
    let verdict = if pass { "pass" } else { "fail" };
    Row {
        ip,
        count,
        dkim: verdict,
        spf: verdict,
        from: "example.com",
        dkim_domain,
        spf_domain: dkim_domain,
        reason: None,
        selector: None,
    }
}

/// The reports of day `day` (1-7).
fn day_reports(scratch: &Scratch, day: u64) -> Vec<std::path::PathBuf> {
    let begin = FIRST_DAY + (day - 1) * 86_400;
    let policy = if day >= 6 {
        "<p>quarantine</p>"
    } else {
        "<p>none</p>"
    };
    let mut google = vec![
        row("192.0.2.10", 200, true, "example.com"),
        row("198.51.100.25", 100, day < 5, "example.com"),
    ];
    if day == 3 {
        google.push(row("203.0.113.99", 20, false, "spoof.example"));
        google.push(row("167.89.115.25", 5, false, "sendgrid.net"));
    }
    let mut files = vec![scratch.write(
        &format!("day{day}/google.xml"),
        dmarc_report("google.com", &format!("g{day}"), begin, policy, &google).as_bytes(),
    )];
    if day <= 3 {
        let mailru = [row("192.0.2.10", 30, true, "example.com")];
        files.push(scratch.write(
            &format!("day{day}/mailru.xml"),
            dmarc_report("Mail.Ru", &format!("m{day}"), begin, policy, &mailru).as_bytes(),
        ));
    }
    files
}

pub(crate) fn ingest_days(scratch: &Scratch, days: std::ops::RangeInclusive<u64>) {
    let files: Vec<_> = days.flat_map(|d| day_reports(scratch, d)).collect();
    assert_success(&scratch.ingest(&files));
}

/// `alerts --format json` with the config; returns the exit code and the alerts.
pub(crate) fn alerts(scratch: &Scratch, extra: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let config = scratch.write("config.toml", CONFIG.as_bytes());
    let output = scratch
        .command()
        .arg("--config")
        .arg(config)
        .args(["alerts", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let rows = serde_json::from_slice::<Value>(&output.stdout)
        .map(|v| v.as_array().cloned().unwrap_or_default())
        .unwrap_or_default();
    (output.status.code(), rows, stderr(&output))
}

pub(crate) fn kinds(alerts: &[Value]) -> Vec<(String, String)> {
    alerts
        .iter()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
            (text("kind"), text("subject"))
        })
        .collect()
}

/// The first run over a history in which the authorised ESP failed on days 5, 6 and 7:
/// one alert for its latest day that counts the others, not one per day of the history.
#[test]
fn the_first_run_raises_a_failing_sender_once_for_its_history() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=7);
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4), "{says}");
    let failing: Vec<&Value> = found
        .iter()
        .filter(|a| a["kind"] == "authorised_failing")
        .collect();
    assert_eq!(failing.len(), 1, "{found:?}");
    assert_eq!(failing[0]["subject"], "198.51.100.25");
    assert_eq!(failing[0]["value"], "2025-11-26", "day 7: {}", failing[0]);
    let message = failing[0]["message"].as_str().unwrap();
    assert!(
        message.ends_with("(and on 2 earlier days, before the first alerts run)"),
        "{message}"
    );
    // A later day's failure is raised by the next run, as usual.
    let day8 = FIRST_DAY + 7 * 86_400;
    let late = [row("198.51.100.25", 100, false, "example.com")];
    let file = scratch.write(
        "day8/google.xml",
        dmarc_report("google.com", "g8", day8, "<p>quarantine</p>", &late).as_bytes(),
    );
    assert_success(&scratch.ingest(&[file]));
    let (_, found, _) = alerts(&scratch, &[]);
    let values: Vec<&Value> = found
        .iter()
        .filter(|a| a["kind"] == "authorised_failing")
        .map(|a| &a["value"])
        .collect();
    assert_eq!(values, ["2025-11-27"], "{found:?}");
}

/// A report whose period ends two days after it arrived (the reporter's clock ahead) is held
/// back by the run after it arrives; the run once its period has ended raises its failing
/// authorised sender, instead of taking the report for old news.
#[test]
fn a_report_held_back_for_its_period_is_judged_once_the_period_ends() {
    let scratch = Scratch::new();
    let at = |seconds: u64| seconds.to_string();
    let run = |now: &str, args: &[&std::ffi::OsStr]| {
        let config = scratch.write("config.toml", CONFIG.as_bytes());
        scratch
            .command()
            .env("DUCKMARC_NOW", now)
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .unwrap()
    };
    let alerts_at = |now: &str| {
        let output = run(
            now,
            &["alerts".as_ref(), "--format".as_ref(), "json".as_ref()],
        );
        let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
        found
            .into_iter()
            .filter(|a| a["kind"] == "authorised_failing")
            .map(|a| a["value"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let week_over = at(FIRST_DAY + 7 * 86_400 + 3_600);
    let files: Vec<std::path::PathBuf> = (1..=7).flat_map(|d| day_reports(&scratch, d)).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec!["ingest".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    assert_success(&run(&week_over, &args));
    alerts_at(&week_over);
    let ahead = FIRST_DAY + 8 * 86_400;
    let failing = [row("198.51.100.25", 100, false, "example.com")];
    let file = scratch.write(
        "ahead/google.xml",
        dmarc_report(
            "google.com",
            "g-ahead",
            ahead,
            "<p>quarantine</p>",
            &failing,
        )
        .as_bytes(),
    );
    let arrived = at(FIRST_DAY + 7 * 86_400 + 7_200);
    assert_success(&run(&arrived, &["ingest".as_ref(), file.as_os_str()]));
    assert_eq!(
        alerts_at(&arrived),
        Vec::<String>::new(),
        "its period has not ended"
    );
    let ended = at(ahead + 86_400 + 3_600);
    assert_eq!(alerts_at(&ended), ["2025-11-28"]);
}

#[test]
fn a_week_of_reports_raises_each_change_once() {
    let scratch = Scratch::new();
    ingest_days(&scratch, 1..=2);
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(
        (code, found.len()),
        (Some(0), 0),
        "the first run records a baseline: {says}"
    );

    ingest_days(&scratch, 3..=3);
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4));
    let raised = kinds(&found);
    assert!(
        raised.contains(&("new_source".into(), "203.0.113.99".into())),
        "{raised:?}"
    );
    // Named by its network, without DNS (tests/it/identity.rs).
    assert!(
        raised
            .iter()
            .any(|(kind, subject)| kind == "new_sender" && subject.ends_with(", AS11377")),
        "{raised:?}"
    );
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "raised once");

    // Day 5: the authorised ESP's DKIM breaks; posted to the webhook too.
    ingest_days(&scratch, 4..=5);
    let hook = Webhook::start();
    let (code, found, says) = alerts(&scratch, &["--webhook", &hook.url]);
    assert_eq!(code, Some(4), "{says}");
    let raised = kinds(&found);
    assert!(
        raised.contains(&("authorised_failing".into(), "198.51.100.25".into())),
        "{raised:?}"
    );
    assert!(
        raised.contains(&("pass_rate_drop".into(), "example.com".into())),
        "{raised:?}"
    );
    let drop = found
        .iter()
        .find(|a| a["kind"] == "pass_rate_drop")
        .unwrap();
    assert_eq!(drop["value"], "2025-11-24");
    let posted = hook.bodies();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["source"], "duckmarc");
    assert_eq!(posted[0]["alerts"].as_array().unwrap().len(), found.len());

    // Days 6-7: p=quarantine, and Mail.Ru has not reported since day 3.
    ingest_days(&scratch, 6..=7);
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4));
    let raised = kinds(&found);
    assert!(
        raised.contains(&("policy_changed".into(), "example.com".into())),
        "{raised:?}"
    );
    assert!(
        raised.contains(&("reporter_silent".into(), "Mail.Ru".into())),
        "{raised:?}"
    );
    let policy = found
        .iter()
        .find(|a| a["kind"] == "policy_changed")
        .unwrap();
    assert!(
        policy["message"].as_str().unwrap().contains("p=none"),
        "{policy}"
    );
}

#[test]
fn stats_for_prometheus() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let output = scratch.run(["stats", "--format", "prometheus"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("# TYPE duckmarc_messages gauge\nduckmarc_messages 2116\n"),
        "{text}"
    );
    assert!(
        text.contains("duckmarc_last_report_end_timestamp_seconds 1764115199"),
        "{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.split_once(' ').unwrap();
        assert!(name.starts_with("duckmarc_"), "{line}");
        value.parse::<f64>().unwrap();
    }
}

/// Google at 100% and Outlook at 50% every day: the day only Outlook has reported so far is
/// not judged ("50% against 75%"); once Google's report is in, the day is as usual.
#[test]
fn a_day_is_judged_once_its_usual_reporters_have_reported() {
    let scratch = Scratch::new();
    let today = duckmarc::store::now_seconds() as u64 / 86_400 * 86_400;
    // n days before yesterday: the last day judged has ended (today's has not).
    let day = |n: u64| today - (n + 1) * 86_400;
    let report = |org: &str, n: u64, pass: u64, fail: u64| {
        let rows = [
            row("192.0.2.10", pass, true, "example.com"),
            row("192.0.2.11", fail, false, "example.com"),
        ];
        let xml = dmarc_report(org, &format!("{org}-{n}"), day(n), "<p>none</p>", &rows);
        scratch.write(&format!("{org}-{n}.xml"), xml.as_bytes())
    };
    let mut history = Vec::new();
    for n in 2..=15 {
        history.push(report("google.com", n, 100, 0));
        history.push(report("Outlook.com", n, 50, 50));
    }
    assert_success(&scratch.ingest(&history));
    alerts(&scratch, &[]); // the baseline
                           // The day before yesterday: only Outlook so far.
    assert_success(&scratch.ingest(&[&report("Outlook.com", 1, 50, 50)]));
    let (_, found, says) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "pass_rate_drop"),
        "a partly reported day: {found:?} {says}"
    );
    // Google's report arrives: the day is complete, and as good as usual.
    assert_success(&scratch.ingest(&[&report("google.com", 1, 100, 0)]));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "pass_rate_drop"),
        "{found:?}"
    );
    // A real drop on a complete day is still raised.
    let worse = [
        report("google.com", 0, 20, 80),
        report("Outlook.com", 0, 10, 90),
    ];
    assert_success(&scratch.ingest(&worse));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).contains(&("pass_rate_drop".into(), "example.com".into())),
        "{found:?}"
    );
}

/// Two reporters at 100% for two weeks; on day 15 Google sees 60%, but its day-15 report
/// comes after both reporters' day-16 ones. The day is judged when it comes, once; and a
/// report dated a year ahead (a wrong clock) neither hides it nor makes reporters silent.
#[test]
fn a_bad_day_reported_after_a_later_day_is_judged_when_it_comes() {
    let scratch = Scratch::new();
    let report = |org: &str, day: u64, fail: u64| {
        let rows = [
            row("192.0.2.10", 100 - fail, true, "example.com"),
            row("192.0.2.11", fail, false, "example.com"),
        ];
        let begin = FIRST_DAY + (day - 1) * 86_400;
        let xml = dmarc_report(org, &format!("{org}-{day}"), begin, "<p>none</p>", &rows);
        scratch.write(&format!("{org}-{day}.xml"), xml.as_bytes())
    };
    let history: Vec<_> = (1..=14)
        .flat_map(|day| [report("google.com", day, 0), report("Yahoo", day, 0)])
        .collect();
    assert_success(&scratch.ingest(&history));
    let next_year = duckmarc::store::now_seconds() as u64 / 86_400 * 86_400 + 365 * 86_400;
    let rows = [row("192.0.2.10", 1, true, "example.com")];
    let xml = dmarc_report("smallisp.example", "ahead", next_year, "<p>none</p>", &rows);
    assert_success(&scratch.ingest(&[scratch.write("ahead.xml", xml.as_bytes())]));
    alerts(&scratch, &[]); // the baseline
    let later = [
        report("Yahoo", 15, 0),
        report("google.com", 16, 0),
        report("Yahoo", 16, 0),
    ];
    assert_success(&scratch.ingest(&later));
    // Day 15 holds only Yahoo's 100% so far: nothing to raise (the records of no failing
    // messages are no failures of the listed 192.0.2.11 either).
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "{found:?}");
    assert_success(&scratch.ingest(&[&report("google.com", 15, 40)]));
    let (_, found, _) = alerts(&scratch, &[]);
    let day_15 = "2025-12-04";
    let drops: Vec<(String, String, String)> = found
        .iter()
        .filter(|a| a["kind"].as_str().unwrap().ends_with("pass_rate_drop"))
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
            (text("kind"), text("subject"), text("value"))
        })
        .collect();
    assert_eq!(
        drops,
        [
            ("pass_rate_drop".into(), "example.com".into(), day_15.into()),
            (
                "reporter_pass_rate_drop".into(),
                "google.com".into(),
                day_15.into()
            ),
        ],
        "{found:?}"
    );
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "reporter_silent"),
        "{found:?}"
    );
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "raised once: {found:?}");
    // A run narrowed to one reporter cannot tell a domain stopped: its first run raises none.
    let (_, found, _) = alerts(&scratch, &["--reporter", "google.com"]);
    assert!(
        found.iter().all(|a| a["kind"] != "domain_silent"),
        "{found:?}"
    );
}

/// A backlog with a bad day in it, ingested before the first run: the first run judges
/// the latest day only, and the next run (one new day) does not dig up the old bad day.
#[test]
fn a_bad_day_in_the_backlog_is_not_raised_by_a_later_run() {
    let scratch = Scratch::new();
    let report = |day: u64, fail: u64| {
        let rows = [
            row("192.0.2.10", 100 - fail, true, "example.com"),
            row("192.0.2.11", fail, false, "example.com"),
        ];
        let begin = FIRST_DAY + (day - 1) * 86_400;
        let xml = dmarc_report(
            "google.com",
            &format!("b-{day}"),
            begin,
            "<p>none</p>",
            &rows,
        );
        scratch.write(&format!("b-{day}.xml"), xml.as_bytes())
    };
    let backlog: Vec<_> = (1..=20)
        .map(|day| report(day, if day == 12 { 60 } else { 0 }))
        .collect();
    assert_success(&scratch.ingest(&backlog));
    alerts(&scratch, &[]); // the baseline
    assert_success(&scratch.ingest(&[report(21, 0)]));
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "{found:?}");
}

/// Every receiver stops reporting one domain (its rua= address broke) while another
/// domain's reports go on: no reporter is silent for it by its own latest report, so only
/// the comparison with the other domain shows it, in a run for that domain alone too. A
/// domain that sends mail now and then (reported on 3 of the days) is not raised.
#[test]
fn a_domain_whose_reports_all_stop_is_raised_once() {
    let scratch = Scratch::new();
    let domains: [(&str, &[u64]); 3] = [
        ("example.com", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
        ("example.org", &[1, 2, 3, 4, 5, 6, 7, 8]),
        ("example.net", &[1, 4, 7]),
    ];
    let mut by_day = vec![Vec::new(); 13];
    for (domain, days) in domains {
        for &day in days {
            let begin = FIRST_DAY + (day - 1) * 86_400;
            let rows = [row("192.0.2.10", 100, true, "example.com")];
            let id = format!("{domain}-{day}");
            let xml = dmarc_report("google.com", &id, begin, "<p>none</p>", &rows).replace(
                "<policy_published><domain>example.com</domain>",
                &format!("<policy_published><domain>{domain}</domain>"),
            );
            by_day[day as usize].push(scratch.write(&format!("{id}.xml"), xml.as_bytes()));
        }
    }
    // Eight days of all three: nothing stopped yet.
    assert_success(&scratch.ingest(&by_day[..=8].concat()));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(0), "{found:?} {says}");

    assert_success(&scratch.ingest(&by_day[9..].concat()));
    for scope in [&[][..], &["--domain", "example.org"]] {
        let (code, found, says) = alerts(&scratch, scope);
        assert_eq!(code, Some(4), "{scope:?}: {says}");
        let silent: Vec<_> = found
            .iter()
            .filter(|a| a["kind"] == "domain_silent")
            .collect();
        assert_eq!(silent.len(), 1, "{scope:?}: {found:?}");
        assert_eq!(silent[0]["domain"], "example.org");
        assert_eq!(silent[0]["subject"], "example.org");
        assert_eq!(silent[0]["value"], "2025-11-27");
        let message = silent[0]["message"].as_str().unwrap();
        assert!(message.contains("rua="), "{message}");
    }
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "raised once: {found:?}");
    // A shared pool's address (an ESP, Google Workspace) known for a.example that sends
    // b.example's own passing mail is no news: only failing mail is raised.
    let pool = [row("203.0.113.2", 10, true, "esp.example.net")];
    let a2 = report_for(&scratch, "a2", "a.example", "<p>none</p>", FIRST_DAY, &pool);
    assert_success(&scratch.ingest(&[&a2]));
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "{found:?}");
}
