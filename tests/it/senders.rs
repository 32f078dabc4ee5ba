//! Naming the sources: offline from the bundled IP database (by network), and with reverse
//! DNS from a real server on 127.0.0.1 through the sender map (tests/it/identity.rs has what
//! cannot name a source).

use crate::common::dnsmasq::{Dnsmasq, Silent, Zone};
use crate::common::*;
use serde_json::Value;
use std::process::Output;

fn source<'a>(rows: &'a [Value], ip: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["source_ip"] == ip)
        .unwrap_or_else(|| panic!("no source {ip}"))
}

/// The sample reports, ingested with these flags and DNS as given (`None`: no DNS).
fn ingest_samples(scratch: &Scratch, dns_server: Option<&str>, extra: &[&str]) -> Output {
    let mut command = scratch.command();
    command.arg("ingest").args(extra).arg(samples());
    if let Some(server) = dns_server {
        command
            .env_remove("DUCKMARC_NO_DNS")
            .args(["--dns-server", server]);
    }
    command.output().expect("run duckmarc ingest")
}

fn names(scratch: &Scratch) -> Vec<Value> {
    scratch.query(
        "SELECT source_ip, ptr, ptr_confirmed, sender, named_by, dns_status FROM source_names ORDER BY source_ip",
    )
}

fn name_of<'a>(names: &'a [Value], ip: &str) -> &'a Value {
    names
        .iter()
        .find(|r| r["source_ip"] == ip)
        .unwrap_or_else(|| panic!("{ip} not named: {names:?}"))
}

#[test]
fn without_dns_sources_are_named_by_their_network() {
    let scratch = Scratch::new();
    assert_success(&ingest_samples(&scratch, None, &[]));
    let sources = scratch.report_json(&["sources"]);
    let sendgrid = source(&sources, "167.89.115.25");
    // No evidence about the address but its network: named as the network, never as
    // "Twilio SendGrid" (any SendGrid customer sends from it).
    assert_eq!(sendgrid["named_by"], "network");
    assert_eq!(sendgrid["sender_type"], "Network");
    assert!(sendgrid["sender"].as_str().unwrap().ends_with(", AS11377"));
    assert_eq!(sendgrid["asn"], 11377);
    assert_eq!(sendgrid["country"], "US");
    assert_eq!(sendgrid["ptr"], Value::Null, "no DNS was asked");
    let ses = source(&sources, "54.240.27.19");
    assert!(ses["sender"].as_str().unwrap().ends_with(", AS16509"));
    assert_eq!(ses["asn"], 16509);
    // What signed its mail is shown as what it is.
    assert!(
        ses["signed_by"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("amazonses.com")),
        "{ses}"
    );
    // Documentation addresses: nothing names them, and nothing pretends to.
    let own = source(&sources, "192.0.2.10");
    assert_eq!(own["sender"], "unknown");
    assert_eq!(own["named_by"], Value::Null);
    assert_eq!(
        (own["asn"].clone(), own["country"].clone()),
        (Value::Null, Value::Null)
    );
    let names = names(&scratch);
    assert_eq!(name_of(&names, "192.0.2.10")["dns_status"], "skipped");
}

#[test]
fn senders_report_and_filters_by_sender_country_and_asn() {
    let scratch = Scratch::new();
    assert_success(&ingest_samples(&scratch, None, &[]));
    let senders = scratch.report_json(&["senders"]);
    let by_name = |name: &str| {
        senders
            .iter()
            .find(|r| r["sender"] == name)
            .unwrap_or_else(|| panic!("no sender {name}: {senders:?}"))
    };
    let total: u64 = senders
        .iter()
        .map(|r| r["messages"].as_u64().unwrap())
        .sum();
    let stats = scratch.stats();
    assert_eq!(
        total,
        stats["messages"].as_u64().unwrap(),
        "every message has one sender"
    );
    // Unnamed sources are never lumped together: each is its own sender, by its address.
    let unnamed: Vec<&Value> = senders
        .iter()
        .filter(|r| {
            r["sender"]
                .as_str()
                .unwrap()
                .parse::<std::net::IpAddr>()
                .is_ok()
        })
        .collect();
    assert!(unnamed.len() > 3, "{senders:?}");
    assert!(unnamed
        .iter()
        .all(|r| r["sources"] == 1 && r["sender_type"].is_null()));
    assert!(senders.iter().all(|r| r["sender"] != "unknown"));
    // And that name selects it, as every other sender's name does.
    let address = unnamed[0]["sender"].as_str().unwrap();
    let sources = scratch.report_json(&["sources", "--sender", address]);
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0]["source_ip"], address);
    // The failure samples of an unnamed source too.
    let samples = scratch.report_json(&["failure-samples", "--sender", "203.0.113.200"]);
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0]["source_ip"], "203.0.113.200");
    // No row mixes classes: a sender appears once per class.
    let mut keys: Vec<(String, String)> = senders
        .iter()
        .map(|r| (r["sender"].to_string(), r["class"].to_string()))
        .collect();
    let rows = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), rows);
    // Offline, sources are named by their network (AS name and number).
    let network = |asn: &str| {
        senders
            .iter()
            .map(|r| r["sender"].as_str().unwrap())
            .find(|name| name.ends_with(asn))
            .unwrap_or_else(|| panic!("no sender in {asn}: {senders:?}"))
            .to_string()
    };
    let (sendgrid_name, ses_name) = (network(", AS11377"), network(", AS16509"));
    let sendgrid = by_name(&sendgrid_name);
    let sendgrid_messages: u64 = senders
        .iter()
        .filter(|r| r["sender"] == sendgrid_name.as_str())
        .map(|r| r["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(sendgrid_messages, 230 + 244 + 61);
    assert_eq!(sendgrid["asns"], serde_json::json!([11377]));
    assert_eq!(sendgrid["countries"], serde_json::json!(["US"]));
    assert_eq!(by_name(&ses_name)["diagnosis"], "spf_other_domain");

    let ips = |args: &[&str]| -> Vec<String> {
        scratch
            .report_json(&[&["sources"], args].concat())
            .iter()
            .map(|r| r["source_ip"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ips(&["--sender", &ses_name.to_lowercase()]),
        ["54.240.27.19"]
    );
    assert_eq!(ips(&["--asn", "AS11377"]), ["167.89.115.25"]);
    assert_eq!(ips(&["--country", "us"]), ["167.89.115.25", "54.240.27.19"]);
    assert!(ips(&["--sender", "unknown"]).contains(&"192.0.2.10".to_string()));
    let daily = scratch.report_json(&["daily", "--sender", &sendgrid_name]);
    let daily_total: u64 = daily.iter().map(|r| r["messages"].as_u64().unwrap()).sum();
    assert_eq!(daily_total, 535, "every report takes the filters");
}

#[test]
fn reverse_dns_from_a_real_server_confirmed_or_not() {
    let Some(dns) = Dnsmasq::start(&Zone {
        hosts: &[
            ("o1.ptr1234.sendgrid.net", "167.89.115.25"),
            ("mail.example.com", "192.0.2.10"),
        ],
        // A spoofer's address whose PTR claims to be Google: not confirmed, not believed.
        unconfirmed: &[("203.0.113.200", "mail-sor-f41.google.com")],
        ..Zone::default()
    }) else {
        return;
    };
    let scratch = Scratch::new();
    let output = ingest_samples(&scratch, Some(&dns.address), &[]);
    assert_success(&output);
    assert!(!stderr(&output).contains("warn"), "{}", stderr(&output));
    let names = names(&scratch);
    let sendgrid = name_of(&names, "167.89.115.25");
    assert_eq!(sendgrid["ptr"], "o1.ptr1234.sendgrid.net");
    assert_eq!(sendgrid["ptr_confirmed"], true);
    assert_eq!(sendgrid["named_by"], "ptr");
    assert_eq!(sendgrid["sender"], "Twilio SendGrid");
    // Our own server: a confirmed name the map does not know is shown as it is.
    let own = name_of(&names, "192.0.2.10");
    assert_eq!(
        (own["sender"].as_str(), own["named_by"].as_str()),
        (Some("example.com"), Some("ptr"))
    );
    let spoof = name_of(&names, "203.0.113.200");
    assert_eq!(spoof["ptr"], "mail-sor-f41.google.com");
    assert_eq!(spoof["ptr_confirmed"], false);
    assert_eq!(
        spoof["sender"],
        Value::Null,
        "an unconfirmed PTR names nothing"
    );
    assert_eq!(name_of(&names, "203.0.113.77")["dns_status"], "nxdomain");
    let sources = scratch.report_json(&["sources"]);
    assert_eq!(
        source(&sources, "167.89.115.25")["base_domain"],
        "sendgrid.net"
    );

    // The cache answers the next run: nothing to ask, nothing renamed.
    let again = scratch.run(["enrich", "--dns-server", &dns.address]);
    assert_success(&again);
    assert!(
        stdout(&again).starts_with("named 0 sources"),
        "{}",
        stdout(&again)
    );
    let refresh = scratch.run(["enrich", "--refresh", "--dns-server", &dns.address]);
    assert_success(&refresh);
    let all = names.len();
    assert!(
        stdout(&refresh).starts_with(&format!("named {all} sources")),
        "{}",
        stdout(&refresh)
    );
    // Renamed in place: still one row per address.
    assert_eq!(self::names(&scratch).len(), all);
}

#[test]
fn a_dns_server_that_never_answers_costs_one_warning_and_is_asked_again() {
    let silent = Silent::start();
    let scratch = Scratch::new();
    let output = ingest_samples(&scratch, Some(&silent.address), &[]);
    assert_success(&output);
    let warnings: Vec<&str> = std::str::from_utf8(&output.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.contains("reverse DNS"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&output));
    // Names still come from the IP database.
    let names = names(&scratch);
    assert_eq!(name_of(&names, "167.89.115.25")["named_by"], "network");
    assert!(
        names.iter().all(|n| n["dns_status"] == "failed"),
        "{names:?}"
    );
    // Lookups that failed are no answers.
    let again = scratch.run(["enrich", "--refresh", "--dns-server", &silent.address]);
    assert_success(&again);
    assert!(
        stdout(&again).contains(", 0 reverse DNS answers"),
        "{}",
        stdout(&again)
    );

    let Some(dns) = Dnsmasq::start(&Zone {
        hosts: &[("o1.ptr1234.sendgrid.net", "167.89.115.25")],
        unconfirmed: &[],
        ..Zone::default()
    }) else {
        return;
    };
    let retry = scratch.run(["enrich", "--dns-server", &dns.address]);
    assert_success(&retry);
    let names = self::names(&scratch);
    assert_eq!(
        name_of(&names, "167.89.115.25")["ptr"],
        "o1.ptr1234.sendgrid.net"
    );
    assert!(
        names.iter().all(|n| n["dns_status"] != "failed"),
        "{names:?}"
    );
}

#[test]
fn a_missing_or_corrupt_ip_database_is_named_and_stops_before_ingest() {
    let scratch = Scratch::new();
    let missing = scratch.path("nowhere/ipinfo.mmdb");
    let output = ingest_samples(&scratch, None, &["--ip-db", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("nowhere/ipinfo.mmdb"),
        "{}",
        stderr(&output)
    );
    let corrupt = scratch.write("corrupt.mmdb", b"\xab\xcd\xefMaxMind.com but not really");
    let output = ingest_samples(&scratch, None, &["--ip-db", corrupt.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let says = stderr(&output);
    assert!(
        says.contains("corrupt.mmdb") && says.contains("not a usable MMDB"),
        "{says}"
    );
    assert_eq!(says.lines().count(), 1, "one line: {says}");
}

#[test]
fn the_users_sender_map_wins_over_the_bundled_one() {
    let Some(dns) = Dnsmasq::with_hosts(&[("o1.ptr1234.sendgrid.net", "167.89.115.25")]) else {
        return;
    };
    let scratch = Scratch::new();
    let map = scratch.write(
        "senders.csv",
        b"base_reverse_dns,name,type\nsendgrid.net,Our newsletter (SendGrid),Marketing\n",
    );
    assert_success(&ingest_samples(
        &scratch,
        Some(&dns.address),
        &["--sender-map", map.to_str().unwrap()],
    ));
    let sources = scratch.report_json(&["sources"]);
    let sendgrid = source(&sources, "167.89.115.25");
    assert_eq!(sendgrid["sender"], "Our newsletter (SendGrid)");
    assert_eq!(sendgrid["named_by"], "ptr");
}

/// A report for example.com with a failing one-message record from each of `sources`.
fn report_from(report_id: &str, sources: impl Iterator<Item = String>) -> String {
    let records: String = sources
        .map(|ip| {
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>1</count>\
                 <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>\
                 </policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>\
                 <auth_results><spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>"
            )
        })
        .collect();
    format!(
        "<feedback><report_metadata><org_name>Test Org</org_name><email>dmarc@test.example</email>\
         <report_id>{report_id}</report_id><date_range><begin>1700000000</begin><end>1700086399</end>\
         </date_range></report_metadata><policy_published><domain>example.com</domain><p>none</p>\
         </policy_published>{records}</feedback>"
    )
}

#[test]
fn more_sources_than_one_naming_chunk_are_each_named_once() {
    // Naming reads and stores 8,192 sources at a time: 20,000 sources span three chunks,
    // the last one partial.
    let sources = 20_000;
    let addresses =
        (0..sources).map(|i| format!("10.{}.{}.{}", i / 65_536, i / 256 % 256, i % 256));
    let report = report_from("many-sources", addresses);
    let scratch = Scratch::new();
    let file = scratch.write("many-sources.xml", report.as_bytes());
    assert_success(&scratch.ingest(&[&file]));
    let counts = "SELECT count(*) AS rows, count(DISTINCT source_ip) AS addresses,
                         count(*) FILTER (WHERE source_ip NOT IN (SELECT source_ip FROM records)) AS strays
                  FROM source_names";
    let expected = serde_json::json!({"rows": sources, "addresses": sources, "strays": 0});
    assert_eq!(scratch.query(counts)[0], expected);

    let refresh = scratch.run(["enrich", "--refresh"]);
    assert_success(&refresh);
    assert!(
        stdout(&refresh).starts_with(&format!("named {sources} sources")),
        "{}",
        stdout(&refresh)
    );
    assert_eq!(scratch.query(counts)[0], expected);
}

/// Naming reads only the records of reports stored since it last ran (`naming_mark`): an
/// hourly run on a database of millions of records looked at every one of them to find a
/// handful of new sources (0.8 of its 1.4 s). The mark moves on with each run, whether or
/// not there was anything new to name.
#[test]
fn each_run_names_only_the_sources_of_reports_since_the_last() {
    let scratch = Scratch::new();
    let ingest = |report_id: &str, sources: &[&str]| {
        let xml = report_from(report_id, sources.iter().map(|ip| ip.to_string()));
        let file = scratch.write(&format!("{report_id}.xml"), xml.as_bytes());
        assert_success(&scratch.ingest(&[&file]));
    };
    let state = || {
        scratch.query(
            "SELECT (SELECT list(source_ip ORDER BY source_ip) FROM source_names) AS named,
                    (SELECT list(named_through) FROM naming_mark) AS mark,
                    (SELECT max(id) FROM reports) AS latest",
        )[0]
        .clone()
    };
    let named_through_latest = |expected_named: &[&str]| {
        let now = state();
        assert_eq!(now["named"], serde_json::json!(expected_named), "{now}");
        assert_eq!(now["mark"], serde_json::json!([now["latest"]]), "{now}");
    };
    ingest("first", &["10.0.0.1", "10.0.0.2"]);
    named_through_latest(&["10.0.0.1", "10.0.0.2"]);
    ingest("second", &["10.0.0.2", "10.0.0.3"]);
    named_through_latest(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    // Nothing new to name: the mark moves on all the same.
    ingest("third", &["10.0.0.1"]);
    named_through_latest(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    // The newest report deleted by hand does not free its id for a report the mark has
    // passed: the next one comes after it, and its new source is named.
    scratch.rewrite(
        "DELETE FROM records WHERE report = (SELECT max(id) FROM reports);
         DELETE FROM reports WHERE id = (SELECT max(id) FROM reports);",
    );
    ingest("fourth", &["10.0.0.4"]);
    let now = state();
    assert_eq!(
        now["named"],
        serde_json::json!(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]),
        "{now}"
    );
    assert_eq!(now["mark"], serde_json::json!([4]), "{now}");
    assert_eq!(
        now["latest"], 4,
        "the deleted third report's id is not used again"
    );

    // The mark is what limits the search: a name dropped behind it is not looked for (duckmarc
    // never drops one without the mark)...
    scratch.rewrite("DELETE FROM source_names WHERE source_ip = '10.0.0.3'");
    assert_success(&scratch.run(["enrich"]));
    named_through_latest(&["10.0.0.1", "10.0.0.2", "10.0.0.4"]);
    // ...and names dropped with it (as the upgrade that dropped names given by DKIM domains
    // does) are all made again; so is every one with --refresh.
    let all = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
    scratch.rewrite("DELETE FROM source_names; DELETE FROM naming_mark");
    assert_success(&scratch.run(["enrich"]));
    named_through_latest(&all);
    scratch.rewrite("DELETE FROM source_names WHERE source_ip = '10.0.0.3'");
    assert_success(&scratch.run(["enrich", "--refresh"]));
    named_through_latest(&all);
}

/// `signed_by` lists what signed the row's own mail: an address that sends the domain's mail
/// and spoofed mail too has two rows, and the spoofed one does not show the domain's
/// signature (it read like a leaked key).
#[test]
fn each_senders_row_names_what_signed_its_own_mail() {
    use crate::common::reports::{dmarc_report, Row};
    let scratch = Scratch::new();
    let signed = |count, verdict, domain| Row {
        ip: "203.0.113.50",
        count,
        dkim: verdict,
        spf: verdict,
        from: "example.com",
        dkim_domain: domain,
        spf_domain: domain,
        reason: None,
        selector: Some("s1"),
    };
    // The spoofed mail's own signature (spoof.example) failed too: it has no signer.
    let rows = [
        signed(100, "pass", "example.com"),
        signed(20, "fail", "spoof.example"),
    ];
    let xml = dmarc_report(
        "google.com",
        "shared-1",
        1_761_955_200,
        "<p>none</p>",
        &rows,
    );
    assert_success(&scratch.ingest(&[scratch.write("r.xml", xml.as_bytes())]));
    let senders = scratch.report_json(&["senders"]);
    let signers = |class: &str| {
        senders
            .iter()
            .find(|r| r["class"] == class)
            .map(|r| r["signed_by"].clone())
            .unwrap_or_else(|| panic!("no {class} row: {senders:#?}"))
    };
    assert_eq!(signers("compliant"), serde_json::json!(["example.com"]));
    assert_eq!(signers("unauthorised"), serde_json::json!([]));
}
