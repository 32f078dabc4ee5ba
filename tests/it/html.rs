//! `duckmarc html`: rendered in a real headless Chromium, and checked against the JSON reports.

use super::html_layout::long_tail_fortnight;
use crate::common::*;
use std::path::Path;
use std::process::Command;

pub(crate) fn write_page(scratch: &Scratch, args: &[&str]) -> String {
    let page = scratch.path("report.html");
    let output = scratch.run([&["html", "-o", page.to_str().unwrap()], args].concat());
    assert_success(&output);
    std::fs::read_to_string(page).unwrap()
}

/// Chromium, or None after a notice (a failure in CI).
pub(crate) fn chrome() -> Option<std::path::PathBuf> {
    require_program(&["chromium", "chromium-browser", "google-chrome"])
}

/// Headless Chromium with a fresh profile and no network chatter.
pub(crate) fn chromium(scratch: &Scratch, chrome: &Path, args: &[&str]) -> std::process::Output {
    let profile = scratch.path("chrome-profile");
    Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

/// The `<figure data-chart=NAME>` element's SVG.
pub(crate) fn chart<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("data-chart=\"{name}\""))
        .unwrap_or_else(|| panic!("no chart {name}"));
    let end = start + html[start..].find("</figure>").unwrap();
    &html[start..end]
}

/// Data marks (bars with an area, or point markers) drawn in `color`.
fn marks(svg: &str, color: &str) -> usize {
    let fill = format!("fill=\"{color}\"");
    let bars = svg
        .split("<rect")
        .skip(1)
        .filter(|r| r.contains(&fill))
        .filter(|r| attr(r, "width") > 0.0 && attr(r, "height") > 0.0)
        .count();
    let points = svg
        .split("<circle")
        .skip(1)
        .filter(|c| c.contains(&fill))
        .count();
    bars + points
}

fn attr(element: &str, name: &str) -> f64 {
    let key = format!(" {name}=\"");
    element
        .find(&key)
        .and_then(|i| element[i + key.len()..].split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

const PASS: &str = "#0072B2";
const FAIL: &str = "#D55E00";

#[test]
fn page_renders_in_chromium_with_every_chart_holding_data() {
    let Some(chrome) = chrome() else {
        return;
    };
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let html = write_page(&scratch, &[]);
    for external in ["<link", "<img", "src=", "@import", "url(", "<script src"] {
        assert!(
            !html.contains(external),
            "self-contained, but the page holds {external}"
        );
    }
    assert!(
        html.split("href=\"")
            .skip(1)
            .all(|link| link.starts_with('#')),
        "links stay within the page"
    );

    // Every chart holds data marks beyond its legend swatches (one per series).
    assert!(marks(chart(&html, "daily-volume"), PASS) > 1);
    assert!(marks(chart(&html, "daily-volume"), FAIL) > 1);
    assert!(marks(chart(&html, "daily-pass-rate"), PASS) > 0);
    assert!(
        marks(chart(&html, "top-sources"), PASS) > 1
            && marks(chart(&html, "top-sources"), FAIL) > 1
    );
    assert!(
        marks(chart(&html, "top-senders"), PASS) > 1
            && marks(chart(&html, "top-senders"), FAIL) > 1
    );
    let senders = chart(&html, "top-senders");
    // A sender is labelled with its class (a sender has a row per class); an unnamed
    // source is its own sender, by its address, never one "unknown" bar.
    assert!(senders.contains(", AS11377 ("), "{senders}");
    assert!(!senders.contains(">unknown"), "{senders}");
    assert!(
        marks(chart(&html, "alignment"), PASS) > 1 && marks(chart(&html, "alignment"), FAIL) > 1
    );
    assert!(
        marks(chart(&html, "dispositions"), FAIL) > 1,
        "the samples hold rejected mail"
    );

    let page = scratch.path("report.html");
    let url = format!("file://{}", page.display());
    let shot = scratch.path("shot.png");
    let output = chromium(
        &scratch,
        &chrome,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,4200",
            &url,
        ],
    );
    assert!(shot.exists(), "no screenshot: {}", stderr(&output));
    let (width, height, pixels) = decode_png(&shot);
    assert_eq!((width, height), (1000, 4200));
    let count = |rgb: [u8; 3]| pixels.chunks(4).filter(|p| p[..3] == rgb).count();
    let white = count([255, 255, 255]);
    assert!(white < pixels.len() / 4 * 97 / 100, "the page is not blank");
    assert!(
        count([0x00, 0x72, 0xB2]) > 2000,
        "pass-coloured data is painted"
    );
    assert!(
        count([0xD5, 0x5E, 0x00]) > 500,
        "fail-coloured data is painted"
    );

    // The DOM Chromium built holds the six charts and every table.
    let dom = chromium(&scratch, &chrome, &["--dump-dom", &url]);
    let dom = stdout(&dom);
    assert_eq!(dom.matches("data-chart=").count(), 6, "{dom:.500}");
    for table in ["sources", "failures", "failure-samples", "tls"] {
        assert!(dom.contains(&format!("data-table=\"{table}\"")), "{table}");
    }
}

pub(crate) fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    buffer.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buffer,
        png::ColorType::Rgb => buffer
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

/// (data-col, text) cells of every row of `<table data-table=NAME>`.
pub(crate) fn table_rows(html: &str, name: &str) -> Vec<Vec<(String, String)>> {
    let start = html
        .find(&format!("data-table=\"{name}\""))
        .expect("table present");
    let body = &html[start..start + html[start..].find("</table>").unwrap()];
    body.split("<tr>")
        .skip(2)
        .map(|row| {
            row.split("<td data-col=\"")
                .skip(1)
                .map(|cell| {
                    let (col, rest) = cell.split_once('"').unwrap();
                    let text = rest
                        .split_once('>')
                        .unwrap()
                        .1
                        .split("</td>")
                        .next()
                        .unwrap();
                    (col.to_string(), without_tags(text).replace(',', ""))
                })
                .collect()
        })
        .collect()
}

/// Text of a cell without the markup inside it (a domain's link).
pub(crate) fn without_tags(html: &str) -> String {
    let mut text = String::new();
    for (i, part) in html.split('<').enumerate() {
        text.push_str(if i == 0 {
            part
        } else {
            part.split_once('>').map_or("", |(_, t)| t)
        });
    }
    text
}

/// The text of every `<td data-col=COLUMN>` in `html`, in order.
fn column_cells(html: &str, column: &str) -> Vec<String> {
    html.split(&format!("<td data-col=\"{column}\""))
        .skip(1)
        .map(|cell| {
            without_tags(&cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()])
                .replace(',', "")
        })
        .collect()
}

pub(crate) fn cell<'a>(row: &'a [(String, String)], col: &str) -> &'a str {
    &row.iter().find(|(c, _)| c == col).unwrap().1
}

#[test]
fn page_numbers_equal_the_json_reports_for_the_same_filters() {
    let Some(corpus) = corpus() else { return };
    let scratch = Scratch::new();
    scratch.ingest(&[&corpus]);
    let filters = ["--domain", "example.com", "--since", "2018-01-01"];
    let html = write_page(&scratch, &filters);

    let sources = scratch.report_json(&[&["sources"], &filters[..]].concat());
    let rows = table_rows(&html, "sources");
    assert_eq!(rows.len(), sources.len().min(50));
    for (row, json) in rows.iter().zip(&sources) {
        assert_eq!(cell(row, "source_ip"), json["source_ip"].as_str().unwrap());
        assert_eq!(cell(row, "messages"), json["messages"].to_string());
        let pass = json["dmarc_pass_messages"].as_u64().unwrap_or(0);
        assert_eq!(cell(row, "dmarc_pass_messages"), pass.to_string());
        assert_eq!(cell(row, "diagnosis"), json["diagnosis"].as_str().unwrap());
        let sender = json["sender"]
            .as_str()
            .unwrap()
            .replace('&', "&amp;")
            .replace(',', "");
        assert_eq!(cell(row, "sender"), sender);
        assert_eq!(cell(row, "class"), json["class"].as_str().unwrap());
    }

    let failures = scratch.report_json(&[&["failures", "--limit", "100"], &filters[..]].concat());
    let rows = table_rows(&html, "failures");
    assert_eq!(rows.len(), failures.len());
    for (row, json) in rows.iter().zip(&failures) {
        assert_eq!(cell(row, "source_ip"), json["source_ip"].as_str().unwrap());
        assert_eq!(cell(row, "messages"), json["messages"].to_string());
    }

    let total: u64 = sources
        .iter()
        .map(|s| s["messages"].as_u64().unwrap())
        .sum();
    let metric = html
        .split("data-metric=\"messages\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(metric.replace(',', ""), total.to_string());
}

#[test]
fn tls_and_failure_sections_equal_their_reports() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let html = write_page(&scratch, &[]);
    let tls = scratch.report_json(&["tls"]);
    let rows = table_rows(&html, "tls");
    assert_eq!(rows.len(), tls.len());
    assert_eq!(rows.len(), 3);
    for (row, json) in rows.iter().zip(&tls) {
        assert_eq!(
            cell(row, "policy_domain"),
            json["policy_domain"].as_str().unwrap()
        );
        for column in ["successful_sessions", "failed_sessions"] {
            assert_eq!(cell(row, column), json[column].to_string(), "{column}");
        }
    }
    let samples = scratch.report_json(&["failure-samples"]);
    let rows = table_rows(&html, "failure-samples");
    assert_eq!(rows.len(), 2);
    for (row, json) in rows.iter().zip(&samples) {
        assert_eq!(cell(row, "source_ip"), json["source_ip"].as_str().unwrap());
        // maud escapes what has a meaning in text and double-quoted attributes: not `'`.
        assert_eq!(cell(row, "subject"), json["subject"].as_str().unwrap());
        assert_eq!(
            cell(row, "source_messages"),
            json["source_messages"].to_string()
        );
    }
}

/// More TLS domains than the page lists: it says so, and where the rest are. A database of
/// TLS reports alone is not called empty.
#[test]
fn more_tls_domains_than_listed_are_pointed_to() {
    let scratch = Scratch::new();
    let policies: Vec<String> = (1..=51)
        .map(|i| {
            format!(
                r#"{{"policy":{{"policy-type":"sts","policy-domain":"d{i}.example"}},"summary":{{"total-successful-session-count":{i},"total-failure-session-count":0}}}}"#
            )
        })
        .collect();
    let report = format!(
        r#"{{"organization-name":"Example Receiver","date-range":{{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"}},"report-id":"many","policies":[{}]}}"#,
        policies.join(",")
    );
    assert_success(&scratch.ingest(&[scratch.write("many.json", report.as_bytes())]));
    let html = write_page(&scratch, &[]);
    assert_eq!(table_rows(&html, "tls").len(), 50);
    assert!(html.contains("More domains than the 50 listed"), "{html}");
    assert!(html.contains("No DMARC aggregate reports match: none are stored yet"));
}

#[test]
fn empty_database_and_empty_filter_say_so() {
    let scratch = Scratch::new();
    // A first cron run over an empty drop directory leaves an empty database, whose page
    // says so (it was "no database yet", exit 1, every hour until a report came).
    let drop = scratch.path("drop");
    std::fs::create_dir_all(&drop).unwrap();
    assert_success(&scratch.ingest(&[&drop]));
    let html = write_page(&scratch, &[]);
    assert!(html.contains("data-empty=\"true\""));
    // No period where there is none (it read "all reports ·  to  (UTC)").
    assert!(html.contains("<p class=\"sub\">all reports</p>"), "{html}");
    scratch.ingest(&[&samples().join("failure-report.eml")]);
    let html = write_page(&scratch, &[]);
    assert!(
        html.contains("data-empty=\"true\"") && html.contains("No DMARC aggregate reports match")
    );
    // The failure report is shown even without aggregate data; there is no TLS report.
    assert_eq!(table_rows(&html, "failure-samples").len(), 1);
    assert!(html.contains("No SMTP TLS reports"));
    scratch.ingest(&[&samples()]);
    let html = write_page(&scratch, &["--domain", "nothing.example"]);
    assert!(
        html.contains("domain nothing.example"),
        "the filter is named"
    );
    assert!(html.contains("data-empty=\"true\""));
    assert!(!write_page(&scratch, &[]).contains("data-empty"));
}

#[test]
fn ten_thousand_sources_stay_readable() {
    let scratch = Scratch::new();
    let xml = crate::common::reports::report_xml("big", 1, 1);
    let records: String = (0..10_000)
        .map(|i| {
            format!(
                "<record><row><source_ip>10.{}.{}.{}</source_ip><count>{}</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>fail</dkim><spf>pass</spf></policy_evaluated></row>\
                 <identifiers><header_from>example.com</header_from></identifiers></record>",
                i / 65536, (i / 256) % 256, i % 256, 1 + i % 7
            )
        })
        .collect();
    let big = xml.replacen("<record>", &format!("{records}<record>"), 1);
    scratch.write("big.xml", big.as_bytes());
    assert_success(&scratch.ingest(&[&scratch.path("big.xml")]));
    let html = write_page(&scratch, &[]);
    let rest = html
        .split("data-rest=\"top-sources\">")
        .nth(1)
        .expect("the rest in words");
    assert!(rest.starts_with("9,991 other sources: "), "{rest:.80}");
    // The top bars keep their own scale: the biggest spans most of the plot.
    let svg = chart(&html, "top-sources");
    let widest = svg
        .split("<rect")
        .skip(1)
        .filter(|r| r.contains(&format!("fill=\"{PASS}\"")))
        .map(|r| attr(r, "width"))
        .fold(0.0, f64::max);
    assert!(widest > 400.0, "the biggest bar is {widest} px wide");
    assert!(!svg.contains("others"), "no bar for the rest");
    assert!(html.contains("9951 more sources not listed"));
    assert_eq!(table_rows(&html, "sources").len(), 50);
    assert!(html.len() < 1_000_000, "page size {}", html.len());
}

#[test]
fn the_page_starts_with_each_domains_status_worst_first() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let html = write_page(&scratch, &[]);
    let status = html.find("data-table=\"status\"").expect("a status table");
    assert!(
        status < html.find("data-chart=").unwrap(),
        "status before any chart"
    );
    let rows = table_rows(&html, "status");
    let readiness = scratch.report_json(&["readiness"]);
    assert_eq!(rows.len(), readiness.len());
    let shown: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| (cell(row, "domain"), cell(row, "verdict")))
        .collect();
    // example.com is not ready without a list of authorised senders; example.org is at
    // p=reject already (enforced), so it comes after.
    assert_eq!(
        shown,
        [("example.com", "not_ready"), ("example.org", "enforced")]
    );
    for row in &rows {
        let json = readiness
            .iter()
            .find(|r| r["domain"] == cell(row, "domain"))
            .unwrap();
        assert_eq!(
            cell(row, "unauthorised_senders"),
            json["unauthorised_senders"].to_string()
        );
    }
}

#[test]
fn status_then_senders_of_each_domain_with_their_ips() {
    let scratch = Scratch::new();
    long_tail_fortnight(&scratch);
    // An ESP sending from seven addresses of its network (SendGrid's AS11377, which names
    // them without DNS), weeks before the fortnight (so the trend is not touched): a sender
    // with more sources than are shown.
    let esp: Vec<String> = (101..=107).map(|i| format!("167.89.100.{i}")).collect();
    let rows: Vec<reports::Row> = esp
        .iter()
        .map(|ip| reports::Row {
            ip,
            count: 3000,
            dkim: "pass",
            spf: "pass",
            from: "example.com",
            dkim_domain: "example.com",
            spf_domain: "sendgrid.net",
            reason: None,
            selector: None,
        })
        .collect();
    let xml = reports::dmarc_report("esp.example", "esp-1", 1_759_276_800, "<p>none</p>", &rows);
    scratch.write("long-tail/esp.xml", xml.as_bytes());
    assert_success(&scratch.ingest(&[&scratch.path("long-tail/esp.xml")]));
    assert_success(&scratch.ingest(&[&samples()]));
    let html = write_page(&scratch, &[]);
    let readiness = scratch.report_json(&["readiness"]);
    let status = table_rows(&html, "status");
    let example = status
        .iter()
        .find(|r| cell(r, "domain") == "example.com")
        .unwrap();
    let json = readiness
        .iter()
        .find(|r| r["domain"] == "example.com")
        .unwrap();
    // The third-biggest source failing in the second week: the trend is down, in points.
    let trend = json["dmarc_pass_rate_trend"].as_f64().unwrap();
    assert!(trend < -0.05, "{json}");
    assert_eq!(
        cell(example, "dmarc_pass_rate_trend"),
        format!("▼ {:.1} pts", trend * 100.0)
    );
    assert_eq!(
        cell(example, "unauthorised_senders"),
        json["unauthorised_senders"].to_string()
    );
    assert!(
        json["unauthorised_senders"].as_u64().unwrap() > 1500,
        "each unnamed failing source counts"
    );
    assert_eq!(
        cell(example, "tls_failed_sessions"),
        json["tls_failed_sessions"].to_string()
    );
    assert!(html.contains("<a href=\"#domain-example.com\">example.com</a>"));

    // A section per domain, in the status table's order, each with its senders by name and
    // class and, beneath each, its biggest source IPs.
    let order: Vec<usize> = ["example.com", "example.org"]
        .iter()
        .map(|d| {
            html.find(&format!("<section id=\"domain-{d}\""))
                .expect("a section per domain")
        })
        .collect();
    let status_order: Vec<usize> = ["example.com", "example.org"]
        .iter()
        .map(|d| html.find(&format!("#domain-{d}\"")).unwrap())
        .collect();
    assert_eq!(order[0] < order[1], status_order[0] < status_order[1]);
    let section = &html[order[0]..];
    let section = &section[..section.find("</section>").unwrap()];
    let senders = scratch.report_json(&["senders", "--domain", "example.com"]);
    let names = column_cells(section, "sender");
    assert_eq!(names.len(), senders.len().min(10));
    let messages = column_cells(section, "sender_messages");
    let classes = column_cells(section, "sender_class");
    for (i, json) in senders.iter().take(10).enumerate() {
        assert_eq!(
            names[i],
            json["sender"]
                .as_str()
                .unwrap()
                .replace('&', "&amp;")
                .replace(',', "")
        );
        assert_eq!(messages[i], json["messages"].to_string());
        assert_eq!(classes[i], json["class"].as_str().unwrap());
    }
    let ips = column_cells(section, "source_ip");
    assert!(
        ips.contains(&"198.51.100.1".to_string()),
        "IP detail beneath: {ips:?}"
    );
    assert!(
        section.contains("biggest 5 of its "),
        "a sender with more sources says so"
    );
}
