//! Markdown: the headline, a trend table and the lists, for pasting into
//! a ticket or a wiki.

use std::fmt::Write;

use super::figures::{headline_rows, outcome_words, show_instant, show_metric, zone_of};
use crate::{
    catalogue::Metric,
    document::{NotableChange, ReportDocument},
};

/// The columns of the trend table after the period: header and metric.
/// The headers are shorter than the catalogue's labels, to keep the table
/// narrow.
const TREND: [(&str, Metric); 8] = [
    ("Implemented", Metric::Implemented),
    ("Success", Metric::SuccessRate),
    ("Failure", Metric::FailureRate),
    ("Rollback", Metric::RollbackRate),
    ("Emergency", Metric::EmergencyShare),
    ("With issues", Metric::WithIssuesRate),
    ("Lead time p50", Metric::LeadTimeP50Hours),
    ("Avg change time", Metric::ChangeDurationMeanHours),
];

pub fn render(doc: &ReportDocument) -> String {
    let zone = zone_of(doc);
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", escape(&doc.title));
    let _ = writeln!(
        md,
        "Period {} ({} to {}), time zone {}, policy {}, generated {}.\n",
        doc.headline.period,
        show_instant(doc.headline.start, zone),
        show_instant(doc.headline.end, zone),
        escape(&doc.time_zone),
        escape(&doc.policy),
        show_instant(doc.generated_at, zone)
    );
    md.push_str(
        "## Headline metrics\n\n| Metric | Target | Actual | Status |\n|---|---|---|---|\n",
    );
    for row in headline_rows(doc) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            row.metric.label(),
            row.target,
            row.shown(),
            row.status
        );
    }
    md.push_str("\n## Trend\n\n| Period |");
    for (header, _) in TREND {
        let _ = write!(md, " {header} |");
    }
    md.push_str("\n|");
    md.push_str(&"---|".repeat(1 + TREND.len()));
    md.push('\n');
    for b in doc.series.iter().chain(doc.detail.iter()) {
        let _ = write!(md, "| {} |", escape(&b.period));
        for (_, metric) in TREND {
            let _ = write!(md, " {} |", show_metric(b, metric));
        }
        md.push('\n');
    }
    // Only the outcome table's keys are codes to put in words: a system
    // may well be called `FAILED`.
    for (title, list, outcomes) in [
        ("By type", &doc.headline.volume_by_type, false),
        ("By outcome", &doc.headline.volume_by_outcome, true),
        ("By system", &doc.headline.volume_by_system, false),
    ] {
        let _ = writeln!(md, "\n## {title}\n\n| Key | Changes |\n|---|---|");
        for c in list {
            let key = if outcomes {
                outcome_words(&c.key)
            } else {
                c.key.as_str().into()
            };
            let _ = writeln!(md, "| {} | {} |", escape(&key), c.count);
        }
    }
    list(&mut md, "Emergency changes", &doc.emergencies, zone);
    list(&mut md, "Rollbacks", &doc.rollbacks, zone);
    md
}

fn list(md: &mut String, title: &str, changes: &[NotableChange], zone: chrono_tz::Tz) {
    let _ = writeln!(
        md,
        "\n## {title}\n\n| Change | Title | Outcome | Ended | Approved on time | Rollback reason |\n|---|---|---|---|---|---|"
    );
    if changes.is_empty() {
        md.push_str("| – | none | | | | |\n");
    }
    for c in changes {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            escape(&c.number),
            escape(&c.title),
            escape(&c.outcome.as_deref().map_or("–".into(), outcome_words)),
            c.actual_end
                .map(|t| show_instant(t, zone))
                .unwrap_or_default(),
            c.approved_on_time_label(),
            escape(c.rollback_reason.as_deref().unwrap_or("–"))
        );
    }
}

/// Client text (titles, reasons, names) as literal Markdown text: HTML
/// as character references, so a renderer that passes HTML through shows
/// `<script>` rather than running it; every Markdown control character
/// that works inside a line backslash-escaped, so no text starts a link,
/// image, emphasis, strike-through or code span, and `|` cannot end a
/// table cell (the text never starts a line); line breaks and other
/// control characters as a space, so no text ends its table row.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '|' | '~' => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if c.is_control() => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_in_client_text_is_shown_not_run() {
        assert_eq!(
            escape("<script>alert(1)</script> & <img src=x onerror=\"a()\">"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=&quot;a()&quot;&gt;"
        );
    }

    #[test]
    fn markdown_structure_cannot_be_forged() {
        // A cell that would close itself and start a row of its own.
        assert_eq!(escape("a | b\n| c |"), "a \\| b \\| c \\|");
        // A trailing backslash cannot swallow the `|` that ends the cell.
        assert_eq!(escape("x\\"), "x\\\\");
        assert_eq!(escape("x\\|"), "x\\\\\\|");
        assert_eq!(
            escape("[click](javascript:alert(1))"),
            "\\[click\\](javascript:alert(1))"
        );
        assert_eq!(escape("# H\r\n"), "\\# H  ");
        assert_eq!(
            escape("**bold** _it_ `code` ~~x~~ ![i]"),
            "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~x\\~\\~ \\!\\[i\\]"
        );
        assert_eq!(
            escape("CR-2026-0001: Rotate TLS keys."),
            "CR-2026-0001: Rotate TLS keys."
        );
    }
}
