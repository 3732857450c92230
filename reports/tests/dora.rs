//! The DORA metrics on a hand-computed fixture (docs/design.md, "DORA
//! metrics"): a deployment belongs to the period it finished in, an
//! incident to the period service was restored in, an exception to the
//! period it happened in.

use chrono::{DateTime, Utc};
use reports::{
    ChangeFramesBuilder, DeploymentFacts, Granularity, MetricsOptions, PeriodSpec, parse_targets,
    period::parse_time_zone, report::TargetState,
};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn deployment(finished: &str, commit: Option<&str>, failed: bool) -> DeploymentFacts {
    DeploymentFacts {
        finished_at: at(finished),
        counted: true,
        commit_time: commit.map(at),
        failed,
    }
}

fn fixture() -> reports::ChangeFrames {
    let mut b = ChangeFramesBuilder::default();
    // January: four successful production deployments, lead times 2, 10,
    // 30 h and one without a commit time; one of them failed.
    b.push_deployment(deployment(
        "2026-01-05T12:00:00Z",
        Some("2026-01-05T10:00:00Z"),
        false,
    ));
    b.push_deployment(deployment(
        "2026-01-10T12:00:00Z",
        Some("2026-01-10T02:00:00Z"),
        true,
    ));
    b.push_deployment(deployment(
        "2026-01-20T12:00:00Z",
        Some("2026-01-19T06:00:00Z"),
        false,
    ));
    b.push_deployment(deployment("2026-01-31T23:00:00Z", None, false));
    // Not counted: a staging or failed deployment (counted = false).
    b.push_deployment(DeploymentFacts {
        counted: false,
        ..deployment("2026-01-15T00:00:00Z", Some("2026-01-14T00:00:00Z"), true)
    });
    // March: one, 1 h after its commit. February has none.
    b.push_deployment(deployment(
        "2026-03-02T01:00:00Z",
        Some("2026-03-02T00:00:00Z"),
        false,
    ));
    // Incidents: opened in January and restored in February (spanning
    // the boundary: February's), and two restored in January: 1 h, 3 h.
    b.push_restoration(at("2026-01-31T20:00:00Z"), at("2026-02-01T04:00:00Z"));
    b.push_restoration(at("2026-01-08T00:00:00Z"), at("2026-01-08T01:00:00Z"));
    b.push_restoration(at("2026-01-09T00:00:00Z"), at("2026-01-09T03:00:00Z"));
    // Exceptions: two in January, one in March.
    b.push_exception(at("2026-01-03T00:00:00Z"));
    b.push_exception(at("2026-01-30T00:00:00Z"));
    b.push_exception(at("2026-03-15T00:00:00Z"));
    b.finish().unwrap()
}

fn run() -> Vec<reports::Bucket> {
    let spec = PeriodSpec::between_labels(
        Granularity::Month,
        parse_time_zone("UTC").unwrap(),
        "2026-01",
        "2026-03",
    )
    .unwrap();
    let targets = parse_targets([
        ("mttr_hours", "< 4"),
        ("deployments_per_day", ">= 0.1/day"),
        ("deployment_failure_rate", "< 15%"),
    ])
    .unwrap();
    let options = MetricsOptions::new(targets);
    let tables = reports::compute(&fixture(), &spec, &options).unwrap();
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
    let buckets = run();
    let jan = &buckets[0];
    assert_eq!(jan.deployments, 4);
    // 4 deployments over 31 days.
    close(jan.deployments_per_day, 4.0 / 31.0);
    // Lead times 2, 10, 30 h (the fourth has no commit time): median 10,
    // p90 = 10 + 0.8 x (30 - 10) = 26, mean 14.
    close(jan.deployment_lead_time_hours.p50, 10.0);
    close(jan.deployment_lead_time_hours.p90, 26.0);
    close(jan.deployment_lead_time_hours.mean, 14.0);
    assert_eq!(jan.failed_deployments, 1);
    close(jan.deployment_failure_rate, 0.25);
    // Restored in January: 1 h and 3 h.
    assert_eq!(jan.incidents_restored, 2);
    close(jan.time_to_restore_hours.p50, 2.0);
    close(jan.time_to_restore_hours.mean, 2.0);
    assert_eq!(jan.unauthorised_deployments, 2);
    let status = |metric: &str| {
        jan.targets
            .iter()
            .find(|t| t.metric.key() == metric)
            .unwrap()
            .status
    };
    assert_eq!(status("mttr_hours"), TargetState::Met);
    assert_eq!(status("deployments_per_day"), TargetState::Met);
    assert_eq!(status("deployment_failure_rate"), TargetState::Missed);
}

#[test]
fn empty_periods_and_incidents_spanning_periods() {
    let buckets = run();
    let feb = &buckets[1];
    // No deployments: zero counts, zero per day, null rates and times.
    assert_eq!(feb.deployments, 0);
    close(feb.deployments_per_day, 0.0);
    assert_eq!(feb.deployment_failure_rate, None);
    assert_eq!(feb.deployment_lead_time_hours.p50, None);
    // The incident opened on 31 January and restored on 1 February: 8 h,
    // February's.
    assert_eq!(feb.incidents_restored, 1);
    close(feb.time_to_restore_hours.mean, 8.0);
    let mttr = feb
        .targets
        .iter()
        .find(|t| t.metric.key() == "mttr_hours")
        .unwrap();
    assert_eq!(mttr.status, TargetState::Missed);
    assert_eq!(mttr.target, "< 4 h");
    assert_eq!(feb.unauthorised_deployments, 0);
    let mar = &buckets[2];
    assert_eq!(mar.deployments, 1);
    close(mar.deployment_lead_time_hours.mean, 1.0);
    assert_eq!(mar.incidents_restored, 0);
    assert_eq!(mar.time_to_restore_hours.mean, None);
    assert_eq!(
        mar.targets
            .iter()
            .find(|t| t.metric.key() == "mttr_hours")
            .unwrap()
            .status,
        TargetState::NoData
    );
    assert_eq!(mar.unauthorised_deployments, 1);
}
