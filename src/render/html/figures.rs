//! The charts of the HTML pages, each with its numbers folded beneath it.

use super::parts::{field, figure, number, numbers};
use crate::render::cell_text;
use crate::render::charts::{self, Bar, Day, FAIL, GREEN, GREY, ORANGE, PASS, SKY};
use crate::views::table::Table;
use anyhow::Result;
use maud::{html, Markup};

/// Sources and senders drawn as bars before the rest is summed up as "others".
const TOP_CHART: usize = 10;

/// The single page's charts: days, top sources and senders, alignment, dispositions.
pub fn overview_charts(
    daily: &Table,
    sources: &Table,
    senders: &Table,
    overview: &Table,
) -> Result<Markup> {
    let others = number(overview, "sources")
        .unwrap_or(0)
        .saturating_sub(sources.rows.len().min(TOP_CHART) as u64);
    let others = format!("{} other sources", charts::thousands(others));
    let top_sources = TopChart {
        name: "top-sources",
        what: ["source IP", "source IPs"],
        label_column: "source_ip",
        detail_column: None,
        others: &others,
    };
    let top_senders = TopChart {
        name: "top-senders",
        what: ["sender", "senders"],
        label_column: "sender",
        detail_column: Some("class"),
        others: "other senders",
    };
    let n = |column: &str| number(overview, column).unwrap_or(0);
    let alignment = [
        ("DKIM and SPF", "both_aligned_messages", PASS),
        ("DKIM only", "dkim_only_messages", SKY),
        ("SPF only", "spf_only_messages", GREEN),
        ("neither", "neither_aligned_messages", FAIL),
    ];
    let dispositions = [
        ("none", "disposition_none", SKY),
        ("quarantine", "disposition_quarantine", ORANGE),
        ("reject", "disposition_reject", FAIL),
        ("other", "disposition_other", GREY),
    ];
    Ok(html! {
        (daily_charts(daily)?)
        (top_sources.draw(sources, overview)?)
        (top_senders.draw(senders, overview)?)
        (breakdown("alignment", "Alignment (policy_evaluated)", &alignment, &n)?)
        (breakdown("dispositions", "What receivers did (disposition)", &dispositions, &n)?)
    })
}

/// Messages and the DMARC pass rate per day, from rows of `report daily` (day,
/// dmarc_pass_messages, dmarc_fail_messages).
pub fn daily_charts(daily: &Table) -> Result<Markup> {
    let days: Vec<Day> = (0..daily.rows.len())
        .map(|row| Day {
            label: cell_text(&field(daily, row, "day")),
            pass: field(daily, row, "dmarc_pass_messages")
                .as_u64()
                .unwrap_or(0),
            fail: field(daily, row, "dmarc_fail_messages")
                .as_u64()
                .unwrap_or(0),
        })
        .collect();
    let volume = "Messages per day (UTC, days with reports)";
    let rate = "DMARC pass rate per day (UTC, days with reports)";
    let rows = days.iter().map(|d| {
        let share = d.pass as f64 * 100.0 / (d.pass + d.fail).max(1) as f64;
        vec![
            d.label.clone(),
            charts::thousands(d.pass),
            charts::thousands(d.fail),
            format!("{share:.1}%"),
        ]
    });
    Ok(html! {
        (figure("daily-volume", volume, |shape| charts::daily_volume(shape, volume, &days))?)
        (figure("daily-pass-rate", rate, |shape| charts::daily_pass_rate(shape, rate, &days))?)
        (numbers(&["day", "DMARC pass", "DMARC fail", "pass rate"], rows))
    })
}

/// One bar per category, each in its own colour, with the numbers beneath.
fn breakdown(
    name: &str,
    title: &str,
    categories: &[(&str, &str, plotters::style::RGBColor)],
    value: &impl Fn(&str) -> u64,
) -> Result<Markup> {
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
    let rows = categories
        .iter()
        .map(|(label, column, _)| vec![label.to_string(), charts::thousands(value(column))]);
    Ok(html! {
        (figure(name, title, |shape| charts::stacked_bars(shape, title, "messages", &bars, &series))?)
        (numbers(&["", "messages"], rows))
    })
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
    fn draw(&self, table: &Table, overview: &Table) -> Result<Markup> {
        let bars = top_bars(table, self.label_column, self.detail_column);
        let title = self.title(bars.len());
        let series = [("DMARC pass", PASS), ("DMARC fail", FAIL)];
        let rows = bars.iter().map(|bar| {
            let [pass, fail] = [bar.parts[0], bar.parts[1]];
            vec![
                bar.label.clone(),
                charts::thousands(pass + fail),
                charts::thousands(pass),
                charts::thousands(fail),
            ]
        });
        let (all_pass, all_fail) = pass_fail(overview, 0);
        let (shown_pass, shown_fail) = bars
            .iter()
            .fold((0, 0), |(p, f), bar| (p + bar.parts[0], f + bar.parts[1]));
        let rest_pass = all_pass.saturating_sub(shown_pass);
        let rest = rest_pass + all_fail.saturating_sub(shown_fail);
        Ok(html! {
            (figure(self.name, &title, |shape| charts::stacked_bars(shape, &title, "messages", &bars, &series))?)
            (numbers(&["", "messages", "DMARC pass", "DMARC fail"], rows))
            @if rest > 0 {
                p.note data-rest=(self.name) {
                    (self.others) ": " (charts::thousands(rest)) " messages, "
                    (format!("{:.1}", rest_pass as f64 * 100.0 / rest as f64))
                    "% passing DMARC (not drawn, so the bars above keep their scale)."
                }
            }
        })
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
