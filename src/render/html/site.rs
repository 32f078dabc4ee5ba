//! The pages of the static site (`duckmarc html --site DIR`): the index (status by domain,
//! what changed, headline figures, TLS), a page per policy domain and a page per sender of
//! each domain. Where a page lives and what its links are comes from `render::site`.

use super::figures::daily_charts;
use super::parts::{cell, document, headed, table, Crumb, Links};
use super::{sections, senders};
use crate::render::cell_text;
use crate::render::site::{Place, Sitemap};
use crate::views::site::{DomainPage, SenderPage, Site, SITE_SENDERS};
use crate::views::table::Table;
use anyhow::Result;
use maud::{html, Markup};

/// The index page. `scope` describes the filters.
pub fn index(site: &Site, map: &Sitemap, scope: &str) -> String {
    let links = &map.links(Place::Root, None);
    let dashboard = &site.dashboard;
    let (periods, changes) = &dashboard.changes;
    // The index says each domain's next step in a line of its own, above the table.
    let (_next_step, columns) = sections::STATUS_COLUMNS
        .split_last()
        .expect("status columns");
    let body = html! {
        @if site.domains.is_empty() {
            p.empty data-empty="true" {
                "No DMARC aggregate reports match: none are stored yet, or the filter (" (scope)
                ") selects nothing. Ingest reports with " code { "duckmarc ingest" } "."
            }
        } @else {
            h2 { "What to do" }
            ul.todo {
                @for row in 0..dashboard.status.rows.len() {
                    @let domain = cell_text(&dashboard.status.get(row, "domain"));
                    li data-domain=(domain) {
                        (cell("verdict", &dashboard.status.get(row, "verdict")).1) " "
                        @match links.href("domain", &dashboard.status, row) {
                            Some(href) => a href=(href) { (domain) },
                            None => (domain),
                        }
                        ": " (first_step(&cell_text(&dashboard.status.get(row, "next_step"))))
                    }
                }
            }
            h2 { "Status by domain" }
            (table("status", &dashboard.status, columns, links))
            p.note {
                "Worst first. Each domain's page says what to do in full, what p=quarantine \
                 and p=reject would block, and who sends its mail."
            }
            (sections::changes(periods, changes, links))
            h2 { "All domains together" }
            (sections::cards(&dashboard.overview))
        }
        (sections::tls(&dashboard.tls, links))
        (sections::other_failure_samples(&site.other_failure_samples, links))
    };
    document(
        &title(&[], scope, map),
        &[],
        "DMARC aggregate reports",
        &map.period(),
        body,
    )
}

/// What to do first, in a few words: the next step up to its first colon or semicolon
/// ("fix SendGrid", "publish p=reject"); the domain's page has the whole sentence.
fn first_step(next_step: &str) -> &str {
    next_step
        .split([':', ';'])
        .next()
        .unwrap_or(next_step)
        .trim()
}

/// The page of one policy domain.
pub fn domain_page(page: &DomainPage, map: &Sitemap, scope: &str) -> Result<String> {
    let domain = page.domain.as_str();
    let links = &map.links(Place::Domain, Some(domain));
    let sender_rows = senders::sender_rows(&page.senders);
    let listed = sender_rows.rows.len() as u64;
    let body = html! {
        h2 { "Readiness for p=reject" }
        p.verdict-line {
            (cell("verdict", &page.status.get(0, "verdict")).1) " "
            (cell_text(&page.status.get(0, "next_step")))
        }
        (blocked(&page.status))
        (facts(&page.status))
        h2 { "Senders" }
        (senders::by_class(&sender_rows, links))
        @if listed >= SITE_SENDERS {
            p.note {
                "The biggest " (SITE_SENDERS) " senders are listed; "
                code { "duckmarc report senders --domain " (domain) } " lists them all."
            }
        }
        h2 { "Day by day" }
        (daily_charts(&page.daily)?)
        h2 { "Reporters" }
        (table("reporters", &page.reporters, &REPORTER_COLUMNS, links))
        (sections::dns_findings(&page.dns_findings, links))
        @if !page.changes.rows.is_empty() {
            h2 { "What changed" }
            (table("changes", &page.changes, &["change", "subject", "messages_before",
                "messages_after", "dmarc_pass_rate_before", "dmarc_pass_rate_after", "detail"], links))
        }
        (sections::tls(&page.tls, links))
        (sections::failure_samples(&page.failure_samples, links))
    };
    Ok(document(
        &title(&[domain], scope, map),
        &[map.root_crumb(Place::Domain), here(domain)],
        domain,
        &map.period(),
        body,
    ))
}

/// The page of one sender of a domain.
pub fn sender_page(domain: &str, page: &SenderPage, map: &Sitemap, scope: &str) -> Result<String> {
    let links = &map.links(Place::Domain, Some(domain));
    let classes = senders::sender_rows(&page.sources);
    let body = html! {
        (table("sender-classes", &classes, &["class", "sender_type", "messages", "dmarc_pass_rate",
            "sources", "diagnosis", "fix"], links))
        h2 { "Source addresses" }
        (table("sources", &page.sources, &["source_ip", "ptr", "asn", "as_name", "country",
            "messages", "dmarc_pass_rate", "class", "diagnosis"], links))
        h2 { "Day by day" }
        (daily_charts(&page.daily)?)
        h2 { "Reporters" }
        (table("reporters", &page.reporters, &REPORTER_COLUMNS, links))
        h2 { "DKIM signing domains and selectors" }
        @if page.signers.rows.is_empty() {
            p { "No DKIM signatures were reported on this sender's mail." }
        } @else {
            (table("signers", &page.signers, &["signing_domain", "selector", "own_domain",
                "messages", "pass_messages", "pass_rate"], links))
            p.note {
                "own domain: a key of " (domain) " or of a domain it aligns with; anyone \
                 else's key says who signed, not who sent."
            }
        }
        (sections::failures(&page.failures, links))
    };
    Ok(document(
        &title(&[&page.sender, domain], scope, map),
        &[
            map.root_crumb(Place::Domain),
            Crumb {
                text: domain.to_string(),
                href: Some("index.html".into()),
            },
            here(&page.sender),
        ],
        &page.sender,
        &map.period(),
        body,
    ))
}

const REPORTER_COLUMNS: [&str; 6] = [
    "reporter",
    "reports",
    "messages",
    "dmarc_pass_rate",
    "sources",
    "dmarc_pass_messages",
];

/// "example.com · DMARC · 2026-11-01 to 2026-11-30": what the page is about (nothing for
/// the index), the filters when there are any, and the period.
fn title(about: &[&str], scope: &str, map: &Sitemap) -> String {
    let scope = if scope == "all reports" {
        String::new()
    } else {
        format!(" ({scope})")
    };
    let about: String = about.iter().map(|a| format!("{a} · ")).collect();
    format!("{about}DMARC reports{scope} · {}", map.days)
}

fn here(text: &str) -> Crumb {
    Crumb {
        text: text.to_string(),
        href: None,
    }
}

/// What p=quarantine and p=reject would block, by class of mail.
fn blocked(status: &Table) -> Markup {
    let classes = [
        ("authorised", "your own mail"),
        ("forwarded", "forwarded"),
        ("unauthorised", "not yours"),
    ];
    html! {
        div.scroll tabindex="0" role="region" aria-label="would block" {
            table data-table="would-block" {
                caption { "Messages each policy would block, by whose mail it is" }
                thead { tr { th scope="col" { "policy" } @for (_, words) in classes { th scope="col" { (words) } } } }
                tbody {
                    @for policy in ["quarantine", "reject"] {
                        tr {
                            th scope="row" { "p=" (policy) }
                            @for (class, words) in classes {
                                @let column = format!("{policy}_blocks_{class}");
                                @let value = status.get(0, &column);
                                td data-col=(column) data-label=(words) class="n" {
                                    (cell(&column, &value).1)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every figure of the domain's row of `report readiness`, under its column's name.
fn facts(status: &Table) -> Markup {
    let columns = headed(
        &status
            .columns
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    html! {
        details.facts {
            summary { "Every readiness figure (" code { "duckmarc report readiness" } ")" }
            dl.facts {
                @for (column, header) in &columns {
                    div {
                        dt { (header) }
                        dd data-metric=(column) { (cell(column, &status.get(0, column)).1) }
                    }
                }
            }
        }
    }
}
