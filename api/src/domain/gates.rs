//! Evidence gates: what must be on record before implementation starts.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::EvidenceStatus;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    ValidationError,
    change::RollbackPlan,
    violation::{Violation, ViolationCode},
};

fn gate_missing(message: String) -> Violation {
    Violation::new(ViolationCode::GateMissing, message)
}

fn gate_failed(message: String) -> Violation {
    Violation::new(ViolationCode::GateFailed, message)
}
use crate::policy::{Gate, GateKind};

/// One evidence record as the gate rules see it.
#[derive(Debug, Clone)]
pub struct EvidenceRecord {
    pub gate: String,
    pub status: EvidenceStatus,
    pub data: Value,
    pub recorded_at: DateTime<Utc>,
    /// The account that recorded it.
    pub recorded_by: Uuid,
}

/// Details a code review record carries as stored: the reviewing accounts,
/// with the seniority the server read from their roles when the review
/// was recorded (`code_review_details`). Records from before reviewers
/// were accounts (a free-text `name`) name no account and count for none.
#[derive(Debug, Deserialize)]
struct CodeReview {
    reviewers: Vec<Reviewer>,
}

#[derive(Debug, Deserialize)]
struct Reviewer {
    id: Option<Uuid>,
    #[serde(default)]
    senior: bool,
}

/// Details a code review carries as recorded: account ids only. Names and
/// seniority are not the recorder's to claim.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeReviewInput {
    reviewers: Vec<ReviewerInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewerInput {
    /// The account's global id (`User:uuid`) or bare uuid.
    #[serde(deserialize_with = "super::node_id::deserialize_user_id")]
    id: Uuid,
}

/// At most this many reviewers in one record (they are looked up).
const MAX_REVIEWERS: usize = 20;

/// A reviewer's account as found when the review is recorded.
#[derive(Debug, Clone)]
pub struct ReviewerAccount {
    pub id: Uuid,
    pub email: String,
    pub active: bool,
    pub roles: BTreeSet<String>,
}

/// The reviewer ids of a code review record checked by
/// [`validate_evidence_data`].
pub fn reviewer_ids(data: &Value) -> Vec<Uuid> {
    serde_json::from_value::<CodeReviewInput>(data.clone())
        .map(|review| review.reviewers.iter().map(|r| r.id).collect())
        .unwrap_or_default()
}

/// The details stored for a code review: each reviewer an active account
/// other than the change's requester, listed once, senior when the account
/// holds one of the gate's senior roles. `accounts` are the reviewer
/// accounts that exist.
pub fn code_review_details(
    gate: &Gate,
    requester: Uuid,
    reviewer_ids: &[Uuid],
    accounts: &[ReviewerAccount],
) -> Result<Value, ValidationError> {
    let invalid = |message: String| ValidationError::new("data.reviewers", message);
    let mut seen = BTreeSet::new();
    let mut reviewers = Vec::with_capacity(reviewer_ids.len());
    for id in reviewer_ids {
        let account = accounts
            .iter()
            .find(|account| account.id == *id)
            .filter(|account| account.active)
            .ok_or_else(|| invalid(format!("{id} is not an active account")))?;
        if account.id == requester {
            return Err(invalid(format!(
                "{} requested the change and cannot review it",
                account.email
            )));
        }
        if !seen.insert(account.id) {
            return Err(invalid(format!("{} is listed twice", account.email)));
        }
        let senior = gate
            .senior_roles
            .iter()
            .any(|role| account.roles.contains(role));
        reviewers.push(json!({"id": account.id, "email": account.email, "senior": senior}));
    }
    Ok(json!({"reviewers": reviewers}))
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
        GateKind::CodeReview => serde_json::from_value::<CodeReviewInput>(data.clone())
            .map_err(|e| format!("code review evidence needs {{\"reviewers\": [{{\"id\": \"<account id>\"}}]}}: {e}"))
            .and_then(|review| {
                if review.reviewers.len() > MAX_REVIEWERS {
                    Err(format!("at most {MAX_REVIEWERS} reviewers"))
                } else {
                    Ok(())
                }
            }),
        GateKind::Sast => serde_json::from_value::<SastFindings>(data.clone())
            .map(|_| ())
            .map_err(|e| format!("SAST evidence needs {{\"unaddressedCritical\": n, \"unaddressedHigh\": n}}: {e}")),
        _ => Ok(()),
    };
    parsed.map_err(|message| ValidationError::new("data", message))
}

/// The latest record of a gate counts: a later failure overrides an earlier
/// pass, and a re-run that passes clears an earlier failure. A review
/// recorded by the change's requester is no review and is not considered.
fn latest<'a>(
    evidence: &'a [EvidenceRecord],
    gate: &Gate,
    requester: Uuid,
) -> Option<&'a EvidenceRecord> {
    evidence
        .iter()
        .filter(|e| e.gate == gate.key)
        .filter(|e| !(gate.is_review() && e.recorded_by == requester))
        .max_by_key(|e| e.recorded_at)
}

/// Why `gate` is not met, or `None` when it is. `start_at` is when
/// implementation would start (for "hours before" rules).
pub fn unmet(
    gate: &Gate,
    evidence: &[EvidenceRecord],
    requester: Uuid,
    rollback_plan: Option<&RollbackPlan>,
    start_at: DateTime<Utc>,
) -> Option<Violation> {
    let key = &gate.key;
    if gate.kind == GateKind::RollbackPlan {
        let plan = rollback_plan.cloned().unwrap_or_default();
        let missing: Vec<&str> = plan
            .missing_parts()
            .into_iter()
            .filter(|part| gate.required_parts.iter().any(|p| p == part))
            .collect();
        return (!missing.is_empty()).then(|| {
            gate_missing(format!(
                "gate missing: {key} (rollback plan lacks {})",
                missing.join(", ")
            ))
        });
    }
    let Some(record) = latest(evidence, gate, requester) else {
        let by_requester = evidence.iter().any(|e| e.gate == *key);
        return Some(gate_missing(if by_requester {
            format!("gate missing: {key} (a review recorded by the requester does not count)")
        } else {
            format!("gate missing: {key}")
        }));
    };
    if record.status == EvidenceStatus::Failed {
        return Some(gate_failed(format!("gate failed: {key}")));
    }
    if let Some(violation) = outside_conditions(gate, &record.data) {
        return Some(violation);
    }
    match gate.kind {
        GateKind::CodeReview => {
            let review: CodeReview =
                serde_json::from_value(record.data.clone()).unwrap_or(CodeReview {
                    reviewers: Vec::new(),
                });
            // Distinct accounts other than the requester; an account listed
            // twice counts once, senior if either entry says so.
            let mut accounts: Vec<(Uuid, bool)> = review
                .reviewers
                .iter()
                .filter_map(|r| r.id.map(|id| (id, r.senior)))
                .filter(|(id, _)| *id != requester)
                .collect();
            accounts.sort();
            accounts.dedup_by(|a, b| {
                a.0 == b.0 && {
                    b.1 |= a.1;
                    true
                }
            });
            let seniors = accounts.iter().filter(|(_, senior)| *senior).count() as u32;
            let total = accounts.len() as u32;
            (total < gate.min_reviewers || seniors < gate.min_senior_reviewers).then(|| {
                gate_missing(format!(
                    "gate missing: {key} ({total} of {} reviewers, {seniors} of {} senior)",
                    gate.min_reviewers, gate.min_senior_reviewers
                ))
            })
        }
        GateKind::Sast => {
            let findings: SastFindings = serde_json::from_value(record.data.clone()).ok()?;
            // Each count on its own: a sum of two u32 wraps to 0 at
            // 4,294,967,295 + 1.
            (findings.unaddressed_critical > 0 || findings.unaddressed_high > 0).then(|| {
                gate_failed(format!(
                    "gate failed: {key} ({} critical and {} high findings unaddressed)",
                    findings.unaddressed_critical, findings.unaddressed_high
                ))
            })
        }
        GateKind::Documentation if gate.hours_before_start > 0 => {
            // No deadline before the first representable instant: nothing
            // can have been recorded in time then.
            let deadline =
                start_at.checked_sub_signed(Duration::hours(i64::from(gate.hours_before_start)));
            deadline.is_none_or(|deadline| record.recorded_at > deadline).then(|| {
                gate_missing(format!(
                    "gate missing: {key} (documentation must be on record {} hours before implementation)",
                    gate.hours_before_start
                ))
            })
        }
        _ => None,
    }
}

/// The first of the gate's conditions the recorded data does not meet: a
/// number missing, not a number, or out of bounds.
fn outside_conditions(gate: &Gate, data: &Value) -> Option<Violation> {
    gate.conditions.iter().find_map(|condition| {
        let field = &condition.field;
        let value = field
            .split('.')
            .try_fold(data, |node, key| node.get(key))
            .and_then(Value::as_f64);
        let problem = match value {
            None => format!("{field} is not recorded as a number"),
            Some(v) if condition.at_least.is_some_and(|low| v < low) => format!(
                "{field} {v} is below the required {}",
                condition.at_least.unwrap_or_default()
            ),
            Some(v) if condition.at_most.is_some_and(|high| v > high) => format!(
                "{field} {v} is above the allowed {}",
                condition.at_most.unwrap_or_default()
            ),
            Some(_) => return None,
        };
        Some(Violation::new(
            ViolationCode::GateThreshold,
            format!("gate threshold not met: {} ({problem})", gate.key),
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::Policy;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_790_000_000 + hour * 3600, 0).unwrap()
    }

    /// The requester of the change every test checks.
    const REQUESTER: Uuid = Uuid::from_u128(1);
    /// Someone else (QA, a pipeline).
    const RECORDER: Uuid = Uuid::from_u128(2);

    fn record(gate: &str, status: EvidenceStatus, data: Value, hour: i64) -> EvidenceRecord {
        recorded_by(gate, status, data, hour, RECORDER)
    }

    fn recorded_by(
        gate: &str,
        status: EvidenceStatus,
        data: Value,
        hour: i64,
        by: Uuid,
    ) -> EvidenceRecord {
        EvidenceRecord {
            gate: gate.into(),
            status,
            data,
            recorded_at: at(hour),
            recorded_by: by,
        }
    }

    fn check(
        policy: &str,
        gate: &str,
        evidence: &[EvidenceRecord],
        plan: Option<&RollbackPlan>,
        start: i64,
    ) -> Option<String> {
        check_coded(policy, gate, evidence, plan, start).map(|v| v.message)
    }

    fn check_coded(
        policy: &str,
        gate: &str,
        evidence: &[EvidenceRecord],
        plan: Option<&RollbackPlan>,
        start: i64,
    ) -> Option<Violation> {
        let policy = Policy::load(policy).unwrap();
        unmet(
            policy.gate(gate).unwrap(),
            evidence,
            REQUESTER,
            plan,
            at(start),
        )
    }

    #[test]
    fn conditions_bound_the_numbers_a_passing_record_states() {
        let coverage = |data: Value| {
            check_coded(
                "tiered-cab",
                "unit_tests",
                &[record("unit_tests", EvidenceStatus::Passed, data, 1)],
                None,
                2,
            )
        };
        let below = coverage(json!({"coveragePercent": 72.5})).unwrap();
        assert_eq!(below.code, ViolationCode::GateThreshold);
        assert_eq!(
            below.message,
            "gate threshold not met: unit_tests (coveragePercent 72.5 is below the required 80)"
        );
        assert_eq!(
            coverage(json!({})).unwrap().message,
            "gate threshold not met: unit_tests (coveragePercent is not recorded as a number)"
        );
        assert_eq!(
            coverage(json!({"coveragePercent": "95"})).unwrap().code,
            ViolationCode::GateThreshold
        );
        assert_eq!(coverage(json!({"coveragePercent": 80})), None);
        assert_eq!(coverage(json!({"coveragePercent": 100.0})), None);

        let mut gate = Policy::load("tiered-cab")
            .unwrap()
            .gate("unit_tests")
            .unwrap()
            .clone();
        gate.conditions = vec![crate::policy::GateCondition {
            field: "tests.failed".into(),
            at_least: None,
            at_most: Some(0.0),
        }];
        let nested = |failed: i64| {
            unmet(
                &gate,
                &[record(
                    "unit_tests",
                    EvidenceStatus::Passed,
                    json!({"tests": {"failed": failed}}),
                    1,
                )],
                REQUESTER,
                None,
                at(2),
            )
        };
        assert_eq!(nested(0), None);
        assert_eq!(
            nested(3).unwrap().message,
            "gate threshold not met: unit_tests (tests.failed 3 is above the allowed 0)"
        );
    }

    #[test]
    fn plain_evidence_gates_need_a_latest_pass() {
        assert_eq!(
            check_coded("tiered-cab", "unit_tests", &[], None, 0).map(|v| v.code),
            Some(ViolationCode::GateMissing)
        );
        let failing = record("unit_tests", EvidenceStatus::Failed, json!({}), 1);
        assert_eq!(
            check_coded("tiered-cab", "unit_tests", &[failing], None, 2).map(|v| v.code),
            Some(ViolationCode::GateFailed)
        );
        assert_eq!(
            check("tiered-cab", "unit_tests", &[], None, 0).unwrap(),
            "gate missing: unit_tests"
        );
        let passed = record(
            "unit_tests",
            EvidenceStatus::Passed,
            json!({"coveragePercent": 91}),
            0,
        );
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
        let rerun = record(
            "unit_tests",
            EvidenceStatus::Passed,
            json!({"coveragePercent": 80}),
            2,
        );
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
        let (ann, bob) = (Uuid::from_u128(10), Uuid::from_u128(11));
        let review = |reviewers: Value| {
            vec![record(
                "code_review",
                EvidenceStatus::Passed,
                json!({"reviewers": reviewers}),
                0,
            )]
        };
        let one = review(json!([{"id": ann, "senior": true}]));
        assert!(
            check("dual-approval", "code_review", &one, None, 1)
                .unwrap()
                .contains("1 of 2 reviewers")
        );
        let juniors = review(json!([{"id": ann}, {"id": bob}]));
        assert!(
            check("dual-approval", "code_review", &juniors, None, 1)
                .unwrap()
                .contains("0 of 1 senior")
        );
        let same_twice = review(json!([{"id": ann, "senior": true}, {"id": ann}]));
        assert!(check("dual-approval", "code_review", &same_twice, None, 1).is_some());
        let good = review(json!([{"id": ann, "senior": true}, {"id": bob}]));
        assert_eq!(check("dual-approval", "code_review", &good, None, 1), None);
        // The requester listed as a reviewer counts for nobody.
        let with_requester = review(json!([{"id": ann, "senior": true}, {"id": REQUESTER}]));
        assert!(
            check("dual-approval", "code_review", &with_requester, None, 1)
                .unwrap()
                .contains("1 of 2 reviewers")
        );
        // Free-text reviewers (records from before accounts) count for none,
        // and details that do not parse satisfy nothing.
        let names = review(json!([{"name": "Ann", "senior": true}, {"name": "Ann\u{200b}"}]));
        assert!(
            check("dual-approval", "code_review", &names, None, 1)
                .unwrap()
                .contains("0 of 2 reviewers")
        );
        let garbage = review(json!("lgtm"));
        assert!(check("dual-approval", "code_review", &garbage, None, 1).is_some());
    }

    #[test]
    fn a_review_recorded_by_the_requester_does_not_count() {
        let by_requester = |gate: &str, data: Value, hour: i64| {
            recorded_by(gate, EvidenceStatus::Passed, data, hour, REQUESTER)
        };
        let own = [by_requester("qa_review", json!({}), 0)];
        assert_eq!(
            check("tiered-cab", "qa_review", &own, None, 1).unwrap(),
            "gate missing: qa_review (a review recorded by the requester does not count)"
        );
        // An independent failure stands although the requester passed it later.
        let failed = record("qa_review", EvidenceStatus::Failed, json!({}), 0);
        let overruled = [failed, by_requester("qa_review", json!({}), 1)];
        assert_eq!(
            check("tiered-cab", "qa_review", &overruled, None, 2).unwrap(),
            "gate failed: qa_review"
        );
        let independent = [record("qa_review", EvidenceStatus::Passed, json!({}), 0)];
        assert_eq!(
            check("tiered-cab", "qa_review", &independent, None, 1),
            None
        );
        let reviewers = json!({"reviewers": [{"id": Uuid::from_u128(10), "senior": true}, {"id": Uuid::from_u128(11)}]});
        let own_code_review = [by_requester("code_review", reviewers, 0)];
        assert!(check("dual-approval", "code_review", &own_code_review, None, 1).is_some());
        // Pipeline results are not reviews: the requester may record them.
        let tests = [by_requester(
            "unit_tests",
            json!({"coveragePercent": 91}),
            0,
        )];
        assert_eq!(check("tiered-cab", "unit_tests", &tests, None, 1), None);
    }

    #[test]
    fn code_review_details_name_other_active_accounts_with_their_seniority() {
        let policy = Policy::load("dual-approval").unwrap();
        let gate = policy.gate("code_review").unwrap();
        let account = |n: u128, active: bool, roles: &[&str]| ReviewerAccount {
            id: Uuid::from_u128(n),
            email: format!("user{n}@example.com"),
            active,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        };
        let accounts = [
            account(1, true, &["requester", "engineering_lead"]),
            account(10, true, &["senior_engineer"]),
            account(11, true, &["requester"]),
            account(12, false, &["senior_engineer"]),
        ];
        let id = Uuid::from_u128;
        let details = code_review_details(gate, REQUESTER, &[id(10), id(11)], &accounts).unwrap();
        assert_eq!(
            details,
            json!({"reviewers": [
                {"id": id(10), "email": "user10@example.com", "senior": true},
                {"id": id(11), "email": "user11@example.com", "senior": false},
            ]})
        );
        let refused = |ids: &[Uuid]| {
            code_review_details(gate, REQUESTER, ids, &accounts)
                .unwrap_err()
                .message
        };
        assert!(refused(&[id(1), id(10)]).contains("requested the change"));
        assert!(refused(&[id(10), id(10)]).contains("listed twice"));
        assert!(refused(&[id(12)]).contains("not an active account"));
        assert!(refused(&[id(99)]).contains("not an active account"));
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
        // Reviewers are account ids; names and claimed seniority are refused.
        let code_review = policy.gate("code_review").unwrap();
        assert!(
            validate_evidence_data(
                code_review,
                &json!({"reviewers": [{"name": "Ann", "senior": true}]})
            )
            .is_err()
        );
        let ann = Uuid::from_u128(10);
        assert!(
            validate_evidence_data(
                code_review,
                &json!({"reviewers": [{"id": ann, "senior": true}]})
            )
            .is_err()
        );
        let listed = json!({"reviewers": [{"id": ann}]});
        assert!(validate_evidence_data(code_review, &listed).is_ok());
        assert_eq!(reviewer_ids(&listed), vec![ann]);
        let crowd: Vec<Value> = (0..21).map(|n| json!({"id": Uuid::from_u128(n)})).collect();
        assert!(validate_evidence_data(code_review, &json!({"reviewers": crowd})).is_err());
        assert!(validate_evidence_data(policy.gate("sast").unwrap(), &json!({})).is_err());
        assert!(
            validate_evidence_data(policy.gate("ci_passed").unwrap(), &json!({"anything": 1}))
                .is_ok()
        );
    }
}
