//! The SVG charts of the HTML report: implemented changes as bars, rates
//! and durations as lines, one bar or point per period of the trend
//! series, with titled axes and the policy's target.
//!
//! The periods are bands of equal width across the plot, each bar or point
//! in the middle of its band, so the first and the last stay inside the
//! plot, clear of the tick labels. The value axis runs between ticks 1, 2
//! or 5 x 10^k apart, around the data and the target. Text is placed by an
//! estimate of its width (`text_width`), so labels are spaced to fit.
//! Every part carries a class naming its role (`bar`, `point`, `trend`,
//! `grid`, `tick`, `period`, `axis-title`, `target`, `target-label`),
//! by which the browser test (tests/e2e/fixtures/report_layout.js)
//! measures the layout with the real fonts.

use std::fmt::Write;

use super::esc;
use crate::{catalogue::Unit, period::Granularity, render::figures::show};

/// The font size of every text, in SVG units. The layout reserves room for
/// labels by it, so the chart carries it as an attribute rather than
/// leaving it to the page's CSS.
const FONT_SIZE: f64 = 11.0;
const W: f64 = 440.0;
const H: f64 = 200.0;
/// Margins around the plot: the value axis's tick labels on the left, its
/// title above, the period labels and the period axis's title below. The
/// top one leaves a few units between the title's row and the top tick's
/// label, which sits half a line above the plot (at 24 they touched).
const LEFT: f64 = 62.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;
const PLOT_W: f64 = W - LEFT - RIGHT;
const PLOT_H: f64 = H - TOP - BOTTOM;
/// About how many intervals the value axis is cut into.
const INTERVALS: f64 = 4.0;

/// What one chart shows besides its values: caption, the title of the
/// value axis, and the periods along the other axis.
pub(super) struct Frame<'a> {
    pub caption: &'a str,
    pub value_title: &'a str,
    pub granularity: Granularity,
    pub periods: &'a [String],
}

/// A target drawn across a line chart: its threshold and its text
/// (`target > 95 %`).
pub(super) struct TargetLine {
    pub threshold: f64,
    pub label: String,
}

/// A bar per period, from zero.
pub(super) fn bars(frame: &Frame, counts: &[i64]) -> String {
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let axis = ValueAxis::from_zero(top, Unit::Count);
    let mut svg = open(frame, &axis);
    let n = frame.periods.len();
    let band = band_width(n);
    for (i, (period, count)) in frame.periods.iter().zip(counts).enumerate() {
        let (y, base) = (axis.y(*count as f64), axis.y(0.0));
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#5b8def\"><title>{}: {count}</title></rect>",
            centre(i, n) - band * 0.35,
            band * 0.7,
            base - y,
            esc(period)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A line through the periods' values (broken where a period has none),
/// with the target as a dashed line.
pub(super) fn line(
    frame: &Frame,
    values: &[Option<f64>],
    unit: Unit,
    target: Option<&TargetLine>,
) -> String {
    let shown: Vec<f64> = values.iter().flatten().copied().collect();
    let axis = ValueAxis::around(&shown, target.map(|t| t.threshold), unit);
    let mut svg = open(frame, &axis);
    if let Some(target) = target {
        let y = axis.y(target.threshold);
        let _ = write!(
            svg,
            "<line class=\"target\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b3261e\" stroke-dasharray=\"4 3\"/>",
            W - RIGHT,
        );
    }
    let n = values.len();
    // Gaps (periods without data) break the line rather than reading as 0.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    centre(i, n),
                    axis.y(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = write!(
        svg,
        "<path class=\"trend\" d=\"{}\" fill=\"none\" stroke=\"#1a73e8\" stroke-width=\"2\"/>",
        path.trim()
    );
    for (i, (period, value)) in frame.periods.iter().zip(values).enumerate() {
        if let Some(v) = value {
            let _ = write!(
                svg,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1a73e8\"><title>{}: {}</title></circle>",
                centre(i, n),
                axis.y(*v),
                esc(period),
                show(Some(*v), unit)
            );
        }
    }
    // The target's label goes above the plot, beside the value axis's
    // title, with a sample of its dashed line: on the line itself it hid
    // the points near the target, which are the ones that matter.
    if let Some(target) = target {
        let sample_end = W - RIGHT - text_width(&target.label) - 4.0;
        let _ = write!(
            svg,
            "<line class=\"legend\" x1=\"{:.1}\" x2=\"{sample_end:.1}\" y1=\"10\" y2=\"10\" stroke=\"#b3261e\" stroke-dasharray=\"4 3\"/><text class=\"target-label\" x=\"{}\" y=\"14\" text-anchor=\"end\" style=\"fill:#b3261e\">{}</text>",
            sample_end - 18.0,
            W - RIGHT,
            esc(&target.label)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The figure, its caption, and the chart up to the data: axis titles,
/// grid lines with the value ticks, period labels.
fn open(frame: &Frame, axis: &ValueAxis) -> String {
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {W} {H}\" width=\"100%\" font-size=\"{FONT_SIZE}\" role=\"img\" aria-label=\"{}\">",
        esc(frame.caption),
        esc(frame.caption)
    );
    let _ = write!(
        svg,
        "<text class=\"axis-title\" x=\"4\" y=\"14\" text-anchor=\"start\">{}</text><text class=\"axis-title\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        esc(frame.value_title),
        LEFT + PLOT_W / 2.0,
        H - 5.0,
        period_title(frame.granularity)
    );
    for value in axis.ticks() {
        let y = axis.y(value);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eef\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            axis.label(value)
        );
    }
    let n = frame.periods.len();
    let widest = frame
        .periods
        .iter()
        .map(|p| text_width(p))
        .fold(0.0, f64::max);
    // Label every `every`-th period, so labels are at least two characters
    // apart; counted from the last period, so the current one always is.
    let every = ((widest + 2.0 * FONT_SIZE) / band_width(n)).ceil().max(1.0) as usize;
    for (i, period) in frame.periods.iter().enumerate() {
        if !(n - 1 - i).is_multiple_of(every) {
            continue;
        }
        let half = text_width(period) / 2.0;
        let x = centre(i, n).clamp(half, W - half);
        let _ = write!(
            svg,
            "<text class=\"period\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP + PLOT_H + 18.0,
            esc(period)
        );
    }
    svg
}

fn period_title(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Week => "ISO week",
        Granularity::Month => "month",
        Granularity::Quarter => "quarter",
    }
}

fn band_width(periods: usize) -> f64 {
    PLOT_W / periods.max(1) as f64
}

/// The middle of the band of period `i` of `n`.
fn centre(i: usize, n: usize) -> f64 {
    LEFT + band_width(n) * (i as f64 + 0.5)
}

/// A generous estimate of the width of `text` at `FONT_SIZE` in a sans
/// serif face (digits are about 0.55 em wide, capitals wider, `W`, `M` and
/// `%` widest): room reserved by it is enough.
fn text_width(text: &str) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| match c {
            'W' | 'M' | 'm' | 'w' | '%' | '@' => 0.95,
            c if c.is_uppercase() => 0.72,
            _ => 0.6,
        })
        .sum();
    ems * FONT_SIZE
}

/// The distance between two ticks: `mantissa` (1, 2 or 5) x 10^`exponent`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    mantissa: u8,
    exponent: i32,
}

impl Step {
    /// The step of 1, 2 or 5 x 10^k nearest to `raw` (> 0), rounding as
    /// Heckbert's "nice numbers" do, so an axis gets about `INTERVALS`
    /// intervals (between 3 and 7), never as few as two.
    fn nearest(raw: f64) -> Self {
        if !(raw.is_finite() && raw > 0.0) {
            return Self {
                mantissa: 1,
                exponent: 0,
            };
        }
        let exponent = raw.log10().floor() as i32;
        let fraction = raw / 10f64.powi(exponent);
        match fraction {
            f if f < 1.5 => Self {
                mantissa: 1,
                exponent,
            },
            f if f < 3.0 => Self {
                mantissa: 2,
                exponent,
            },
            f if f < 7.0 => Self {
                mantissa: 5,
                exponent,
            },
            _ => Self {
                mantissa: 1,
                exponent: exponent + 1,
            },
        }
    }

    fn value(self) -> f64 {
        f64::from(self.mantissa) * 10f64.powi(self.exponent)
    }
}

/// The value axis: from `min` to `max`, both multiples of `step`.
#[derive(Debug, Clone, PartialEq)]
struct ValueAxis {
    /// The first and last tick, as multiples of the step.
    first: i64,
    last: i64,
    step: Step,
    unit: Unit,
}

impl ValueAxis {
    /// An axis from 0 to at least `top`: for bars, whose length must
    /// start at zero to compare.
    fn from_zero(top: f64, unit: Unit) -> Self {
        Self::spanning(0.0, top, unit)
    }

    /// An axis around `values` and `target`, padded so no point sits on
    /// the plot's edge unless it is a bound (0, or 100 % for a rate). It
    /// starts at zero unless that would squeeze the values into the top
    /// sixth of the plot (rates between 95 and 98 % read as a flat line on
    /// a 0-100 % axis), the rule Excel's automatic axes follow too.
    fn around(values: &[f64], target: Option<f64>, unit: Unit) -> Self {
        let mut points = values.iter().copied().chain(target);
        let Some(first) = points.next() else {
            return Self::from_zero(1.0, unit);
        };
        let (mut low, mut high) = points.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
        // Durations and rates are never negative: neither is their axis.
        let non_negative = low >= 0.0;
        if low >= 0.0 && low <= high * 5.0 / 6.0 {
            low = 0.0;
        }
        let span = high - low;
        let pad = if span > 0.0 {
            span * 0.1
        } else if high != 0.0 {
            high.abs() * 0.1
        } else if unit == Unit::Rate {
            0.01
        } else {
            1.0
        };
        if low != 0.0 {
            low -= pad;
        }
        high += pad;
        if non_negative {
            low = low.max(0.0);
        }
        if unit == Unit::Rate {
            high = high.min(1.0);
        }
        Self::spanning(low, high, unit)
    }

    /// The ticks around `[low, high]`, about `INTERVALS` steps apart.
    fn spanning(low: f64, high: f64, unit: Unit) -> Self {
        let mut step = Step::nearest((high - low) / INTERVALS);
        if unit == Unit::Count && step.exponent < 0 {
            // A count has no fractions.
            step = Step {
                mantissa: 1,
                exponent: 0,
            };
        }
        // The slack keeps a bound that is already a tick (0.95 / 0.01 is
        // 94.99999...) from moving out by a whole step.
        let first = (low / step.value() + 1e-9).floor() as i64;
        let last = ((high / step.value() - 1e-9).ceil() as i64).max(first + 1);
        Self {
            first,
            last,
            step,
            unit,
        }
    }

    fn min(&self) -> f64 {
        self.first as f64 * self.step.value()
    }

    fn max(&self) -> f64 {
        self.last as f64 * self.step.value()
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        (self.first..=self.last).map(|k| k as f64 * self.step.value())
    }

    /// The y coordinate of `value`.
    fn y(&self, value: f64) -> f64 {
        TOP + PLOT_H * (self.max() - value) / (self.max() - self.min())
    }

    /// A tick's label, with as many decimals as the step has, so no two
    /// ticks read the same: `95.5 %`, `96.0 %`; `0.2`, `0.4`; `10`, `20`.
    fn label(&self, value: f64) -> String {
        let (value, exponent, suffix) = match self.unit {
            Unit::Rate => (value * 100.0, self.step.exponent + 2, " %"),
            _ => (value, self.step.exponent, ""),
        };
        let decimals = usize::try_from(-exponent).unwrap_or(0);
        format!("{value:.decimals$}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &ValueAxis) -> Vec<String> {
        axis.ticks().map(|v| axis.label(v)).collect()
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        // raw step -> (mantissa, exponent)
        for (raw, expected) in [
            (0.25, (2, -1)),
            (0.4, (5, -1)),
            (1.0, (1, 0)),
            (1.2, (1, 0)),
            (2.5, (2, 0)),
            (7.0, (1, 1)),
            (0.009, (1, -2)),
            (0.0045, (5, -3)),
        ] {
            let step = Step::nearest(raw);
            assert_eq!((step.mantissa, step.exponent), expected, "{raw}");
        }
    }

    #[test]
    fn count_ticks_are_whole_and_distinct() {
        // The old axis cut 0..2 into quarters and rounded: 0, 0, 1, 2, 2.
        assert_eq!(
            labels(&ValueAxis::from_zero(2.0, Unit::Count)),
            ["0", "1", "2"]
        );
        assert_eq!(
            labels(&ValueAxis::from_zero(7.0, Unit::Count)),
            ["0", "2", "4", "6", "8"]
        );
    }

    #[test]
    fn rates_near_the_top_get_an_axis_of_their_own() {
        let axis = ValueAxis::around(&[0.953, 0.968, 0.981], Some(0.95), Unit::Rate);
        assert_eq!(
            labels(&axis),
            ["94 %", "95 %", "96 %", "97 %", "98 %", "99 %"]
        );
        assert!(axis.min() <= 0.95 && axis.max() >= 0.981);
    }

    #[test]
    fn rates_far_from_the_top_start_at_zero_and_never_pass_100_percent() {
        let low = ValueAxis::around(&[0.0, 0.143], Some(0.05), Unit::Rate);
        assert_eq!(labels(&low), ["0 %", "5 %", "10 %", "15 %", "20 %"]);
        let full = ValueAxis::around(&[1.0, 1.0], None, Unit::Rate);
        assert_eq!(full.max(), 1.0);
        assert!(full.min() > 0.5, "{full:?}");
    }

    #[test]
    fn an_axis_without_values_still_has_distinct_ticks() {
        for unit in [Unit::Rate, Unit::Hours] {
            let axis = ValueAxis::around(&[], None, unit);
            let labels = labels(&axis);
            let mut distinct = labels.clone();
            distinct.dedup();
            assert_eq!(labels, distinct);
            assert!(labels.len() >= 2);
        }
        assert_eq!(
            labels(&ValueAxis::around(&[0.0], None, Unit::Rate)),
            ["0.0 %", "0.2 %", "0.4 %", "0.6 %", "0.8 %", "1.0 %"]
        );
    }
}
