//! One self-contained HTML file: inline CSS and SVG, no external assets.

use std::fmt::Write;

use super::figures::{headline_rows, show, show_metric};
use crate::{
    catalogue::{Metric, Unit},
    document::{NotableChange, ReportDocument},
    report::Bucket,
};

/// The line charts of the trends: caption and metric. A chart carries its
/// unit in the caption where the axis does not show it.
const CHARTS: [(&str, Metric); 7] = [
    ("Success rate", Metric::SuccessRate),
    ("Rollback rate", Metric::RollbackRate),
    ("Emergency share", Metric::EmergencyShare),
    ("Changes with issues", Metric::WithIssuesRate),
    ("Change failure rate", Metric::FailureRate),
    ("Lead time p50 (hours)", Metric::LeadTimeP50Hours),
    (
        "Average change time (hours)",
        Metric::ChangeDurationMeanHours,
    ),
];

/// The columns of the per-period tables after the period: header and
/// metric (headers shorter than the catalogue's labels, to fit the page).
const TREND: [(&str, Metric); 10] = [
    ("Implemented", Metric::Implemented),
    ("Success", Metric::SuccessRate),
    ("Failure", Metric::FailureRate),
    ("Rollback", Metric::RollbackRate),
    ("Emergency", Metric::EmergencyShare),
    ("With issues", Metric::WithIssuesRate),
    ("Lead p50", Metric::LeadTimeP50Hours),
    ("Lead p90", Metric::LeadTimeP90Hours),
    ("Avg change time", Metric::ChangeDurationMeanHours),
    ("CAB approval", Metric::CabApprovalRate),
];

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.meta{color:#667}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef}
th{background:#f5f6fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.met{color:#137333;font-weight:600}
.missed{color:#b3261e;font-weight:600}.nodata{color:#889}.charts{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
figure{margin:0;border:1px solid #eef;border-radius:6px;padding:.5rem}figcaption{font-weight:600;margin-bottom:.3rem}
svg text{font-size:11px;fill:#556}";

pub fn render(doc: &ReportDocument) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&doc.title)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p class=\"meta\">Period {} · {} to {} · time zone {} · policy <code>{}</code> · generated {}</p>",
        esc(&doc.title),
        esc(&doc.headline.period),
        doc.headline.start.to_rfc3339(),
        doc.headline.end.to_rfc3339(),
        esc(&doc.time_zone),
        esc(&doc.policy),
        doc.generated_at.to_rfc3339()
    );
    h.push_str("<h2>Headline metrics</h2><table><tr><th>Metric</th><th>Target</th><th>Actual</th><th>Status</th></tr>");
    for (metric, target, actual, status) in headline_rows(doc) {
        let class = match status.as_str() {
            "met" => "met",
            "missed" => "missed",
            _ => "nodata",
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"{class}\">{}</td></tr>",
            esc(&metric),
            esc(&target),
            esc(&actual),
            esc(&status)
        );
    }
    h.push_str("</table><h2>Trends</h2><div class=\"charts\">");
    let series = &doc.series;
    let target_of = |metric| {
        doc.targets
            .iter()
            .find(|t| t.metric == metric)
            .map(|t| t.threshold)
    };
    h.push_str(&bar_chart("Implemented changes", series));
    for (title, metric) in CHARTS {
        h.push_str(&line_chart(title, series, metric, target_of(metric)));
    }
    h.push_str("</div>");
    trend_table(&mut h, "Per period", series);
    if !doc.detail.is_empty() {
        trend_table(&mut h, "Per month", &doc.detail);
    }
    for (title, list) in [
        ("By type", &doc.headline.volume_by_type),
        ("By system", &doc.headline.volume_by_system),
        ("By outcome", &doc.headline.volume_by_outcome),
    ] {
        let _ = write!(
            h,
            "<h2>{title}</h2><table><tr><th>{}</th><th>Changes</th></tr>",
            &title[3..]
        );
        if list.is_empty() {
            h.push_str("<tr><td colspan=\"2\" class=\"nodata\">none</td></tr>");
        }
        for c in list {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(&c.key),
                c.count
            );
        }
        h.push_str("</table>");
    }
    notable(&mut h, "Emergency changes", &doc.emergencies);
    notable(&mut h, "Rollbacks", &doc.rollbacks);
    h.push_str("</body></html>\n");
    h
}

fn trend_table(h: &mut String, title: &str, buckets: &[Bucket]) {
    let _ = write!(h, "<h2>{title}</h2><table><tr><th>Period</th>");
    for (header, _) in TREND {
        let _ = write!(h, "<th>{header}</th>");
    }
    h.push_str("</tr>");
    for b in buckets {
        let _ = write!(h, "<tr><td>{}</td>", esc(&b.period));
        for (_, metric) in TREND {
            let _ = write!(h, "<td class=\"num\">{}</td>", show_metric(b, metric));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn notable(h: &mut String, title: &str, list: &[NotableChange]) {
    let _ = write!(
        h,
        "<h2>{title}</h2><table><tr><th>Change</th><th>Title</th><th>Outcome</th><th>Ended</th><th>Approved on time</th><th>Rollback reason</th></tr>"
    );
    if list.is_empty() {
        h.push_str("<tr><td colspan=\"6\" class=\"nodata\">none</td></tr>");
    }
    for c in list {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.number),
            esc(&c.title),
            esc(c.outcome.as_deref().unwrap_or("–")),
            c.actual_end.map(|t| t.to_rfc3339()).unwrap_or_default(),
            if c.approved_on_time() { "yes" } else { "no" },
            esc(c.rollback_reason.as_deref().unwrap_or("–"))
        );
    }
    h.push_str("</table>");
}

const W: f64 = 440.0;
const H: f64 = 180.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 10.0;

fn x_of(i: usize, n: usize) -> f64 {
    let span = W - LEFT - 10.0;
    if n <= 1 {
        LEFT + span / 2.0
    } else {
        LEFT + span * i as f64 / (n - 1) as f64
    }
}

fn axes(svg: &mut String, buckets: &[Bucket], max: f64, rate: bool) {
    let plot_h = H - BOTTOM - TOP;
    for step in 0..=4 {
        let value = max * f64::from(step) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(step) / 4.0;
        let label = if rate {
            format!("{:.0}%", value * 100.0)
        } else {
            format!("{value:.0}")
        };
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eef\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            W - 10.0,
            LEFT - 4.0,
            y + 4.0
        );
    }
    let every = buckets.len().div_ceil(8).max(1);
    for (i, b) in buckets.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x_of(i, buckets.len()),
                H - 8.0,
                esc(&b.period)
            );
        }
    }
}

fn line_chart(title: &str, buckets: &[Bucket], metric: Metric, target: Option<f64>) -> String {
    let values: Vec<Option<f64>> = buckets.iter().map(|b| b.value(metric)).collect();
    let rate = metric.unit() == Unit::Rate;
    let top = values
        .iter()
        .flatten()
        .copied()
        .chain(target)
        .fold(0.0_f64, f64::max);
    let max = if rate { top.max(0.05) } else { top.max(1.0) } * 1.1;
    let plot_h = H - BOTTOM - TOP;
    let y_of = |v: f64| TOP + plot_h - plot_h * (v / max);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    axes(&mut svg, buckets, max / 1.1, rate);
    if let Some(t) = target {
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#b3261e\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" style=\"fill:#b3261e\">target</text>",
            W - 10.0,
            W - 12.0,
            y_of(t) - 3.0,
            y = y_of(t)
        );
    }
    // Gaps (periods without data) break the line rather than reading as 0.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x_of(i, values.len()),
                    y_of(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = write!(
        svg,
        "<path d=\"{}\" fill=\"none\" stroke=\"#1a73e8\" stroke-width=\"2\"/>",
        path.trim()
    );
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1a73e8\"><title>{}: {}</title></circle>",
                x_of(i, values.len()),
                y_of(*v),
                esc(&buckets[i].period),
                show(Some(*v), metric.unit())
            );
        }
    }
    svg.push_str("</svg></figure>");
    svg
}

fn bar_chart(title: &str, buckets: &[Bucket]) -> String {
    let max = buckets
        .iter()
        .map(|b| b.implemented)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_h = H - BOTTOM - TOP;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    axes(&mut svg, buckets, max, false);
    let slot = (W - LEFT - 10.0) / buckets.len().max(1) as f64;
    for (i, b) in buckets.iter().enumerate() {
        let height = plot_h * b.implemented as f64 / max;
        let x = x_of(i, buckets.len()) - slot * 0.35;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"#5b8def\"><title>{}: {}</title></rect>",
            TOP + plot_h - height,
            slot * 0.7,
            esc(&b.period),
            b.implemented
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
