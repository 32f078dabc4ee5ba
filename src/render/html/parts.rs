//! The pieces every HTML page is made of: the document around a page, tables whose cells
//! name their column, charts with their numbers beneath. All markup is written with maud,
//! which escapes every value by default; the only text inserted as markup is the charts'
//! SVG, which plotters drew from values our own chart code escaped (render/charts.rs).

use crate::render::cell_text;
use crate::render::charts::{self, Shape};
use crate::views::table::Table;
use anyhow::Result;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value as Json;

const STYLE: &str = include_str!("page.css");

/// Details (the IP rows beneath each sender) open for printing, so paper shows everything;
/// a filter box above each long table hides the rows that do not hold what is typed. The
/// page reads fully without it: the box exists only where the script made it.
const SCRIPT: &str = "addEventListener('beforeprint', () => \
    document.querySelectorAll('details').forEach(d => d.open = true));\n\
    document.querySelectorAll('table[data-filter]').forEach((table, i) => {\n\
      const box = document.createElement('input');\n\
      box.type = 'search'; box.className = 'filter'; box.id = 'filter-' + i;\n\
      box.placeholder = 'Filter rows';\n\
      box.setAttribute('aria-label', 'Filter the rows of ' + table.dataset.filter);\n\
      box.addEventListener('input', () => {\n\
        const want = box.value.toLowerCase();\n\
        for (const row of table.tBodies[0].rows)\n\
          row.hidden = want !== '' && !row.textContent.toLowerCase().includes(want);\n\
      });\n\
      table.closest('.scroll').before(box);\n\
    });";

/// A table with more rows than this gets a filter box.
const FILTER_ROWS: usize = 15;

/// One step of the breadcrumbs: its text, and where it links (none for the page itself).
pub struct Crumb {
    pub text: String,
    pub href: Option<String>,
}

/// A whole page: `title` (which says the period), the breadcrumbs above the heading, `body`.
pub fn document(title: &str, crumbs: &[Crumb], heading: &str, sub: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                @if !crumbs.is_empty() {
                    nav aria-label="Breadcrumbs" class="crumbs" {
                        ol {
                            @for crumb in crumbs {
                                li {
                                    @match &crumb.href {
                                        Some(href) => a href=(href) { (crumb.text) },
                                        None => span aria-current="page" { (crumb.text) },
                                    }
                                }
                            }
                        }
                    }
                }
                main {
                    h1 { (heading) }
                    p.sub { (sub) }
                    (body)
                }
                p.note {
                    "Made by duckmarc " (env!("CARGO_PKG_VERSION")) ". Totals use the \
                     receivers' own verdicts (policy_evaluated), weighted by message count; \
                     the diagnosis is duckmarc's reading of the authentication results. \
                     Sender names: parsedmarc's map; IP address data © IPinfo (ipinfo.io), \
                     CC BY-SA 4.0, unless another IP database was given."
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

/// Where a cell links to, if anywhere: the single page links within itself, the site from
/// one page to another.
pub trait Links {
    fn href(&self, column: &str, data: &Table, row: usize) -> Option<String>;
}

/// No cell links anywhere.
pub struct NoLinks;

impl Links for NoLinks {
    fn href(&self, _: &str, _: &Table, _: usize) -> Option<String> {
        None
    }
}

/// (column, header) pairs, each header its column's name in words.
pub fn headed<'a>(columns: &[&'a str]) -> Vec<(&'a str, String)> {
    columns.iter().map(|c| (*c, header(c))).collect()
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

/// Every row of `data` in the given columns (the queries already limit the rows), in a
/// table named `name` (`data-table`, which tests and scripts find it by) that scrolls
/// sideways on its own when it is wider than the screen.
pub fn table(name: &str, data: &Table, columns: &[&str], links: &dyn Links) -> Markup {
    let columns = headed(columns);
    let rows = (0..data.rows.len()).map(|row| data_row(data, row, &columns, links));
    table_of(name, &columns, rows)
}

/// A table of `rows` (each a `<tr>`) under a header row of `columns`.
pub fn table_of(
    name: &str,
    columns: &[(&str, String)],
    rows: impl ExactSizeIterator<Item = Markup>,
) -> Markup {
    let label = name.replace('-', " ");
    let filter = (rows.len() > FILTER_ROWS).then_some(&label);
    // A region that scrolls sideways must be reachable by keyboard (WCAG 2.1.1), so it is
    // focusable and named.
    html! {
        div.scroll tabindex="0" role="region" aria-label=(label) {
            table data-table=(name) data-filter=[filter] {
                thead { tr { @for (_, header) in columns { th scope="col" { (header) } } } }
                tbody { @for row in rows { (row) } }
            }
        }
    }
}

/// One `<tr>`: each cell names its column (`data-col`, for checks) and its header
/// (`data-label`, shown before the value when a phone stacks the row).
pub fn data_row(data: &Table, row: usize, columns: &[(&str, String)], links: &dyn Links) -> Markup {
    html! {
        tr {
            @for (column, header) in columns {
                @let value = data.get(row, column);
                @let (class, shown) = cell(column, &value);
                td data-col=(column) data-label=(header) class=[class] {
                    @match links.href(column, data, row) {
                        Some(href) if !value.is_null() => a href=(href) { (shown) },
                        _ => (shown),
                    }
                }
            }
        }
    }
}

/// The class and content of one cell. Rates are percentages, trends percentage points with
/// an arrow, counts have thousands separators.
pub fn cell(column: &str, value: &Json) -> (Option<&'static str>, Markup) {
    const NUMBER: Option<&str> = Some("n");
    if column.ends_with("_trend") {
        return match value.as_f64() {
            Some(t) if t < 0.0 => (
                Some("n down"),
                html! { "▼ " (format!("{:.1}", t * 100.0)) " pts" },
            ),
            Some(t) if t > 0.0 => (
                Some("n up"),
                html! { "▲ +" (format!("{:.1}", t * 100.0)) " pts" },
            ),
            Some(_) => (NUMBER, html! { "= 0.0 pts" }),
            None => (NUMBER, html! { "–" }),
        };
    }
    if crate::render::is_rate_column(column) {
        return (NUMBER, html! { (percent(value)) });
    }
    if (column.starts_with("tls_") || column == "dns_errors") && value.is_null() {
        return (NUMBER, html! { "–" });
    }
    if column == "verdict" {
        // The verdict in words and in colour (page.css), so neither alone carries it.
        let verdict = cell_text(value);
        let class = format!("verdict {verdict}");
        return (None, html! { span class=(class) { (verdict) } });
    }
    // An AS number is a name, not a count: no thousands separators.
    if value.is_number() && column != "asn" {
        return (NUMBER, html! { (display(value)) });
    }
    let text = cell_text(value);
    // The long codes (dkim_aligned_spf_other_domain, authorised_failing) may break after an
    // underscore; a cell never breaks a word or a number anywhere else (the table scrolls).
    if crate::render::is_code_column(column) {
        let parts: Vec<&str> = text.split('_').collect();
        let last = parts.len() - 1;
        return (
            None,
            html! { @for (i, part) in parts.iter().enumerate() {
                (part) @if i < last { "_" wbr; }
            } },
        );
    }
    (None, html! { (text) })
}

pub fn field(table: &Table, row: usize, column: &str) -> Json {
    table.get(row, column)
}

pub fn number(table: &Table, column: &str) -> Option<u64> {
    field(table, 0, column).as_u64()
}

/// Counts with thousands separators; NULL counts (no such messages) as 0.
pub fn display(value: &Json) -> String {
    match value {
        Json::Null => "0".into(),
        Json::Number(n) if n.is_u64() => charts::thousands(n.as_u64().unwrap_or(0)),
        other => cell_text(other),
    }
}

pub fn percent(value: &Json) -> String {
    value
        .as_f64()
        .map_or("–".into(), |rate| format!("{:.1}%", rate * 100.0))
}

/// A chart under its title, drawn for a wide screen and for a phone (CSS shows one); each SVG
/// carries the same title and a description of its data.
pub fn figure(name: &str, title: &str, draw: impl Fn(Shape) -> Result<String>) -> Result<Markup> {
    let drawings = [charts::WIDE, charts::NARROW]
        .into_iter()
        .map(|shape| Ok((shape.name, draw(shape)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(html! {
        figure data-chart=(name) {
            figcaption { (title) }
            @for (shape, svg) in &drawings {
                // plotters' SVG, its text escaped by render/charts.rs.
                div class=(shape) { (PreEscaped(svg)) }
            }
        }
    })
}

/// A chart's numbers as a table, folded beneath it: the text alternative a reader can copy.
pub fn numbers(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Markup {
    html! {
        details.numbers {
            summary { "The numbers" }
            table {
                thead { tr { @for header in headers { th scope="col" { (header) } } } }
                tbody {
                    @for row in rows {
                        tr {
                            @for (header, value) in headers.iter().zip(row) {
                                @let class = (!header.is_empty() && *header != "day").then_some("n");
                                td data-label=(header) class=[class] { (value) }
                            }
                        }
                    }
                }
            }
        }
    }
}
