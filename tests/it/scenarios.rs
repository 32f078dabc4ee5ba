//! The readiness scenarios of `tests/scenarios/` (see its README): each folder's reports go
//! through the real binary, with its config and, where it has a `dns.txt`, a real DNS server
//! on 127.0.0.1 serving those records; `report readiness` must say what `expected.json`
//! says, every source must have its class, and `report domains`, `report senders`, `report
//! sources` and the HTML page's status table must agree with `report readiness`.

use crate::common::dnsmasq::{Dnsmasq, Zone};
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const AUXILIARY: [&str; 3] = ["expected.json", "config.toml", "dns.txt"];

#[test]
fn every_scenario_gives_its_verdict_and_classes_and_every_report_agrees() {
    let root = repo().join("tests/scenarios");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 17, "scenarios missing: {scenarios:?}");
    let mut failures = Vec::new();
    for dir in &scenarios {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if let Err(problems) = run_scenario(dir) {
            failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs one scenario; the list of what differs from what is expected.
fn run_scenario(dir: &Path) -> Result<(), Vec<String>> {
    let scratch = Scratch::new();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let config = dir.join("config.toml");
    let run = |args: &[&str]| -> Value {
        let mut command = scratch.command();
        if config.exists() {
            command.arg("--config").arg(&config);
        }
        let output = command.args(args).output().unwrap();
        assert_success(&output);
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    };
    let dns = match std::fs::read_to_string(dir.join("dns.txt")) {
        Ok(text) => match start_dns(&text) {
            Some(server) => Some(server),
            None => return Ok(()), // dnsmasq missing: skipped with a notice
        },
        Err(_) => None,
    };
    let mut ingest = scratch.command();
    ingest.arg("ingest").args(report_files(dir));
    if let Some(server) = &dns {
        ingest
            .env_remove("DUCKMARC_NO_DNS")
            .args(["--dns-server", &server.address]);
    }
    let output = ingest.output().unwrap();
    assert_success(&output);

    let domain = expected["domain"].as_str().unwrap();
    let readiness = row_for(&run(&["report", "readiness", "--format", "json"]), domain);
    let mut problems = Vec::new();
    for (field, want) in expected["readiness"].as_object().unwrap() {
        if &readiness[field] != want {
            problems.push(format!(
                "readiness {field}: {} instead of {want}",
                readiness[field]
            ));
        }
    }
    let sources = run(&["report", "sources", "--format", "json"]);
    for (ip, class) in expected["classes"].as_object().unwrap() {
        let source = sources
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source_ip"] == *ip);
        match source {
            Some(source) if &source["class"] == class => {}
            Some(source) => problems.push(format!(
                "{ip}: class {} instead of {class}",
                source["class"]
            )),
            None => problems.push(format!("{ip}: not in report sources")),
        }
    }
    let senders = run(&["report", "senders", "--format", "json"]);
    let domains = run(&["report", "domains", "--format", "json"]);
    problems.extend(disagreements(
        &readiness,
        &row_for(&domains, domain),
        &senders,
        &sources,
    ));
    let mut page = scratch.command();
    if config.exists() {
        page.arg("--config").arg(&config);
    }
    problems.extend(page_disagreements(&scratch, page, &readiness));
    if problems.is_empty() {
        Ok(())
    } else {
        problems.push(format!("readiness was {readiness}"));
        Err(problems)
    }
}

fn report_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| !AUXILIARY.contains(&path.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    files
}

/// dnsmasq serving `dns.txt`: `TXT name text`, `HOST name address`, `LOCAL domain`.
fn start_dns(text: &str) -> Option<Dnsmasq> {
    let mut txt = Vec::new();
    let mut hosts = Vec::new();
    let mut local = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("TXT"), Some(name), Some(text)) => txt.push((name, text)),
            (Some("HOST"), Some(name), Some(address)) => hosts.push((name, address)),
            (Some("LOCAL"), Some(domain), None) => local.push(domain),
            _ => panic!("dns.txt: cannot read {line:?}"),
        }
    }
    Dnsmasq::start(&Zone {
        hosts: &hosts,
        txt: &txt,
        local: &local,
        ..Zone::default()
    })
}

fn row_for(rows: &Value, domain: &str) -> Value {
    rows.as_array()
        .and_then(|rows| rows.iter().find(|r| r["domain"] == domain))
        .cloned()
        .unwrap_or_else(|| panic!("no row for {domain} in {rows}"))
}

/// Where `report domains`, `report senders` and `report sources` say something else than
/// `report readiness` about the same domain (every scenario has one policy domain).
fn disagreements(
    readiness: &Value,
    domain: &Value,
    senders: &Value,
    sources: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut differ = |what: &str, theirs: Value, ours: &Value| {
        if &theirs != ours {
            problems.push(format!("{what}: {theirs} against readiness {ours}"));
        }
    };
    for field in [
        "messages",
        "policy",
        "subdomain_policy",
        "pct",
        "testing",
        "policy_source",
    ] {
        differ(
            &format!("report domains {field}"),
            domain[field].clone(),
            &readiness[field],
        );
    }
    let blocked: u64 = ["authorised", "forwarded", "unauthorised"]
        .iter()
        .map(|class| {
            readiness[format!("reject_blocks_{class}")]
                .as_u64()
                .unwrap()
        })
        .sum();
    differ(
        "report domains reject_blocks_messages",
        domain["reject_blocks_messages"].clone(),
        &blocked.into(),
    );
    let senders = senders.as_array().unwrap();
    let messages: u64 = senders
        .iter()
        .map(|s| s["messages"].as_u64().unwrap())
        .sum();
    differ(
        "report senders messages",
        messages.into(),
        &readiness["messages"],
    );
    for class in ["unauthorised", "authorised_failing"] {
        let rows = senders.iter().filter(|s| s["class"] == class).count() as u64;
        differ(
            &format!("report senders {class} rows"),
            rows.into(),
            &readiness[format!("{class}_senders")],
        );
    }
    for source in sources.as_array().unwrap() {
        // A named source is its sender's row; an unnamed one is its own, by its address.
        let sender = match source["sender"].as_str() {
            Some(name) if name != "unknown" => source["sender"].clone(),
            _ => source["source_ip"].clone(),
        };
        let listed = senders
            .iter()
            .any(|s| s["sender"] == sender && s["class"] == source["class"]);
        if !listed {
            problems.push(format!(
                "report senders has no row for {sender} as {}",
                source["class"]
            ));
        }
    }
    problems
}

/// What the HTML page's status table says otherwise than `readiness` (its verdict and next
/// step must be there), the page written by `command` (duckmarc with the same options as
/// the readiness run) with `html -o`.
pub(crate) fn page_disagreements(
    scratch: &Scratch,
    mut command: Command,
    readiness: &Value,
) -> Vec<String> {
    let page = scratch.path("page.html");
    let output = command
        .args(["html", "-o", page.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&output);
    let html = std::fs::read_to_string(&page).unwrap();
    // Codes may break after an underscore (<wbr>): the text is the same.
    let status = html
        .split("<table data-table=\"status\">")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_default()
        .replace("<wbr>", "");
    let mut problems = Vec::new();
    for column in ["verdict", "next_step"] {
        let text = escaped(readiness[column].as_str().unwrap());
        // The verdict is in words and in colour: its class names it too.
        let shown = match column {
            "verdict" => format!("<span class=\"verdict {text}\">{text}</span>"),
            _ => text,
        };
        let cell = format!(
            "data-col=\"{column}\" data-label=\"{}\">{shown}</td>",
            column.replace('_', " "),
        );
        if !status.contains(&cell) {
            problems.push(format!("the page's status table has no {cell}"));
        }
    }
    problems
}

pub(crate) fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
