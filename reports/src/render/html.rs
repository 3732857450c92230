//! One self-contained HTML file: inline CSS and SVG, no external assets.

use std::fmt::Write;

mod chart;

use chrono_tz::Tz;

use super::figures::{headline_rows, outcome_words, show_instant, show_metric, zone_of};
use crate::{
    catalogue::Metric,
    document::{NotableChange, ReportDocument},
    report::Bucket,
};

/// The line charts of the trends: caption, metric and the title of the
/// value axis (the unit, and what a rate is a share of).
const CHARTS: [(&str, Metric, &str); 7] = [
    ("Success rate", Metric::SuccessRate, IMPLEMENTED_SHARE),
    ("Rollback rate", Metric::RollbackRate, IMPLEMENTED_SHARE),
    ("Emergency share", Metric::EmergencyShare, IMPLEMENTED_SHARE),
    (
        "Changes with issues",
        Metric::WithIssuesRate,
        IMPLEMENTED_SHARE,
    ),
    (
        "Change failure rate",
        Metric::FailureRate,
        IMPLEMENTED_SHARE,
    ),
    ("Lead time (median)", Metric::LeadTimeP50Hours, "hours"),
    (
        "Average change time",
        Metric::ChangeDurationMeanHours,
        "hours",
    ),
];

const IMPLEMENTED_SHARE: &str = "% of implemented changes";

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

/// The page's style. Each table sits in a box of its own that scrolls
/// sideways when the window cannot hold it (the per-period tables have
/// eleven columns), so the page itself never does; names and free text
/// (`td.text`) may break anywhere, so a system named without spaces wraps
/// instead of widening its table past the page. Under 760 px the charts
/// stack in one column: two side by side there would be drawn so small
/// that the browser's minimum font size makes their text larger than the
/// room the layout reserves for it.
const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.meta{color:#667}table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef}
th{background:#f5f6fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.met{color:#137333;font-weight:600}
.missed{color:#b3261e;font-weight:600}.nodata{color:#889}.charts{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
figure{margin:0;border:1px solid #eef;border-radius:6px;padding:.5rem}figcaption{font-weight:600;margin-bottom:.3rem}
svg text{fill:#556}.table{overflow-x:auto}td.text{overflow-wrap:anywhere}
@media (max-width:760px){.charts{grid-template-columns:1fr}}";

pub fn render(doc: &ReportDocument) -> String {
    let zone = zone_of(doc);
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
        show_instant(doc.headline.start, zone),
        show_instant(doc.headline.end, zone),
        esc(&doc.time_zone),
        esc(&doc.policy),
        show_instant(doc.generated_at, zone)
    );
    h.push_str("<h2>Headline metrics</h2><div class=\"table\"><table><tr><th>Metric</th><th>Target</th><th>Actual</th><th>Status</th></tr>");
    for row in headline_rows(doc) {
        let class = match row.status {
            "met" => "met",
            "missed" => "missed",
            _ => "nodata",
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"{class}\">{}</td></tr>",
            esc(row.metric.label()),
            esc(&row.target),
            esc(&row.shown()),
            esc(row.status)
        );
    }
    h.push_str("</table></div><h2>Trends</h2><div class=\"charts\">");
    let series = &doc.series;
    let periods: Vec<String> = series.iter().map(|b| b.period.clone()).collect();
    let frame = |caption, value_title| chart::Frame {
        caption,
        value_title,
        granularity: doc.series_granularity,
        periods: &periods,
    };
    let implemented: Vec<i64> = series.iter().map(|b| b.implemented).collect();
    h.push_str(&chart::bars(
        &frame("Implemented changes", "changes"),
        &implemented,
    ));
    for (caption, metric, value_title) in CHARTS {
        let target = doc
            .targets
            .iter()
            .find(|t| t.metric == metric)
            .map(|t| chart::TargetLine {
                threshold: t.threshold,
                label: format!("target {}", t.describe()),
            });
        let values: Vec<Option<f64>> = series.iter().map(|b| b.value(metric)).collect();
        h.push_str(&chart::line(
            &frame(caption, value_title),
            &values,
            metric.unit(),
            target.as_ref(),
        ));
    }
    h.push_str("</div>");
    trend_table(&mut h, "Per period", series);
    if !doc.detail.is_empty() {
        trend_table(&mut h, "Per month", &doc.detail);
    }
    // Only the outcome table's keys are codes to put in words: a system
    // may well be called `FAILED`.
    for (title, list, outcomes) in [
        ("By type", &doc.headline.volume_by_type, false),
        ("By system", &doc.headline.volume_by_system, false),
        ("By outcome", &doc.headline.volume_by_outcome, true),
    ] {
        let _ = write!(
            h,
            "<h2>{title}</h2><div class=\"table\"><table><tr><th>{}</th><th>Changes</th></tr>",
            &title[3..]
        );
        if list.is_empty() {
            h.push_str("<tr><td colspan=\"2\" class=\"nodata\">none</td></tr>");
        }
        for c in list {
            let key = if outcomes {
                outcome_words(&c.key)
            } else {
                c.key.as_str().into()
            };
            let _ = write!(
                h,
                "<tr><td class=\"text\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&key),
                c.count
            );
        }
        h.push_str("</table></div>");
    }
    notable(&mut h, "Emergency changes", &doc.emergencies, zone);
    notable(&mut h, "Rollbacks", &doc.rollbacks, zone);
    h.push_str("</body></html>\n");
    h
}

fn trend_table(h: &mut String, title: &str, buckets: &[Bucket]) {
    let _ = write!(
        h,
        "<h2>{title}</h2><div class=\"table\"><table><tr><th>Period</th>"
    );
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
    h.push_str("</table></div>");
}

fn notable(h: &mut String, title: &str, list: &[NotableChange], zone: Tz) {
    let _ = write!(
        h,
        "<h2>{title}</h2><div class=\"table\"><table><tr><th>Change</th><th>Title</th><th>Outcome</th><th>Ended</th><th>Approved on time</th><th>Rollback reason</th></tr>"
    );
    if list.is_empty() {
        h.push_str("<tr><td colspan=\"6\" class=\"nodata\">none</td></tr>");
    }
    for c in list {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            esc(&c.number),
            esc(&c.title),
            esc(&c.outcome.as_deref().map_or("–".into(), outcome_words)),
            c.actual_end
                .map(|t| show_instant(t, zone))
                .unwrap_or_default(),
            c.approved_on_time_label(),
            esc(c.rollback_reason.as_deref().unwrap_or("–"))
        );
    }
    h.push_str("</table></div>");
}

/// Text as HTML (and SVG) character data or attribute value.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
