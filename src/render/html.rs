//! One self-contained HTML page: inline CSS and SVG, no scripts, fonts or network.
//!
//! Every number cell carries `data-col`, and every headline figure `data-metric`, so the page
//! can be checked against `duckmarc report ... --format json` by machine as well as by eye.

use super::cell_text;
use super::charts::{self, Bar, Day, FAIL, GREEN, GREY, ORANGE, PASS, SKY};
use crate::views::reports::Dashboard;
use crate::views::table::Table;
use anyhow::{Context, Result};
use serde_json::Value as Json;
use std::fmt::Write;
use std::os::unix::fs::PermissionsExt;

/// Sources and senders drawn as bars before the rest is summed up as "others".
const TOP_CHART: usize = 10;

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; }
h1 { margin-bottom: 0.2rem; } .sub { color: #555; margin-top: 0; }
dl.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 0.6rem; }
dl.cards div { border: 1px solid #ccc; border-radius: 6px; padding: 0.5rem 0.8rem; }
dt { font-size: 0.8rem; color: #555; } dd { margin: 0; font-size: 1.4rem; font-weight: 600; }
figure { margin: 1.5rem 0; } svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.8rem; margin-bottom: 0.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.4rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td[data-col=source_ip], td[data-col=day], td[data-col=domain], td[data-col=verdict],
td[data-col=policy] { white-space: nowrap; }
th { background: #f3f3f3; } .empty { padding: 2rem; border: 2px dashed #bbb; text-align: center; }
.note { color: #555; font-size: 0.85rem; }
@media print { body { margin: 0; max-width: none; } figure { break-inside: avoid; } }
.scroll { overflow-x: auto; }
@media (max-width: 600px) { body { margin: 0.5rem; } dl.cards { grid-template-columns: repeat(2, 1fr); }
                            table { font-size: 0.75rem; min-width: 640px; }
                            th, td { overflow-wrap: normal; } }
@media (prefers-color-scheme: dark) {
  body { background: #16181c; color: #ddd; } .sub, dt, .note { color: #aaa; }
  th { background: #24272d; } th, td { border-color: #3a3d44; } dl.cards div { border-color: #3a3d44; }
  figure svg { background: #fff; border-radius: 4px; } .empty { border-color: #555; } }
"#;

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
        overview(&mut html, &dashboard.overview)?;
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
         IPinfo (ipinfo.io), CC BY-SA 4.0, unless another IP database was given.</p></body></html>",
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
    figure(html, "daily-volume", &charts::daily_volume(&days)?)?;
    figure(html, "daily-pass-rate", &charts::daily_pass_rate(&days)?)?;

    let others = number(&dashboard.overview, "sources")
        .unwrap_or(0)
        .saturating_sub(dashboard.sources.rows.len().min(TOP_CHART) as u64);
    let others = format!("{} other sources", charts::thousands(others));
    let sources = TopChart {
        name: "top-sources",
        what: "source IPs",
        label_column: "source_ip",
        others: &others,
    };
    sources.draw(html, &dashboard.sources, &dashboard.overview)?;
    let senders = TopChart {
        name: "top-senders",
        what: "senders",
        label_column: "sender",
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
    let chart = breakdown("Alignment (policy_evaluated)", &alignment, n)?;
    figure(html, "alignment", &chart)?;
    let dispositions = [
        ("none", "disposition_none", SKY),
        ("quarantine", "disposition_quarantine", ORANGE),
        ("reject", "disposition_reject", FAIL),
        ("other", "disposition_other", GREY),
    ];
    let chart = breakdown("What receivers did (disposition)", &dispositions, n)?;
    figure(html, "dispositions", &chart)?;
    Ok(())
}

/// One bar per category, each in its own colour.
fn breakdown(
    title: &str,
    categories: &[(&str, &str, plotters::style::RGBColor)],
    value: impl Fn(&str) -> u64,
) -> Result<String> {
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
    charts::stacked_bars(title, "messages", &bars, &series)
}

/// A chart of the biggest sources or senders by volume, split into pass and fail.
struct TopChart<'a> {
    name: &'a str,
    /// `source IPs`, `senders`: for the title.
    what: &'a str,
    label_column: &'a str,
    /// What the rest is called, in the line beneath the chart.
    others: &'a str,
}

impl TopChart<'_> {
    /// The top bars on their own scale; the rest, however big, is said in words beneath, so
    /// a long tail of small sources never squashes the bars that matter.
    fn draw(&self, html: &mut String, table: &Table, overview: &Table) -> Result<()> {
        let bars = top_bars(table, self.label_column);
        let chart = charts::stacked_bars(
            &format!("Top {} {} by volume", bars.len(), self.what),
            "messages",
            &bars,
            &[("DMARC pass", PASS), ("DMARC fail", FAIL)],
        )?;
        figure(html, self.name, &chart)?;
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
fn top_bars(table: &Table, label_column: &str) -> Vec<Bar> {
    (0..table.rows.len().min(TOP_CHART))
        .map(|row| {
            let (pass, fail) = pass_fail(table, row);
            Bar {
                label: cell_text(&field(table, row, label_column)),
                parts: vec![pass, fail],
            }
        })
        .collect()
}

fn figure(html: &mut String, name: &str, svg: &str) -> Result<()> {
    writeln!(html, "<figure data-chart=\"{name}\">{svg}</figure>")?;
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
    table(html, "sources", sources, &columns, sources.rows.len())?;
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
    table(html, "failures", failures, &columns, failures.rows.len())
}

/// One line per policy domain, worst first: what needs attention before any chart.
fn status_section(html: &mut String, status: &Table) -> Result<()> {
    writeln!(html, "<h2>Status by domain</h2>")?;
    let columns = [
        "domain",
        "verdict",
        "dmarc_pass_rate",
        "policy",
        "reject_blocks_authorised",
        "reject_blocks_unauthorised",
        "next_step",
    ];
    table(html, "status", status, &columns, status.rows.len())?;
    writeln!(
        html,
        "<p class=\"note\">reject blocks: messages failing DMARC that p=reject would block, \
         from your authorised senders and from everyone else (<code>duckmarc report \
         readiness</code>; list your senders as [[authorised]] in the config).</p>"
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
    table(
        html,
        "failure-samples",
        samples,
        &columns,
        samples.rows.len(),
    )
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
    table(html, "tls", tls, &columns, tls.rows.len())
}

fn table(html: &mut String, name: &str, data: &Table, columns: &[&str], rows: usize) -> Result<()> {
    writeln!(
        html,
        "<div class=\"scroll\"><table data-table=\"{name}\"><thead><tr>"
    )?;
    for column in columns {
        write!(html, "<th>{}</th>", escape(&column.replace('_', " ")))?;
    }
    writeln!(html, "</tr></thead><tbody>")?;
    for row in 0..data.rows.len().min(rows) {
        write!(html, "<tr>")?;
        for column in columns {
            let value = field(data, row, column);
            let (class, shown) = if column.ends_with("_rate") {
                (" class=\"n\"", percent(&value))
            } else if value.is_number() {
                (" class=\"n\"", display(&value))
            } else {
                ("", escape(&cell_text(&value)))
            };
            write!(html, "<td data-col=\"{column}\"{class}>{shown}</td>")?;
        }
        writeln!(html, "</tr>")?;
    }
    writeln!(html, "</tbody></table></div>")?;
    Ok(())
}

fn field(table: &Table, row: usize, column: &str) -> Json {
    table
        .column(column)
        .and_then(|i| table.rows.get(row).map(|r| r[i].clone()))
        .unwrap_or(Json::Null)
}

fn number(table: &Table, column: &str) -> Option<u64> {
    field(table, 0, column).as_u64()
}

/// Counts with thousands separators; NULL counts (no such messages) as 0.
fn display(value: &Json) -> String {
    match value {
        Json::Null => "0".into(),
        Json::Number(n) if n.is_u64() => charts::thousands(n.as_u64().unwrap_or(0)),
        other => escape(&cell_text(other)),
    }
}

fn percent(value: &Json) -> String {
    value
        .as_f64()
        .map_or("–".into(), |rate| format!("{:.1}%", rate * 100.0))
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes via a temporary file in the same directory, so a web server publishing `path`
/// never serves a half-written page. The temporary name is unique, so two runs writing the
/// same page at once each publish a whole page (the last rename wins).
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".duckmarc-page-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write a temporary file in {}", dir.display()))?;
    temporary
        .write_all(bytes)
        .with_context(|| format!("cannot write {}", temporary.path().display()))?;
    // Pages are published: readable like any file the user writes, not 0600.
    let permissions = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(temporary.path(), permissions)?;
    temporary
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
