//! Is p=reject safe? Classes of sources and the readiness verdict, from reports built for
//! the purpose: the policy that applies to each record (sp for subdomains), receivers'
//! overrides, authorised senders from the config or inferred.

use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::{json, Value};

/// Our own servers, an ESP with our DKIM key broken, a mailing list the receiver let
/// through, spoofing of the domain and of a subdomain under sp=none.
fn rows() -> Vec<Row<'static>> {
    let row = |ip, count, dkim, spf, from, dkim_domain, spf_domain, reason| Row {
        ip,
        count,
        dkim,
        spf,
        from,
        dkim_domain,
        spf_domain,
        reason,
        selector: None,
    };
    vec![
        row(
            "192.0.2.10",
            500,
            "pass",
            "pass",
            "example.com",
            "example.com",
            "example.com",
            None,
        ),
        row(
            "198.51.100.25",
            40,
            "fail",
            "fail",
            "example.com",
            "esp.example.net",
            "bounces.esp.example.net",
            None,
        ),
        row(
            "203.0.113.77",
            12,
            "fail",
            "fail",
            "example.com",
            "example.com",
            "lists.example.org",
            Some("mailing_list"),
        ),
        row(
            "203.0.113.200",
            30,
            "fail",
            "fail",
            "example.com",
            "spoof.example",
            "spoof.example",
            None,
        ),
        row(
            "203.0.113.201",
            7,
            "fail",
            "fail",
            "news.example.com",
            "spoof.example",
            "spoof.example",
            None,
        ),
    ]
}

fn readiness(scratch: &Scratch, config: Option<&str>) -> Value {
    readiness_by(scratch.command(), scratch, config, &[])
}

/// The first row of `report readiness --format json` run by `command` (duckmarc with its
/// environment), with `config` and the flags in `extra`.
fn readiness_by(
    mut command: std::process::Command,
    scratch: &Scratch,
    config: Option<&str>,
    extra: &[&str],
) -> Value {
    if let Some(config) = config {
        let path = scratch.write("config.toml", config.as_bytes());
        command.arg("--config").arg(path);
    }
    let output = command
        .args(["report", "readiness", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert_success(&output);
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    rows[0].clone()
}

const LISTED: &str = r#"
[[authorised]]
domain = "example.com"
networks = ["192.0.2.0/24", "198.51.100.25"]
"#;

#[test]
fn an_authorised_sender_that_fails_stands_in_the_way() {
    let scratch = Scratch::new();
    // sp differs from p: evidence that the record publishes it (Google would write sp=none
    // for a record without sp under p=none, which is no evidence: see tests/scenarios/).
    let xml = report("r1", "<p>quarantine</p><sp>none</sp>", &rows());
    assert_success(&scratch.ingest(&[&scratch.write("r1.xml", xml.as_bytes())]));
    let ready = readiness(&scratch, Some(LISTED));
    assert_eq!(ready["domain"], "example.com");
    assert_eq!(ready["verdict"], "not_ready");
    // The ESP is ours and fails; the list was let through; the subdomain is under sp=none.
    assert_eq!(ready["reject_blocks_authorised"], 40);
    assert_eq!(ready["quarantine_blocks_authorised"], 40);
    assert_eq!(
        ready["reject_blocks_forwarded"], 0,
        "the override let it through"
    );
    assert_eq!(
        ready["reject_blocks_unauthorised"], 30,
        "not the subdomain under sp=none"
    );
    assert_eq!(ready["blocking_senders"], json!(["198.51.100.25"]));
    let step = ready["next_step"].as_str().unwrap();
    assert_eq!(
        step,
        "fix 198.51.100.25: neither SPF nor DKIM covers this source: add it to SPF and set up DKIM"
    );
    assert_eq!(ready["authorised_inferred"], false);

    let sources = scratch.run([
        "--config",
        scratch.path("config.toml").to_str().unwrap(),
        "report",
        "sources",
        "--format",
        "json",
    ]);
    let sources: Value = serde_json::from_slice(&sources.stdout).unwrap();
    let class_of = |ip: &str| {
        sources
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source_ip"] == ip)
            .unwrap()["class"]
            .clone()
    };
    assert_eq!(class_of("192.0.2.10"), "compliant");
    assert_eq!(class_of("198.51.100.25"), "authorised_failing");
    assert_eq!(class_of("203.0.113.77"), "forwarded");
    assert_eq!(class_of("203.0.113.200"), "unauthorised");
}

#[test]
fn fixed_and_listed_the_domain_is_ready_and_the_next_step_follows_the_policy() {
    let scratch = Scratch::new();
    let mut fixed = rows();
    fixed[1].dkim = "pass";
    fixed[1].dkim_domain = "example.com";
    let xml = report("r2", "<p>quarantine</p><pct>50</pct>", &fixed);
    assert_success(&scratch.ingest(&[&scratch.write("r2.xml", xml.as_bytes())]));
    let ready = readiness(&scratch, Some(LISTED));
    assert_eq!(ready["verdict"], "ready");
    assert_eq!(ready["reject_blocks_authorised"], 0);
    // Without sp, the subdomain follows p: its spoofing is blocked too.
    assert_eq!(ready["reject_blocks_unauthorised"], 37);
    assert_eq!(
        ready["next_step"],
        "remove pct=50: p=quarantine applies to only 50% of failing mail at receivers that \
         still read it; 7 failing messages from subdomains were counted as covered by p, since \
         the reports do not show whether your record has sp: keep an explicit sp=none if \
         subdomains should stay unenforced"
    );
}

/// A report for example.com may list mail whose From domain is another organisation's (a
/// receiver filing it under the wrong record): example.com's policy does not govern it (RFC
/// 9989 section 4.10 finds the policy from the From domain), so p=reject published here
/// blocks none of it, and it is no reason to wait.
#[test]
fn mail_from_another_organisation_is_not_blocked_by_this_domains_policy() {
    let scratch = Scratch::new();
    let mut all = rows();
    let mut foreign = all.swap_remove(3);
    foreign.from = "other.org";
    let xml = report("r5", "<p>quarantine</p>", &[all.swap_remove(0), foreign]);
    assert_success(&scratch.ingest(&[&scratch.write("r5.xml", xml.as_bytes())]));
    let ready = readiness(&scratch, Some(LISTED));
    assert_eq!(ready["reject_blocks_unauthorised"], 0, "{ready}");
    assert_eq!(ready["verdict"], "ready", "{ready}");
    assert_eq!(ready["authorised_inferred"], false, "{ready}");
    let domains = scratch.report_json(&["domains"]);
    assert_eq!(domains[0]["reject_blocks_messages"], 0, "{domains:?}");
}

#[test]
fn without_a_list_duckmarc_infers_and_says_so() {
    let scratch = Scratch::new();
    let xml = report("r3", "<p>none</p>", &rows());
    assert_success(&scratch.ingest(&[&scratch.write("r3.xml", xml.as_bytes())]));
    let ready = readiness(&scratch, None);
    assert_eq!(ready["authorised_inferred"], true);
    assert_eq!(ready["verdict"], "not_ready");
    assert!(ready["next_step"]
        .as_str()
        .unwrap()
        .starts_with("list your authorised senders"));
    // The ESP cannot be told from spoofing without a list.
    assert_eq!(ready["reject_blocks_unauthorised"], 40 + 30 + 7);
}

#[test]
fn a_test_policy_already_at_reject_says_to_drop_t_y() {
    let scratch = Scratch::new();
    let ours: Vec<Row> = rows().into_iter().take(1).collect();
    let xml = report("r4", "<p>reject</p><testing>y</testing>", &ours);
    assert_success(&scratch.ingest(&[&scratch.write("r4.xml", xml.as_bytes())]));
    let ready = readiness(&scratch, Some(LISTED));
    assert_eq!(ready["verdict"], "ready");
    assert_eq!(ready["testing"], "y");
    assert_eq!(
        ready["next_step"],
        "remove t=y: while it is set receivers apply p=quarantine instead of p=reject"
    );
}

/// A Google report for 2025-11-23.
fn report(id: &str, policy: &str, rows: &[Row]) -> String {
    dmarc_report("google.com", id, 1_763_856_000, policy, rows)
}

#[test]
fn the_bulk_sender_check_counts_what_google_and_yahoo_reported() {
    let scratch = Scratch::new();
    let row = Row::own;
    // Google: 60 pass both, 30 SPF only, 10 DKIM only, 20 neither, 40 DKIM with SPF passing
    // only for the HELO name (below); Yahoo: 40 pass both. Another receiver's 1,000
    // messages do not count.
    let helo = Row {
        spf_domain: "mta.example.net",
        ..row("192.0.2.5", 40, "pass", "fail")
    };
    let reports = [
        (
            "google.com",
            vec![
                row("192.0.2.1", 60, "pass", "pass"),
                row("192.0.2.2", 30, "fail", "pass"),
                row("192.0.2.3", 10, "pass", "fail"),
                row("192.0.2.4", 20, "fail", "fail"),
                helo,
            ],
        ),
        ("yahoo.com", vec![row("192.0.2.1", 40, "pass", "pass")]),
        (
            "receiver.example",
            vec![row("192.0.2.2", 1000, "fail", "pass")],
        ),
    ];
    for (org, rows) in &reports {
        // SPF of the HELO name is not SPF for the domain (RFC 7208 section 2.3, RFC 9989
        // section 4.4.2): a bounce's empty MAIL FROM leaves only it.
        let xml = dmarc_report(org, org, 1_763_942_400, "<p>none</p>", rows).replace(
            "<spf><domain>mta.example.net</domain><result>fail</result>",
            "<spf><domain>mta.example.net</domain><scope>helo</scope><result>pass</result>",
        );
        scratch.write(&format!("bulk/{org}.xml"), xml.as_bytes());
    }
    assert_success(&scratch.ingest(&[&scratch.path("bulk")]));
    let readiness = scratch.report_json(&["readiness"]);
    let json = &readiness[0];
    assert_eq!(json["bulk_sender_messages"], 200);
    assert_eq!(
        json["bulk_spf_and_dkim_pass_rate"], 0.5,
        "100 of 200 (not the HELO pass): {json}"
    );
    assert_eq!(json["bulk_dmarc_aligned_rate"], 0.9, "180 of 200: {json}");
}

/// Reports whose records all count 0 messages: nothing to judge, and the next step says
/// so instead of asking for a stricter policy; the page shows that too.
#[test]
fn a_domain_without_messages_has_nothing_to_judge() {
    let scratch = Scratch::new();
    let mut empty = rows();
    for row in &mut empty {
        row.count = 0;
    }
    let xml = report("r0", "<p>none</p>", &empty);
    assert_success(&scratch.ingest(&[&scratch.write("r0.xml", xml.as_bytes())]));
    let ready = readiness(&scratch, Some(LISTED));
    assert_eq!(ready["messages"], 0);
    assert_eq!(ready["verdict"], "not_ready");
    assert_eq!(
        ready["next_step"],
        "no messages were reported for example.com in this period: nothing to judge"
    );
    // The page shows the domain and its step; it is not "no reports match".
    let page = super::html::write_page(&scratch, &[]);
    assert!(!page.contains("data-empty"), "called empty");
    assert!(page.contains("nothing to judge"), "no status row");
    // `report domains` lists it as readiness does, with its report and no mail; narrowed
    // to a source, neither has anything to say about it.
    let domains = scratch.report_json(&["domains"]);
    assert_eq!(domains.len(), 1, "{domains:?}");
    let fields = [
        "domain",
        "messages",
        "sources",
        "reports",
        "dmarc_pass_rate",
    ];
    let shown: Vec<&Value> = fields.iter().map(|f| &domains[0][*f]).collect();
    let expected = [
        json!("example.com"),
        json!(0),
        json!(0),
        json!(1),
        Value::Null,
    ];
    assert_eq!(shown, expected.iter().collect::<Vec<_>>());
    assert_eq!(
        scratch.report_json(&["domains", "--ip", "192.0.2.1"]).len(),
        0
    );
    // So does `report reporters`, its reporter's report counted with no message.
    let reporters = scratch.report_json(&["reporters"]);
    assert_eq!(reporters.len(), 1, "{reporters:?}");
    assert_eq!(
        (&reporters[0]["reports"], &reporters[0]["messages"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(ready["bulk_sender_messages"], 0);
}

/// A report dated a year ahead (a receiver's clock gone wrong) is no newer than the day it
/// arrived: it does not outvote the reports written since the domain moved to p=reject.
#[test]
fn a_report_dated_ahead_does_not_outlast_a_newer_policy() {
    let scratch = Scratch::new();
    let ours: Vec<Row> = rows().into_iter().take(1).collect();
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400
        * 86_400;
    let ahead = dmarc_report("Yahoo", "y1", today + 365 * 86_400, "<p>none</p>", &ours);
    assert_success(&scratch.ingest(&[&scratch.write("ahead.xml", ahead.as_bytes())]));
    // It came a month ago; since then the domain published p=reject.
    scratch.rewrite("UPDATE reports SET ingested_at = ingested_at - INTERVAL 30 DAY");
    let backlog = Scratch::new();
    let ahead = backlog.write("ahead.xml", ahead.as_bytes());
    let recent = dmarc_report(
        "google.com",
        "g1",
        today - 2 * 86_400,
        "<p>reject</p>",
        &ours,
    );
    assert_success(&scratch.ingest(&[&scratch.write("recent.xml", recent.as_bytes())]));
    // Or both came in one run, a backlog from a mailbox.
    let recent_again = backlog.write("recent.xml", recent.as_bytes());
    assert_success(&backlog.ingest(&[&ahead, &recent_again]));
    for scratch in [&scratch, &backlog] {
        let ready = readiness(scratch, Some(LISTED));
        assert_eq!(ready["policy_source"], "reports");
        assert_eq!(ready["policy"], "reject", "{ready}");
        assert_eq!(ready["verdict"], "enforced", "{ready}");
    }
}

/// Clean mail on three days does not make a domain `ready`: senders that mail weekly or
/// monthly may not have shown yet, and p=reject would reject their mail unseen. The
/// minimum is 30 days unless `--min-days` or the config says otherwise; a report of a
/// week's period covers seven days; the page says what the command says.
#[test]
fn too_few_days_of_reports_keep_a_clean_domain_from_ready() {
    let scratch = Scratch::new();
    let ours: Vec<Row> = rows().into_iter().take(1).collect();
    let day = |n: u64| 1_763_856_000 + n * 86_400;
    for n in 0..3 {
        let xml = dmarc_report("google.com", &format!("d{n}"), day(n), "<p>none</p>", &ours);
        let name = format!("d{n}.xml");
        assert_success(&scratch.ingest(&[&scratch.write(&name, xml.as_bytes())]));
    }
    // Without the harness's one-day minimum: the default.
    let judged = |extra: &[&str], config: Option<&str>| -> Value {
        let mut command = scratch.command();
        command.env_remove("DUCKMARC_MIN_DAYS");
        readiness_by(command, &scratch, config, extra)
    };
    let default = judged(&[], Some(LISTED));
    assert_eq!(default["verdict"], "not_ready", "{default}");
    assert_eq!(default["days_reported"], 3);
    assert_eq!(
        default["next_step"],
        "keep collecting reports before enforcing more: they cover 3 days of the 30 needed \
         to see senders that mail weekly or monthly (--min-days)"
    );
    let mut page = scratch.command();
    page.env_remove("DUCKMARC_MIN_DAYS")
        .arg("--config")
        .arg(scratch.path("config.toml"));
    let problems = crate::scenarios::page_disagreements(&scratch, page, &default);
    assert!(problems.is_empty(), "{problems:?}");

    let enough = judged(&["--min-days", "3"], Some(LISTED));
    assert_eq!(enough["verdict"], "ready", "{enough}");
    assert_eq!(enough["next_step"], "publish p=quarantine, then p=reject");
    let configured = format!("readiness_min_days = 4\n{LISTED}");
    let short = judged(&[], Some(&configured));
    assert_eq!(short["verdict"], "not_ready", "{short}");
    assert!(short["next_step"]
        .as_str()
        .unwrap()
        .contains("3 days of the 4 needed"));
    // The days of the period asked for, not of every report.
    let narrowed = judged(
        &[
            "--min-days",
            "3",
            "--since",
            "2025-11-24",
            "--until",
            "2025-11-25",
        ],
        Some(LISTED),
    );
    assert_eq!(narrowed["days_reported"], 2, "{narrowed}");
    assert_eq!(
        narrowed["next_step"],
        "widen --since/--until to judge: the selected period covers 2 days of the 3 needed \
         to see senders that mail weekly or monthly (--min-days)"
    );

    // A report whose period runs 200 days past its arrival (a clock gone wrong, or a
    // forger's) watched nothing yet: it adds no day.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ahead = dmarc_report("yahoo.com", "ahead", now - 86_400, "<p>none</p>", &ours).replace(
        &format!("<end>{}</end>", now - 1),
        &format!("<end>{}</end>", now + 200 * 86_400),
    );
    assert_success(&scratch.ingest(&[&scratch.write("ahead.xml", ahead.as_bytes())]));
    let still = judged(&[], Some(LISTED));
    assert_eq!(still["days_reported"], 3, "{still}");
    assert_eq!(still["verdict"], "not_ready", "{still}");

    // A weekly report after them: ten days in all.
    let week = dmarc_report("yahoo.com", "w1", day(3), "<p>none</p>", &ours).replace(
        &format!("<end>{}</end>", day(3) + 86_399),
        &format!("<end>{}</end>", day(10) - 1),
    );
    assert_success(&scratch.ingest(&[&scratch.write("w1.xml", week.as_bytes())]));
    let configured = format!("readiness_min_days = 10\n{LISTED}");
    let weekly = judged(&[], Some(&configured));
    assert_eq!(weekly["days_reported"], 10, "{weekly}");
    assert_eq!(weekly["verdict"], "ready", "{weekly}");
}

/// DNS was asked once, weeks ago, and said p=none; DNS has been off since, and the reports of
/// the days after show p=reject. The old answer is no longer the newest evidence: the policy
/// comes from the reports (enforced), not "publish p=quarantine".
#[test]
fn an_old_dns_answer_gives_way_to_newer_reports() {
    use crate::common::dnsmasq::{Dnsmasq, Zone};
    let Some(dns) = Dnsmasq::start(&Zone {
        txt: &[("_dmarc.example.com", "v=DMARC1; p=none")],
        local: &["example.com"],
        ..Zone::default()
    }) else {
        return;
    };
    const DAY: u64 = 86_400;
    let begin = 1_793_491_200; // 2026-11-01
    let scratch = Scratch::new();
    let report = |id: &str, day: u64, p: &str| {
        let xml = dmarc_report(
            "google.com",
            id,
            day,
            &format!("<p>{p}</p>"),
            &[Row::spoof("203.0.113.9", 5)],
        );
        scratch.write(&format!("{id}.xml"), xml.as_bytes())
    };
    let at = |now: u64| {
        let mut command = scratch.command();
        command.env("DUCKMARC_NOW", now.to_string());
        command
    };
    let old = report("old", begin - 20 * DAY, "none");
    let asked = at(begin - 19 * DAY)
        .args(["ingest", "--dns-server", &dns.address])
        .arg(&old)
        .output()
        .unwrap();
    assert_success(&asked);
    let asked_then = readiness_by(at(begin - 19 * DAY), &scratch, None, &[]);
    assert_eq!(
        (&asked_then["policy_source"], &asked_then["policy"]),
        (&json!("dns"), &json!("none"))
    );
    let newer = [
        report("new-1", begin, "reject"),
        report("new-2", begin + DAY, "reject"),
    ];
    let offline = at(begin + 2 * DAY)
        .args(["ingest", "--no-dns"])
        .args(&newer)
        .output()
        .unwrap();
    assert_success(&offline);
    let now = readiness_by(at(begin + 2 * DAY), &scratch, None, &[]);
    assert_eq!(
        (&now["policy_source"], &now["policy"], &now["verdict"]),
        (&json!("reports"), &json!("reject"), &json!("enforced")),
        "{now}"
    );
}

/// An authorised server failed on the first three days and has passed for nine since: the
/// whole period still counts its failures (not ready), and the next step says when it last
/// failed and how to judge from the fix on.
#[test]
fn a_sender_passing_for_a_week_since_its_last_failure_is_said_to_be_maybe_fixed() {
    let scratch = Scratch::new();
    let row = |dkim, spf| Row::own("192.0.2.10", 10, dkim, spf);
    let day = |n: u64| 1_793_491_200 + n * 86_400; // 2026-11-01 + n
    for n in 0..12 {
        let verdict = if n < 3 { "fail" } else { "pass" };
        let xml = dmarc_report(
            "google.com",
            &format!("f{n}"),
            day(n),
            "<p>none</p>",
            &[row(verdict, verdict)],
        );
        let name = format!("f{n}.xml");
        assert_success(&scratch.ingest(&[&scratch.write(&name, xml.as_bytes())]));
    }
    let config = "[[authorised]]\ndomain = \"example.com\"\nnetworks = [\"192.0.2.0/24\"]\n";
    let judged = readiness(&scratch, Some(config));
    assert_eq!(judged["verdict"], "not_ready", "{judged}");
    let step = judged["next_step"].as_str().unwrap();
    assert!(
        step.starts_with(
            "fix 192.0.2.10 (failing until 2026-11-03, passing for 9 days since: if it is \
             fixed, judge from 2026-11-04 with --since): "
        ),
        "{step}"
    );
    let since = readiness_by(
        scratch.command(),
        &scratch,
        Some(config),
        &["--since", "2026-11-04"],
    );
    assert_eq!(since["verdict"], "ready", "{since}");
    // With the default 30 days needed, nine since the fix are too few to judge from: the
    // hint says when they will be, instead of a --since readiness then refuses.
    let mut default = scratch.command();
    default.env_remove("DUCKMARC_MIN_DAYS");
    let waiting = readiness_by(default, &scratch, Some(config), &[]);
    let step = waiting["next_step"].as_str().unwrap();
    assert!(
        step.contains(
            "judge from 2026-11-04 with --since once the reports since then cover 30 days \
             (from 2026-12-03, or lower --min-days))"
        ),
        "{step}"
    );
}
