//! One fixture per control per outcome: a clean change of each kind,
//! broken in exactly one way.

use chrono::{Duration, TimeZone};
use entity::{EvidenceStatus, RiskLevel};
use serde_json::json;

use super::*;
use crate::domain::approval::{ApprovalState, Outcome, StepState};

const REQUESTER: Uuid = Uuid::from_u128(1);
const APPROVER: Uuid = Uuid::from_u128(2);
const IMPLEMENTER: Uuid = Uuid::from_u128(3);
const REVIEWER: Uuid = Uuid::from_u128(4);
const CTO: Uuid = Uuid::from_u128(5);

/// Hours after a Monday morning in 2026, outside every freeze.
fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap() + Duration::hours(hours)
}

struct Case {
    policy: Policy,
    type_key: &'static str,
    status: ChangeStatus,
    approval: ApprovalState,
    submitted_at: Option<DateTime<Utc>>,
    approved_at: Option<DateTime<Utc>>,
    scheduled: Option<(DateTime<Utc>, DateTime<Utc>)>,
    actual_start: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    approval_due_at: Option<DateTime<Utc>>,
    documentation_due_at: Option<DateTime<Utc>>,
    documented_at: Option<DateTime<Utc>>,
    review_due_at: Option<DateTime<Utc>>,
    reviewed_at: Option<DateTime<Utc>>,
    implementer: Option<Uuid>,
    decisions: Vec<Decided>,
    evidence: Vec<EvidenceRecord>,
    reviews: Vec<Reviewed>,
    steps: Vec<Step>,
    hard_freezes: Vec<String>,
    rollback_plan: RollbackPlan,
}

fn approved_by(approvers: &[Uuid]) -> ApprovalState {
    ApprovalState {
        steps: vec![StepState {
            key: "step".into(),
            label: "Step".into(),
            satisfied: true,
            approvers: approvers.to_vec(),
            missing: vec![],
            rejected: false,
            deferred: false,
            board: None,
            before_start: false,
        }],
        outcome: Outcome::Approved,
    }
}

fn decision(approver: Uuid, at: DateTime<Utc>) -> Decided {
    Decided {
        approver,
        decision: Decision::Approve,
        decided_at: at,
        freeze_entry: false,
    }
}

fn passed(gate: &str, at: DateTime<Utc>, by: Uuid) -> EvidenceRecord {
    EvidenceRecord {
        gate: gate.into(),
        status: EvidenceStatus::Passed,
        data: if gate == "unit_tests" {
            json!({"coveragePercent": 90})
        } else {
            json!({})
        },
        recorded_at: at,
        recorded_by: by,
    }
}

fn step(seq: i64, action: &str, actor: Option<Uuid>, at: DateTime<Utc>, payload: Value) -> Step {
    Step {
        seq,
        hash: format!("h{seq}"),
        action: action.into(),
        actor_id: actor,
        actor_label: if actor.is_some() {
            "someone@example.com"
        } else {
            "cli:ops"
        }
        .into(),
        occurred_at: at,
        payload,
    }
}

fn tiered_cab() -> Policy {
    Policy::load("tiered-cab").unwrap()
}

impl Case {
    /// A tiered-cab normal change: submitted, approved, gates passed,
    /// started inside its slot, reviewed, closed.
    fn normal() -> Self {
        let v = json!({"policyVersion": "sha256:v1"});
        Case {
            policy: tiered_cab(),
            type_key: "normal",
            status: ChangeStatus::Closed,
            approval: approved_by(&[APPROVER]),
            submitted_at: Some(t(0)),
            approved_at: Some(t(2)),
            scheduled: Some((t(23), t(25))),
            actual_start: Some(t(24)),
            closed_at: Some(t(30)),
            approval_due_at: None,
            documentation_due_at: None,
            documented_at: None,
            review_due_at: Some(t(48)),
            reviewed_at: Some(t(28)),
            implementer: Some(IMPLEMENTER),
            decisions: vec![decision(APPROVER, t(2))],
            evidence: ["unit_tests", "integration_tests", "deployment_preparation"]
                .iter()
                .map(|g| passed(g, t(1), REQUESTER))
                .chain([passed("qa_review", t(1), REVIEWER)])
                .collect(),
            reviews: vec![Reviewed {
                reviewer: REVIEWER,
                kind: ReviewKind::PostImplementation,
                reviewed_at: t(28),
            }],
            steps: vec![
                step(
                    1,
                    audit_action::CHANGE_CREATED,
                    Some(REQUESTER),
                    t(0),
                    v.clone(),
                ),
                step(
                    2,
                    audit_action::CHANGE_SUBMITTED,
                    Some(REQUESTER),
                    t(0),
                    v.clone(),
                ),
                step(
                    3,
                    audit_action::CHANGE_EVIDENCE_RECORDED,
                    Some(REQUESTER),
                    t(1),
                    json!({"gate": "unit_tests", "policyVersion": "sha256:v1"}),
                ),
                step(
                    4,
                    audit_action::CHANGE_DECISION,
                    Some(APPROVER),
                    t(2),
                    v.clone(),
                ),
                step(
                    5,
                    audit_action::CHANGE_SCHEDULED,
                    Some(REQUESTER),
                    t(3),
                    v.clone(),
                ),
                step(
                    6,
                    audit_action::CHANGE_IMPLEMENTATION_STARTED,
                    Some(IMPLEMENTER),
                    t(24),
                    json!({"policyVersion": "sha256:v2"}),
                ),
                step(
                    7,
                    audit_action::CHANGE_REVIEWED,
                    Some(REVIEWER),
                    t(28),
                    v.clone(),
                ),
                step(
                    8,
                    audit_action::CHANGE_CLOSED,
                    Some(REQUESTER),
                    t(30),
                    json!({}),
                ),
            ],
            hard_freezes: vec![],
            rollback_plan: RollbackPlan {
                steps: vec!["redeploy the previous release".into()],
                ..RollbackPlan::default()
            },
        }
    }

    /// A tiered-cab emergency: started before approval, approved
    /// retroactively by the CISO and CTO, documented and reviewed in time.
    fn emergency() -> Self {
        let mut case = Case::normal();
        case.type_key = "emergency";
        case.scheduled = None;
        case.submitted_at = Some(t(23));
        case.actual_start = Some(t(24));
        case.approval = approved_by(&[APPROVER, CTO]);
        case.approved_at = Some(t(30));
        case.approval_due_at = Some(t(48));
        case.decisions = vec![decision(APPROVER, t(29)), decision(CTO, t(30))];
        case.documentation_due_at = Some(t(48));
        case.documented_at = Some(t(40));
        case.review_due_at = Some(t(24 * 6));
        case.reviewed_at = Some(t(50));
        case.reviews = vec![Reviewed {
            reviewer: REVIEWER,
            kind: ReviewKind::PostEmergency,
            reviewed_at: t(50),
        }];
        case.closed_at = Some(t(60));
        case.evidence = vec![passed("unit_tests", t(23), REQUESTER)];
        case
    }

    fn verdict(&self, control: Control) -> ControlVerdict {
        let change_type = self.policy.change_type(self.type_key).unwrap();
        let facts = ChangeFacts {
            status: self.status,
            change_type,
            approval: &self.approval,
            unmet_gates: vec![],
            unmet_close_gates: vec![],
            calendar_violations: vec![],
            has_template: false,
            missing_information: vec![],
            risk_level: RiskLevel::Low,
            suggested_type: None,
            required_type: None,
            deployment_method: None,
            approved_at: self.approved_at,
            scheduled_start: self.scheduled.map(|s| s.0),
            scheduled_end: self.scheduled.map(|s| s.1),
            actual_end: self.actual_start.map(|s| s + Duration::hours(1)),
            implementation_due_at: None,
            response_due_at: None,
            responded_at: None,
            actual_start: self.actual_start,
            approval_due_at: self.approval_due_at,
            documentation_due_at: self.documentation_due_at,
            documented_at: self.documented_at,
            review_due_at: self.review_due_at,
            reviewed_at: self.reviewed_at,
            board_reviewed: false,
            board_review_due_at: None,
            next_board_meeting_end: None,
            restore_due_at: None,
            restored_at: None,
        };
        let history = History {
            facts: &facts,
            requester: REQUESTER,
            submitted_at: self.submitted_at,
            implementer: self.implementer,
            closed_at: self.closed_at,
            attributes: &[],
            rollback_plan: Some(&self.rollback_plan),
            decisions: &self.decisions,
            evidence: &self.evidence,
            reviews: &self.reviews,
            steps: &self.steps,
            hard_freezes_at_start: &self.hard_freezes,
            now: t(24 * 30),
        };
        let verdicts = evaluate(&self.policy, &history);
        assert_eq!(
            verdicts.iter().map(|v| v.control).collect::<Vec<_>>(),
            Control::ALL
        );
        verdicts.into_iter().find(|v| v.control == control).unwrap()
    }
}

fn seqs(verdict: &ControlVerdict) -> Vec<i64> {
    verdict.evidence.iter().map(|e| e.seq).collect()
}

fn assert_verdict(case: &Case, control: Control, verdict: Verdict, reason: &str) -> ControlVerdict {
    let got = case.verdict(control);
    assert_eq!(
        (got.verdict, got.reason.as_str()),
        (verdict, reason),
        "{control:?}"
    );
    got
}

#[test]
fn requested_before_implementation() {
    use Control::RequestedBeforeImplementation as C;
    let pass = assert_verdict(
        &Case::normal(),
        C,
        Verdict::Pass,
        "submitted at 2026-03-02T02:00:00Z, before implementation started at 2026-03-03T02:00:00Z",
    );
    assert_eq!(seqs(&pass), [1, 2, 6]);
    // The version of the latest cited event that records one.
    assert_eq!(pass.policy_version.as_deref(), Some("sha256:v2"));
    assert_eq!(pass.evidence[2].hash, "h6");

    let mut late = Case::normal();
    late.submitted_at = Some(t(25));
    assert_verdict(
        &late,
        C,
        Verdict::Fail,
        "submitted at 2026-03-03T03:00:00Z, after implementation started at 2026-03-03T02:00:00Z",
    );

    let mut not_started = Case::normal();
    not_started.status = ChangeStatus::Scheduled;
    not_started.actual_start = None;
    let na = assert_verdict(
        &not_started,
        C,
        Verdict::NotApplicable,
        "implementation has not started",
    );
    assert!(na.evidence.is_empty());
    assert_eq!(na.policy_version, None);
}

#[test]
fn approved_before_start_or_retroactively_in_time() {
    use Control::ApprovedBeforeStart as C;
    let pass = assert_verdict(
        &Case::normal(),
        C,
        Verdict::Pass,
        "approved at 2026-03-02T04:00:00Z by others than the requester, before implementation started at 2026-03-03T02:00:00Z",
    );
    assert_eq!(seqs(&pass), [4, 6]);
    assert_verdict(
        &Case::emergency(),
        C,
        Verdict::Pass,
        "approved retroactively at 2026-03-03T08:00:00Z within the deadline 2026-03-04T02:00:00Z, by others than the requester",
    );

    let mut late = Case::emergency();
    late.approved_at = Some(t(50));
    assert_verdict(
        &late,
        C,
        Verdict::Fail,
        "approved retroactively at 2026-03-04T04:00:00Z, after the deadline 2026-03-04T02:00:00Z",
    );
    let mut after_start = Case::normal();
    after_start.approved_at = Some(t(24) + Duration::minutes(5));
    assert_verdict(
        &after_start,
        C,
        Verdict::Fail,
        "approved at 2026-03-03T02:05:00Z, after implementation started at 2026-03-03T02:00:00Z; the type is not approved retroactively",
    );
    let mut own = Case::normal();
    own.decisions.push(decision(REQUESTER, t(2)));
    assert_verdict(
        &own,
        C,
        Verdict::Fail,
        "the requester approved their own change",
    );

    let mut standard = Case::normal();
    standard.type_key = "standard";
    standard.approval = ApprovalState {
        steps: vec![],
        outcome: Outcome::Approved,
    };
    assert_verdict(
        &standard,
        C,
        Verdict::NotApplicable,
        "the policy pre-approves standard changes",
    );
}

#[test]
fn approver_is_not_the_implementer_where_the_policy_says_so() {
    use Control::ApproverNotImplementer as C;
    let mut segregated = Case::normal();
    segregated.policy.segregation.approver_not_implementer = true;
    assert_verdict(
        &segregated,
        C,
        Verdict::Pass,
        "nobody who approved the change started its implementation",
    );
    let mut both = segregated;
    both.implementer = Some(APPROVER);
    let fail = assert_verdict(
        &both,
        C,
        Verdict::Fail,
        "the account that started implementation also approved the change",
    );
    assert_eq!(seqs(&fail), [4, 6]);
    let mut off = Case::normal();
    off.implementer = Some(APPROVER);
    assert_verdict(
        &off,
        C,
        Verdict::NotApplicable,
        "the policy does not keep approvers from implementing",
    );
}

#[test]
fn every_gate_met_before_the_start() {
    use Control::GatesMetBeforeStart as C;
    let pass = assert_verdict(
        &Case::normal(),
        C,
        Verdict::Pass,
        "unit_tests, integration_tests, qa_review, rollback_plan, deployment_preparation met before implementation started at 2026-03-03T02:00:00Z",
    );
    assert_eq!(seqs(&pass), [3, 6]);
    let mut late = Case::normal();
    late.evidence[0].recorded_at = t(26);
    assert_verdict(
        &late,
        C,
        Verdict::Fail,
        "gate missing: unit_tests before the start (recorded at 2026-03-03T04:00:00Z)",
    );
    let mut not_started = Case::normal();
    not_started.status = ChangeStatus::Approved;
    not_started.actual_start = None;
    assert_verdict(
        &not_started,
        C,
        Verdict::NotApplicable,
        "implementation has not started",
    );
}

#[test]
fn inside_the_slot_and_outside_hard_freezes() {
    use Control::InsideSlotOutsideFreeze as C;
    let pass = assert_verdict(
        &Case::normal(),
        C,
        Verdict::Pass,
        "started at 2026-03-03T02:00:00Z inside its slot 2026-03-03T01:00:00Z to 2026-03-03T03:00:00Z, outside hard freezes",
    );
    assert_eq!(seqs(&pass), [5, 6]);
    let mut outside = Case::normal();
    outside.scheduled = Some((t(20), t(22)));
    assert_verdict(
        &outside,
        C,
        Verdict::Fail,
        "started at 2026-03-03T02:00:00Z outside its slot 2026-03-02T22:00:00Z to 2026-03-03T00:00:00Z",
    );
    let mut frozen = Case::normal();
    frozen.hard_freezes = vec!["Christmas/New Year freeze".into()];
    assert_verdict(
        &frozen,
        C,
        Verdict::Fail,
        "started at 2026-03-03T02:00:00Z during a hard freeze (Christmas/New Year freeze)",
    );
    assert_verdict(
        &Case::emergency(),
        C,
        Verdict::NotApplicable,
        "emergency changes are implemented without a slot",
    );
}

#[test]
fn emergency_documentation_and_review_on_time() {
    use Control::EmergencyPaperworkOnTime as C;
    assert_verdict(
        &Case::emergency(),
        C,
        Verdict::Pass,
        "on time: documentation at 2026-03-03T18:00:00Z (due 2026-03-04T02:00:00Z); review at 2026-03-04T04:00:00Z (due 2026-03-08T02:00:00Z)",
    );
    let mut late = Case::emergency();
    late.documented_at = Some(t(49));
    assert_verdict(
        &late,
        C,
        Verdict::Fail,
        "documentation at 2026-03-04T03:00:00Z, after its deadline 2026-03-04T02:00:00Z",
    );
    let mut missing = Case::emergency();
    missing.documented_at = None;
    assert_verdict(
        &missing,
        C,
        Verdict::Fail,
        "documentation missing, due 2026-03-04T02:00:00Z",
    );
    assert_verdict(
        &Case::normal(),
        C,
        Verdict::NotApplicable,
        "not an emergency change",
    );
}

#[test]
fn reviewed_before_closing() {
    use Control::ReviewedBeforeClose as C;
    let pass = assert_verdict(
        &Case::normal(),
        C,
        Verdict::Pass,
        "reviewed at 2026-03-03T06:00:00Z, before closing at 2026-03-03T08:00:00Z",
    );
    assert_eq!(seqs(&pass), [7, 8]);
    let mut unreviewed = Case::normal();
    unreviewed.reviews[0].reviewed_at = t(31);
    assert_verdict(
        &unreviewed,
        C,
        Verdict::Fail,
        "closed at 2026-03-03T08:00:00Z without the review it owes",
    );
    let mut open = Case::normal();
    open.status = ChangeStatus::Implemented;
    open.closed_at = None;
    assert_verdict(&open, C, Verdict::NotApplicable, "the change is not closed");
}

#[test]
fn every_step_taken_by_a_named_account() {
    use Control::Attributable as C;
    let pass = assert_verdict(
        &Case::normal(),
        C,
        Verdict::Pass,
        "all 8 steps taken by named accounts",
    );
    assert_eq!(seqs(&pass), [1, 2, 3, 4, 5, 6, 7, 8]);
    let mut operator = Case::normal();
    operator.steps[7].actor_id = None;
    operator.steps[7].actor_label = "cli:ops".into();
    assert_verdict(
        &operator,
        C,
        Verdict::Fail,
        "steps not taken by a named account: #8 change.closed by cli:ops",
    );
    let mut unrecorded = Case::normal();
    unrecorded.steps.clear();
    // Attributable has no NOT_APPLICABLE: a change nobody recorded fails.
    assert_verdict(
        &unrecorded,
        C,
        Verdict::Fail,
        "no audit event records this change",
    );
}
