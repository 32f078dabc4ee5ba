//! Issue 11: nothing a report sender writes can stop ingestion, corrupt totals or misfile a
//! report. One regression test per way in which it once did.

use crate::common::reports::*;
use crate::common::*;
use serde_json::Value;
use std::process::{Command, Output};

const EXIT_REJECTED: i32 = 3;

/// A report from `org` with the given period, extra `<policy_published>` tags and records.
fn report(org: &str, id: &str, (begin, end): (&str, &str), policy: &str, records: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback><report_metadata>\
         <org_name>{org}</org_name><email>dmarc@test.example</email><report_id>{id}</report_id>\
         <date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain><p>none</p>{policy}</policy_published>\
         {records}</feedback>\n"
    )
}

fn record(ip: &str, count: &str, header_from: &str) -> String {
    format!(
        "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
         <disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>\
         <identifiers><header_from>{header_from}</header_from></identifiers>\
         <auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results>\
         </record>"
    )
}

/// 2023-11-14 00:00 to 23:59:59 UTC.
const DAY: (&str, &str) = ("1699920000", "1700006399");

fn json(output: &std::process::Output) -> Vec<Value> {
    assert_success(output);
    serde_json::from_slice::<Value>(&output.stdout)
        .expect("JSON")
        .as_array()
        .expect("an array")
        .clone()
}

#[test]
fn hostile_values_reject_their_report_only_and_the_batch_commits() {
    let scratch = Scratch::new();
    let good = record("192.0.2.1", "5", "example.com");
    scratch.write(
        "in/a-good.xml",
        report("Good", "g1", DAY, "", &good).as_bytes(),
    );
    scratch.write(
        "in/b-huge-pct.xml",
        report("Pct", "p1", DAY, "<pct>4294967295</pct>", &good).as_bytes(),
    );
    let cases = [
        (
            "c-count-above-i64.xml",
            report(
                "Evil",
                "e1",
                DAY,
                "",
                &record("192.0.2.9", "18446744073709551615", "example.com"),
            ),
            "count",
        ),
        (
            "d-count-1e14.xml",
            report(
                "Evil",
                "e2",
                ("1699920000", "1700092799"),
                "",
                &record("192.0.2.9", "100000000000000", "example.com"),
            ),
            "count",
        ),
        (
            "e-end-far-future.xml",
            report("Evil", "e3", ("1699920000", "99999999999999"), "", &good),
            "end",
        ),
        (
            "f-begin-zero.xml",
            report("Evil", "e4", ("0", "1700006399"), "", &good),
            "begin",
        ),
        (
            "g-end-before-begin.xml",
            report("Evil", "e5", ("1700006399", "1699920000"), "", &good),
            "before begin",
        ),
        (
            "h-negative-count.xml",
            report(
                "Evil",
                "e6",
                DAY,
                "",
                &record("192.0.2.9", "-3", "example.com"),
            ),
            "count",
        ),
    ];
    for (name, xml, _) in &cases {
        scratch.write(&format!("in/{name}"), xml.as_bytes());
    }
    scratch.write(
        "in/z-good.xml",
        report("Good", "g2", DAY, "", &good).as_bytes(),
    );

    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_REJECTED),
        "{}",
        stderr(&output)
    );
    let says = stderr(&output);
    for (name, _, field) in &cases {
        let line = says
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not named in: {says}"));
        assert!(
            line.starts_with("rejected: ") && line.contains(field),
            "{line}"
        );
    }
    // The good reports and the one with a bad pct are stored, nothing of the others.
    assert_eq!(totals(&scratch.stats()), [3, 3, 15, 15]);
    let pct = scratch.query("SELECT pct, notes FROM reports WHERE org_name = 'Pct'");
    assert_eq!(pct[0]["pct"], Value::Null);
    assert!(pct[0]["notes"].as_str().unwrap().contains("pct"), "{pct:?}");
    // And the reports still run.
    let daily = json(&scratch.run(["report", "daily", "--format", "json"]));
    assert_eq!(daily.len(), 1, "{daily:?}");
}

#[test]
fn a_report_as_a_file_and_as_a_windows_1251_attachment_is_stored_once() {
    let scratch = Scratch::new();
    let xml = report(
        "Почта Mail.Ru",
        "mailru-1",
        DAY,
        "",
        &record("192.0.2.1", "2", "example.com"),
    )
    .replace("encoding=\"UTF-8\"", "encoding=\"windows-1251\"");
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(&xml);
    scratch.write("in/report.xml", &cp1251);
    let mail = mail_with_attachment(
        "Content-Type: text/xml; charset=windows-1251; name=\"report.xml\"",
        &cp1251,
    );
    scratch.write("in/report.eml", &mail);
    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("1 new reports"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("1 duplicate reports"),
        "{}",
        stdout(&output)
    );
    let orgs = scratch.query("SELECT org_name FROM reports");
    assert_eq!(orgs[0]["org_name"], "Почта Mail.Ru");
}

/// Microsoft's report e-mails: an HTML body that talks about "feedback", and the report.
#[test]
fn an_html_body_never_makes_a_report_mail_rejected() {
    let scratch = Scratch::new();
    let xml = report(
        "Enterprise Outlook",
        "ms-1",
        DAY,
        "",
        &record("192.0.2.1", "2", "example.com"),
    );
    let mail = format!(
        "From: dmarcreport@microsoft.com\r\nTo: dmarc@example.com\r\nSubject: Report Domain: example.com\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n\
         <div><p>This is a DMARC aggregate report from Microsoft. Send <b>feedback</b> to us.</p></div>\r\n\
         --b1\r\nContent-Type: application/gzip; name=\"r.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --b1\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBfeedback\r\n--b1--\r\n",
        base64_lines(&gzip(xml.as_bytes()))
    );
    let path = scratch.write("ms.eml", mail.as_bytes());
    let output = scratch.ingest(&[&path]);
    assert_success(&output);
    assert!(!stderr(&output).contains("rejected"), "{}", stderr(&output));
    assert_eq!(totals(&scratch.stats())[0], 1);
}

#[test]
fn two_feedback_elements_in_one_file_are_two_reports() {
    let scratch = Scratch::new();
    let one = report(
        "Org",
        "first",
        DAY,
        "",
        &record("192.0.2.1", "2", "example.com"),
    );
    let two = report(
        "Org",
        "second",
        DAY,
        "",
        &record("192.0.2.2", "3", "example.com"),
    );
    let both = format!(
        "{one}{}",
        two.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
    );
    let path = scratch.write("both.xml", both.as_bytes());
    let output = scratch.ingest(&[&path]);
    assert_success(&output);
    assert_eq!(totals(&scratch.stats()), [2, 2, 5, 5]);
}

#[test]
fn report_values_never_reach_the_terminal_raw_and_csv_cells_are_not_formulas() {
    let scratch = Scratch::new();
    let xml = report(
        "Evil&#27;[31mOrg",
        "esc-1",
        DAY,
        "",
        &record("192.0.2.1", "2", "=HYPERLINK(&quot;http://x&quot;)"),
    );
    let member = "r\u{1b}[2J.xml";
    let path = scratch.write(
        "evil.zip",
        // The second member is XML but no report: rejected, by its name.
        &zip(&[(member, xml.as_bytes()), ("bad\u{1b}]0;x.xml", b"<junk/>")]),
    );
    let output = scratch.ingest(&[&path]);
    assert!(!output.stderr.contains(&0x1b), "{:?}", stderr(&output));
    assert!(stderr(&output).contains("\\u{1b}"), "{}", stderr(&output));

    for report in ["reporters", "sources", "failures"] {
        let table = scratch.run(["report", report]);
        assert_success(&table);
        assert!(
            !table.stdout.contains(&0x1b),
            "{report}: {}",
            stdout(&table)
        );
    }
    let csv = scratch.run(["report", "sources", "--format", "csv"]);
    assert!(stdout(&csv).contains("'=hyperlink"), "{}", stdout(&csv));
    assert!(!csv.stdout.contains(&0x1b), "{}", stdout(&csv));
    // JSON stays exact.
    let rows = json(&scratch.run(["report", "reporters", "--format", "json"]));
    assert_eq!(rows[0]["reporter"], "Evil\u{1b}[31mOrg");
}

/// Microsoft's reports run from midnight to midnight: one ending at D 00:00 covers nothing
/// of D, so `--since D` leaves it out of the totals as the daily view does.
#[test]
fn since_agrees_with_daily_at_the_midnight_boundary() {
    let scratch = Scratch::new();
    let rec = record("192.0.2.1", "7", "example.com");
    scratch.write(
        "in/before.xml",
        report("MS", "before", ("1699833600", "1699920000"), "", &rec).as_bytes(),
    );
    scratch.write(
        "in/on.xml",
        report("MS", "on", ("1699920000", "1700006400"), "", &rec).as_bytes(),
    );
    assert_success(&scratch.ingest(&[&scratch.path("in")]));
    let since = ["--since", "2023-11-14", "--format", "json"];
    let domains = json(&scratch.run([&["report", "domains"][..], &since].concat()));
    let daily = json(&scratch.run([&["report", "daily"][..], &since].concat()));
    let daily_total: u64 = daily.iter().map(|d| d["messages"].as_u64().unwrap()).sum();
    assert_eq!(domains[0]["messages"], 7);
    assert_eq!(daily_total, 7);
}

#[test]
fn domains_show_the_latest_policy_whole_and_daily_lists_no_empty_days() {
    let scratch = Scratch::new();
    let rec = record("192.0.2.1", "4", "example.com");
    let old = report("Org", "old", DAY, "<sp>reject</sp><pct>50</pct>", &rec);
    let new = report("Org", "new", ("1700006400", "1700092799"), "", &rec);
    let empty_day = report(
        "Org",
        "zero",
        ("1700092800", "1700179199"),
        "",
        &record("192.0.2.1", "0", "example.com"),
    );
    for (name, xml) in [("old", old), ("new", new), ("zero", empty_day)] {
        scratch.write(&format!("in/{name}.xml"), xml.as_bytes());
    }
    assert_success(&scratch.ingest(&[&scratch.path("in")]));
    let domains = json(&scratch.run(["report", "domains", "--format", "json"]));
    assert_eq!(domains[0]["subdomain_policy"], Value::Null, "{domains:?}");
    assert_eq!(domains[0]["pct"], Value::Null, "{domains:?}");
    let daily = json(&scratch.run(["report", "daily", "--format", "json"]));
    let days: Vec<&str> = daily.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(days, ["2023-11-14", "2023-11-15"]);
}

#[test]
fn filters_take_values_literally_and_mapped_prefixes() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let everything = json(&scratch.run(["report", "domains", "--format", "json"]));
    assert!(!everything.is_empty());
    for wildcard in ["%", "_xample.com"] {
        let rows = json(&scratch.run([
            "report", "domains", "--domain", wildcard, "--format", "json",
        ]));
        assert!(rows.is_empty(), "--domain {wildcard} matched {rows:?}");
    }
    let source = everything_sources(&scratch);
    let v4: std::net::Ipv4Addr = source.parse().unwrap();
    let [a, b, c, _] = v4.octets();
    let plain = json(&scratch.run([
        "report",
        "sources",
        "--ip",
        &format!("{a}.{b}.{c}.0/24"),
        "--format",
        "json",
    ]));
    let mapped = scratch.run([
        "report",
        "sources",
        "--ip",
        &format!("::ffff:{a}.{b}.{c}.0/120"),
        "--format",
        "json",
    ]);
    assert_eq!(json(&mapped), plain);
    assert!(!plain.is_empty());
}

/// The first IPv4 source of the samples.
fn everything_sources(scratch: &Scratch) -> String {
    let rows = json(&scratch.run(["report", "sources", "--format", "json"]));
    rows.iter()
        .filter_map(|r| r["source_ip"].as_str())
        .find(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
        .expect("an IPv4 source")
        .to_string()
}

#[test]
fn query_leaves_statement_splitting_to_duckdb_and_reads_with_a_memory_limit() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let rows = scratch.query(
        "/* counts; per org */ SELECT 'a;b' AS text, current_setting('memory_limit') AS memory;",
    );
    assert_eq!(rows[0]["text"], "a;b");
    // 1 GB, where DuckDB's default is 80% of the machine's memory (many GiB).
    let memory = rows[0]["memory"].as_str().unwrap();
    assert!(memory.ends_with("MiB"), "memory_limit {memory}");
}

/// DuckDB's memory limit when reading, as `query` reports it with `current_setting`.
fn reading_memory_limit(scratch: &Scratch, configure: impl Fn(&mut Command)) -> Output {
    let sql = scratch.write(
        "memory.sql",
        b"SELECT current_setting('memory_limit') AS memory;",
    );
    let mut command = scratch.command();
    configure(&mut command);
    command.arg("query").arg(sql).args(["--format", "csv"]);
    command.output().expect("run duckmarc query")
}

#[test]
fn the_memory_limit_for_reading_comes_from_the_flag_the_environment_or_the_config() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let reports = scratch.stats()["reports"].clone();
    let config = scratch.write("config.toml", b"memory_limit = \"2GB\"\n");
    let limit = |configure: &dyn Fn(&mut Command)| {
        let output = reading_memory_limit(&scratch, configure);
        assert_success(&output);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    // DuckDB shows sizes in binary units: 1 GB is 953.6 MiB.
    assert_eq!(limit(&|_| {}), "953.6 MiB");
    assert_eq!(
        limit(&|c| {
            c.args(["--memory-limit", "3GB"]);
        }),
        "2.7 GiB"
    );
    assert_eq!(
        limit(&|c| {
            c.env("DUCKMARC_MEMORY_LIMIT", "512 mib");
        }),
        "512.0 MiB"
    );
    assert_eq!(
        limit(&|c| {
            c.arg("--config").arg(&config);
        }),
        "1.8 GiB"
    );
    let flag_over_config = |c: &mut Command| {
        c.arg("--config")
            .arg(&config)
            .args(["--memory-limit", "3GB"]);
    };
    assert_eq!(limit(&flag_over_config), "2.7 GiB");

    // Anything but a number and a unit is refused before it reaches a SET statement.
    for bad in ["lots", "3", "-1GB", "1GB'; DROP TABLE reports; --"] {
        let output = reading_memory_limit(&scratch, |c| {
            c.arg(format!("--memory-limit={bad}"));
        });
        assert_eq!(output.status.code(), Some(2), "{bad}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("is not a memory size"),
            "{bad}: {}",
            stderr(&output)
        );
    }
    let bad_config = scratch.write("bad.toml", b"memory_limit = \"2 lots\"\n");
    let output = reading_memory_limit(&scratch, |c| {
        c.arg("--config").arg(&bad_config);
    });
    assert!(!output.status.success());
    assert!(stderr(&output).contains("bad.toml"), "{}", stderr(&output));
    assert_eq!(scratch.stats()["reports"], reports, "nothing was dropped");
}

#[test]
fn html_pages_written_at_once_are_each_whole() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let page = scratch.path("site/page.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            scratch
                .command()
                .arg("html")
                .arg("-o")
                .arg(&page)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        assert_success(&child.wait_with_output().unwrap());
    }
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.trim_end().ends_with("</html>"));
    let left: Vec<_> = std::fs::read_dir(page.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
}

/// A record without `<policy_evaluated>` (required by RFC 9990's schema, left out by some
/// small receivers) has no receiver verdict: judged by its auth results' alignment (RFC 9989
/// section 4.4), and said so, it no longer counts as failing DMARC, which showed the
/// domain's own aligned mail as spoofing. A verdict that is written is kept as written.
#[test]
fn a_record_without_policy_evaluated_is_judged_by_its_auth_results() {
    let scratch = Scratch::new();
    let bare = |ip: &str, count: u32, auth: &str| {
        format!(
            "<record><row><source_ip>{ip}</source_ip><count>{count}</count></row>\
             <identifiers><header_from>example.com</header_from></identifiers>\
             <auth_results>{auth}</auth_results></record>"
        )
    };
    let records = [
        bare(
            "192.0.2.1",
            5,
            "<dkim><domain>example.com</domain><result>pass</result></dkim>",
        ),
        bare(
            "203.0.113.9",
            3,
            "<spf><domain>spoof.example</domain><result>pass</result></spf>",
        ),
        // The receiver's own verdict, fail, although our reading of its results aligns.
        record("192.0.2.2", "2", "example.com").replace("<dkim>pass</dkim>", "<dkim>fail</dkim>"),
    ];
    let file = scratch.write(
        "no-verdict.xml",
        report("Small Receiver", "nv-1", DAY, "", &records.concat()).as_bytes(),
    );
    assert_success(&scratch.ingest(&[file]));
    let verdicts = scratch.query("SELECT source_ip, dkim, spf FROM records ORDER BY source_ip");
    let verdict = |row: &Value| {
        format!("{} {} {}", row["source_ip"], row["dkim"], row["spf"]).replace('"', "")
    };
    assert_eq!(
        verdicts.iter().map(verdict).collect::<Vec<_>>(),
        [
            "192.0.2.1 pass fail",
            "192.0.2.2 fail fail",
            "203.0.113.9 fail fail"
        ]
    );
    let judged = |scratch: &Scratch| {
        let notes = scratch.query("SELECT notes FROM reports");
        let notes = notes[0]["notes"].as_str().unwrap_or_default().to_string();
        assert!(
            notes.contains("2 records without the receiver's DKIM or SPF verdict"),
            "{notes}"
        );
        let domains = json(&scratch.run(["report", "domains", "--format", "json"]));
        assert_eq!(
            (&domains[0]["messages"], &domains[0]["dmarc_pass_messages"]),
            (&Value::from(10), &Value::from(5)),
            "{domains:?}"
        );
        let sources = json(&scratch.run(["report", "sources", "--format", "json"]));
        let own = sources
            .iter()
            .find(|s| s["source_ip"] == "192.0.2.1")
            .unwrap();
        assert_ne!(own["class"], "unauthorised", "{own}");
    };
    judged(&scratch);
    // Stored so by an older duckmarc (no verdict, no note): upgraded in place, once.
    scratch.rewrite(
        "UPDATE records SET dkim = NULL, spf = NULL WHERE source_ip <> '192.0.2.2';
         UPDATE reports SET notes = NULL; DROP TABLE data_upgrades;",
    );
    judged(&scratch);
    assert_success(&scratch.ingest(&[scratch.path("no-verdict.xml")]));
    judged(&scratch);
}
