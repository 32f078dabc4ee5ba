//! One self-contained HTML page: inline CSS and SVG, nothing from the network. It reads fully
//! without scripts; one inline line opens the details for printing.
//!
//! Every number cell carries `data-col`, and every headline figure `data-metric`, so the page
//! can be checked against `duckmarc report ... --format json` by machine as well as by eye.
//! The page begins with each domain's status, then the senders of each domain by name, then
//! the charts (each with its numbers beneath) and the tables.

use super::cell_text;
use super::charts::{self, escape, Bar, Day, FAIL, GREEN, GREY, ORANGE, PASS, SKY};
use super::html_senders::domain_senders_section;
use super::html_table::{display, field, number, percent, table};
use crate::views::reports::{Dashboard, Periods, DASHBOARD_CHANGES};
use crate::views::table::Table;
use anyhow::Result;
use std::fmt::Write;

/// Sources and senders drawn as bars before the rest is summed up as "others".
const TOP_CHART: usize = 10;

const STYLE: &str = include_str!("page.css");

/// Details (the IP rows beneath each sender) open for printing, so paper shows everything.
/// The page reads fully without it.
const PRINT_SCRIPT: &str = "addEventListener('beforeprint', () => \
    document.querySelectorAll('details').forEach(d => d.open = true));";

/// The whole page. `scope` describes the filters ("all data", "domain example.com").
pub fn page(dashboard: &Dashboard, scope: &str) -> Result<String> {
    let mut html = String::new();
    let messages = number(&dashboard.overview, "messages").unwrap_or(0);
    writeln!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>DMARC report: {}</title><style>{STYLE}</style></head><body>",
        escape(scope)
    )?;
    writeln!(html, "<h1>DMARC aggregate report</h1>")?;
    writeln!(
        html,
        "<p class=\"sub\">{}</p>",
        escape(&period(dashboard, scope))
    )?;
    if messages == 0 {
        writeln!(
            html,
            "<p class=\"empty\" data-empty=\"true\">No DMARC reports match: the database is empty \
             or the filter ({}) selects nothing. Ingest reports with <code>duckmarc ingest</code>.</p>",
            escape(scope)
        )?;
    } else {
        status_section(&mut html, &dashboard.status)?;
        dns_findings_section(&mut html, &dashboard.dns_findings)?;
        changes_section(&mut html, &dashboard.changes)?;
        overview(&mut html, &dashboard.overview)?;
        domain_senders_section(&mut html, &dashboard.status, &dashboard.domain_senders)?;
        charts_section(&mut html, dashboard)?;
        sources_section(&mut html, &dashboard.sources, &dashboard.overview)?;
        failures_section(&mut html, &dashboard.failures)?;
    }
    failure_samples_section(&mut html, &dashboard.failure_samples)?;
    tls_section(&mut html, &dashboard.tls)?;
    writeln!(
        html,
        "<p class=\"note\">Made by duckmarc {}. Totals use the receivers' own verdicts \
         (policy_evaluated), weighted by message count; the diagnosis is duckmarc's reading of \
         the authentication results. Sender names: parsedmarc's map; IP address data © \
         IPinfo (ipinfo.io), CC BY-SA 4.0, unless another IP database was given.</p>\
         <script>{PRINT_SCRIPT}</script></body></html>",
        env!("CARGO_PKG_VERSION")
    )?;
    Ok(html)
}

fn period(dashboard: &Dashboard, scope: &str) -> String {
    let text = |col| {
        dashboard
            .overview
            .column(col)
            .and_then(|i| dashboard.overview.rows.first().map(|r| cell_text(&r[i])))
            .unwrap_or_default()
    };
    format!(
        "{scope} · {} to {} (UTC)",
        text("first_day"),
        text("last_day")
    )
}

fn overview(html: &mut String, overview: &Table) -> Result<()> {
    let cards = [
        ("messages", "Messages", false),
        ("dmarc_pass_rate", "DMARC pass rate", true),
        ("dkim_aligned_rate", "DKIM aligned", true),
        ("spf_aligned_rate", "SPF aligned", true),
        ("sources", "Source IPs", false),
        ("domains", "Domains", false),
        ("reporters", "Reporters", false),
        ("reports", "Reports", false),
    ];
    writeln!(html, "<dl class=\"cards\">")?;
    for (column, title, is_rate) in cards {
        let value = field(overview, 0, column);
        let shown = if is_rate {
            percent(&value)
        } else {
            display(&value)
        };
        writeln!(
            html,
            "<div><dt>{title}</dt><dd data-metric=\"{column}\">{shown}</dd></div>"
        )?;
    }
    writeln!(html, "</dl>")?;
    Ok(())
}

fn charts_section(html: &mut String, dashboard: &Dashboard) -> Result<()> {
    let days: Vec<Day> = (0..dashboard.daily.rows.len())
        .map(|row| Day {
            label: cell_text(&field(&dashboard.daily, row, "day")),
            pass: field(&dashboard.daily, row, "dmarc_pass_messages")
                .as_u64()
                .unwrap_or(0),
            fail: field(&dashboard.daily, row, "dmarc_fail_messages")
                .as_u64()
                .unwrap_or(0),
        })
        .collect();
    let title = "Messages per day (UTC, days with reports)";
    figure(html, "daily-volume", title, |shape| {
        charts::daily_volume(shape, title, &days)
    })?;
    let title = "DMARC pass rate per day (UTC, days with reports)";
    figure(html, "daily-pass-rate", title, |shape| {
        charts::daily_pass_rate(shape, title, &days)
    })?;
    let rows = days.iter().map(|d| {
        let rate = d.pass as f64 * 100.0 / (d.pass + d.fail).max(1) as f64;
        vec![
            d.label.clone(),
            charts::thousands(d.pass),
            charts::thousands(d.fail),
            format!("{rate:.1}%"),
        ]
    });
    numbers(
        html,
        &["day", "DMARC pass", "DMARC fail", "pass rate"],
        rows,
    )?;

    let others = number(&dashboard.overview, "sources")
        .unwrap_or(0)
        .saturating_sub(dashboard.sources.rows.len().min(TOP_CHART) as u64);
    let others = format!("{} other sources", charts::thousands(others));
    let sources = TopChart {
        name: "top-sources",
        what: ["source IP", "source IPs"],
        label_column: "source_ip",
        detail_column: None,
        others: &others,
    };
    sources.draw(html, &dashboard.sources, &dashboard.overview)?;
    let senders = TopChart {
        name: "top-senders",
        what: ["sender", "senders"],
        label_column: "sender",
        detail_column: Some("class"),
        others: "other senders",
    };
    senders.draw(html, &dashboard.senders, &dashboard.overview)?;

    let o = &dashboard.overview;
    let n = |column: &str| number(o, column).unwrap_or(0);
    let alignment = [
        ("DKIM and SPF", "both_aligned_messages", PASS),
        ("DKIM only", "dkim_only_messages", SKY),
        ("SPF only", "spf_only_messages", GREEN),
        ("neither", "neither_aligned_messages", FAIL),
    ];
    breakdown(
        html,
        "alignment",
        "Alignment (policy_evaluated)",
        &alignment,
        &n,
    )?;
    let dispositions = [
        ("none", "disposition_none", SKY),
        ("quarantine", "disposition_quarantine", ORANGE),
        ("reject", "disposition_reject", FAIL),
        ("other", "disposition_other", GREY),
    ];
    let title = "What receivers did (disposition)";
    breakdown(html, "dispositions", title, &dispositions, &n)
}

/// One bar per category, each in its own colour, with the numbers beneath.
fn breakdown(
    html: &mut String,
    name: &str,
    title: &str,
    categories: &[(&str, &str, plotters::style::RGBColor)],
    value: &impl Fn(&str) -> u64,
) -> Result<()> {
    let bars: Vec<Bar> = categories
        .iter()
        .enumerate()
        .map(|(i, (label, column, _))| {
            let mut parts = vec![0; categories.len()];
            parts[i] = value(column);
            Bar {
                label: format!("{label}: {}", charts::thousands(parts[i])),
                parts,
            }
        })
        .collect();
    let series: Vec<(&str, plotters::style::RGBColor)> =
        categories.iter().map(|(l, _, c)| (*l, *c)).collect();
    figure(html, name, title, |shape| {
        charts::stacked_bars(shape, title, "messages", &bars, &series)
    })?;
    let rows = categories
        .iter()
        .map(|(label, column, _)| vec![label.to_string(), charts::thousands(value(column))]);
    numbers(html, &["", "messages"], rows)
}

/// A chart of the biggest sources or senders by volume, split into pass and fail.
struct TopChart<'a> {
    name: &'a str,
    /// What a bar is, one and several (`source IP`, `source IPs`): for the title.
    what: [&'a str; 2],
    label_column: &'a str,
    /// A column shown beside the label in brackets: a sender's class, since a sender whose
    /// mail falls in two classes has two rows (queries/senders.sql).
    detail_column: Option<&'a str>,
    /// What the rest is called, in the line beneath the chart.
    others: &'a str,
}

impl TopChart<'_> {
    /// "Top 10 senders by volume", "Top sender by volume".
    fn title(&self, bars: usize) -> String {
        match bars {
            1 => format!("Top {} by volume", self.what[0]),
            n => format!("Top {n} {} by volume", self.what[1]),
        }
    }

    /// The top bars on their own scale; the rest, however big, is said in words beneath, so
    /// a long tail of small sources never squashes the bars that matter.
    fn draw(&self, html: &mut String, table: &Table, overview: &Table) -> Result<()> {
        let bars = top_bars(table, self.label_column, self.detail_column);
        let title = self.title(bars.len());
        let series = [("DMARC pass", PASS), ("DMARC fail", FAIL)];
        figure(html, self.name, &title, |shape| {
            charts::stacked_bars(shape, &title, "messages", &bars, &series)
        })?;
        let rows = bars.iter().map(|bar| {
            let [pass, fail] = [bar.parts[0], bar.parts[1]];
            vec![
                bar.label.clone(),
                charts::thousands(pass + fail),
                charts::thousands(pass),
                charts::thousands(fail),
            ]
        });
        numbers(html, &["", "messages", "DMARC pass", "DMARC fail"], rows)?;
        let (all_pass, all_fail) = pass_fail(overview, 0);
        let (shown_pass, shown_fail) = bars
            .iter()
            .fold((0, 0), |(p, f), bar| (p + bar.parts[0], f + bar.parts[1]));
        let rest_pass = all_pass.saturating_sub(shown_pass);
        let rest = rest_pass + all_fail.saturating_sub(shown_fail);
        if rest > 0 {
            writeln!(
                html,
                "<p class=\"note\" data-rest=\"{}\">{}: {} messages, {:.1}% passing DMARC \
                 (not drawn, so the bars above keep their scale).</p>",
                self.name,
                escape(self.others),
                charts::thousands(rest),
                rest_pass as f64 * 100.0 / rest as f64
            )?;
        }
        Ok(())
    }
}

/// Messages passing and failing DMARC in one row of a table.
fn pass_fail(table: &Table, row: usize) -> (u64, u64) {
    let total = field(table, row, "messages").as_u64().unwrap_or(0);
    let pass = field(table, row, "dmarc_pass_messages")
        .as_u64()
        .unwrap_or(0);
    (pass, total - pass.min(total))
}

/// The biggest rows of `table` (sources, senders) as pass/fail bars.
fn top_bars(table: &Table, label_column: &str, detail_column: Option<&str>) -> Vec<Bar> {
    (0..table.rows.len().min(TOP_CHART))
        .map(|row| {
            let (pass, fail) = pass_fail(table, row);
            let label = cell_text(&field(table, row, label_column));
            let label = match detail_column {
                Some(column) => format!("{label} ({})", cell_text(&field(table, row, column))),
                None => label,
            };
            Bar {
                label,
                parts: vec![pass, fail],
            }
        })
        .collect()
}

/// A chart under its title, drawn for a wide screen and for a phone (CSS shows one); each SVG
/// carries the same title and a description of its data.
fn figure(
    html: &mut String,
    name: &str,
    title: &str,
    draw: impl Fn(charts::Shape) -> Result<String>,
) -> Result<()> {
    write!(
        html,
        "<figure data-chart=\"{name}\"><figcaption>{}</figcaption>",
        escape(title)
    )?;
    for shape in [charts::WIDE, charts::NARROW] {
        write!(html, "<div class=\"{}\">{}</div>", shape.name, draw(shape)?)?;
    }
    writeln!(html, "</figure>")?;
    Ok(())
}

/// A chart's numbers as a table, folded beneath it: the text alternative a reader can copy.
fn numbers(
    html: &mut String,
    headers: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<()> {
    write!(
        html,
        "<details class=\"numbers\"><summary>The numbers</summary><table><thead><tr>"
    )?;
    for header in headers {
        write!(html, "<th>{}</th>", escape(header))?;
    }
    write!(html, "</tr></thead><tbody>")?;
    for row in rows {
        write!(html, "<tr>")?;
        for (header, value) in headers.iter().zip(row) {
            let class = if header.is_empty() || *header == "day" {
                ""
            } else {
                " class=\"n\""
            };
            write!(
                html,
                "<td data-label=\"{}\"{class}>{}</td>",
                escape(header),
                escape(&value)
            )?;
        }
        write!(html, "</tr>")?;
    }
    writeln!(html, "</tbody></table></details>")?;
    Ok(())
}

fn sources_section(html: &mut String, sources: &Table, overview: &Table) -> Result<()> {
    writeln!(html, "<h2>Sources</h2>")?;
    let columns = [
        "source_ip",
        "sender",
        "country",
        "messages",
        "dmarc_pass_messages",
        "dmarc_pass_rate",
        "dkim_aligned_rate",
        "spf_aligned_rate",
        "diagnosis",
        "class",
        "header_from",
        "reporters",
    ];
    table(html, "sources", sources, &columns)?;
    let unlisted = number(overview, "sources")
        .unwrap_or(0)
        .saturating_sub(sources.rows.len() as u64);
    if unlisted > 0 {
        writeln!(
            html,
            "<p class=\"note\">{unlisted} more sources not listed: <code>duckmarc report \
             sources --format csv</code> has them all.</p>"
        )?;
    }
    Ok(())
}

fn failures_section(html: &mut String, failures: &Table) -> Result<()> {
    writeln!(html, "<h2>Top failing records</h2>")?;
    if failures.rows.is_empty() {
        writeln!(
            html,
            "<p>No failing records: every message passed DMARC.</p>"
        )?;
        return Ok(());
    }
    let columns = [
        "day",
        "reporter",
        "source_ip",
        "messages",
        "header_from",
        "dkim_results",
        "spf_results",
        "disposition",
        "diagnosis",
    ];
    table(html, "failures", failures, &columns)
}

/// One line per policy domain, worst first: what needs attention before any chart. Each
/// domain links to its section of senders below.
fn status_section(html: &mut String, status: &Table) -> Result<()> {
    writeln!(html, "<h2>Status by domain</h2>")?;
    let columns = [
        "domain",
        "verdict",
        "policy",
        "dmarc_pass_rate",
        "dmarc_pass_rate_trend",
        "unauthorised_senders",
        "authorised_failing_senders",
        "reject_blocks_authorised",
        "tls_failed_sessions",
        "dns_errors",
        "next_step",
    ];
    table(html, "status", status, &columns)?;
    writeln!(
        html,
        "<p class=\"note\">trend: the pass rate of the last 7 days against the 7 days before, \
         in percentage points. verdict: enforced (p=reject in force), ready, or not ready \
         (p=reject would block your own mail, or duckmarc cannot tell without your list of \
         senders). unauthorised senders: those failing DMARC that are not yours \
         (spoofing, or senders you have not listed as [[authorised]] in the config); reject \
         blocks authorised: messages of your own senders that p=reject would block; TLS \
         failed sessions: from SMTP TLS reports (– when none came); DNS errors: found by the \
         latest <code>duckmarc check</code> (– before one ran). <code>duckmarc report \
         readiness</code> has every column.</p>"
    )?;
    Ok(())
}

/// The errors and warnings of the latest `duckmarc check`; the status table's DNS error
/// counts link here.
fn dns_findings_section(html: &mut String, findings: &Table) -> Result<()> {
    if findings.rows.is_empty() {
        return Ok(());
    }
    writeln!(html, "<h2 id=\"dns-findings\">DNS findings</h2>")?;
    let columns = ["domain", "record", "severity", "code", "message", "fix"];
    table(html, "dns-findings", findings, &columns)?;
    writeln!(
        html,
        "<p class=\"note\">From the latest <code>duckmarc check</code>; it lists the \
         information findings too.</p>"
    )?;
    Ok(())
}

/// Senders seen in both periods are shown when their pass rate moved by this much or more.
const NOTABLE_RATE_CHANGE: f64 = 0.05;

/// What changed against the period before (`report changes`): the biggest of each kind, and
/// of the senders seen in both periods those whose pass rate moved.
fn changes_section(html: &mut String, (periods, changes): &(Periods, Table)) -> Result<()> {
    writeln!(html, "<h2>What changed</h2>")?;
    writeln!(
        html,
        "<p class=\"sub\">{} to {} against {} to {}</p>",
        periods.since, periods.until, periods.compare_since, periods.compare_until
    )?;
    let notable: Vec<usize> = (0..changes.rows.len())
        .filter(|&row| {
            field(changes, row, "change") != "sender"
                || field(changes, row, "dmarc_pass_rate_change")
                    .as_f64()
                    .is_some_and(|c| c.abs() >= NOTABLE_RATE_CHANGE)
        })
        .collect();
    if notable.is_empty() {
        writeln!(
            html,
            "<p>Nothing changed: the same senders, sources, reporters, DKIM keys and policies \
             as in the period before.</p>"
        )?;
        return Ok(());
    }
    let shown = Table {
        columns: changes.columns.clone(),
        rows: notable
            .iter()
            .map(|&row| changes.rows[row].clone())
            .collect(),
    };
    let columns = [
        "change",
        "domain",
        "subject",
        "messages_before",
        "messages_after",
        "dmarc_pass_rate_before",
        "dmarc_pass_rate_after",
        "detail",
    ];
    table(html, "changes", &shown, &columns)?;
    writeln!(
        html,
        "<p class=\"note\">The biggest {DASHBOARD_CHANGES} of each kind; senders seen in both \
         periods when their DMARC pass rate moved by {:.0} points or more. <code>duckmarc \
         report changes</code> lists every change.</p>",
        NOTABLE_RATE_CHANGE * 100.0
    )?;
    Ok(())
}

fn failure_samples_section(html: &mut String, samples: &Table) -> Result<()> {
    writeln!(html, "<h2>Failure reports</h2>")?;
    if samples.rows.is_empty() {
        writeln!(
            html,
            "<p>No failure reports (RFC 6591) in this selection. Receivers send them to the \
             <code>ruf=</code> address of your DMARC record, and few receivers send any.</p>"
        )?;
        return Ok(());
    }
    writeln!(
        html,
        "<p class=\"note\">One message each, newest first, beside what the aggregate reports \
         say of its source. <code>duckmarc report failure-samples</code> has every column.</p>"
    )?;
    let columns = [
        "arrival",
        "source_ip",
        "reported_domain",
        "auth_failure",
        "delivery_result",
        "header_from",
        "subject",
        "reporter",
        "source_messages",
        "source_dmarc_pass_rate",
    ];
    table(html, "failure-samples", samples, &columns)
}

fn tls_section(html: &mut String, tls: &Table) -> Result<()> {
    writeln!(html, "<h2>SMTP TLS reports</h2>")?;
    if tls.rows.is_empty() {
        writeln!(
            html,
            "<p>No SMTP TLS reports (RFC 8460) in this selection. Senders send them to the \
             <code>rua=</code> address of your <code>_smtp._tls</code> TXT record.</p>"
        )?;
        return Ok(());
    }
    let columns = [
        "policy_domain",
        "policy_types",
        "successful_sessions",
        "failed_sessions",
        "failure_rate",
        "failure_types",
        "failing_mx_hosts",
        "reporters",
    ];
    table(html, "tls", tls, &columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_of_one_bar_is_titled_in_the_singular() {
        let chart = TopChart {
            name: "top-senders",
            what: ["sender", "senders"],
            label_column: "sender",
            detail_column: None,
            others: "other senders",
        };
        assert_eq!(chart.title(1), "Top sender by volume");
        assert_eq!(chart.title(10), "Top 10 senders by volume");
    }
}
