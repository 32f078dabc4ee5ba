//! "Senders by domain" on the HTML page: per domain, worst first, its senders by name and
//! class, each with its biggest source addresses beneath.

use super::cell_text;
use super::charts::escape;
use super::html_table::{anchor, data_row, field, header_row, table_head};
use crate::views::table::Table;
use anyhow::Result;
use std::fmt::Write;

/// A sender's row in "Senders by domain".
const SENDER_COLUMNS: [(&str, &str); 8] = [
    ("sender", "sender"),
    ("sender_type", "type"),
    ("sender_class", "class"),
    ("sender_messages", "messages"),
    ("sender_dmarc_pass_rate", "DMARC pass rate"),
    ("sender_sources", "source IPs"),
    ("sender_diagnosis", "diagnosis"),
    ("sender_fix", "fix"),
];

/// A source IP's row beneath its sender.
const SENDER_SOURCE_COLUMNS: [(&str, &str); 7] = [
    ("source_ip", "source ip"),
    ("ptr", "ptr"),
    ("country", "country"),
    ("messages", "messages"),
    ("dmarc_pass_rate", "DMARC pass rate"),
    ("class", "class"),
    ("diagnosis", "diagnosis"),
];

/// Per domain (worst first, as in the status table), its senders by name and class, each
/// with its biggest source IPs folded beneath. `senders` has a row per (domain, sender,
/// source IP), a sender's rows together (queries/domain_senders.sql).
pub fn domain_senders_section(html: &mut String, status: &Table, senders: &Table) -> Result<()> {
    writeln!(html, "<h2>Senders by domain</h2>")?;
    for row in 0..status.rows.len() {
        let domain = cell_text(&field(status, row, "domain"));
        let verdict = cell_text(&field(status, row, "verdict")).replace('_', " ");
        writeln!(
            html,
            "<section id=\"{}\" data-domain=\"{}\"><h3>{} <span class=\"note\">{}</span></h3>",
            anchor(&domain),
            escape(&domain),
            escape(&domain),
            escape(&verdict)
        )?;
        table_head(html, "domain-senders", &SENDER_COLUMNS)?;
        let rows: Vec<usize> = (0..senders.rows.len())
            .filter(|&r| cell_text(&field(senders, r, "domain")) == domain)
            .collect();
        // A sender has a row per class (queries/domain_senders.sql).
        let same_sender = |a: &usize, b: &usize| {
            ["sender", "sender_class"]
                .iter()
                .all(|column| field(senders, *a, column) == field(senders, *b, column))
        };
        for sender_rows in rows.chunk_by(same_sender) {
            sender_with_sources(html, senders, sender_rows)?;
        }
        writeln!(html, "</tbody></table></div></section>")?;
    }
    writeln!(
        html,
        "<p class=\"note\">Senders are named from reverse DNS, DKIM and SPF domains and the \
         network; class says whether the mail is yours (compliant, authorised failing), \
         forwarded, or not (unauthorised); unknown passes DMARC but is not on your list. \
         <code>duckmarc report senders --domain D</code> lists them all.</p>"
    )?;
    Ok(())
}

/// One sender's row, and beneath it a folded table of its source IPs (`rows`: its rows).
fn sender_with_sources(html: &mut String, senders: &Table, rows: &[usize]) -> Result<()> {
    let first = rows[0];
    data_row(html, senders, first, &SENDER_COLUMNS)?;
    let shown = rows.len();
    let all = field(senders, first, "sender_sources")
        .as_u64()
        .unwrap_or(0);
    let summary = if all as usize > shown {
        format!("biggest {shown} of its {all} source IPs")
    } else {
        format!("its source IPs ({shown})")
    };
    write!(
        html,
        "<tr class=\"detail\"><td colspan=\"{}\"><details><summary>{summary}</summary>\
         <table data-table=\"sender-sources\"><thead><tr>",
        SENDER_COLUMNS.len()
    )?;
    header_row(html, &SENDER_SOURCE_COLUMNS)?;
    write!(html, "</tr></thead><tbody>")?;
    for &row in rows {
        data_row(html, senders, row, &SENDER_SOURCE_COLUMNS)?;
    }
    writeln!(html, "</tbody></table></details></td></tr>")?;
    Ok(())
}
