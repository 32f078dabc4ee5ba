//! Charts as inline SVG, drawn with plotters.
//!
//! Colours are from the Okabe-Ito palette, which stays distinguishable for colour-blind
//! readers and differs in lightness, so it also reads in black-and-white print. Every chart
//! has a title, labelled axes with units, and a legend or direct labels.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

pub const PASS: RGBColor = RGBColor(0x00, 0x72, 0xB2); // blue
pub const FAIL: RGBColor = RGBColor(0xD5, 0x5E, 0x00); // vermillion
pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);

const WIDTH: u32 = 900;
const FONT: &str = "sans-serif";

/// One day of the daily charts.
pub struct Day {
    pub label: String,
    pub pass: u64,
    pub fail: u64,
}

/// One horizontal bar split into coloured parts, e.g. a source's pass and fail messages.
pub struct Bar {
    pub label: String,
    pub parts: Vec<u64>,
}

/// Stacked daily bars: messages passing and failing DMARC.
pub fn daily_volume(days: &[Day]) -> Result<String> {
    let max = days
        .iter()
        .map(|d| d.pass + d.fail)
        .max()
        .unwrap_or(0)
        .max(1);
    svg(WIDTH, 320, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Messages per day (UTC, days with reports)", (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            // Segmented: one slot per day, labelled at its centre. Headroom above the
            // highest bar keeps the legend off the bars.
            .build_cartesian_2d(day_slots(days), 0..max + max * 3 / 10 + 1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(days.len().min(10))
            .x_label_formatter(&|slot| slot_label(days, slot))
            .y_desc("messages")
            .y_label_formatter(&|v| thousands(*v))
            .draw()?;
        // A few pixels between neighbours keep single bars apart when days are many.
        let gap = if days.len() > 200 { 0 } else { 2 };
        let bar = |i: usize, low: u64, high: u64, color: RGBColor| {
            let corners = [
                (SegmentValue::Exact(i), low),
                (SegmentValue::Exact(i + 1), high),
            ];
            let mut rectangle = Rectangle::new(corners, color.filled());
            rectangle.set_margin(0, 0, gap, gap);
            rectangle
        };
        chart
            .draw_series(
                days.iter()
                    .enumerate()
                    .map(|(i, d)| bar(i, 0, d.pass, PASS)),
            )?
            .label("DMARC pass")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], PASS.filled()));
        chart
            .draw_series(
                days.iter()
                    .enumerate()
                    .map(|(i, d)| bar(i, d.pass, d.pass + d.fail, FAIL)),
            )?
            .label("DMARC fail")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], FAIL.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// The share of messages passing DMARC per day, in percent, on the same slots as the bars.
pub fn daily_pass_rate(days: &[Day]) -> Result<String> {
    svg(WIDTH, 280, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "DMARC pass rate per day (UTC, days with reports)",
                (FONT, 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(day_slots(days), 0f64..100f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(days.len().min(10))
            .x_label_formatter(&|slot| slot_label(days, slot))
            .y_desc("% of messages passing")
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .draw()?;
        let points: Vec<(SegmentValue<usize>, f64)> = days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.pass + d.fail > 0)
            .map(|(i, d)| {
                let rate = 100.0 * d.pass as f64 / (d.pass + d.fail) as f64;
                (SegmentValue::CenterOf(i), rate)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), PASS.stroke_width(2)))?
            .label("pass rate")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], PASS.stroke_width(2)));
        // Markers make single days (and one-day databases) visible.
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new(p.clone(), 3, PASS.filled())),
        )?;
        legend(&mut chart, SeriesLabelPosition::LowerLeft)
    })
}

/// One x slot per day.
fn day_slots(
    days: &[Day],
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize> {
    // A segmented 0..n has a slot for n too; the last day is n - 1.
    (0..days.len().saturating_sub(1)).into_segmented()
}

fn slot_label(days: &[Day], slot: &SegmentValue<usize>) -> String {
    match slot {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => day_label(days, *i),
        SegmentValue::Last => String::new(),
    }
}

/// Horizontal stacked bars, biggest at the top, e.g. top sources with pass/fail split.
pub fn stacked_bars(
    title: &str,
    unit: &str,
    bars: &[Bar],
    series: &[(&str, RGBColor)],
) -> Result<String> {
    let max = bars
        .iter()
        .map(|b| b.parts.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = 90 + 28 * bars.len().max(1) as u32;
    let rows = bars.len();
    svg(WIDTH, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(230)
            .build_cartesian_2d(0..nice_ceiling(max), 0..rows.max(1))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.max(1))
            .y_label_formatter(&|i| {
                // Row 0 is drawn at the bottom; the first bar belongs at the top.
                rows.checked_sub(i + 1)
                    .and_then(|r| bars.get(r))
                    .map_or(String::new(), |b| b.label.clone())
            })
            .x_desc(unit)
            .x_label_formatter(&|v| thousands(*v))
            .draw()?;
        for (part, (name, color)) in series.iter().enumerate() {
            let color = *color;
            let rects = bars.iter().enumerate().map(move |(i, bar)| {
                let start: u64 = bar.parts[..part].iter().sum();
                let end = start + bar.parts[part];
                let row = rows - 1 - i;
                Rectangle::new([(start, row), (end, row + 1)], color.filled())
            });
            chart
                .draw_series(rects)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled())
                });
        }
        // Bars are sorted biggest first, from the top: the lower right is the emptiest.
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error + 'static>>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// Renders `draw` onto an SVG canvas and returns the SVG text.
fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(
        &DrawingArea<SVGBackend, Shift>,
    ) -> Result<(), Box<dyn std::error::Error + 'static>>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        draw(&root).map_err(|e| anyhow!("chart: {e}"))?;
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(out)
}

fn day_label(days: &[Day], i: usize) -> String {
    days.get(i).map_or(String::new(), |d| d.label.clone())
}

/// An axis maximum a little above `max`, so the top bar does not touch the frame.
fn nice_ceiling(max: u64) -> u64 {
    max + max / 10 + 1
}

/// 1234567 -> "1,234,567".
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(8566123), "8,566,123");
    }

    #[test]
    fn charts_hold_their_data() {
        let days = [
            Day {
                label: "2025-11-01".into(),
                pass: 90,
                fail: 10,
            },
            Day {
                label: "2025-11-02".into(),
                pass: 5,
                fail: 0,
            },
        ];
        let svg = daily_volume(&days).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("2025-11-01"));
        assert!(svg.contains("#0072B2") && svg.contains("#D55E00"));
        let bars = [Bar {
            label: "<script>".into(),
            parts: vec![3, 4],
        }];
        let svg = stacked_bars("t", "messages", &bars, &[("a", PASS), ("b", FAIL)]).unwrap();
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
    }
}
