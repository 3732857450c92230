//! The bytes of every text report format for one fixed quarter, against
//! files committed in `tests/snapshots/`: a change to a header, a label, a
//! column name or a number format shows up here as a diff to review.
//! `UPDATE_SNAPSHOTS=1 cargo test -p reports --test render` rewrites them.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use reports::{
    ChangeFacts, ChangeFramesBuilder, Metric, MetricsOptions, Unit,
    document::{self, NotableChange, ReportKind, ReportPlan},
    parse_targets,
    period::parse_time_zone,
    render::{Format, Table, render},
};

fn t(s: &str) -> Option<DateTime<Utc>> {
    Some(at(s))
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn change(change_type: &str, outcome: &str, submitted: &str, hours: [i64; 3]) -> ChangeFacts {
    // hours: approval after submission, start after submission, duration.
    let submitted_at = at(submitted);
    let hour = chrono::Duration::hours;
    let start = submitted_at + hour(hours[1]);
    ChangeFacts {
        change_type: change_type.to_owned(),
        outcome: Some(outcome.to_owned()),
        submitted_at: Some(submitted_at),
        approved_at: Some(submitted_at + hour(hours[0])),
        scheduled_start: Some(start),
        scheduled_end: Some(start + hour(2)),
        actual_start: Some(start),
        actual_end: Some(start + hour(hours[2])),
        ..ChangeFacts::default()
    }
}

fn document() -> reports::document::ReportDocument {
    let mut b = ChangeFramesBuilder::default();
    let changes = [
        change("normal", "SUCCESSFUL", "2026-01-05T09:00:00Z", [3, 30, 1]),
        change(
            "normal",
            "SUCCESSFUL_WITH_ISSUES",
            "2026-01-12T09:00:00Z",
            [5, 50, 3],
        ),
        change("major", "FAILED", "2026-02-02T09:00:00Z", [20, 70, 4]),
        change("normal", "SUCCESSFUL", "2026-02-16T09:00:00Z", [2, 26, 1]),
        change("normal", "SUCCESSFUL", "2026-03-02T09:00:00Z", [4, 40, 2]),
        change("standard", "SUCCESSFUL", "2026-03-09T09:00:00Z", [1, 5, 1]),
    ];
    for (i, facts) in changes.into_iter().enumerate() {
        let key = b.push(facts);
        b.push_system(key, if i % 2 == 0 { "api" } else { "db" });
        b.push_board_decision(
            if i == 2 { "REJECTED" } else { "APPROVED" },
            at("2026-01-02T00:00:00Z") + chrono::Duration::days(14 * i as i64),
        );
    }
    let emergency = b.push(ChangeFacts {
        change_type: "emergency".into(),
        outcome: Some("ROLLED_BACK".into()),
        submitted_at: t("2026-02-10T00:00:00Z"),
        approved_at: t("2026-02-10T20:00:00Z"),
        actual_start: t("2026-02-10T01:00:00Z"),
        actual_end: t("2026-02-10T02:00:00Z"),
        approval_due_at: t("2026-02-11T01:00:00Z"),
        has_incident: true,
        ..ChangeFacts::default()
    });
    b.push_system(emergency, "=db");
    // Last year, for the trend series.
    b.push(change(
        "normal",
        "SUCCESSFUL",
        "2025-11-03T09:00:00Z",
        [6, 30, 2],
    ));
    let frames = b.finish().unwrap();

    let targets = parse_targets(Metric::with_targets().map(|metric| {
        let text = if metric.unit() == Unit::Rate {
            "> 50%"
        } else {
            "< 24"
        };
        (metric.key(), text)
    }))
    .unwrap();
    let options = MetricsOptions::new(targets);
    let zone = parse_time_zone("Europe/Berlin").unwrap();
    let plan = ReportPlan::new(
        ReportKind::Quarterly {
            period: "2026-Q1".into(),
        },
        zone,
    )
    .unwrap();
    let notable = vec![NotableChange {
        number: "CR-2026-0007".into(),
        title: "Roll back | the *cache* <now>".into(),
        change_type: "emergency".into(),
        outcome: Some("ROLLED_BACK".into()),
        actual_end: t("2026-02-10T02:00:00Z"),
        approved_at: t("2026-02-10T20:00:00Z"),
        approval_due_at: t("2026-02-11T01:00:00Z"),
        rollback_reason: Some("=cmd".into()),
    }];
    document::build(
        &plan,
        &frames,
        &options,
        notable,
        "tiered-cab",
        at("2026-04-01T06:00:00Z"),
    )
    .unwrap()
}

fn check(name: &str, bytes: Vec<u8>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &bytes).unwrap();
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    assert!(
        expected == bytes,
        "{name} differs from its snapshot:\n{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn text_formats_match_their_snapshots() {
    let doc = document();
    for (name, format) in [
        ("quarterly.json", Format::Json),
        ("quarterly.md", Format::Md),
        ("quarterly.html", Format::Html),
    ] {
        check(name, render(&doc, format, Table::Metrics).unwrap());
    }
    for (name, table) in [
        ("metrics.csv", Table::Metrics),
        ("by-type.csv", Table::ByType),
        ("by-outcome.csv", Table::ByOutcome),
        ("by-system.csv", Table::BySystem),
        ("emergencies.csv", Table::Emergencies),
        ("rollbacks.csv", Table::Rollbacks),
    ] {
        check(name, render(&doc, Format::Csv, table).unwrap());
    }
}
