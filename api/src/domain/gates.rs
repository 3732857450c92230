//! Evidence gates: what must be on record before implementation starts.

use chrono::{DateTime, Duration, Utc};
use entity::EvidenceStatus;
use serde::Deserialize;
use serde_json::Value;

use super::{ValidationError, change::RollbackPlan};
use crate::policy::{Gate, GateKind};

/// One evidence record as the gate rules see it.
#[derive(Debug, Clone)]
pub struct EvidenceRecord {
    pub gate: String,
    pub status: EvidenceStatus,
    pub data: Value,
    pub recorded_at: DateTime<Utc>,
}

/// Details a code review record carries.
#[derive(Debug, Deserialize)]
struct CodeReview {
    reviewers: Vec<Reviewer>,
}

#[derive(Debug, Deserialize)]
struct Reviewer {
    name: String,
    #[serde(default)]
    senior: bool,
}

/// Details a SAST record carries: findings left unaddressed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SastFindings {
    unaddressed_critical: u32,
    unaddressed_high: u32,
}

/// Checks the details of a record before it is stored, so a pipeline
/// learns at once that its payload cannot satisfy the gate.
pub fn validate_evidence_data(gate: &Gate, data: &Value) -> Result<(), ValidationError> {
    super::json_without_nul("data", data)?;
    let parsed = match gate.kind {
        GateKind::CodeReview => serde_json::from_value::<CodeReview>(data.clone())
            .map(|_| ())
            .map_err(|e| format!("code review evidence needs {{\"reviewers\": [{{\"name\": .., \"senior\": bool}}]}}: {e}")),
        GateKind::Sast => serde_json::from_value::<SastFindings>(data.clone())
            .map(|_| ())
            .map_err(|e| format!("SAST evidence needs {{\"unaddressedCritical\": n, \"unaddressedHigh\": n}}: {e}")),
        _ => Ok(()),
    };
    parsed.map_err(|message| ValidationError::new("data", message))
}

/// The latest record of a gate counts: a later failure overrides an earlier
/// pass, and a re-run that passes clears an earlier failure.
fn latest<'a>(evidence: &'a [EvidenceRecord], gate: &str) -> Option<&'a EvidenceRecord> {
    evidence
        .iter()
        .filter(|e| e.gate == gate)
        .max_by_key(|e| e.recorded_at)
}

/// Why `gate` is not met, or `None` when it is. `start_at` is when
/// implementation would start (for "hours before" rules).
pub fn unmet(
    gate: &Gate,
    evidence: &[EvidenceRecord],
    rollback_plan: Option<&RollbackPlan>,
    start_at: DateTime<Utc>,
) -> Option<String> {
    let key = &gate.key;
    if gate.kind == GateKind::RollbackPlan {
        let plan = rollback_plan.cloned().unwrap_or_default();
        let missing: Vec<&str> = plan
            .missing_parts()
            .into_iter()
            .filter(|part| gate.required_parts.iter().any(|p| p == part))
            .collect();
        return (!missing.is_empty()).then(|| {
            format!(
                "gate missing: {key} (rollback plan lacks {})",
                missing.join(", ")
            )
        });
    }
    let Some(record) = latest(evidence, key) else {
        return Some(format!("gate missing: {key}"));
    };
    if record.status == EvidenceStatus::Failed {
        return Some(format!("gate failed: {key}"));
    }
    match gate.kind {
        GateKind::CodeReview => {
            let review: CodeReview = serde_json::from_value(record.data.clone()).ok()?;
            let mut names: Vec<(String, bool)> = review
                .reviewers
                .iter()
                .map(|r| (r.name.trim().to_lowercase(), r.senior))
                .collect();
            names.sort();
            names.dedup_by(|a, b| {
                a.0 == b.0 && {
                    b.1 |= a.1;
                    true
                }
            });
            let seniors = names.iter().filter(|(_, senior)| *senior).count() as u32;
            let total = names.len() as u32;
            (total < gate.min_reviewers || seniors < gate.min_senior_reviewers).then(|| {
                format!(
                    "gate missing: {key} ({total} of {} reviewers, {seniors} of {} senior)",
                    gate.min_reviewers, gate.min_senior_reviewers
                )
            })
        }
        GateKind::Sast => {
            let findings: SastFindings = serde_json::from_value(record.data.clone()).ok()?;
            // Each count on its own: a sum of two u32 wraps to 0 at
            // 4,294,967,295 + 1.
            (findings.unaddressed_critical > 0 || findings.unaddressed_high > 0).then(|| {
                format!(
                    "gate failed: {key} ({} critical and {} high findings unaddressed)",
                    findings.unaddressed_critical, findings.unaddressed_high
                )
            })
        }
        GateKind::Documentation if gate.hours_before_start > 0 => {
            // No deadline before the first representable instant: nothing
            // can have been recorded in time then.
            let deadline =
                start_at.checked_sub_signed(Duration::hours(i64::from(gate.hours_before_start)));
            deadline.is_none_or(|deadline| record.recorded_at > deadline).then(|| {
                format!(
                    "gate missing: {key} (documentation must be on record {} hours before implementation)",
                    gate.hours_before_start
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::Policy;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_790_000_000 + hour * 3600, 0).unwrap()
    }

    fn record(gate: &str, status: EvidenceStatus, data: Value, hour: i64) -> EvidenceRecord {
        EvidenceRecord {
            gate: gate.into(),
            status,
            data,
            recorded_at: at(hour),
        }
    }

    fn check(
        policy: &str,
        gate: &str,
        evidence: &[EvidenceRecord],
        plan: Option<&RollbackPlan>,
        start: i64,
    ) -> Option<String> {
        let policy = Policy::load(policy).unwrap();
        unmet(policy.gate(gate).unwrap(), evidence, plan, at(start))
    }

    #[test]
    fn plain_evidence_gates_need_a_latest_pass() {
        assert_eq!(
            check("tiered-cab", "unit_tests", &[], None, 0).unwrap(),
            "gate missing: unit_tests"
        );
        let passed = record("unit_tests", EvidenceStatus::Passed, json!({}), 0);
        let failed = record("unit_tests", EvidenceStatus::Failed, json!({}), 1);
        assert_eq!(
            check(
                "tiered-cab",
                "unit_tests",
                std::slice::from_ref(&passed),
                None,
                2
            ),
            None
        );
        assert_eq!(
            check(
                "tiered-cab",
                "unit_tests",
                &[passed.clone(), failed.clone()],
                None,
                2
            )
            .unwrap(),
            "gate failed: unit_tests"
        );
        let rerun = record("unit_tests", EvidenceStatus::Passed, json!({}), 2);
        assert_eq!(
            check(
                "tiered-cab",
                "unit_tests",
                &[passed, failed, rerun],
                None,
                3
            ),
            None
        );
    }

    #[test]
    fn code_review_needs_two_distinct_reviewers_one_senior() {
        let review = |reviewers: Value| {
            vec![record(
                "code_review",
                EvidenceStatus::Passed,
                json!({"reviewers": reviewers}),
                0,
            )]
        };
        let one = review(json!([{"name": "Ann", "senior": true}]));
        assert!(
            check("dual-approval", "code_review", &one, None, 1)
                .unwrap()
                .contains("1 of 2 reviewers")
        );
        let juniors = review(json!([{"name": "Ann"}, {"name": "Bob"}]));
        assert!(
            check("dual-approval", "code_review", &juniors, None, 1)
                .unwrap()
                .contains("0 of 1 senior")
        );
        let same_twice = review(json!([{"name": "Ann", "senior": true}, {"name": " ann "}]));
        assert!(check("dual-approval", "code_review", &same_twice, None, 1).is_some());
        let good = review(json!([{"name": "Ann", "senior": true}, {"name": "Bob"}]));
        assert_eq!(check("dual-approval", "code_review", &good, None, 1), None);
    }

    #[test]
    fn sast_fails_with_unaddressed_critical_or_high_findings() {
        let scan = |critical: u32, high: u32| {
            vec![record(
                "sast",
                EvidenceStatus::Passed,
                json!({"unaddressedCritical": critical, "unaddressedHigh": high}),
                0,
            )]
        };
        assert_eq!(check("dual-approval", "sast", &scan(0, 0), None, 1), None);
        assert!(
            check("dual-approval", "sast", &scan(0, 1), None, 1)
                .unwrap()
                .contains("1 high")
        );
        assert!(
            check("dual-approval", "sast", &scan(2, 0), None, 1)
                .unwrap()
                .contains("2 critical")
        );
        // 4,294,967,295 + 1 wraps to 0 in u32 arithmetic.
        assert!(
            check("dual-approval", "sast", &scan(u32::MAX, 1), None, 1)
                .unwrap()
                .contains("4294967295 critical and 1 high")
        );
        assert!(check("dual-approval", "sast", &scan(1, u32::MAX), None, 1).is_some());
    }

    #[test]
    fn rollback_plan_gate_checks_the_parts_the_policy_names() {
        let partial = RollbackPlan {
            trigger: Some("errors".into()),
            steps: vec!["revert".into()],
            ..Default::default()
        };
        let message = check("dual-approval", "rollback_plan", &[], Some(&partial), 0).unwrap();
        assert_eq!(
            message,
            "gate missing: rollback_plan (rollback plan lacks owner, verification, timeEstimateMinutes)"
        );
        // Seed 001 only needs documented steps.
        assert_eq!(
            check("tiered-cab", "rollback_plan", &[], Some(&partial), 0),
            None
        );
        assert!(check("tiered-cab", "rollback_plan", &[], None, 0).is_some());
    }

    #[test]
    fn documentation_48_hours_before_start() {
        let docs = vec![record(
            "documentation_48h",
            EvidenceStatus::Passed,
            json!({}),
            0,
        )];
        assert_eq!(
            check("weekly-cab", "documentation_48h", &docs, None, 48),
            None
        );
        assert!(check("weekly-cab", "documentation_48h", &docs, None, 47).is_some());
    }

    #[test]
    fn malformed_structured_evidence_is_rejected_up_front() {
        let policy = Policy::load("dual-approval").unwrap();
        assert!(
            validate_evidence_data(
                policy.gate("code_review").unwrap(),
                &json!({"reviewers": "Ann"})
            )
            .is_err()
        );
        assert!(validate_evidence_data(policy.gate("sast").unwrap(), &json!({})).is_err());
        assert!(
            validate_evidence_data(policy.gate("ci_passed").unwrap(), &json!({"anything": 1}))
                .is_ok()
        );
    }
}
