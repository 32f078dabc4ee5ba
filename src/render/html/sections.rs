//! The sections of the HTML pages that show one table each, with the words around it.
//! The single page and the site's pages share them; `links` says where names link to.

use super::parts::{display, field, number, percent, table, Links};
use crate::views::reports::{Periods, DASHBOARD_CHANGES, DASHBOARD_TLS};
use crate::views::table::Table;
use maud::{html, Markup};

/// The status table's columns (`report readiness`), next_step last.
pub const STATUS_COLUMNS: [&str; 11] = [
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

/// One line per policy domain, worst first: what needs attention before any chart.
pub fn status(status: &Table, links: &dyn Links) -> Markup {
    html! {
        h2 { "Status by domain" }
        (table("status", status, &STATUS_COLUMNS, links))
        p.note {
            "trend: the pass rate of the last 7 days against the 7 days before, in percentage \
             points. verdict: enforced (p=reject in force), ready, or not ready (p=reject \
             would block your own mail, duckmarc cannot tell without your list of \
             senders, or the reports cover too few days to show every sender). unauthorised senders: those failing DMARC that are not yours \
             (spoofing, or senders you have not listed as [[authorised]] in the config); \
             reject blocks authorised: messages of your own senders that p=reject would \
             block; TLS failed sessions: from SMTP TLS reports (– when none came); DNS \
             errors: found by the latest " code { "duckmarc check" } " (– before one ran). "
            code { "duckmarc report readiness" } " has every column."
        }
    }
}

/// The headline figures of `report`'s overview (queries/overview.sql).
pub fn cards(overview: &Table) -> Markup {
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
    html! {
        dl.cards {
            @for (column, title, is_rate) in cards {
                @let value = field(overview, 0, column);
                div {
                    dt { (title) }
                    dd data-metric=(column) {
                        @if is_rate { (percent(&value)) } @else { (display(&value)) }
                    }
                }
            }
        }
    }
}

/// The errors and warnings of the latest `duckmarc check`; the status table's DNS error
/// counts link here (`#dns-findings`).
pub fn dns_findings(findings: &Table, links: &dyn Links) -> Markup {
    let columns = ["domain", "record", "severity", "code", "message", "fix"];
    html! {
        @if !findings.rows.is_empty() {
            h2 id="dns-findings" { "DNS findings" }
            (table("dns-findings", findings, &columns, links))
            p.note {
                "From the latest " code { "duckmarc check" } "; it lists the information \
                 findings too."
            }
        }
    }
}

/// Senders seen in both periods are shown when their pass rate moved by this much or more.
const NOTABLE_RATE_CHANGE: f64 = 0.05;

/// What changed against the period before (`report changes`): the biggest of each kind, and
/// of the senders seen in both periods those whose pass rate moved.
pub fn changes(periods: &Periods, changes: &Table, links: &dyn Links) -> Markup {
    let notable: Vec<Vec<serde_json::Value>> = (0..changes.rows.len())
        .filter(|&row| {
            field(changes, row, "change") != "sender"
                || field(changes, row, "dmarc_pass_rate_change")
                    .as_f64()
                    .is_some_and(|c| c.abs() >= NOTABLE_RATE_CHANGE)
        })
        .map(|row| changes.rows[row].clone())
        .collect();
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
    html! {
        h2 { "What changed" }
        p.sub {
            (periods.since) " to " (periods.until) " against " (periods.compare_since) " to "
            (periods.compare_until)
        }
        @if notable.is_empty() {
            p {
                "Nothing changed: the same senders, sources, reporters, DKIM keys and \
                 policies as in the period before."
            }
        } @else {
            (table("changes", &changes.with_rows(notable), &columns, links))
            p.note {
                "The biggest " (DASHBOARD_CHANGES) " of each kind; senders seen in both \
                 periods when their DMARC pass rate moved by "
                (format!("{:.0}", NOTABLE_RATE_CHANGE * 100.0)) " points or more. "
                code { "duckmarc report changes" } " lists every change."
            }
        }
    }
}

/// The biggest sources (`report sources`), and how many more there are.
pub fn sources(sources: &Table, overview: &Table, links: &dyn Links) -> Markup {
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
    let unlisted = number(overview, "sources")
        .unwrap_or(0)
        .saturating_sub(sources.rows.len() as u64);
    html! {
        h2 { "Sources" }
        (table("sources", sources, &columns, links))
        @if unlisted > 0 {
            p.note {
                (unlisted) " more sources not listed: "
                code { "duckmarc report sources --format csv" } " has them all."
            }
        }
    }
}

/// The columns of a failing record, as `report failures` has them.
pub const FAILURE_COLUMNS: [&str; 9] = [
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

pub fn failures(failures: &Table, links: &dyn Links) -> Markup {
    html! {
        h2 { "Top failing records" }
        @if failures.rows.is_empty() {
            p { "No failing records: every message passed DMARC." }
        } @else {
            (table("failures", failures, &FAILURE_COLUMNS, links))
        }
    }
}

const FAILURE_SAMPLE_COLUMNS: [&str; 10] = [
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

pub fn failure_samples(samples: &Table, links: &dyn Links) -> Markup {
    html! {
        h2 { "Failure reports" }
        @if samples.rows.is_empty() {
            p {
                "No failure reports (RFC 6591) in this selection. Receivers send them to the "
                code { "ruf=" } " address of your DMARC record, and few receivers send any."
            }
        } @else {
            p.note {
                "One message each, newest first, beside what the aggregate reports say of its \
                 source. " code { "duckmarc report failure-samples" } " has every column."
            }
            (table("failure-samples", samples, &FAILURE_SAMPLE_COLUMNS, links))
        }
    }
}

/// Failure samples of domains with no aggregate report, which no domain page shows.
pub fn other_failure_samples(samples: &Table, links: &dyn Links) -> Markup {
    html! {
        @if !samples.rows.is_empty() {
            h2 { "Failure reports of other domains" }
            p.note {
                "Domains without aggregate reports, so without a page: one message each,                  newest first."
            }
            (table("other-failure-samples", samples, &FAILURE_SAMPLE_COLUMNS, links))
        }
    }
}

pub fn tls(tls: &Table, links: &dyn Links) -> Markup {
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
    let listed = tls.rows.len().min(DASHBOARD_TLS as usize);
    let shown = Table {
        columns: tls.columns.clone(),
        rows: tls.rows[..listed].to_vec(),
    };
    html! {
        h2 { "SMTP TLS reports" }
        @if tls.rows.is_empty() {
            p {
                "No SMTP TLS reports (RFC 8460) in this selection. Senders send them to the "
                code { "rua=" } " address of your " code { "_smtp._tls" } " TXT record."
            }
        } @else {
            (table("tls", &shown, &columns, links))
        }
        @if tls.rows.len() > listed {
            p.note {
                "More domains than the " (listed) " listed: "
                code { "duckmarc report tls --format csv" } " has them all."
            }
        }
    }
}
