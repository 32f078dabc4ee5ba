//! Senders by domain: on the single page per domain (worst first) its senders by name and
//! class, each with its biggest source addresses beneath; on a domain's own page its
//! senders grouped by class, each linking to its page.

use super::parts::{data_row, field, headed, table_of, Links};
use crate::render::cell_text;
use crate::views::table::Table;
use maud::{html, Markup};

/// A sender's row (queries/domain_senders.sql), under its header.
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

/// The id of a domain's section on the single page: `domain-` and the domain, which holds
/// no spaces.
pub fn anchor(domain: &str) -> String {
    format!("domain-{}", domain.replace(char::is_whitespace, "_"))
}

fn owned(columns: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    columns.iter().map(|(c, h)| (*c, h.to_string())).collect()
}

/// Per domain (worst first, as in the status table), its senders by name and class, each
/// with its biggest source IPs folded beneath. `senders` has a row per (domain, sender,
/// source IP), a sender's rows together (queries/domain_senders.sql).
pub fn by_domain(status: &Table, senders: &Table, links: &dyn Links) -> Markup {
    let by_domain = senders.group_by(&["domain"]);
    let empty = senders.with_rows(Vec::new());
    html! {
        h2 { "Senders by domain" }
        @for row in 0..status.rows.len() {
            @let domain = cell_text(&field(status, row, "domain"));
            @let verdict = cell_text(&field(status, row, "verdict")).replace('_', " ");
            @let rows = by_domain.iter().find(|(key, _)| cell_text(&key[0]) == domain)
                .map_or(&empty, |(_, rows)| rows);
            section id=(anchor(&domain)) data-domain=(domain) {
                h3 { (domain) " " span.note { (verdict) } }
                (with_sources(rows, links))
            }
        }
        p.note {
            "Senders are named from reverse DNS, DKIM and SPF domains and the network; class \
             says whether the mail is yours (compliant, authorised failing), forwarded, or \
             not (unauthorised); unknown passes DMARC but is not on your list. "
            code { "duckmarc report senders --domain D" } " lists them all."
        }
    }
}

/// A table of senders, each sender's row followed by a folded table of its source IPs.
fn with_sources(rows: &Table, links: &dyn Links) -> Markup {
    let columns = owned(&SENDER_COLUMNS);
    let senders = rows.group_by(&["sender", "sender_class"]);
    let markup = senders
        .iter()
        .map(|(_, sender)| sender_with_sources(sender, &columns, links));
    table_of("domain-senders", &columns, markup)
}

/// One sender's row, and beneath it a folded table of its source IPs (`rows`: its rows).
fn sender_with_sources(rows: &Table, columns: &[(&str, String)], links: &dyn Links) -> Markup {
    let shown = rows.rows.len();
    let all = field(rows, 0, "sender_sources").as_u64().unwrap_or(0);
    let summary = if all as usize > shown {
        format!("biggest {shown} of its {all} source IPs")
    } else {
        format!("its source IPs ({shown})")
    };
    let source_columns = owned(&SENDER_SOURCE_COLUMNS);
    html! {
        (data_row(rows, 0, columns, links))
        tr.detail {
            td colspan=(columns.len()) {
                details {
                    summary { (summary) }
                    table data-table="sender-sources" {
                        thead { tr { @for (_, header) in &source_columns { th scope="col" { (header) } } } }
                        tbody {
                            @for row in 0..shown { (data_row(rows, row, &source_columns, links)) }
                        }
                    }
                }
            }
        }
    }
}

/// The classes in the order a postmaster reads them: what to fix first.
const CLASS_ORDER: [(&str, &str); 6] = [
    ("authorised_failing", "Your senders failing DMARC"),
    (
        "unauthorised",
        "Not yours: failing DMARC (spoofing, or senders not listed)",
    ),
    ("forwarded", "Forwarded (mailing lists and forwarders)"),
    ("unknown", "Passing DMARC, not on your list"),
    ("compliant", "Your senders passing DMARC"),
    ("", "Other"),
];

/// A domain's senders (`sender_rows` of its rows of domain_senders.sql) in a table per class,
/// each sender once per class with its totals there; sender names link to their pages.
pub fn by_class(rows: &Table, links: &dyn Links) -> Markup {
    let columns = headed(&[
        "sender",
        "sender_type",
        "messages",
        "dmarc_pass_rate",
        "sources",
        "diagnosis",
        "fix",
    ]);
    html! {
        @for (class, title) in CLASS_ORDER {
            @let in_class = of_class(rows, class);
            @let name = format!("senders-{}", if class.is_empty() { "other" } else { class });
            @if !in_class.rows.is_empty() {
                section data-class=(class) {
                    h3 { (title) " " span.note { "(" (in_class.rows.len()) ")" } }
                    (table_of(&name, &columns, (0..in_class.rows.len())
                        .map(|r| data_row(&in_class, r, &columns, links))))
                }
            }
        }
    }
}

/// The rows of `class` ("": of a class not in CLASS_ORDER).
fn of_class(rows: &Table, class: &str) -> Table {
    let known = |c: &str| CLASS_ORDER.iter().any(|(k, _)| *k == c);
    let chosen = (0..rows.rows.len()).filter(|&row| {
        let own = cell_text(&rows.get(row, "class"));
        own == class || (class.is_empty() && !known(&own))
    });
    rows.with_rows(chosen.map(|row| rows.rows[row].clone()).collect())
}

/// One row per sender and class from domain_senders.sql's rows (a row per source), with
/// the columns of `report senders`: sender, sender_type, class, messages, dmarc_pass_rate,
/// sources, diagnosis, fix.
pub fn sender_rows(senders: &Table) -> Table {
    let names = [
        ("sender", "sender"),
        ("sender_type", "sender_type"),
        ("class", "sender_class"),
        ("messages", "sender_messages"),
        ("dmarc_pass_rate", "sender_dmarc_pass_rate"),
        ("sources", "sender_sources"),
        ("diagnosis", "sender_diagnosis"),
        ("fix", "sender_fix"),
    ];
    let rows = senders
        .group_by(&["sender", "sender_class"])
        .into_iter()
        .map(|(_, part)| names.iter().map(|(_, from)| part.get(0, from)).collect())
        .collect();
    Table {
        columns: names.iter().map(|(name, _)| name.to_string()).collect(),
        rows,
    }
}
