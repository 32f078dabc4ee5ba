//! The tables of the HTML page: a header row, then one row per result row, each cell
//! naming its column (`data-col`) so the page can be checked against the reports by machine.

use super::cell_text;
use super::charts::{self, escape};
use crate::views::table::Table;
use anyhow::Result;
use serde_json::Value as Json;
use std::fmt::Write;

/// Every row of `data`, the given columns (the queries already limit the rows).
pub fn table(html: &mut String, name: &str, data: &Table, columns: &[&str]) -> Result<()> {
    let columns: Vec<(&str, String)> = columns.iter().map(|c| (*c, header(c))).collect();
    let columns: Vec<(&str, &str)> = columns.iter().map(|(c, h)| (*c, h.as_str())).collect();
    table_head(html, name, &columns)?;
    for row in 0..data.rows.len() {
        data_row(html, data, row, &columns)?;
    }
    writeln!(html, "</tbody></table></div>")?;
    Ok(())
}

/// Opens a scrollable table named `name` (`data-table`, which the tests and scripts find it
/// by) with a header row of `columns`, up to its body.
pub fn table_head(html: &mut String, name: &str, columns: &[(&str, &str)]) -> Result<()> {
    writeln!(
        html,
        "<div class=\"scroll\"><table data-table=\"{name}\"><thead><tr>"
    )?;
    header_row(html, columns)?;
    writeln!(html, "</tr></thead><tbody>")?;
    Ok(())
}

/// A column's header: its name in words, shorter for the long names of the status table.
fn header(column: &str) -> String {
    match column {
        "dmarc_pass_rate" => "DMARC pass rate".into(),
        "dmarc_pass_rate_trend" => "trend (7 days)".into(),
        "authorised_failing_senders" => "failing authorised senders".into(),
        "reject_blocks_authorised" => "p=reject blocks (yours)".into(),
        "tls_failed_sessions" => "TLS failed sessions".into(),
        "dns_errors" => "DNS errors".into(),
        other => other.replace('_', " "),
    }
}

pub fn header_row(html: &mut String, columns: &[(&str, &str)]) -> Result<()> {
    for (_, header) in columns {
        write!(html, "<th>{}</th>", escape(header))?;
    }
    Ok(())
}

/// One `<tr>`: each cell names its column (`data-col`, for checks) and its header
/// (`data-label`, shown before the value when a phone stacks the row).
pub fn data_row(
    html: &mut String,
    data: &Table,
    row: usize,
    columns: &[(&str, &str)],
) -> Result<()> {
    write!(html, "<tr>")?;
    for (column, header) in columns {
        let value = field(data, row, column);
        let (class, shown) = cell(column, &value);
        write!(
            html,
            "<td data-col=\"{column}\" data-label=\"{}\"{class}>{shown}</td>",
            escape(header)
        )?;
    }
    writeln!(html, "</tr>")?;
    Ok(())
}

/// The class and markup of one cell. Rates are percentages, trends percentage points with
/// an arrow, counts have thousands separators; a domain links to its section.
pub fn cell(column: &str, value: &Json) -> (&'static str, String) {
    const NUMBER: &str = " class=\"n\"";
    if column.ends_with("_trend") {
        return match value.as_f64() {
            Some(t) if t < 0.0 => (" class=\"n down\"", format!("▼ {:.1} pts", t * 100.0)),
            Some(t) if t > 0.0 => (" class=\"n up\"", format!("▲ +{:.1} pts", t * 100.0)),
            Some(_) => (NUMBER, "= 0.0 pts".into()),
            None => (NUMBER, "–".into()),
        };
    }
    if super::is_rate_column(column) {
        return (NUMBER, percent(value));
    }
    if (column.starts_with("tls_") || column == "dns_errors") && value.is_null() {
        return (NUMBER, "–".into());
    }
    if column == "dns_errors" && value.as_u64().is_some_and(|n| n > 0) {
        return (
            NUMBER,
            format!("<a href=\"#dns-findings\">{}</a>", display(value)),
        );
    }
    if column == "domain" {
        let domain = cell_text(value);
        let link = format!("<a href=\"#{}\">{}</a>", anchor(&domain), escape(&domain));
        return ("", link);
    }
    if value.is_number() {
        return (NUMBER, display(value));
    }
    let text = escape(&cell_text(value));
    // The long codes (dkim_aligned_spf_other_domain, authorised_failing) may break after an
    // underscore; a cell never breaks a word or a number anywhere else (the table scrolls).
    if super::is_code_column(column) {
        return ("", text.replace('_', "_<wbr>"));
    }
    ("", text)
}

pub fn field(table: &Table, row: usize, column: &str) -> Json {
    table
        .column(column)
        .and_then(|i| table.rows.get(row).map(|r| r[i].clone()))
        .unwrap_or(Json::Null)
}

pub fn number(table: &Table, column: &str) -> Option<u64> {
    field(table, 0, column).as_u64()
}

/// Counts with thousands separators; NULL counts (no such messages) as 0.
pub fn display(value: &Json) -> String {
    match value {
        Json::Null => "0".into(),
        Json::Number(n) if n.is_u64() => charts::thousands(n.as_u64().unwrap_or(0)),
        other => escape(&cell_text(other)),
    }
}

pub fn percent(value: &Json) -> String {
    value
        .as_f64()
        .map_or("–".into(), |rate| format!("{:.1}%", rate * 100.0))
}

/// The id of a domain's section: `domain-` and the domain, which holds no spaces.
pub fn anchor(domain: &str) -> String {
    escape(&format!(
        "domain-{}",
        domain.replace(char::is_whitespace, "_")
    ))
}
