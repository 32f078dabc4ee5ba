//! Turning result tables into what the user reads: terminal tables, CSV, JSON, HTML.

pub mod charts;
pub mod html;
pub mod parquet;
pub mod site;
pub mod webhook;

use crate::views::table::Table;
use anyhow::{Context, Result};
use comfy_table::{
    presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Width,
};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal
    Table,
    /// RFC 4180 CSV with a header row
    Csv,
    /// A JSON array of objects (stable field names, see README)
    Json,
}

/// Writes `table`; `columns` picks and names the columns of `--format table` (all when None).
pub fn write(
    table: &Table,
    format: Format,
    columns: Option<&[(&str, &str)]>,
    out: &mut impl Write,
) -> Result<()> {
    match format {
        Format::Table => write_table(table, columns, out),
        Format::Csv => write_csv(table, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &table.to_objects())?;
            writeln!(out)?;
            Ok(())
        }
    }
}

/// Text of one cell as shown in tables and CSV; lists are joined with spaces.
pub fn cell_text(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// "2026-11-01 to 2026-11-30": the days an overview covers, for titles and headings;
/// `None` for an empty selection, whose overview has no days.
pub fn days_covered(overview: &Table) -> Option<String> {
    let day = |column| cell_text(&overview.get(0, column));
    match (day("first_day"), day("last_day")) {
        (first, last) if first.is_empty() || last.is_empty() => None,
        (first, last) => Some(format!("{first} to {last}")),
    }
}

/// `text` safe to print on a terminal: control characters (an escape sequence in an
/// `org_name` would recolour or rewrite the screen) and bidirectional overrides (which
/// reorder what is shown) become visible `\u{..}` escapes. Every value from a report or
/// an input's name passes through here before it reaches a terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A CSV cell that a spreadsheet will not run as a formula: text starting with `=`, `+`,
/// `-`, `@`, tab or carriage return gets a leading `'` (OWASP's advice), and control
/// characters are escaped as in tables (a CSV is often read with `cat`). Numbers are written
/// as they are; JSON is the exact form.
fn csv_cell(value: &Json) -> String {
    let text = cell_text(value);
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && !value.is_number() {
        format!("'{}", printable(&text))
    } else {
        printable(&text).into_owned()
    }
}

/// As [`write`], but a table of no rows says `empty` instead of "(no rows: the database or
/// the filter selects nothing)": `alerts` finding nothing new is no empty database.
pub fn write_or_say(
    table: &Table,
    format: Format,
    columns: Option<&[(&str, &str)]>,
    empty: &str,
    out: &mut impl Write,
) -> Result<()> {
    if format == Format::Table && table.rows.is_empty() {
        writeln!(out, "({empty})")?;
        return Ok(());
    }
    write(table, format, columns, out)
}

fn write_table(
    table: &Table,
    columns: Option<&[(&str, &str)]>,
    out: &mut impl Write,
) -> Result<()> {
    if table.rows.is_empty() {
        writeln!(out, "(no rows: the database or the filter selects nothing)")?;
        return Ok(());
    }
    let shown: Vec<(usize, String)> = match columns {
        Some(columns) => columns
            .iter()
            .filter_map(|(name, header)| Some((table.column(name)?, header.to_string())))
            .collect(),
        None => (0..table.columns.len())
            .map(|i| (i, table.columns[i].replace('_', " ")))
            .collect(),
    };
    let rows: Vec<Vec<Cell>> = table
        .rows
        .iter()
        .map(|row| {
            shown
                .iter()
                .map(|(i, _)| terminal_cell(table, row, *i))
                .collect()
        })
        .collect();
    let width = terminal_width();
    let mut view = comfy_table::Table::new();
    view.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(shown.iter().map(|(_, header)| Cell::new(header)));
    keep_words_whole(&mut view, &shown, &rows, width);
    view.add_rows(rows);
    writeln!(out, "{view}")?;
    Ok(())
}

/// One value as a terminal cell: rates as percentages and numbers to the right.
fn terminal_cell(table: &Table, row: &[Json], i: usize) -> Cell {
    let value = &row[i];
    let column = &table.columns[i];
    match value.as_f64() {
        Some(rate) if is_rate_column(column) => {
            Cell::new(format!("{:.1}%", rate * 100.0)).set_alignment(CellAlignment::Right)
        }
        _ if value.is_number() => Cell::new(cell_text(value)).set_alignment(CellAlignment::Right),
        // A terminal table breaks lines only at spaces: the long codes would be cut anywhere
        // ("dkim_aligned_s|pf_other_domai|n"), so they show their words.
        _ if is_code_column(column) => Cell::new(printable(&cell_text(value)).replace('_', " ")),
        _ => Cell::new(printable(&cell_text(value))),
    }
}

/// Makes each column at least as wide as its longest word (an address, a number, a word of
/// a code), when all of them fit the width together: comfy-table otherwise cuts words
/// anywhere to share the width out ("2001:db8:25::|10"). When they do not fit, it does.
fn keep_words_whole(
    view: &mut comfy_table::Table,
    shown: &[(usize, String)],
    rows: &[Vec<Cell>],
    width: u16,
) {
    let longest_word = |text: &str| {
        text.split_whitespace()
            .map(|w| w.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = shown
        .iter()
        .enumerate()
        .map(|(column, (_, header))| {
            rows.iter()
                .map(|row| longest_word(&row[column].content()))
                .chain([longest_word(header)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Each column has a space either side; the table a border either side.
    let needed: usize = widths.iter().map(|w| w + 2).sum::<usize>() + 2;
    if needed > usize::from(width) {
        return;
    }
    for (column, width) in widths.into_iter().enumerate() {
        // comfy-table's boundaries count the padding too.
        if let (Some(column), Ok(width)) = (view.column_mut(column), u16::try_from(width + 2)) {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(width)));
        }
    }
}

/// Columns of duckmarc's own codes made of words joined by underscores (diagnosis and class:
/// `dkim_aligned_spf_other_domain`, `authorised_failing`), which may break between words.
pub fn is_code_column(column: &str) -> bool {
    column.ends_with("diagnosis") || column.ends_with("class") || column == "change"
}

/// Columns of shares from 0 to 1 (`dmarc_pass_rate`, `dmarc_pass_rate_before`), shown as
/// percentages.
pub fn is_rate_column(column: &str) -> bool {
    column.ends_with("_rate") || column.contains("_rate_")
}

/// `COLUMNS` when set (shells export it), else the classic 100 columns we design for.
fn terminal_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

fn write_csv(table: &Table, out: &mut impl Write) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&table.columns)?;
    for row in &table.rows {
        writer.write_record(row.iter().map(csv_cell))?;
    }
    writer.flush()?;
    Ok(())
}

/// A one-row table as `name: value` lines (`duckmarc stats`).
pub fn write_key_values(table: &Table, out: &mut impl Write) -> Result<()> {
    let width = table.columns.iter().map(|c| c.len()).max().unwrap_or(0);
    if let Some(row) = table.rows.first() {
        for (name, value) in table.columns.iter().zip(row) {
            writeln!(out, "{name:<width$}  {}", printable(&cell_text(value)))?;
        }
    }
    Ok(())
}

/// The numeric values of a one-row table (`stats`) in Prometheus' text format, for
/// node_exporter's textfile collector: `duckmarc_NAME VALUE`, times as Unix seconds.
pub fn write_prometheus(table: &Table, out: &mut impl Write) -> Result<()> {
    let Some(row) = table.rows.first() else {
        return Ok(());
    };
    for (name, value) in table.columns.iter().zip(row) {
        let number = match value {
            Json::Number(n) => n.as_f64(),
            // ISO times (first_report_begin ...) as Unix seconds.
            Json::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp() as f64),
            _ => None,
        };
        let Some(number) = number else { continue };
        let metric = match value {
            Json::String(_) => format!("duckmarc_{name}_timestamp_seconds"),
            _ => format!("duckmarc_{name}"),
        };
        writeln!(out, "# TYPE {metric} gauge")?;
        writeln!(out, "{metric} {number}")?;
    }
    Ok(())
}

/// Writes via a temporary file in the same directory, so a web server publishing `path`
/// never serves a half-written page. The temporary name is unique, so two runs writing the
/// same page at once each publish a whole page (the last rename wins).
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(printable("Evil\u{1b}[31mOrg"), "Evil\\u{1b}[31mOrg");
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
        assert!(matches!(printable("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        assert_eq!(csv_cell(&Json::from("=HYPERLINK(1)")), "'=HYPERLINK(1)");
        assert_eq!(csv_cell(&Json::from("@SUM")), "'@SUM");
        assert_eq!(csv_cell(&Json::from(-5)), "-5");
        assert_eq!(csv_cell(&Json::from("example.com")), "example.com");
    }
}
