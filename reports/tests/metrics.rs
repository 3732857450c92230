//! Exact metrics on a hand-computed fixture (the numbers in the comments
//! are worked out by hand from docs/design.md's definitions).

use chrono::{DateTime, Utc};
use reports::{
    ChangeFacts, ChangeFramesBuilder, Granularity, MetricsOptions, PeriodSpec, parse_targets,
    period::parse_time_zone, report::TargetState,
};

fn t(s: &str) -> Option<DateTime<Utc>> {
    Some(at(s))
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn change(change_type: &str, outcome: Option<&str>) -> ChangeFacts {
    ChangeFacts {
        change_type: change_type.to_owned(),
        outcome: outcome.map(str::to_owned),
        ..ChangeFacts::default()
    }
}

fn fixture() -> reports::ChangeFrames {
    let mut b = ChangeFramesBuilder::default();
    // c1: lead 35 h, duration 1 h (planned 2 h), approval 2 h, CAB approved.
    let c1 = b.push(ChangeFacts {
        submitted_at: t("2026-01-01T00:00:00Z"),
        approved_at: t("2026-01-01T02:00:00Z"),
        scheduled_start: t("2026-01-02T10:00:00Z"),
        scheduled_end: t("2026-01-02T12:00:00Z"),
        actual_start: t("2026-01-02T10:00:00Z"),
        actual_end: t("2026-01-02T11:00:00Z"),
        ..change("normal", Some("SUCCESSFUL"))
    });
    b.push_board_decision("APPROVED", at("2026-01-01T02:00:00Z"));
    b.push_system(c1, "api");
    b.push_system(c1, "db");
    // c2: with issues; lead 51 h, duration 3 h (planned 2 h), approval 4 h.
    let c2 = b.push(ChangeFacts {
        submitted_at: t("2026-01-03T00:00:00Z"),
        approved_at: t("2026-01-03T04:00:00Z"),
        scheduled_start: t("2026-01-05T00:00:00Z"),
        scheduled_end: t("2026-01-05T02:00:00Z"),
        actual_start: t("2026-01-05T00:00:00Z"),
        actual_end: t("2026-01-05T03:00:00Z"),
        ..change("normal", Some("SUCCESSFUL_WITH_ISSUES"))
    });
    b.push_board_decision("APPROVED", at("2026-01-03T04:00:00Z"));
    b.push_system(c2, "api");
    // c3: emergency rolled back (incident), approved retroactively in time;
    // lead 2 h, duration 1 h, approval 20 h.
    b.push(ChangeFacts {
        submitted_at: t("2026-01-10T00:00:00Z"),
        approved_at: t("2026-01-10T20:00:00Z"),
        actual_start: t("2026-01-10T01:00:00Z"),
        actual_end: t("2026-01-10T02:00:00Z"),
        approval_due_at: t("2026-01-11T01:00:00Z"),
        has_incident: true,
        ..change("emergency", Some("ROLLED_BACK"))
    });
    // c4: failed, never submitted (no lead or approval time), 5 h, CAB rejected.
    b.push(ChangeFacts {
        actual_start: t("2026-01-20T00:00:00Z"),
        actual_end: t("2026-01-20T05:00:00Z"),
        ..change("major", Some("FAILED"))
    });
    b.push_board_decision("REJECTED", at("2026-01-19T00:00:00Z"));
    // c5: successful with an incident; ends 23:30 UTC on 31 January, which
    // is 00:30 on 1 February in Berlin. Lead 167.5 h, 0.5 h, approval 24 h.
    b.push(ChangeFacts {
        submitted_at: t("2026-01-25T00:00:00Z"),
        approved_at: t("2026-01-26T00:00:00Z"),
        actual_start: t("2026-01-31T23:00:00Z"),
        actual_end: t("2026-01-31T23:30:00Z"),
        has_incident: true,
        ..change("normal", Some("SUCCESSFUL"))
    });
    // c6: emergency approved 4 h after its deadline; lead 3 h, 2 h, approval 29 h.
    b.push(ChangeFacts {
        submitted_at: t("2026-01-15T00:00:00Z"),
        approved_at: t("2026-01-16T05:00:00Z"),
        actual_start: t("2026-01-15T01:00:00Z"),
        actual_end: t("2026-01-15T03:00:00Z"),
        approval_due_at: t("2026-01-16T01:00:00Z"),
        ..change("emergency", Some("SUCCESSFUL"))
    });
    b.push_board_decision("DEFERRED", at("2026-01-15T10:00:00Z"));
    // Not implemented (twice: the second with an end among January's
    // changes, as imported history may have, so the rows that count are
    // not one contiguous run), and implemented after the range: all
    // ignored.
    b.push(ChangeFacts {
        submitted_at: t("2026-01-05T00:00:00Z"),
        ..change("normal", None)
    });
    let cancelled = b.push(ChangeFacts {
        actual_end: t("2026-01-12T00:00:00Z"),
        ..change("major", None)
    });
    b.push_system(cancelled, "api");
    b.push(ChangeFacts {
        actual_end: t("2026-04-01T00:00:00Z"),
        ..change("normal", Some("FAILED"))
    });
    // March: one standard change without actual_start (no duration).
    let c7 = b.push(ChangeFacts {
        submitted_at: t("2026-03-01T00:00:00Z"),
        actual_end: t("2026-03-02T00:00:00Z"),
        ..change("standard", Some("SUCCESSFUL"))
    });
    b.push_system(c7, "db");
    b.finish().unwrap()
}

fn spec(zone: &str) -> PeriodSpec {
    PeriodSpec::between_labels(
        Granularity::Month,
        parse_time_zone(zone).unwrap(),
        "2026-01",
        "2026-03",
    )
    .unwrap()
}

fn run(zone: &str) -> Vec<reports::Bucket> {
    let frames = fixture();
    let spec = spec(zone);
    // The targets of the tiered-cab preset (seed 001, section 9.3).
    let targets = parse_targets([
        ("emergency_share", "< 5%"),
        ("success_rate", "> 95%"),
        ("rollback_rate", "< 5%"),
        ("with_issues_rate", "< 10%"),
        ("change_duration_mean_hours", "< 2"),
    ])
    .unwrap();
    let options = MetricsOptions::new(targets);
    let tables = reports::compute(&frames, &spec, &options).unwrap();
    reports::buckets(&tables, &spec, &options).unwrap()
}

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.unwrap_or_else(|| panic!("expected {expected}, got null"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}

#[test]
fn january_matches_the_hand_computed_values() {
    let buckets = run("UTC");
    let jan = &buckets[0];
    assert_eq!(jan.period, "2026-01");
    assert_eq!(
        (
            jan.implemented,
            jan.successful,
            jan.successful_with_issues,
            jan.failed,
            jan.rolled_back
        ),
        (6, 3, 1, 1, 1)
    );
    close(jan.success_rate, 4.0 / 6.0);
    close(jan.rollback_rate, 1.0 / 6.0);
    close(jan.failure_rate, 2.0 / 6.0);
    close(jan.emergency_share, 2.0 / 6.0);
    // c2 (with issues), c3 and c5 (incidents): each once.
    assert_eq!(jan.with_issues, 3);
    close(jan.with_issues_rate, 0.5);
    // Lead times [2, 3, 35, 51, 167.5] (c4 has no submitted_at).
    close(jan.lead_time_hours.p50, 35.0);
    close(jan.lead_time_hours.p90, 51.0 + 0.6 * (167.5 - 51.0));
    close(jan.lead_time_hours.mean, 258.5 / 5.0);
    // Durations [0.5, 1, 1, 2, 3, 5]; planned only c1 and c2 (2 h each).
    close(jan.change_duration_hours.mean, 12.5 / 6.0);
    close(jan.change_duration_hours.p50, 1.5);
    close(jan.change_duration_hours.planned_mean, 2.0);
    close(jan.change_duration_hours.planned_p50, 2.0);
    // Approval times [2, 4, 20, 24, 29].
    close(jan.approval_time_hours.p50, 20.0);
    close(jan.approval_time_hours.mean, 79.0 / 5.0);
    // Board: c1, c2 approved, c4 rejected, c6 deferred (not a decision).
    assert_eq!((jan.cab_approved, jan.cab_rejected), (2, 1));
    close(jan.cab_approval_rate, 2.0 / 3.0);
    // Emergencies: c3 in time, c6 late.
    assert_eq!(jan.emergency_docs_on_time, 1);
    close(jan.emergency_docs_on_time_rate, 0.5);

    let volume = |v: &[reports::report::VolumeCount]| {
        v.iter()
            .map(|c| format!("{}={}", c.key, c.count))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(volume(&jan.volume_by_type), "normal=3,emergency=2,major=1");
    assert_eq!(
        volume(&jan.volume_by_outcome),
        "SUCCESSFUL=3,FAILED=1,ROLLED_BACK=1,SUCCESSFUL_WITH_ISSUES=1"
    );
    assert_eq!(volume(&jan.volume_by_system), "api=2,db=1");

    // Every tiered-cab target is missed in January.
    assert!(jan.targets.iter().all(|t| t.status == TargetState::Missed));
}

#[test]
fn empty_periods_appear_with_zero_counts_and_null_rates() {
    let buckets = run("UTC");
    let labels: Vec<_> = buckets.iter().map(|b| b.period.as_str()).collect();
    assert_eq!(labels, ["2026-01", "2026-02", "2026-03"]);
    let feb = &buckets[1];
    assert_eq!(
        (
            feb.implemented,
            feb.cab_approved,
            feb.emergency_docs_on_time
        ),
        (0, 0, 0)
    );
    for rate in [
        feb.success_rate,
        feb.rollback_rate,
        feb.failure_rate,
        feb.emergency_share,
        feb.with_issues_rate,
        feb.cab_approval_rate,
        feb.emergency_docs_on_time_rate,
        feb.lead_time_hours.p50,
        feb.change_duration_hours.mean,
        feb.approval_time_hours.mean,
    ] {
        assert_eq!(rate, None);
    }
    assert!(feb.volume_by_type.is_empty());
    assert!(feb.targets.iter().all(|t| t.status == TargetState::NoData));
}

#[test]
fn a_missing_timestamp_leaves_a_change_out_of_that_metric_only() {
    let buckets = run("UTC");
    let mar = &buckets[2];
    assert_eq!(mar.implemented, 1);
    close(mar.success_rate, 1.0);
    close(mar.lead_time_hours.p50, 24.0);
    close(mar.lead_time_hours.p90, 24.0);
    assert_eq!(mar.change_duration_hours.mean, None);
    assert_eq!(mar.approval_time_hours.p50, None);
    // No board decision and no emergency: those rates are null, not 0.
    assert_eq!(mar.cab_approval_rate, None);
    assert_eq!(mar.emergency_docs_on_time_rate, None);
    let status = |label: &str| {
        mar.targets
            .iter()
            .find(|t| t.label == label)
            .map(|t| t.status)
            .unwrap()
    };
    assert_eq!(status("Success rate"), TargetState::Met);
    assert_eq!(status("Emergency changes"), TargetState::Met);
    assert_eq!(status("Average change time"), TargetState::NoData);
}

#[test]
fn buckets_follow_the_time_zone_across_a_month_boundary() {
    let utc = run("UTC");
    let berlin = run("Europe/Berlin");
    assert_eq!((utc[0].implemented, utc[1].implemented), (6, 0));
    // c5 ended at 00:30 on 1 February Berlin time.
    assert_eq!((berlin[0].implemented, berlin[1].implemented), (5, 1));
    assert_eq!(berlin[1].successful, 1);
    assert_eq!(berlin[1].with_issues, 1);
    assert_eq!(
        berlin[1].start,
        "2026-01-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    // Lead times without c5: [2, 3, 35, 51].
    close(berlin[0].lead_time_hours.p50, 19.0);
    close(berlin[0].lead_time_hours.p90, 35.0 + 0.7 * 16.0);
}

#[test]
fn quarters_aggregate_their_months() {
    let frames = fixture();
    let spec = PeriodSpec::between_labels(
        Granularity::Quarter,
        chrono_tz::Tz::UTC,
        "2026-Q1",
        "2026-Q2",
    )
    .unwrap();
    let options = MetricsOptions::new(Vec::new());
    let tables = reports::compute(&frames, &spec, &options).unwrap();
    let buckets = reports::buckets(&tables, &spec, &options).unwrap();
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0].implemented, 7);
    // Q2 starts 1 April 00:00: the change ending then belongs to Q2.
    assert_eq!(buckets[1].implemented, 1);
    close(buckets[1].failure_rate, 1.0);
    // Lead times [2, 3, 24, 35, 51, 167.5]: p50 = (24 + 35) / 2.
    close(buckets[0].lead_time_hours.p50, 29.5);
}

/// The CAB approval rate counts each decision in the period the board took
/// it: not when (or whether) the change was implemented, and a rejection
/// still counts after the change was revised and approved.
#[test]
fn board_decisions_count_when_the_board_took_them() {
    let mut b = ChangeFramesBuilder::default();
    // Decided in January, implemented in March.
    b.push(ChangeFacts {
        submitted_at: t("2026-01-02T00:00:00Z"),
        actual_start: t("2026-03-01T00:00:00Z"),
        actual_end: t("2026-03-01T01:00:00Z"),
        ..change("major", Some("SUCCESSFUL"))
    });
    b.push_board_decision("APPROVED", at("2026-01-20T00:00:00Z"));
    // Rejected in January, revised, approved in February: both count.
    b.push_board_decision("REJECTED", at("2026-01-25T00:00:00Z"));
    b.push_board_decision("APPROVED", at("2026-02-03T00:00:00Z"));
    // Rejected in February and never implemented.
    b.push_board_decision("REJECTED", at("2026-02-10T00:00:00Z"));
    // Deferred in February: not a decision.
    b.push_board_decision("DEFERRED", at("2026-02-11T00:00:00Z"));
    // 31 March 23:30 UTC is 1 April in Berlin, after the range.
    b.push_board_decision("REJECTED", at("2026-03-31T23:30:00Z"));
    // Before the range.
    b.push_board_decision("REJECTED", at("2025-12-31T23:59:59Z"));
    let frames = b.finish().unwrap();
    let rates = |zone: &str| {
        let spec = spec(zone);
        let options = MetricsOptions::new(Vec::new());
        let tables = reports::compute(&frames, &spec, &options).unwrap();
        reports::buckets(&tables, &spec, &options)
            .unwrap()
            .into_iter()
            .map(|b| {
                (
                    b.period,
                    b.cab_approved,
                    b.cab_rejected,
                    b.cab_approval_rate,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rates("UTC"),
        [
            ("2026-01".to_owned(), 1, 1, Some(0.5)),
            ("2026-02".to_owned(), 1, 1, Some(0.5)),
            ("2026-03".to_owned(), 0, 1, Some(0.0)),
        ]
    );
    assert_eq!(
        rates("Europe/Berlin")[2],
        ("2026-03".to_owned(), 0, 0, None)
    );
}
