//! Charts as inline SVG, drawn with plotters.
//!
//! Colours are from the Okabe-Ito palette, which stays distinguishable for colour-blind
//! readers and differs in lightness, so it also reads in black-and-white print. Every chart
//! has labelled axes with units, a legend or direct labels, a few light grid lines, and a
//! text alternative (SVG `<title>` and a `<desc>` that says its data in words); the page
//! shows the title above it.

use anyhow::{anyhow, Result};
use plotters::coord::ranged1d::{AsRangedCoord, SegmentedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordusize;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const PASS: RGBColor = RGBColor(0x00, 0x72, 0xB2); // blue
pub const FAIL: RGBColor = RGBColor(0xD5, 0x5E, 0x00); // vermillion
pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);

const FONT: &str = "sans-serif";

/// What plotters' drawing calls return: their errors differ by backend.
type DrawResult<T> = Result<T, Box<dyn std::error::Error + 'static>>;

/// The size a chart is drawn for. The page holds each chart twice, for a wide screen (and
/// paper) and for a phone, and CSS shows one: a chart drawn for 900 pixels and shrunk onto a
/// 390-pixel screen has 5-pixel text.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub name: &'static str,
    width: u32,
    /// Axis and legend text, in pixels.
    font: u32,
    /// At most this many day labels under the daily charts.
    day_labels: usize,
    /// Bar labels longer than this are shortened with "…" (the numbers table has them whole).
    label_chars: usize,
}

pub const WIDE: Shape = Shape {
    name: "wide",
    width: 900,
    font: 13,
    day_labels: 10,
    label_chars: 40,
};

pub const NARROW: Shape = Shape {
    name: "narrow",
    width: 380,
    font: 12,
    day_labels: 3,
    label_chars: 16,
};

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
pub fn daily_volume(shape: Shape, title: &str, days: &[Day]) -> Result<String> {
    let max = days
        .iter()
        .map(|d| d.pass + d.fail)
        .max()
        .unwrap_or(0)
        .max(1);
    let (pass, fail) = days
        .iter()
        .fold((0, 0), |(p, f), d| (p + d.pass, f + d.fail));
    let busiest = days.iter().max_by_key(|d| d.pass + d.fail);
    let desc = if days.is_empty() {
        "No day with reports.".to_string()
    } else {
        format!(
            "{} days with reports, {} to {}: {}.{}",
            days.len(),
            day_label(days, 0),
            day_label(days, days.len().saturating_sub(1)),
            volume_text(pass, fail),
            busiest.map_or(String::new(), |d| format!(
                " Busiest day {}: {}.",
                d.label,
                volume_text(d.pass, d.fail)
            ))
        )
    };
    svg((title, &desc), shape.width, 300, |root| {
        // Headroom above the highest bar keeps the legend off the bars.
        let y = 0..max + max * 3 / 10 + 1;
        let mut chart = day_chart(root, shape, days, y, "messages", &|v| thousands(*v))?;
        // A few pixels between neighbours keep single bars apart when days are many.
        let gap = if days.len() > 200 { 0 } else { 2 };
        let bar = |i: usize, low: u64, high: u64, color: RGBColor| {
            // The last slot ends at the plot's edge: with one day there is no next slot to
            // end at (its bar was drawn with a width below zero, so not at all).
            let end = match i + 1 == days.len() {
                true => SegmentValue::Last,
                false => SegmentValue::Exact(i + 1),
            };
            let corners = [(SegmentValue::Exact(i), low), (end, high)];
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
        legend(&mut chart, shape, SeriesLabelPosition::UpperLeft)
    })
}

/// The share of messages passing DMARC per day, in percent, on the same slots as the bars.
pub fn daily_pass_rate(shape: Shape, title: &str, days: &[Day]) -> Result<String> {
    let rate = |d: &Day| d.pass as f64 * 100.0 / (d.pass + d.fail).max(1) as f64;
    let reported = || days.iter().filter(|d| d.pass + d.fail > 0);
    let lowest = reported().min_by(|a, b| rate(a).total_cmp(&rate(b)));
    let highest = reported().max_by(|a, b| rate(a).total_cmp(&rate(b)));
    let desc = match (lowest, highest) {
        (Some(low), Some(high)) => format!(
            "DMARC pass rate on {} days: lowest {:.1}% on {}, highest {:.1}% on {}.",
            days.len(),
            rate(low),
            low.label,
            rate(high),
            high.label
        ),
        _ => "No messages.".into(),
    };
    svg((title, &desc), shape.width, 260, |root| {
        let y_label = |v: &f64| format!("{v:.0}%");
        let mut chart = day_chart(
            root,
            shape,
            days,
            0f64..100f64,
            "% of messages passing",
            &y_label,
        )?;
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
        legend(&mut chart, shape, SeriesLabelPosition::LowerLeft)
    })
}

type DaySlots = SegmentedCoord<RangedCoordusize>;
type DayChart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<DaySlots, Y>>;

/// The frame both daily charts share, so that their days line up one above the other: one
/// x slot per day, labelled at its centre, `y` up the side, light horizontal grid lines.
fn day_chart<'a, 'b, Y>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    shape: Shape,
    days: &[Day],
    y: Y,
    y_desc: &str,
    y_label: &dyn Fn(&Y::Value) -> String,
) -> DrawResult<DayChart<'a, 'b, Y::CoordDescType>>
where
    Y: AsRangedCoord,
    Y::CoordDescType: ValueFormatter<Y::Value>,
{
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(shape.font * 6)
        .build_cartesian_2d(day_slots(days), y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .y_labels(6)
        .x_labels(days.len().min(shape.day_labels))
        .label_style((FONT, shape.font))
        .x_label_formatter(&|slot| slot_label(days, slot))
        .y_desc(y_desc)
        .y_label_formatter(y_label)
        .draw()?;
    Ok(chart)
}

/// One x slot per day.
fn day_slots(days: &[Day]) -> DaySlots {
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
    shape: Shape,
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
    let rows = bars.len();
    let key = legend_rows(series, shape);
    let key_height = key.len() as u32 * legend_line(shape);
    let height = 70 + 28 * rows.max(1) as u32 + key_height;
    let desc: Vec<String> = bars.iter().map(|bar| bar_text(bar, series)).collect();
    let labels: Vec<String> = bars
        .iter()
        .map(|bar| shorten(&bar.label, shape.label_chars))
        .collect();
    svg((title, &desc.join("; ")), shape.width, height, |root| {
        // The legend goes beneath the plot: inside it, it would cover bars whenever they are
        // of similar length (one sender, or ten sources of about the same volume).
        let (plot, below) = root.split_vertically(height - key_height);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(label_area(&labels, shape.font))
            // Rows as segments, so each label sits at the middle of its bar (a segmented
            // 0..n has a slot for n too: the top row is n - 1). A single bar gets an empty
            // slot above it: plotters cannot map a one-value range.
            .build_cartesian_2d(0..nice_ceiling(max), (0..rows.max(2) - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .x_labels(if shape.width < 600 { 3 } else { 6 })
            .y_labels(rows.max(1))
            .label_style((FONT, shape.font))
            .y_label_formatter(&|slot| match slot {
                // Row 0 is drawn at the bottom; the first bar belongs at the top.
                SegmentValue::CenterOf(i) => rows
                    .checked_sub(i + 1)
                    .and_then(|r| labels.get(r))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc(unit)
            .x_label_formatter(&|v| thousands(*v))
            .draw()?;
        for (part, (_, color)) in series.iter().enumerate() {
            let rects = bars.iter().enumerate().map(move |(i, bar)| {
                let start: u64 = bar.parts[..part].iter().sum();
                let end = start + bar.parts[part];
                let row = rows - 1 - i;
                Rectangle::new(
                    [
                        (start, SegmentValue::Exact(row)),
                        (end, SegmentValue::Exact(row + 1)),
                    ],
                    color.filled(),
                )
            });
            chart.draw_series(rects)?;
        }
        draw_legend_rows(&below, &key, shape)
    })
}

/// The side of a legend entry's colour swatch, in pixels.
const SWATCH: i32 = 12;

/// Height of one line of a legend drawn beneath a chart.
fn legend_line(shape: Shape) -> u32 {
    shape.font + 10
}

/// The series of a legend laid out in lines that fit the chart's width, each entry with its
/// x offset.
fn legend_rows<'a>(
    series: &[(&'a str, RGBColor)],
    shape: Shape,
) -> Vec<Vec<(i32, &'a str, RGBColor)>> {
    let room = shape.width as i32 - 24;
    let mut lines: Vec<Vec<(i32, &str, RGBColor)>> = vec![Vec::new()];
    let mut x = 0;
    for &(name, color) in series {
        let width = SWATCH + 6 + text_width(name, shape.font) + 18;
        if x > 0 && x + width > room {
            lines.push(Vec::new());
            x = 0;
        }
        lines
            .last_mut()
            .expect("one line at least")
            .push((x, name, color));
        x += width;
    }
    lines
}

fn draw_legend_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[Vec<(i32, &str, RGBColor)>],
    shape: Shape,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let line = legend_line(shape) as i32;
    for (i, entries) in lines.iter().enumerate() {
        let y = i as i32 * line + line / 2;
        for &(x, name, color) in entries {
            let x = x + 12;
            area.draw(&Rectangle::new(
                [(x, y - SWATCH / 2), (x + SWATCH, y + SWATCH / 2)],
                color.filled(),
            ))?;
            let style = TextStyle::from((FONT, shape.font).into_font())
                .pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(name.to_string(), (x + SWATCH + 6, y), style))?;
        }
    }
    Ok(())
}

/// About how wide `text` is drawn (a character is about 0.55 of the font size wide).
fn text_width(text: &str, font: u32) -> i32 {
    (text.chars().count() as u32 * font * 11 / 20) as i32
}

/// A bar in words: its label and its non-zero parts ("192.0.2.1: DMARC pass 90, DMARC fail
/// 10"), or the label alone when it already says the only part ("reject: 14") or there is
/// none ("quarantine: 0").
fn bar_text(bar: &Bar, series: &[(&str, RGBColor)]) -> String {
    let parts: Vec<(&str, u64)> = series
        .iter()
        .zip(&bar.parts)
        .filter(|(_, value)| **value > 0)
        .map(|((name, _), value)| (*name, *value))
        .collect();
    match parts[..] {
        [] => bar.label.clone(),
        [(name, _)] if bar.label.starts_with(name) => bar.label.clone(),
        _ => {
            let parts: Vec<String> = parts
                .iter()
                .map(|(name, value)| format!("{name} {}", thousands(*value)))
                .collect();
            format!("{}: {}", bar.label, parts.join(", "))
        }
    }
}

/// Room for the longest bar label (a character is about 0.55 of the font size wide), so the
/// plot starts where the labels end and lines up with the title above it.
fn label_area(labels: &[String], font: u32) -> u32 {
    let longest = labels
        .iter()
        .map(|l| text_width(l, font))
        .max()
        .unwrap_or(0);
    (longest as u32 + 16).max(40)
}

/// `label` cut to `chars` characters, the cut marked with "…".
fn shorten(label: &str, chars: usize) -> String {
    if label.chars().count() <= chars {
        return label.to_string();
    }
    let kept: String = label.chars().take(chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    shape: Shape,
    position: SeriesLabelPosition,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, shape.font))
        .draw()?;
    Ok(())
}

/// Renders `draw` onto an SVG canvas and returns the SVG text, with `title` and `desc` as its
/// text alternative (read by screen readers, shown as a tooltip, found by search).
fn svg(
    (title, desc): (&str, &str),
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        draw(&root).map_err(|e| anyhow!("chart: {e}"))?;
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    let text = format!(
        "<title>{}</title><desc>{}</desc>",
        escape(title),
        escape(desc)
    );
    let open_end = out
        .find('>')
        .ok_or_else(|| anyhow!("chart: no <svg> element"))?;
    out.insert_str(open_end + 1, &text);
    out.insert_str(open_end, " role=\"img\"");
    Ok(out)
}

/// Text for SVG and HTML: the five characters with a meaning in markup, escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Light grey for the few grid lines: enough to follow a bar to its value, not a hatching.
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);

/// Messages and how many of them pass DMARC, for text alternatives.
fn volume_text(pass: u64, fail: u64) -> String {
    let total = pass + fail;
    format!(
        "{} messages, {:.1}% passing DMARC",
        thousands(total),
        pass as f64 * 100.0 / total.max(1) as f64
    )
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
        let svg = daily_volume(WIDE, "t", &days).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("2025-11-01"));
        assert!(svg.contains("#0072B2") && svg.contains("#D55E00"));
        let bars = [Bar {
            label: "<script>".into(),
            parts: vec![3, 4],
        }];
        let svg =
            stacked_bars(NARROW, "t", "messages", &bars, &[("a", PASS), ("b", FAIL)]).unwrap();
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains("<title>t</title><desc>&lt;script&gt;: a 3, b 4</desc>"));
        assert!(svg.starts_with("<svg") && svg.contains(" role=\"img\">"));
    }

    /// The widths of an SVG's filled rectangles in the bars' colours.
    fn bar_widths(svg: &str) -> Vec<i64> {
        svg.split("<rect ")
            .skip(1)
            .filter(|rect| rect.contains("#0072B2") || rect.contains("#D55E00"))
            .filter_map(|rect| {
                let width = rect.split("width=\"").nth(1)?.split('"').next()?;
                width.parse().ok()
            })
            .collect()
    }

    #[test]
    fn a_single_day_gets_a_bar_across_its_slot() {
        let one = [Day {
            label: "2025-11-01".into(),
            pass: 143,
            fail: 36,
        }];
        for shape in [WIDE, NARROW] {
            let widths = bar_widths(&daily_volume(shape, "t", &one).unwrap());
            // Two bars and the legend's two swatches (12 px wide).
            let bars: Vec<_> = widths.iter().filter(|w| **w != 12).collect();
            assert_eq!(bars.len(), 2, "{widths:?}");
            assert!(
                bars.iter().all(|w| **w > shape.width as i64 / 2),
                "{widths:?}"
            );
        }
    }
}
