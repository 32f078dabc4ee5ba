//! `duckmarc html` laid out in a real headless Chromium: charts that read at desktop and
//! phone widths with a long tail of sources, dark mode and A4 print.

use super::html::{chart, chrome, chromium, decode_png, write_page};
use crate::common::*;
use std::path::Path;

/// Two weeks of reports about example.com: ten big sources (1,000 down to 100 messages a day)
/// and a long tail of 1,500 small ones (3 messages each, 4,500 in all: more than the biggest
/// source). The second week the third-biggest source starts failing, so the pass rate falls.
pub(crate) fn long_tail_fortnight(scratch: &Scratch) {
    const DAY: u64 = 86_400;
    let first_day = 1_763_942_400; // 2025-11-24
    let big: Vec<String> = (1..=10).map(|i| format!("198.51.100.{i}")).collect();
    let tail: Vec<String> = (0..1500)
        .map(|i| format!("10.7.{}.{}", i / 250, i % 250 + 1))
        .collect();
    for day in 0..14 {
        let mut rows = Vec::new();
        for (i, ip) in big.iter().enumerate() {
            let failing = i == 2 && day >= 7;
            let verdict = if failing { "fail" } else { "pass" };
            rows.push(reports::Row {
                ip,
                count: 1000 - 100 * i as u64,
                dkim: verdict,
                spf: verdict,
                from: "example.com",
                dkim_domain: "example.com",
                spf_domain: "example.com",
                reason: None,
                selector: None,
            });
        }
        rows.extend(tail.iter().map(|ip| reports::Row {
            ip,
            count: 3,
            dkim: "fail",
            spf: "fail",
            from: "example.com",
            dkim_domain: "spoofer.example",
            spf_domain: "spoofer.example",
            reason: None,
            selector: None,
        }));
        let begin = first_day + day * DAY;
        let xml = reports::dmarc_report(
            "receiver.example",
            &format!("d{day}"),
            begin,
            "<p>none</p>",
            &rows,
        );
        scratch.write(&format!("tail/day{day}.xml"), xml.as_bytes());
    }
    assert_success(&scratch.ingest(&[&scratch.path("tail")]));
}

/// What tests/it/page_checks.js measured of `page` laid out `width` CSS pixels wide. Chromium's
/// window is never narrower than 500 pixels, so the page is shown in an iframe of that width;
/// `extra` adds Chromium flags (`--force-dark-mode`). Also takes a screenshot of the window.
fn measure(
    scratch: &Scratch,
    chrome: &Path,
    page: &str,
    width: u32,
    extra: &[&str],
) -> serde_json::Value {
    let script = include_str!("page_checks.js");
    let checked = page.replace("</body>", &format!("<script>{script}</script></body>"));
    let srcdoc = checked.replace('&', "&amp;").replace('"', "&quot;");
    let height = 9000;
    let wrapper = format!(
        "<!DOCTYPE html><html><body style=\"margin:0\"><iframe style=\"border:0;width:{width}px;\
         height:{height}px\" srcdoc=\"{srcdoc}\"></iframe></body></html>"
    );
    let name = format!("wrapper-{width}.html");
    let url = format!(
        "file://{}",
        scratch.write(&name, wrapper.as_bytes()).display()
    );
    let window = format!("--window-size={},{height}", width.max(500));
    let shot = scratch.path(&format!("shot-{width}.png"));
    let screenshot = format!("--screenshot={}", shot.display());
    let output = chromium(
        scratch,
        chrome,
        &[&[window.as_str(), &screenshot, &url], extra].concat(),
    );
    assert!(shot.exists(), "no screenshot: {}", stderr(&output));
    let output = chromium(
        scratch,
        chrome,
        &[&[window.as_str(), "--dump-dom", &url], extra].concat(),
    );
    let dom = stdout(&output);
    let json = dom
        .split("<pre id=\"checks\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the checks did not run: {}", stderr(&output)));
    let json = json
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).expect("checks are JSON")
}

#[test]
fn charts_read_at_desktop_and_phone_widths_in_chromium() {
    let Some(chrome) = chrome() else {
        return;
    };
    let scratch = Scratch::new();
    long_tail_fortnight(&scratch);
    let html = write_page(&scratch, &[]);
    let sources = scratch.report_json(&["sources", "--limit", "10"]);
    let messages: Vec<f64> = sources
        .iter()
        .map(|s| s["messages"].as_f64().unwrap())
        .collect();
    assert_eq!(
        messages[0], 14_000.0,
        "the biggest source is a big one: {sources:?}"
    );
    assert!(
        html.contains("1,500 other sources: 63,000 messages"),
        "the tail in words"
    );

    for width in [1280, 390] {
        let page = measure(&scratch, &chrome, &html, width, &[]);
        assert_eq!(page["width"], width, "{page}");
        assert_eq!(page["scroll_width"], width, "nothing wider than the screen");
        assert_eq!(
            page["outside"],
            serde_json::json!([]),
            "elements outside the viewport"
        );
        assert_eq!(
            page["broken_words"],
            serde_json::json!([]),
            "words broken inside table cells at {width}"
        );
        for (name, chart) in page["charts"].as_object().unwrap() {
            assert_eq!(
                chart["overlapping"],
                serde_json::json!([]),
                "{name} at {width}: text overlaps"
            );
            let right = chart["right"].as_f64().unwrap();
            assert!(
                chart["left"].as_f64().unwrap() >= 0.0 && right <= width as f64,
                "{name} fits"
            );
            let smallest = chart["smallest_text"].as_f64().unwrap();
            assert!(
                smallest >= 10.0,
                "{name} at {width}: text {smallest} px high"
            );
            assert!(chart["title"].is_string() && chart["desc"].as_str().unwrap().len() > 20);
            if !name.starts_with("daily") {
                assert_eq!(
                    chart["swatches_in_plot"], 0,
                    "{name} at {width}: the legend is beneath the bars, not over them"
                );
            }
        }
        // The top bars on their own scale: the biggest spans most of the plot, each other
        // bar its share of it, the smallest (a tenth of the biggest) still a visible bar.
        let top = &page["charts"]["top-sources"];
        let plot = top["plot_width"].as_f64().unwrap();
        let bars: Vec<f64> = top["bar_widths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect();
        assert_eq!(bars.len(), 10, "{top}");
        assert!(
            bars[0] >= 0.8 * plot,
            "biggest bar {} of {plot} px at {width}",
            bars[0]
        );
        for (bar, value) in bars.iter().zip(&messages) {
            let (drawn, data) = (bar / bars[0], value / messages[0]);
            assert!(
                (drawn - data).abs() < 0.03,
                "bar drawn at {drawn} of the biggest, data {data}"
            );
            assert!(
                bar / plot >= data * 0.8,
                "at {width}: bar {bar} of {plot} px for share {data}"
            );
        }
        let (png_width, _, pixels) = decode_png(&scratch.path(&format!("shot-{width}.png")));
        let painted = |rgb: [u8; 3]| {
            pixels
                .chunks(4)
                .enumerate()
                .filter(|(i, p)| (*i as u32 % png_width) < width && p[..3] == rgb)
                .count()
        };
        assert!(
            painted([0x00, 0x72, 0xB2]) > 1000,
            "pass bars painted at {width}"
        );
        assert!(
            painted([0xD5, 0x5E, 0x00]) > 200,
            "fail bars painted at {width}"
        );
    }
    // Sparse grid lines: a handful per chart, not one per tick.
    let grid = chart(&html, "top-sources")
        .matches("stroke=\"#E4E4E4\"")
        .count();
    assert!(
        (1..=2 * 7).contains(&grid),
        "{grid} grid lines in the two top-sources charts"
    );
}

#[test]
fn dark_mode_and_a4_print() {
    let Some(chrome) = chrome() else {
        return;
    };
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let html = write_page(&scratch, &[]);
    let light = measure(&scratch, &chrome, &html, 1280, &[]);
    assert_eq!(
        (light["dark"].as_bool(), light["background"].as_str()),
        (Some(false), Some("rgba(0, 0, 0, 0)"))
    );
    let dark = measure(&scratch, &chrome, &html, 1280, &["--force-dark-mode"]);
    assert_eq!(
        (dark["dark"].as_bool(), dark["background"].as_str()),
        (Some(true), Some("rgb(22, 24, 28)"))
    );

    let pdf = scratch.path("page.pdf");
    let url = format!("file://{}", scratch.path("report.html").display());
    let print = format!("--print-to-pdf={}", pdf.display());
    let output = chromium(&scratch, &chrome, &["--no-pdf-header-footer", &print, &url]);
    let pdf = std::fs::read(&pdf).unwrap_or_else(|_| panic!("no PDF: {}", stderr(&output)));
    let text = String::from_utf8_lossy(&pdf);
    let pages: Vec<&str> = text
        .split("/MediaBox [")
        .skip(1)
        .map(|b| b.split(']').next().unwrap())
        .collect();
    assert!(
        pages.len() >= 2,
        "a page of this size prints on several sheets: {}",
        pages.len()
    );
    for page in pages {
        let size: Vec<f64> = page
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        // A4 is 595 x 842 points.
        assert!(
            (size[2] - 595.0).abs() < 2.0 && (size[3] - 842.0).abs() < 2.0,
            "{size:?}"
        );
    }
}
