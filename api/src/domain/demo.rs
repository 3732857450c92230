//! A realistic, reproducible change history for `gatehouse demo-data`:
//! the same seed, size, months and end give the same changes. Pure: the
//! service writes the rows through the import path.

use chrono::{DateTime, Duration, Months, Utc};
use entity::{BoardOutcome, ChangeOutcome, ChangeStatus, IncidentPriority, Priority};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{change::ChangeContent, import::ImportedChange};

/// Systems as `(name, parent)`, parents first.
pub const SYSTEMS: &[(&str, Option<&str>)] = &[
    ("platform", None),
    ("api-gateway", Some("platform")),
    ("accounts-service", Some("platform")),
    ("billing-service", Some("platform")),
    ("web-frontend", Some("platform")),
    ("data", None),
    ("postgres-primary", Some("data")),
    ("redis-cache", Some("data")),
    ("kafka", Some("data")),
    ("network", None),
    ("dns", Some("network")),
    ("cdn", Some("network")),
];

/// Requesters as `(name, email)`.
pub const REQUESTERS: &[(&str, &str)] = &[
    ("Ada Lovelace", "ada.demo@example.com"),
    ("Grace Hopper", "grace.demo@example.com"),
    ("Alan Turing", "alan.demo@example.com"),
    ("Edsger Dijkstra", "edsger.demo@example.com"),
    ("Barbara Liskov", "barbara.demo@example.com"),
    ("Ken Thompson", "ken.demo@example.com"),
    ("Margaret Hamilton", "margaret.demo@example.com"),
    ("Linus Torvalds", "linus.demo@example.com"),
];

/// What the generator needs to know about the policy's change types.
#[derive(Debug, Clone)]
pub struct DemoType {
    pub key: String,
    pub pre_approved: bool,
    pub board: bool,
    /// Hours for the retroactive approval (emergency types only).
    pub emergency_deadline_hours: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub changes: usize,
    pub months: u32,
    pub seed: u64,
    /// The history ends here (exclusive).
    pub end: DateTime<Utc>,
    pub types: Vec<DemoType>,
}

const VERBS: &[&str] = &[
    "Upgrade",
    "Patch",
    "Reconfigure",
    "Scale",
    "Rotate secrets of",
    "Migrate",
    "Tune",
    "Deploy",
];
const THINGS: &[&str] = &[
    "TLS certificates",
    "connection pool",
    "release 2.4",
    "feature flags",
    "autoscaling limits",
    "base image",
    "firewall rules",
    "schema",
];
const ROLLBACK_REASONS: &[&str] = &[
    "Error rate above 2 % after the canary stage",
    "Latency p99 doubled",
    "Health checks failed on half the fleet",
    "Data migration slower than the window allowed",
    "Customer-facing 5xx errors",
];

fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    median * (sigma * z).exp()
}

fn hours(value: f64) -> Duration {
    Duration::seconds((value * 3600.0).round() as i64)
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn type_weight(kind: &DemoType) -> f64 {
    match kind.key.as_str() {
        _ if kind.emergency_deadline_hours.is_some() => 0.04,
        "standard" => 0.45,
        "normal" => 0.40,
        "major" => 0.11,
        _ => 0.10,
    }
}

fn priority(score: i32) -> Priority {
    match score {
        0..=4 => Priority::Low,
        5..=9 => Priority::Medium,
        10..=16 => Priority::High,
        _ => Priority::Critical,
    }
}

/// The whole history, ordered by creation.
pub fn generate(spec: &DemoSpec) -> Vec<ImportedChange> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let start = spec
        .end
        .checked_sub_months(Months::new(spec.months.max(1)))
        .unwrap_or(spec.end - Duration::days(30));
    let span = (spec.end - start).num_seconds().max(1);
    let leaves: Vec<&str> = SYSTEMS
        .iter()
        .filter(|(_, parent)| parent.is_some())
        .map(|(name, _)| *name)
        .collect();
    let total_weight: f64 = spec.types.iter().map(type_weight).sum();
    let mut changes: Vec<ImportedChange> = (0..spec.changes)
        .map(|index| {
            // Types by weight.
            let mut roll = rng.random::<f64>() * total_weight;
            let kind = spec
                .types
                .iter()
                .find(|t| {
                    roll -= type_weight(t);
                    roll < 0.0
                })
                .or(spec.types.last())
                .cloned()
                .unwrap_or(DemoType {
                    key: "normal".into(),
                    pre_approved: false,
                    board: false,
                    emergency_deadline_hours: None,
                });
            one_change(&mut rng, &kind, start, span, spec.end, &leaves, index)
        })
        .collect();
    changes.sort_by_key(|c| c.created_at);
    for (index, change) in changes.iter_mut().enumerate() {
        change.line = index as u64 + 1;
    }
    changes
}

fn one_change(
    rng: &mut StdRng,
    kind: &DemoType,
    start: DateTime<Utc>,
    span: i64,
    end: DateTime<Utc>,
    leaves: &[&str],
    index: usize,
) -> ImportedChange {
    let emergency = kind.emergency_deadline_hours.is_some();
    let created_at = start + Duration::seconds(rng.random_range(0..span));
    let (likelihood, impact) = if kind.pre_approved {
        (rng.random_range(1..=2), rng.random_range(1..=2))
    } else if kind.board {
        (rng.random_range(2..=5), rng.random_range(3..=5))
    } else {
        (rng.random_range(1..=4), rng.random_range(1..=4))
    };
    let residual = rng.random_bool(0.5);
    let system_count = if rng.random_bool(0.3) { 2 } else { 1 };
    let mut system_names: Vec<String> = Vec::new();
    while system_names.len() < system_count {
        let name = pick(rng, leaves).to_string();
        if !system_names.contains(&name) {
            system_names.push(name);
        }
    }
    let requester = pick(rng, REQUESTERS).1.to_owned();
    let title = format!(
        "{} {} on {}",
        pick(rng, VERBS),
        pick(rng, THINGS),
        system_names[0]
    );
    let submitted_at = if emergency {
        created_at + Duration::minutes(rng.random_range(5..30))
    } else {
        created_at + hours(lognormal(rng, 6.0, 1.0))
    };
    let mut change = ImportedChange {
        line: 0,
        source_number: None,
        content: ChangeContent {
            title,
            description: format!("Demo change {index}: see the runbook for the procedure."),
            business_justification: "Keep the service reliable and supported".into(),
            expected_benefit: None,
            urgency: if emergency {
                Priority::Critical
            } else {
                priority(likelihood * impact)
            },
            priority: priority(likelihood * impact),
            change_type: kind.key.clone(),
            likelihood,
            impact,
            mitigations: residual.then(|| "Canary release and feature flag".to_owned()),
            residual_likelihood: residual.then(|| (likelihood - 1).max(1)),
            residual_impact: residual.then_some(impact),
            system_ids: Vec::new(),
            services: Vec::new(),
            customers_affected: None,
            downtime_required: false,
            performance_impact: None,
            implementation_steps: Vec::new(),
            deployment_method: None,
            canary_stages: Vec::new(),
            test_plan: None,
            rollback_plan: None,
            links: Vec::new(),
            planned_start: None,
            planned_end: None,
            template_id: None,
            attributes: vec![],
        },
        system_names,
        requester_email: requester,
        status: ChangeStatus::Submitted,
        created_at,
        submitted_at: Some(submitted_at),
        approved_at: None,
        scheduled_start: None,
        scheduled_end: None,
        actual_start: None,
        actual_end: None,
        outcome: None,
        board_outcome: None,
        board_decided_at: None,
        rollback_reason: None,
        approval_due_at: None,
        documented_at: None,
        closed_at: None,
        incident: None,
    };
    // The history ends at `end`: nothing that happens at or after it is
    // recorded, so each step below stops the change where `end` finds it.
    if submitted_at >= end {
        change.status = ChangeStatus::Draft;
        change.submitted_at = None;
        return change;
    }
    let actual_start = if let Some(deadline) = kind.emergency_deadline_hours {
        // Emergency: implemented first, approved and documented after the
        // fact, mostly within the deadline (approval and documentation that
        // would land after `end` have not happened yet).
        let actual_start = submitted_at + hours(lognormal(rng, 1.0, 0.8));
        if actual_start >= end {
            return change;
        }
        change.approval_due_at = Some(actual_start + Duration::hours(i64::from(deadline)));
        change.approved_at =
            Some(actual_start + hours(lognormal(rng, 5.0, 0.9))).filter(|a| *a < end);
        change.documented_at =
            Some(actual_start + hours(lognormal(rng, 8.0, 0.7))).filter(|d| *d < end);
        actual_start
    } else {
        // Approval, with the board deciding for board types.
        let approved_at = if kind.pre_approved {
            submitted_at
        } else {
            submitted_at + hours(lognormal(rng, if kind.board { 60.0 } else { 14.0 }, 0.9))
        };
        if approved_at >= end {
            // Still before the approvers (or the board) when history ends.
            change.status = ChangeStatus::AwaitingApproval;
            return change;
        }
        if kind.board {
            let vote = rng.random::<f64>();
            let outcome = if vote < 0.86 {
                BoardOutcome::Approved
            } else if vote < 0.95 {
                BoardOutcome::Rejected
            } else {
                BoardOutcome::Deferred
            };
            change.board_outcome = Some(outcome);
            change.board_decided_at = Some(approved_at);
            if outcome != BoardOutcome::Approved {
                change.status = if outcome == BoardOutcome::Rejected {
                    ChangeStatus::Rejected
                } else {
                    ChangeStatus::Deferred
                };
                return change;
            }
        } else if !kind.pre_approved && rng.random_bool(0.03) {
            change.status = ChangeStatus::Rejected;
            return change;
        }
        if rng.random_bool(0.03) {
            change.status = ChangeStatus::Cancelled;
            return change;
        }
        change.approved_at = Some(approved_at);
        let planned_hours = if kind.pre_approved {
            1.0
        } else {
            *pick(rng, &[1.0, 2.0, 2.0, 4.0])
        };
        let scheduled_start = approved_at + hours(lognormal(rng, 30.0, 1.1));
        let scheduled_end = scheduled_start + hours(planned_hours);
        change.scheduled_start = Some(scheduled_start);
        change.scheduled_end = Some(scheduled_end);
        change.content.planned_start = Some(scheduled_start);
        change.content.planned_end = Some(scheduled_end);
        if scheduled_start >= end {
            change.status = ChangeStatus::Scheduled;
            return change;
        }
        let actual_start = scheduled_start + Duration::minutes(rng.random_range(0..15));
        if actual_start >= end {
            change.status = ChangeStatus::Scheduled;
            return change;
        }
        actual_start
    };
    let planned = match (change.scheduled_start, change.scheduled_end) {
        (Some(s), Some(e)) => (e - s).num_seconds() as f64 / 3600.0,
        _ => 1.0,
    };
    let actual_end = actual_start + hours((planned * lognormal(rng, 0.8, 0.5)).max(0.05));
    change.actual_start = Some(actual_start);
    if actual_end >= end {
        change.status = ChangeStatus::Implementing;
        change.approved_at = change.approved_at.filter(|a| *a < end);
        change.documented_at = change.documented_at.filter(|d| *d < end);
        return change;
    }
    change.actual_end = Some(actual_end);
    // Riskier changes fail more often.
    let risk = f64::from(likelihood * impact) / 25.0;
    let roll = rng.random::<f64>();
    let outcome = if roll < 0.015 + 0.03 * risk {
        ChangeOutcome::RolledBack
    } else if roll < 0.025 + 0.05 * risk {
        ChangeOutcome::Failed
    } else if roll < 0.07 + 0.08 * risk {
        ChangeOutcome::SuccessfulWithIssues
    } else {
        ChangeOutcome::Successful
    };
    change.outcome = Some(outcome);
    match outcome {
        ChangeOutcome::RolledBack => {
            change.rollback_reason = Some(pick(rng, ROLLBACK_REASONS).to_string());
            change.incident = Some(if rng.random_bool(0.2) {
                IncidentPriority::P2
            } else {
                IncidentPriority::P3
            });
        }
        ChangeOutcome::Failed if rng.random_bool(0.5) => {
            change.incident = Some(IncidentPriority::P3);
        }
        ChangeOutcome::SuccessfulWithIssues if rng.random_bool(0.3) => {
            change.incident = Some(IncidentPriority::P4);
        }
        _ => {}
    }
    let closed_at = actual_end + hours(lognormal(rng, 24.0, 0.8));
    if closed_at < end && rng.random_bool(0.9) {
        change.status = ChangeStatus::Closed;
        change.closed_at = Some(closed_at);
    } else {
        change.status = match outcome {
            ChangeOutcome::RolledBack => ChangeStatus::RolledBack,
            ChangeOutcome::Failed => ChangeStatus::Failed,
            _ => ChangeStatus::Implemented,
        };
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::import::lifecycle_errors;

    fn spec(seed: u64) -> DemoSpec {
        let kind = |key: &str, pre: bool, board: bool, deadline: Option<u32>| DemoType {
            key: key.into(),
            pre_approved: pre,
            board,
            emergency_deadline_hours: deadline,
        };
        DemoSpec {
            changes: 3000,
            months: 12,
            seed,
            end: "2026-11-01T00:00:00Z".parse().unwrap(),
            types: vec![
                kind("standard", true, false, None),
                kind("normal", false, false, None),
                kind("major", false, true, None),
                kind("emergency", false, false, Some(24)),
            ],
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        assert_eq!(generate(&spec(7)), generate(&spec(7)));
        assert_ne!(generate(&spec(7)), generate(&spec(8)));
    }

    #[test]
    fn every_generated_change_is_valid_and_the_mix_is_realistic() {
        let changes = generate(&spec(42));
        let types = ["standard", "normal", "major", "emergency"];
        for change in &changes {
            change.content.validate(&types).unwrap();
            assert_eq!(lifecycle_errors(change, &["emergency"]), []);
        }
        let implemented: Vec<_> = changes.iter().filter(|c| c.outcome.is_some()).collect();
        let share = |f: &dyn Fn(&ImportedChange) -> bool| {
            implemented.iter().filter(|c| f(c)).count() as f64 / implemented.len() as f64
        };
        let success = share(&|c| {
            matches!(
                c.outcome,
                Some(ChangeOutcome::Successful | ChangeOutcome::SuccessfulWithIssues)
            )
        });
        let emergency = share(&|c| c.content.change_type == "emergency");
        let rolled = share(&|c| c.outcome == Some(ChangeOutcome::RolledBack));
        assert!((0.88..0.99).contains(&success), "success {success}");
        assert!((0.01..0.08).contains(&emergency), "emergency {emergency}");
        assert!(rolled > 0.0, "some roll back");
        assert!(implemented.len() > 2500);
    }

    #[test]
    fn nothing_happens_after_the_end_of_the_history() {
        for seed in [1, 2, 3] {
            let spec = DemoSpec {
                months: 1,
                ..spec(seed)
            };
            for change in generate(&spec) {
                // Deadlines and planned windows may lie ahead; events may not.
                let events = [
                    ("createdAt", Some(change.created_at)),
                    ("submittedAt", change.submitted_at),
                    ("approvedAt", change.approved_at),
                    ("boardDecidedAt", change.board_decided_at),
                    ("actualStart", change.actual_start),
                    ("actualEnd", change.actual_end),
                    ("documentedAt", change.documented_at),
                    ("closedAt", change.closed_at),
                ];
                for (name, at) in events {
                    assert!(
                        at.is_none_or(|at| at < spec.end),
                        "seed {seed} line {}: {name} {at:?} is after the end",
                        change.line
                    );
                }
            }
        }
    }

    #[test]
    fn board_decisions_have_their_time() {
        let changes = generate(&spec(42));
        let decided: Vec<_> = changes
            .iter()
            .filter(|c| c.board_outcome.is_some())
            .collect();
        assert!(decided.len() > 100);
        for change in decided {
            let at = change.board_decided_at.unwrap();
            assert!(Some(at) >= change.submitted_at);
            // (An approved change cancelled before scheduling has no approvedAt.)
            if change.board_outcome == Some(BoardOutcome::Approved) && change.approved_at.is_some()
            {
                assert_eq!(change.approved_at, Some(at));
            }
        }
        assert!(
            changes
                .iter()
                .any(|c| c.board_outcome == Some(BoardOutcome::Rejected))
        );
    }
}
