//! `duckmarc html --site DIR`: the pages' figures against the JSON reports, names written by
//! strangers as file names and text, rewriting in place, and a crawl in real Chromium
//! (links, requests, width, axe-core).

use super::html::{cell, chrome, table_rows, without_tags};
use super::scenarios::escaped;
use crate::common::reports::Row;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn write_site(scratch: &Scratch, dir: &Path) {
    let output = scratch.run(["html", "--site", dir.to_str().unwrap()]);
    assert_success(&output);
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Text as the page shows it: tags dropped, the entities maud writes decoded.
fn text(html: &str) -> String {
    without_tags(html)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// `data-metric` figures of a page: (column, text shown).
fn metrics(html: &str) -> Vec<(String, String)> {
    html.split("data-metric=\"")
        .skip(1)
        .map(|part| {
            let (column, rest) = part.split_once('"').unwrap();
            let shown = &rest[rest.find('>').unwrap() + 1..rest.find("</dd>").unwrap()];
            (column.to_string(), text(shown))
        })
        .collect()
}

/// How the page shows a value of `report readiness`'s `column`.
fn shown(column: &str, value: &Value) -> String {
    let rate = column.ends_with("_rate") || column.contains("_rate_");
    match value {
        Value::Null if rate || column.starts_with("tls_") || column == "dns_errors" => "–".into(),
        Value::Null => String::new(),
        Value::Number(n) if column.ends_with("_trend") => {
            let points = n.as_f64().unwrap() * 100.0;
            match points {
                p if p < 0.0 => format!("▼ {p:.1} pts"),
                p if p > 0.0 => format!("▲ +{p:.1} pts"),
                _ => "= 0.0 pts".into(),
            }
        }
        Value::Number(n) if rate => format!("{:.1}%", n.as_f64().unwrap() * 100.0),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The target of the first link in `html`, as written.
fn first_href(html: &str) -> &str {
    let after = html.split("href=\"").nth(1).expect("a link");
    after.split('"').next().unwrap()
}

/// The page of `domain`, found through the index's link to it.
fn domain_page(site: &Path, index: &str, domain: &str) -> (PathBuf, String) {
    let marker = format!("<li data-domain=\"{}\"", escaped(domain));
    let item = &index[index
        .find(&marker)
        .unwrap_or_else(|| panic!("{domain} in the index"))..];
    let path = site.join(first_href(item).replace("&amp;", "&"));
    let html = read(&path);
    (path, html)
}

/// The sender rows of a domain page: every `senders-CLASS` table.
fn sender_rows(html: &str) -> Vec<Vec<(String, String)>> {
    let names: BTreeSet<&str> = html
        .split("data-table=\"senders-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    names
        .into_iter()
        .flat_map(|class| table_rows(html, &format!("senders-{class}")))
        .collect()
}

#[test]
fn each_domain_page_shows_what_readiness_and_senders_report() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let site = scratch.path("site");
    write_site(&scratch, &site);
    let index = read(&site.join("index.html"));
    let status = scratch.report_json(&["readiness"]);
    assert!(status.len() >= 2, "the samples have several domains");
    for row in &status {
        let domain = row["domain"].as_str().unwrap();
        let (path, page) = domain_page(&site, &index, domain);
        assert!(
            page.contains(&format!("<title>{domain} · DMARC reports · ")),
            "{}",
            path.display()
        );

        let readiness = scratch.report_json(&["readiness", "--domain", domain]);
        let readiness = readiness.iter().find(|r| r["domain"] == domain).unwrap();
        let shown_metrics = metrics(&page);
        assert_eq!(
            shown_metrics.len(),
            readiness.as_object().unwrap().len(),
            "every figure"
        );
        for (column, text) in shown_metrics {
            let expected = shown(&column, &readiness[&column]);
            assert_eq!(
                text.replace(',', ""),
                expected.replace(',', ""),
                "{domain} {column}"
            );
        }
        let blocks = table_rows(&page, "would-block");
        assert_eq!(blocks.len(), 2);
        for (policy, row) in ["quarantine", "reject"].iter().zip(&blocks) {
            for class in ["authorised", "forwarded", "unauthorised"] {
                let column = format!("{policy}_blocks_{class}");
                assert_eq!(
                    cell(row, &column),
                    readiness[&column].to_string(),
                    "{domain} {column}"
                );
            }
        }

        let senders = scratch.report_json(&["senders", "--domain", domain]);
        let mut on_page: Vec<(String, String, String, String)> = sender_rows(&page)
            .iter()
            .map(|r| {
                (
                    text(cell(r, "sender")),
                    cell(r, "messages").into(),
                    cell(r, "dmarc_pass_rate").into(),
                    cell(r, "sources").into(),
                )
            })
            .collect();
        let mut reported: Vec<(String, String, String, String)> = senders
            .iter()
            // The table reader drops commas, as in "SendGrid, Inc.".
            .map(|s| {
                (
                    s["sender"].as_str().unwrap().replace(',', ""),
                    s["messages"].to_string(),
                    shown("dmarc_pass_rate", &s["dmarc_pass_rate"]),
                    s["sources"].to_string(),
                )
            })
            .collect();
        on_page.sort();
        reported.sort();
        assert_eq!(on_page, reported, "{domain}: senders");

        // Every sender links to its page, whose totals are the sender's.
        let dir = path.parent().unwrap();
        for sender in &senders {
            let name = sender["sender"].as_str().unwrap();
            let escaped = escaped(name);
            let link = page
                .split("<td data-col=\"sender\"")
                .find(|c| c.contains(&format!(">{escaped}</a>")))
                .unwrap_or_else(|| panic!("{domain}: no link to {name}"));
            let sender_page = read(&dir.join(first_href(link)));
            assert!(sender_page.contains(&format!("<h1>{escaped}</h1>")));
            let sources = table_rows(&sender_page, "sources");
            let messages: u64 = sources
                .iter()
                .map(|r| cell(r, "messages").parse::<u64>().unwrap())
                .sum();
            let all: u64 = senders
                .iter()
                .filter(|s| s["sender"] == name)
                .map(|s| s["messages"].as_u64().unwrap())
                .sum();
            assert_eq!(messages, all, "{domain} {name}: its sources' messages");
            let reporters = table_rows(&sender_page, "reporters");
            let reported: u64 = reporters
                .iter()
                .map(|r| cell(r, "messages").parse::<u64>().unwrap())
                .sum();
            assert_eq!(reported, all, "{domain} {name}: its reporters' messages");
        }
    }
}

/// Names a report can hold that must not become paths or markup.
const HOSTILE_SENDER: &str = "../../<script>alert(1)</script>&co";

fn hostile_domain() -> String {
    format!(
        "<img src=x onerror=alert(2)>/../{}.example",
        "a".repeat(300)
    )
}

/// The samples with a domain and a sender renamed to hostile names, straight in the database
/// (as a parser that let them through would have left it).
fn hostile_site(scratch: &Scratch) -> PathBuf {
    assert_success(&scratch.ingest(&[&samples()]));
    // And twenty spoofing addresses, each its own sender: a table long enough for a filter box.
    let ips: Vec<String> = (1..=20).map(|i| format!("198.51.100.{i}")).collect();
    let rows: Vec<Row> = ips.iter().map(|ip| Row::spoof(ip, 3)).collect();
    let xml = crate::common::reports::dmarc_report(
        "Spoof watch",
        "sw-1",
        1_763_856_000,
        "<p>none</p>",
        &rows,
    );
    scratch.write("spoofers/report.xml", xml.as_bytes());
    assert_success(&scratch.ingest(&[&scratch.path("spoofers")]));
    let domain = hostile_domain().replace('\'', "''");
    scratch.rewrite(&format!(
        "UPDATE reports SET domain = '{domain}' WHERE domain = 'example.org';
         DELETE FROM source_names WHERE source_ip = '203.0.113.200';
         INSERT INTO source_names (source_ip, ptr_confirmed, sender, sender_type, dns_status, named_at)
         VALUES ('203.0.113.200', false, '{HOSTILE_SENDER}', 'Spam', 'skipped', TIMESTAMP '2026-01-01');"
    ));
    let site = scratch.path("site");
    write_site(scratch, &site);
    site
}

#[test]
fn hostile_names_become_safe_file_names_and_escaped_text() {
    let scratch = Scratch::new();
    let site = hostile_site(&scratch);
    let written = files(&site);
    assert!(written.len() > 5, "{written:?}");
    for file in &written {
        assert!(
            file.split('/').all(|part| !part.starts_with("..")
                && part.len() <= 64
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-~".contains(c))),
            "unsafe file name {file:?}"
        );
        let page = read(&site.join(file));
        if file.ends_with(".html") {
            assert!(!page.contains("<script>alert"), "{file}: raw script");
            assert!(!page.contains("<img src=x"), "{file}: raw img");
            assert_eq!(
                page.matches("<script>").count(),
                1,
                "{file}: only our own script"
            );
        }
    }
    // Nothing escaped the directory.
    let parent = files(site.parent().unwrap());
    assert!(
        parent
            .iter()
            .all(|f| f.starts_with("site/") || !f.contains(".html")),
        "{parent:?}"
    );
    // The names are shown, escaped, on their pages.
    let index = read(&site.join("index.html"));
    assert!(
        index.contains("&lt;img src=x onerror=alert(2)&gt;/../aaa"),
        "the domain in the index"
    );
    let (path, hostile_page) = domain_page(&site, &index, &hostile_domain());
    assert!(path.starts_with(&site));
    let (_, example) = domain_page(&site, &index, "example.com");
    assert!(example.contains("../../&lt;script&gt;alert(1)&lt;/script&gt;&amp;co"));
    let sender_pages: Vec<&String> = written.iter().filter(|f| f.contains("script")).collect();
    assert_eq!(sender_pages.len(), 1, "{written:?}");
    let sender = read(&site.join(sender_pages[0]));
    assert!(sender.contains("<h1>../../&lt;script&gt;alert(1)&lt;/script&gt;&amp;co</h1>"));
    assert!(hostile_page.contains("&lt;img src=x"));
}

#[test]
fn the_site_is_rewritten_in_place_and_pages_of_vanished_senders_go() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let site = scratch.path("site");
    write_site(&scratch, &site);
    let before = files(&site);
    let gone = before
        .iter()
        .find(|f| f.ends_with("/203.0.113.200.html"))
        .expect("a spoofer's page")
        .clone();
    // Its reports go (a user deleted them); the next run removes its page and nothing else.
    scratch.rewrite("DELETE FROM records WHERE source_ip = '203.0.113.200';");
    write_site(&scratch, &site);
    let after = files(&site);
    assert!(!after.contains(&gone), "{gone} still there");
    let mut expected = before.clone();
    expected.remove(&gone);
    assert_eq!(after, expected);
    let index = read(&site.join("index.html"));
    let domain = read(
        &site
            .join(gone.split('/').next().unwrap())
            .join("index.html"),
    );
    assert!(!domain.contains("203.0.113.200.html") && !index.contains("203.0.113.200.html"));

    // A directory that is not a duckmarc site is not written into.
    let other = scratch.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let output = scratch.run(["html", "--site", other.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not a duckmarc site"),
        "{}",
        stderr(&output)
    );
    assert_eq!(files(&other), BTreeSet::from(["keep.txt".to_string()]));
}

/// A failure report about a domain with no aggregate report has no domain page: the index
/// lists it, and no domain page does.
#[test]
fn failure_reports_of_a_domain_without_a_page_are_on_the_index() {
    let scratch = Scratch::new();
    let arf = b"From: reports@receiver.example\r\nTo: ruf@example.com\r\n\
        Subject: DMARC failure report\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
        --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n\
        Auth-Failure: dmarc\r\nReported-Domain: other.example\r\nSource-IP: 198.51.100.23\r\n\
        Arrival-Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n\r\n--b--\r\n";
    let other = scratch.write("other.eml", arf);
    assert_success(&scratch.ingest(&[samples(), other]));
    let site = scratch.path("site");
    write_site(&scratch, &site);
    let index = read(&site.join("index.html"));
    let rows = table_rows(&index, "other-failure-samples");
    let domains: Vec<&str> = rows
        .iter()
        .flat_map(|row| row.iter())
        .filter(|(column, _)| column == "reported_domain")
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(domains, ["other.example"], "{rows:?}");
    for page in files(&site).iter().filter(|f| f.ends_with("/index.html")) {
        assert!(!read(&site.join(page)).contains("other.example"), "{page}");
    }
}

/// Each domain page lists its own newest failure samples: example.com's one sample, older
/// than fifty-five of example.org's, was on no page when the pages took theirs from the
/// newest fifty of all.
#[test]
fn a_domain_page_keeps_its_failure_samples_beside_a_busier_domain() {
    let scratch = Scratch::new();
    let mut inputs = vec![samples()];
    for n in 0..55 {
        let arf = format!(
            "From: reports@receiver.example\r\nTo: ruf@example.org\r\n\
             Subject: DMARC failure report\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
             --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n\
             Auth-Failure: dmarc\r\nReported-Domain: example.org\r\nSource-IP: 198.51.100.{n}\r\n\
             Arrival-Date: Wed, 26 Nov 2025 10:{n:02}:00 +0000\r\n\r\n--b--\r\n"
        );
        inputs.push(scratch.write(&format!("busy/{n}.eml"), arf.as_bytes()));
    }
    assert_success(&scratch.ingest(&inputs));
    let site = scratch.path("site");
    write_site(&scratch, &site);
    let sources_on = |domain: &str| -> Vec<String> {
        let page = read(&site.join(domain).join("index.html"));
        table_rows(&page, "failure-samples")
            .into_iter()
            .flatten()
            .filter(|(column, _)| column == "source_ip")
            .map(|(_, text)| text)
            .collect()
    };
    assert_eq!(sources_on("example.com"), ["203.0.113.200"]);
    let busy = sources_on("example.org");
    assert_eq!(busy.len(), 50, "{busy:?}");
    assert_eq!(busy[0], "198.51.100.54", "newest first: {busy:?}");
}

/// tests/site/crawl.js, with its node_modules (`npm ci --prefix tests/site`), or None after a
/// notice (a failure in CI).
fn crawler() -> Option<(PathBuf, PathBuf)> {
    let node = require_program(&["node", "nodejs"])?;
    let dir = repo().join("tests/site");
    if !dir.join("node_modules/puppeteer-core").is_dir()
        || !dir.join("node_modules/axe-core").is_dir()
    {
        skip_or_fail("tests/site has no node_modules: run npm ci --prefix tests/site");
        return None;
    }
    Some((node, dir.join("crawl.js")))
}

#[test]
fn a_crawl_in_chromium_reaches_every_page_and_finds_nothing_wrong() {
    let (Some(chrome), Some((node, crawl))) = (chrome(), crawler()) else {
        return;
    };
    let scratch = Scratch::new();
    let site = hostile_site(&scratch);
    let output = std::process::Command::new(node)
        .arg(crawl)
        .arg(&site)
        .arg(&chrome)
        .output()
        .expect("run node");
    assert!(output.status.success(), "crawl.js: {}", stderr(&output));
    let found: Value = serde_json::from_slice(&output.stdout).expect("crawl.js prints JSON");
    let list = |key: &str| -> BTreeSet<String> {
        found[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let pages = list("pages");
    let html: BTreeSet<String> = files(&site)
        .into_iter()
        .filter(|f| f.ends_with(".html"))
        .collect();
    assert_eq!(pages, html, "the crawl from index.html reaches every page");
    assert!(pages.len() > 5);
    for key in ["broken_links", "outside_requests", "errors"] {
        assert_eq!(found[key], Value::Array(vec![]), "{key}");
    }
    let empty_per_page = |key: &str| {
        let per_page = found[key].as_object().unwrap();
        let bad: Vec<(&String, &Value)> = per_page
            .iter()
            .filter(|(_, v)| !v.as_array().unwrap().is_empty())
            .collect();
        assert!(bad.is_empty(), "{key}: {bad:#?}");
    };
    empty_per_page("too_wide");
    empty_per_page("violations");
    // Long tables have a filter box, and it works.
    let filters: Vec<&Value> = found["filters"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|boxes| boxes.as_array().unwrap())
        .collect();
    assert!(!filters.is_empty(), "no page has a filter box");
    for filter in filters {
        assert!(filter["rows"].as_u64().unwrap() > 15, "{filter}");
        for works in ["hidden_all", "kept_first", "restored"] {
            assert_eq!(filter[works], true, "{filter}");
        }
    }
    // The period is in every page's title.
    let index = read(&site.join("index.html"));
    let period = index
        .split("<p class=\"sub\">")
        .nth(1)
        .unwrap()
        .split(" (UTC)")
        .next()
        .unwrap()
        .to_string();
    for (page, title) in found["titles"].as_object().unwrap() {
        assert!(
            title.as_str().unwrap().ends_with(&period),
            "{page}: {title}"
        );
    }
}

/// The crawler finds what it is there to find: a page with a broken link, a request to the
/// network, an element wider than a phone and text too faint to read.
#[test]
fn the_crawl_reports_broken_links_requests_width_and_contrast() {
    let (Some(chrome), Some((node, crawl))) = (chrome(), crawler()) else {
        return;
    };
    let scratch = Scratch::new();
    let site = scratch.path("bad");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<!DOCTYPE html><html lang=\"en\"><head><title>bad</title></head><body><main>\
         <h1>bad</h1><a href=\"missing.html\">gone</a><img src=\"http://192.0.2.1/x.png\" alt=\"x\">\
         <div style=\"width:900px\">wide</div><p style=\"color:#ccc\">faint</p></main></body></html>",
    )
    .unwrap();
    let output = std::process::Command::new(node)
        .arg(crawl)
        .arg(&site)
        .arg(&chrome)
        .output()
        .unwrap();
    assert!(output.status.success(), "crawl.js: {}", stderr(&output));
    let found: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        found["broken_links"].as_array().unwrap().len(),
        1,
        "{found}"
    );
    assert_eq!(
        found["outside_requests"].as_array().unwrap().len(),
        1,
        "{found}"
    );
    assert!(
        !found["too_wide"]["index.html"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{found}"
    );
    let violations = found["violations"]["index.html"].as_array().unwrap();
    assert!(
        violations.iter().any(|v| v["id"] == "color-contrast"),
        "{found}"
    );
}
