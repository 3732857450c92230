use std::fmt::Write;

use super::{headline_rows, show};
use crate::document::{NotableChange, ReportDocument};

pub fn render(doc: &ReportDocument) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", doc.title);
    let _ = writeln!(
        md,
        "Period {} ({} to {}), time zone {}, policy `{}`, generated {}.\n",
        doc.headline.period,
        doc.headline.start.to_rfc3339(),
        doc.headline.end.to_rfc3339(),
        doc.time_zone,
        doc.policy,
        doc.generated_at.to_rfc3339()
    );
    md.push_str(
        "## Headline metrics\n\n| Metric | Target | Actual | Status |\n|---|---|---|---|\n",
    );
    for (metric, target, actual, status) in headline_rows(doc) {
        let _ = writeln!(md, "| {metric} | {target} | {actual} | {status} |");
    }
    md.push_str("\n## Trend\n\n| Period | Implemented | Success | Failure | Rollback | Emergency | With issues | Lead time p50 | Avg change time |\n|---|---|---|---|---|---|---|---|---|\n");
    for b in doc.series.iter().chain(doc.detail.iter()) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            b.period,
            b.implemented,
            show(b.success_rate, true),
            show(b.failure_rate, true),
            show(b.rollback_rate, true),
            show(b.emergency_share, true),
            show(b.with_issues_rate, true),
            show(b.lead_time_hours.p50, false),
            show(b.change_duration_hours.mean, false)
        );
    }
    for (title, list) in [
        ("By type", &doc.headline.volume_by_type),
        ("By outcome", &doc.headline.volume_by_outcome),
        ("By system", &doc.headline.volume_by_system),
    ] {
        let _ = writeln!(md, "\n## {title}\n\n| Key | Changes |\n|---|---|");
        for c in list {
            let _ = writeln!(md, "| {} | {} |", escape(&c.key), c.count);
        }
    }
    list(&mut md, "Emergency changes", &doc.emergencies);
    list(&mut md, "Rollbacks", &doc.rollbacks);
    md
}

fn list(md: &mut String, title: &str, changes: &[NotableChange]) {
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
            c.number,
            escape(&c.title),
            c.outcome.as_deref().unwrap_or("–"),
            c.actual_end.map(|t| t.to_rfc3339()).unwrap_or_default(),
            if c.approved_on_time() { "yes" } else { "no" },
            escape(c.rollback_reason.as_deref().unwrap_or("–"))
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
