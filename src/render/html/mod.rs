//! HTML: one self-contained page (`duckmarc html -o FILE`) or a static site of pages
//! (`duckmarc html --site DIR`, site.rs). Inline CSS and SVG, nothing from the network; the
//! pages read fully without scripts.
//!
//! Every number cell carries `data-col`, and every headline figure `data-metric`, so the
//! pages can be checked against `duckmarc report ... --format json` by machine as well as by
//! eye. The single page begins with each domain's status, then the senders of each domain
//! by name, then the charts (each with its numbers beneath) and the tables.

mod figures;
pub mod parts;
mod sections;
mod senders;
pub mod site;

use crate::render::cell_text;
use crate::views::reports::Dashboard;
use crate::views::table::Table;
use anyhow::Result;
use maud::html;
use parts::{number, Links};

/// The single page. `scope` describes the filters ("all data", "domain example.com").
pub fn page(dashboard: &Dashboard, scope: &str) -> Result<String> {
    // Reports whose records count no message still match: each domain says so in its row.
    let reports = number(&dashboard.overview, "reports").unwrap_or(0);
    let links = &PageLinks;
    let (periods, changes) = &dashboard.changes;
    let body = html! {
        @if reports == 0 {
            p.empty data-empty="true" {
                "No DMARC aggregate reports match: none are stored yet, or the filter (" (scope)
                ") selects nothing. Ingest reports with " code { "duckmarc ingest" } "."
            }
        } @else {
            (sections::status(&dashboard.status, links))
            (sections::dns_findings(&dashboard.dns_findings, links))
            (sections::changes(periods, changes, links))
            (sections::cards(&dashboard.overview))
            (senders::by_domain(&dashboard.status, &dashboard.domain_senders, links))
            (figures::overview_charts(&dashboard.daily, &dashboard.sources, &dashboard.senders,
                                      &dashboard.overview)?)
            (sections::sources(&dashboard.sources, &dashboard.overview, links))
            (sections::failures(&dashboard.failures, links))
        }
        (sections::failure_samples(&dashboard.failure_samples, links))
        (sections::tls(&dashboard.tls, links))
    };
    Ok(parts::document(
        &format!("DMARC report: {scope}"),
        &[],
        "DMARC aggregate report",
        &period(&dashboard.overview, scope),
        body,
    ))
}

/// "all reports · 2026-11-01 to 2026-11-30 (UTC)": the scope and the days the overview covers
/// (none when nothing matches: the page says so).
fn period(overview: &Table, scope: &str) -> String {
    match crate::render::days_covered(overview) {
        Some(days) => format!("{scope} · {days} (UTC)"),
        None => scope.to_string(),
    }
}

/// The single page links a domain to its section of senders, and a count of DNS errors to
/// the DNS findings.
struct PageLinks;

impl Links for PageLinks {
    fn href(&self, column: &str, data: &Table, row: usize) -> Option<String> {
        match column {
            "domain" => Some(format!(
                "#{}",
                senders::anchor(&cell_text(&data.get(row, column)))
            )),
            "dns_errors" if data.get(row, column).as_u64().is_some_and(|n| n > 0) => {
                Some("#dns-findings".into())
            }
            _ => None,
        }
    }
}
