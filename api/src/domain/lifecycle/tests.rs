use std::collections::BTreeSet;

use chrono::{Duration, TimeZone};
use entity::Decision;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::domain::violation::{Violation, ViolationCode, codes, messages};
use crate::{
    domain::approval::{self, BoardVote, Vote},
    policy::Policy,
};

const ALL_STATUSES: [ChangeStatus; 13] = [
    ChangeStatus::Draft,
    ChangeStatus::Submitted,
    ChangeStatus::AwaitingApproval,
    ChangeStatus::Approved,
    ChangeStatus::Scheduled,
    ChangeStatus::Implementing,
    ChangeStatus::Implemented,
    ChangeStatus::Closed,
    ChangeStatus::Rejected,
    ChangeStatus::Deferred,
    ChangeStatus::RolledBack,
    ChangeStatus::Failed,
    ChangeStatus::Cancelled,
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn approved_state() -> ApprovalState {
    ApprovalState {
        steps: vec![],
        outcome: Outcome::Approved,
    }
}

fn pending_state() -> ApprovalState {
    ApprovalState {
        steps: vec![approval::StepState {
            key: "cm".into(),
            label: "Change Manager".into(),
            satisfied: false,
            approvers: vec![],
            missing: vec!["approval missing: role change_manager".into()],
            rejected: false,
            deferred: false,
            board: None,
            before_start: false,
        }],
        outcome: Outcome::Pending,
    }
}

fn facts<'a>(
    change_type: &'a ChangeType,
    status: ChangeStatus,
    approval: &'a ApprovalState,
) -> ChangeFacts<'a> {
    ChangeFacts {
        status,
        change_type,
        approval,
        unmet_gates: vec![],
        unmet_close_gates: vec![],
        calendar_violations: vec![],
        has_template: false,
        missing_information: vec![],
        risk_level: RiskLevel::Low,
        suggested_type: None,
        required_type: None,
        deployment_method: change_type.deployment_methods.first().copied(),
        approved_at: None,
        scheduled_start: None,
        scheduled_end: None,
        actual_end: None,
        implementation_due_at: None,
        response_due_at: None,
        responded_at: None,
        actual_start: None,
        approval_due_at: None,
        documentation_due_at: None,
        documented_at: None,
        review_due_at: None,
        reviewed_at: None,
        board_reviewed: false,
        board_review_due_at: None,
        next_board_meeting_end: None,
        restore_due_at: None,
        restored_at: None,
    }
}

#[test]
fn each_action_is_allowed_from_exactly_its_statuses() {
    let policy = Policy::load("tiered-cab").unwrap();
    let normal = policy.change_type("normal").unwrap();
    let approved = approved_state();
    let allowed = |action: &dyn Fn(&ChangeFacts<'_>) -> bool| -> BTreeSet<String> {
        ALL_STATUSES
            .iter()
            .filter(|status| {
                let mut f = facts(normal, **status, &approved);
                f.approved_at = Some(now() - Duration::hours(1));
                f.scheduled_start = Some(now() - Duration::minutes(5));
                f.scheduled_end = Some(now() + Duration::hours(1));
                f.reviewed_at = Some(now());
                action(&f)
            })
            .map(|s| status_name(*s))
            .collect()
    };
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(allowed(&|f| submit(f).is_ok()), set(&["DRAFT"]));
    assert_eq!(
        allowed(&|f| can_decide(f).is_ok()),
        set(&["AWAITING_APPROVAL", "DEFERRED"])
    );
    assert_eq!(
        allowed(&|f| revise(f).is_ok()),
        set(&["REJECTED", "DEFERRED"])
    );
    assert_eq!(
        allowed(&|f| schedule(
            f,
            now() + Duration::hours(1),
            now() + Duration::hours(2),
            now()
        )
        .is_ok()),
        set(&["APPROVED", "SCHEDULED"])
    );
    assert_eq!(allowed(&|f| start(f, now()).is_ok()), set(&["SCHEDULED"]));
    assert_eq!(
        allowed(&|f| complete(f, ChangeOutcome::Successful, now()).is_ok()),
        set(&["IMPLEMENTING"])
    );
    assert_eq!(
        allowed(&|f| roll_back(f, "errors", now()).is_ok()),
        set(&["IMPLEMENTING"])
    );
    assert_eq!(
        allowed(&|f| {
            let stated = ReviewContents {
                lessons_learned: Some("lessons"),
                root_cause: Some("cause"),
            };
            can_review(f, &stated).is_ok()
        }),
        set(&["IMPLEMENTED", "FAILED", "ROLLED_BACK"])
    );
    assert_eq!(
        allowed(&|f| close(f, now()).is_ok()),
        set(&["IMPLEMENTED", "FAILED", "ROLLED_BACK"])
    );
    assert_eq!(
        allowed(&|f| cancel(f).is_ok()),
        set(&[
            "DRAFT",
            "SUBMITTED",
            "AWAITING_APPROVAL",
            "DEFERRED",
            "REJECTED",
            "APPROVED",
            "SCHEDULED"
        ])
    );
}

#[test]
fn submit_routes_by_type_and_requires_templates_where_the_policy_says() {
    let policy = Policy::load("tiered-cab").unwrap();
    let pending = pending_state();
    let normal = policy.change_type("normal").unwrap();
    assert_eq!(
        submit(&facts(normal, ChangeStatus::Draft, &pending)),
        Ok(ChangeStatus::AwaitingApproval)
    );
    let standard = policy.change_type("standard").unwrap();
    let without = submit(&facts(standard, ChangeStatus::Draft, &pending)).unwrap_err();
    assert_eq!(
        codes(&without),
        [ViolationCode::TemplateMissing],
        "{without:?}"
    );
    let mut with = facts(standard, ChangeStatus::Draft, &pending);
    with.has_template = true;
    assert_eq!(submit(&with), Ok(ChangeStatus::Approved));
}

#[test]
fn submit_lists_each_missing_item_and_a_risk_above_the_types_ceiling() {
    use crate::domain::change::RequiredItem;
    let mut standard = Policy::load("tiered-cab")
        .unwrap()
        .change_type("standard")
        .unwrap()
        .clone();
    standard.required_information = vec![RequiredItem::TestPlan, RequiredItem::PlannedWindow];
    standard.max_risk_level = Some(RiskLevel::Low);
    standard.deployment_methods = vec![entity::DeploymentMethod::Rolling];
    let pending = pending_state();
    let mut f = facts(&standard, ChangeStatus::Draft, &pending);
    f.has_template = true;
    f.deployment_method = Some(entity::DeploymentMethod::Rolling);
    f.missing_information = standard.required_information.clone();
    f.risk_level = RiskLevel::High;
    f.suggested_type = Some("normal".into());
    let refused = submit(&f).unwrap_err();
    assert_eq!(
        codes(&refused),
        [
            ViolationCode::InformationMissing,
            ViolationCode::InformationMissing,
            ViolationCode::RiskAboveCeiling
        ]
    );
    assert!(refused[0].message.contains("testPlan"), "{refused:?}");
    assert!(refused[1].message.contains("plannedStart"), "{refused:?}");
    assert_eq!(
        refused[2].message,
        "risk too high for the type: a standard change accepts at most LOW risk and this one is HIGH; the risk matrix suggests a normal change"
    );
    // A type naming its deployment methods refuses others, and none.
    for (method, said) in [
        (None, "states none"),
        (Some(entity::DeploymentMethod::Direct), "says DIRECT"),
    ] {
        f.deployment_method = method;
        let refused = submit(&f).unwrap_err();
        assert_eq!(
            refused.last().unwrap().message,
            format!(
                "deployment method not allowed: a standard change deploys by ROLLING and this one {said} (implementationPlan.deploymentMethod)"
            )
        );
    }
    f.deployment_method = Some(entity::DeploymentMethod::Rolling);
    // At the ceiling the type accepts it; with everything stated it goes.
    f.missing_information.clear();
    f.risk_level = RiskLevel::Low;
    assert_eq!(submit(&f), Ok(ChangeStatus::Approved));
}

#[test]
fn start_lists_every_missing_approval_gate_and_window_problem() {
    let policy = Policy::load("tiered-cab").unwrap();
    let normal = policy.change_type("normal").unwrap();
    let pending = pending_state();
    let mut f = facts(normal, ChangeStatus::Scheduled, &pending);
    f.unmet_gates = vec![gate_missing("unit_tests"), gate_missing("qa_review")];
    f.scheduled_start = Some(now() + Duration::hours(1));
    f.scheduled_end = Some(now() + Duration::hours(2));
    let violations = start(&f, now()).unwrap_err();
    assert_eq!(
        violations,
        vec![
            Violation::new(
                ViolationCode::ApprovalMissing,
                "approval missing: role change_manager"
            ),
            gate_missing("unit_tests"),
            gate_missing("qa_review"),
            Violation::new(
                ViolationCode::OutsideScheduledSlot,
                format!(
                    "outside the scheduled window: it opens at {}",
                    (now() + Duration::hours(1)).to_rfc3339()
                )
            ),
        ]
    );
    let approved = approved_state();
    let mut ok = facts(normal, ChangeStatus::Scheduled, &approved);
    ok.scheduled_start = Some(now() - Duration::minutes(1));
    ok.scheduled_end = Some(now() + Duration::hours(1));
    assert_eq!(start(&ok, now()), Ok(StartDeadlines::default()));
    ok.scheduled_end = Some(now() - Duration::seconds(1));
    let closed = start(&ok, now()).unwrap_err();
    assert_eq!(codes(&closed), [ViolationCode::OutsideScheduledSlot]);
    assert!(closed[0].message.contains("closed"));
}

#[test]
fn emergencies_with_retroactive_approval_start_unapproved_and_get_deadlines() {
    let policy = Policy::load("tiered-cab").unwrap();
    let emergency = policy.change_type("emergency").unwrap();
    let pending = pending_state();
    let f = facts(emergency, ChangeStatus::AwaitingApproval, &pending);
    let deadlines = start(&f, now()).unwrap();
    assert_eq!(deadlines.approval_due_at, Some(now() + Duration::hours(24)));
    assert_eq!(
        deadlines.documentation_due_at,
        Some(now() + Duration::hours(24))
    );
    // Gates still apply to emergencies under seed 001 (unit tests required).
    let mut gated = facts(emergency, ChangeStatus::AwaitingApproval, &pending);
    gated.unmet_gates = vec![gate_missing("unit_tests")];
    assert_eq!(
        start(&gated, now()).unwrap_err(),
        vec![gate_missing("unit_tests")]
    );
    // Seed 000: expedited approval comes first.
    let cab = Policy::load("cab-quorum").unwrap();
    let expedited = cab.change_type("emergency").unwrap();
    let refused = start(
        &facts(expedited, ChangeStatus::AwaitingApproval, &pending),
        now(),
    )
    .unwrap_err();
    assert!(codes(&refused).contains(&ViolationCode::WrongStatus));
    assert!(
        refused
            .iter()
            .any(|v| v.message.starts_with("cannot start implementing"))
    );
    let approved = approved_state();
    assert!(start(&facts(expedited, ChangeStatus::Approved, &approved), now()).is_ok());
}

#[test]
fn scheduling_enforces_notice_and_implementation_deadlines() {
    let policy = Policy::load("cab-quorum").unwrap();
    let approved = approved_state();
    let normal = policy.change_type("normal").unwrap();
    let f = facts(normal, ChangeStatus::Approved, &approved);
    let too_soon = schedule(
        &f,
        now() + Duration::hours(24),
        now() + Duration::hours(26),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        too_soon,
        vec![Violation::new(
            ViolationCode::NoticePeriod,
            "notice period not met: 168 hours required, 24.0 hours given"
        )]
    );
    assert!(
        schedule(
            &f,
            now() + Duration::days(8),
            now() + Duration::days(8) + Duration::hours(2),
            now()
        )
        .is_ok()
    );
    let backwards = schedule(
        &f,
        now() + Duration::days(9),
        now() + Duration::days(8),
        now(),
    )
    .unwrap_err();
    assert!(codes(&backwards).contains(&ViolationCode::EndBeforeStart));

    let standard = policy.change_type("standard").unwrap();
    let mut s = facts(standard, ChangeStatus::Approved, &approved);
    s.approved_at = Some(now());
    assert!(
        schedule(
            &s,
            now() + Duration::hours(47),
            now() + Duration::hours(48),
            now()
        )
        .is_ok()
    );
    let late = schedule(
        &s,
        now() + Duration::hours(49),
        now() + Duration::hours(50),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        late,
        vec![Violation::new(
            ViolationCode::ImplementationDeadline,
            "a standard change must be implemented within 48 hours of approval"
        )]
    );
}

#[test]
fn closing_needs_review_retroactive_approval_and_documentation() {
    let policy = Policy::load("tiered-cab").unwrap();
    let emergency = policy.change_type("emergency").unwrap();
    let pending = pending_state();
    let mut f = facts(emergency, ChangeStatus::Implemented, &pending);
    f.documentation_due_at = Some(now());
    f.review_due_at = Some(now());
    let violations = close(&f, now()).unwrap_err();
    assert_eq!(
        violations,
        vec![
            Violation::new(
                ViolationCode::ReviewMissing,
                "post-implementation review missing"
            ),
            Violation::new(
                ViolationCode::BoardReviewMissing,
                "the CAB's post-implementation review missing: record a BOARD review from its meeting"
            ),
            Violation::new(
                ViolationCode::RetroactiveApprovalMissing,
                "retroactive approval missing"
            ),
            Violation::new(
                ViolationCode::ApprovalMissing,
                "approval missing: role change_manager"
            ),
            Violation::new(
                ViolationCode::DocumentationMissing,
                "emergency documentation missing"
            ),
        ]
    );
    f.reviewed_at = Some(now());
    f.approved_at = Some(now());
    f.documented_at = Some(now());
    f.board_reviewed = true;
    assert_eq!(close(&f, now()), Ok(ChangeStatus::Closed));

    let normal = policy.change_type("normal").unwrap();
    let approved = approved_state();
    let mut rolled_back = facts(normal, ChangeStatus::RolledBack, &approved);
    rolled_back.approved_at = Some(now());
    assert_eq!(
        codes(&close(&rolled_back, now()).unwrap_err()),
        [ViolationCode::ReviewMissing]
    );
}

#[test]
fn completion_sets_business_day_review_deadlines_for_emergencies() {
    let policy = Policy::load("dual-approval").unwrap();
    let emergency = policy.change_type("emergency").unwrap();
    let approved = approved_state();
    let friday = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let (status, review_due) = complete(
        &facts(emergency, ChangeStatus::Implementing, &approved),
        ChangeOutcome::Successful,
        friday,
    )
    .unwrap();
    assert_eq!(status, ChangeStatus::Implemented);
    assert_eq!(
        review_due.review_due_at,
        Some(Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap())
    );
    let normal = policy.change_type("normal").unwrap();
    let (failed, none) = complete(
        &facts(normal, ChangeStatus::Implementing, &approved),
        ChangeOutcome::Failed,
        friday,
    )
    .unwrap();
    assert_eq!((failed, none.review_due_at), (ChangeStatus::Failed, None));
    assert!(
        complete(
            &facts(normal, ChangeStatus::Implementing, &approved),
            ChangeOutcome::RolledBack,
            friday
        )
        .is_err()
    );
}

#[test]
fn overdue_items_are_deadlines_passed_without_their_record() {
    let policy = Policy::load("tiered-cab").unwrap();
    let emergency = policy.change_type("emergency").unwrap();
    let pending = pending_state();
    let mut f = facts(emergency, ChangeStatus::Implemented, &pending);
    f.approval_due_at = Some(now() - Duration::hours(1));
    f.documentation_due_at = Some(now() - Duration::hours(1));
    f.documented_at = Some(now() - Duration::hours(2));
    f.review_due_at = Some(now() + Duration::hours(1));
    assert_eq!(
        overdue(&f, now()),
        vec![Overdue {
            kind: OverdueKind::Approval,
            due_at: now() - Duration::hours(1)
        }]
    );
}

// ---------------------------------------------------------------------
// Property: random sequences of actions by random actors never reach
// IMPLEMENTING without the approvals and gates the policy requires (or a
// tracked retroactive deadline), and no one approves their own change.

#[derive(Debug, Clone)]
enum Step {
    Submit,
    Decide { actor: usize, decision: Decision },
    RecordGates,
    Schedule,
    Start,
    Revise,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Submit),
        (
            0usize..6,
            prop_oneof![
                Just(Decision::Approve),
                Just(Decision::Reject),
                Just(Decision::Defer)
            ]
        )
            .prop_map(|(actor, decision)| Step::Decide { actor, decision }),
        Just(Step::RecordGates),
        Just(Step::Schedule),
        Just(Step::Start),
        Just(Step::Revise),
    ]
}

/// Actors: 0 is the requester (who also holds approver roles, to tempt
/// the rules), the others hold assorted roles.
fn actors() -> Vec<(Uuid, BTreeSet<String>)> {
    let roles: [&[&str]; 6] = [
        &[
            "requester",
            "change_manager",
            "ciso",
            "cto",
            "engineering_lead",
            "qa",
        ],
        &["change_manager"],
        &["ciso"],
        &["cto"],
        &["engineering_lead", "qa"],
        &["qa"],
    ];
    roles
        .iter()
        .map(|r| (Uuid::new_v4(), r.iter().map(|s| (*s).to_owned()).collect()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn no_sequence_reaches_implementation_without_what_the_policy_requires(
        policy_name in prop_oneof![Just("tiered-cab"), Just("dual-approval"), Just("security-officer"), Just("weekly-cab")],
        type_index in 0usize..4,
        steps in proptest::collection::vec(step_strategy(), 1..25),
    ) {
        let policy = Policy::load(policy_name).unwrap();
        let change_type = &policy.change_types[type_index % policy.change_types.len()];
        let people = actors();
        let requester = people[0].0;
        let mut status = ChangeStatus::Draft;
        let mut votes: Vec<Vote> = Vec::new();
        let mut gates_recorded = false;
        let mut approved_at = None;
        let mut scheduled = None;
        for step in steps {
            let approval = approval::evaluate(change_type, policy.board.as_ref(), &[], &votes, requester, BoardVote::Open);
            let unmet_gates = if gates_recorded { vec![] } else { change_type.gates.iter().map(|g| gate_missing(g)).collect() };
            let mut f = facts(change_type, status, &approval);
            f.unmet_gates = unmet_gates.clone();
            f.has_template = true;
            f.approved_at = approved_at;
            if let Some((s, e)) = scheduled { f.scheduled_start = Some(s); f.scheduled_end = Some(e); }
            match step {
                Step::Submit => if let Ok(next) = submit(&f) {
                    status = next;
                    if next == ChangeStatus::Approved { approved_at = Some(now()); }
                },
                Step::Decide { actor, decision } => {
                    let (person, roles) = &people[actor];
                    // The service refuses the requester and unqualified people.
                    if can_decide(&f).is_ok() && *person != requester && approval::qualifies(change_type, roles, None)
                        && !votes.iter().any(|v| v.person == *person) {
                        votes.push(Vote { person: *person, roles: roles.clone(), seat: None, decision, after_start: false, freeze_entry: false });
                        let after = approval::evaluate(change_type, policy.board.as_ref(), &[], &votes, requester, BoardVote::Open);
                        if after.outcome == Outcome::Approved && approved_at.is_none() { approved_at = Some(now()); }
                        status = after_decision(status, after.outcome);
                        if matches!(status, ChangeStatus::Deferred | ChangeStatus::Rejected) { votes.clear(); }
                    }
                }
                Step::RecordGates => gates_recorded = true,
                Step::Schedule => if schedule(&f, now() + Duration::days(8), now() + Duration::days(9), now()).is_ok() {
                    status = ChangeStatus::Scheduled;
                    scheduled = Some((now() + Duration::days(8), now() + Duration::days(9)));
                },
                Step::Start => {
                    let at = scheduled.map_or(now(), |(s, _)| s);
                    if let Ok(deadlines) = start(&f, at) {
                        // What must hold whenever implementation starts:
                        prop_assert!(unmet_gates.is_empty(), "started with unmet gates");
                        let retro = change_type.emergency.as_ref().is_some_and(|e| e.retroactive_approval);
                        if approval.outcome != Outcome::Approved {
                            prop_assert!(retro, "started unapproved without retroactive approval");
                            let tracked = change_type.emergency.as_ref().and_then(|e| e.approval_deadline_hours).is_none()
                                || deadlines.approval_due_at.is_some();
                            prop_assert!(tracked, "retroactive start without a tracked deadline");
                        }
                        prop_assert!(approval.steps.iter().all(|s| !s.approvers.contains(&requester)));
                        status = ChangeStatus::Implementing;
                    }
                }
                Step::Revise => if let Ok(next) = revise(&f) { status = next; votes.clear(); },
            }
        }
    }
}

fn gate_missing(key: &str) -> Violation {
    Violation::new(ViolationCode::GateMissing, format!("gate missing: {key}"))
}

#[test]
fn where_the_cab_reviews_emergencies_its_review_is_the_one_owed() {
    use entity::ReviewKind;
    let cab_quorum = Policy::load("cab-quorum").unwrap();
    let emergency = cab_quorum.change_type("emergency").unwrap();
    assert!(review_satisfies(emergency, ReviewKind::Board));
    assert!(!review_satisfies(emergency, ReviewKind::PostImplementation));
    assert!(!review_satisfies(emergency, ReviewKind::PostEmergency));
    // Seed 001 owes both: a post-emergency review within 5 days, and the
    // CAB's review at its next meeting.
    let tiered = Policy::load("tiered-cab").unwrap();
    let tiered_emergency = tiered.change_type("emergency").unwrap();
    assert!(review_satisfies(
        tiered_emergency,
        ReviewKind::PostEmergency
    ));
    assert!(review_satisfies(tiered_emergency, ReviewKind::Board));
    // Without a board review, every review kind is a review.
    let normal = cab_quorum.change_type("normal").unwrap();
    assert!(review_satisfies(normal, ReviewKind::PostImplementation));

    let approved = approved_state();
    let mut f = facts(emergency, ChangeStatus::Implemented, &approved);
    f.approved_at = Some(now());
    assert_eq!(
        codes(&close(&f, now()).unwrap_err()),
        [ViolationCode::BoardReviewMissing]
    );
    f.board_reviewed = true;
    f.reviewed_at = Some(now());
    assert_eq!(close(&f, now()), Ok(ChangeStatus::Closed));

    let mut t = facts(tiered_emergency, ChangeStatus::Implemented, &approved);
    t.approved_at = Some(now());
    assert_eq!(
        codes(&close(&t, now()).unwrap_err()),
        [
            ViolationCode::ReviewMissing,
            ViolationCode::BoardReviewMissing
        ]
    );
    t.reviewed_at = Some(now());
    assert_eq!(
        codes(&close(&t, now()).unwrap_err()),
        [ViolationCode::BoardReviewMissing]
    );
}

#[test]
fn a_rejected_retroactive_approval_closes_after_its_review() {
    let policy = Policy::load("tiered-cab").unwrap();
    let emergency = policy.change_type("emergency").unwrap();
    let rejected = ApprovalState {
        outcome: Outcome::Rejected,
        ..pending_state()
    };
    let mut f = facts(emergency, ChangeStatus::RolledBack, &rejected);
    f.board_reviewed = true;
    f.documented_at = Some(now());
    f.documentation_due_at = Some(now());
    // No approval can come any more; the review of what happened is owed.
    assert_eq!(
        codes(&close(&f, now()).unwrap_err()),
        [ViolationCode::ReviewMissing]
    );
    f.reviewed_at = Some(now());
    assert_eq!(close(&f, now()), Ok(ChangeStatus::Closed));
    // Still pending: the approval is what closing waits for.
    let pending = pending_state();
    let mut waiting = facts(emergency, ChangeStatus::Implemented, &pending);
    waiting.board_reviewed = true;
    waiting.reviewed_at = Some(now());
    assert_eq!(
        codes(&close(&waiting, now()).unwrap_err()),
        [
            ViolationCode::RetroactiveApprovalMissing,
            ViolationCode::ApprovalMissing
        ]
    );
}

#[test]
fn a_review_states_what_the_policy_asks_and_more_after_a_rollback() {
    let mut normal = Policy::load("tiered-cab")
        .unwrap()
        .change_type("normal")
        .unwrap()
        .clone();
    normal.review_contents = vec![ReviewItem::LessonsLearned];
    normal.rollback_review_contents = vec![ReviewItem::RootCause, ReviewItem::LessonsLearned];
    let approved = approved_state();
    let bare = ReviewContents::default();
    let full = ReviewContents {
        lessons_learned: Some("canary first next time"),
        root_cause: Some("a missing index"),
    };
    let implemented = facts(&normal, ChangeStatus::Implemented, &approved);
    let refused = can_review(&implemented, &bare).unwrap_err();
    assert_eq!(
        messages(&refused),
        [
            "review content missing: a review of a normal change states the lessons learned (lessonsLearned)"
        ]
    );
    let lessons_only = ReviewContents {
        root_cause: Some("   "),
        ..full
    };
    assert_eq!(can_review(&implemented, &lessons_only), Ok(()));
    let rolled_back = facts(&normal, ChangeStatus::RolledBack, &approved);
    let refused = can_review(&rolled_back, &lessons_only).unwrap_err();
    assert_eq!(codes(&refused), [ViolationCode::ReviewContentMissing]);
    assert_eq!(
        refused[0].message,
        "review content missing: a review of a failed or rolled-back normal change states the root cause (rootCause)"
    );
    assert_eq!(can_review(&rolled_back, &full), Ok(()));
}

#[test]
fn the_seed_deadlines_count_from_submission_approval_and_the_end() {
    let cab = Policy::load("cab-quorum").unwrap();
    let submitted = now();
    // Seed 000: an emergency approved "within 30 minutes" of submission.
    let emergency = cab.change_type("emergency").unwrap();
    assert_eq!(
        submission_approval_due(emergency, submitted),
        Some(submitted + Duration::minutes(30))
    );
    assert_eq!(
        submission_approval_due(cab.change_type("normal").unwrap(), submitted),
        None
    );
    // Seed 000: a standard change "implemented within 48 hours", overdue
    // when not started by then, scheduled or not; a cancelled one owes
    // nothing.
    let standard = cab.change_type("standard").unwrap();
    let due = implementation_due(standard, submitted).unwrap();
    assert_eq!(due, submitted + Duration::hours(48));
    let approved = approved_state();
    let mut f = facts(standard, ChangeStatus::Approved, &approved);
    f.implementation_due_at = Some(due);
    assert_eq!(overdue(&f, due - Duration::minutes(1)), vec![]);
    assert_eq!(
        overdue(&f, due + Duration::minutes(1)),
        vec![Overdue {
            kind: OverdueKind::Implementation,
            due_at: due
        }]
    );
    f.status = ChangeStatus::Cancelled;
    assert_eq!(overdue(&f, due + Duration::minutes(1)), vec![]);
    f.status = ChangeStatus::Implementing;
    f.actual_start = Some(due - Duration::hours(1));
    assert_eq!(overdue(&f, due + Duration::minutes(1)), vec![]);

    // Seed 004: the approver answers within 24 hours of submission.
    let mut answered = standard.clone();
    answered.pre_approved = false;
    answered.respond_within_hours = Some(24);
    let response_due = response_due(&answered, submitted).unwrap();
    assert_eq!(response_due, submitted + Duration::hours(24));
    assert_eq!(response_due_of_pre_approved(standard, submitted), None);
    let mut waiting = facts(&answered, ChangeStatus::AwaitingApproval, &approved);
    waiting.response_due_at = Some(response_due);
    assert_eq!(
        overdue(&waiting, response_due + Duration::minutes(1)),
        vec![Overdue {
            kind: OverdueKind::Response,
            due_at: response_due
        }]
    );
    waiting.responded_at = Some(response_due - Duration::hours(2));
    assert_eq!(
        overdue(&waiting, response_due + Duration::minutes(1)),
        vec![]
    );

    // Seed 003 §3.1: emergency documentation "post-implementation within
    // 24 hours", counted from the end rather than the start.
    let weekly = Policy::load("weekly-cab").unwrap();
    let weekly_emergency = weekly.change_type("emergency").unwrap();
    let mut running = facts(weekly_emergency, ChangeStatus::Implementing, &approved);
    running.approval_due_at = None;
    assert_eq!(start_deadlines_of(&running).documentation_due_at, None);
    let ended = now() + Duration::hours(5);
    let (_, end) = complete(&running, ChangeOutcome::Successful, ended).unwrap();
    assert_eq!(end.documentation_due_at, Some(ended + Duration::hours(24)));

    // Seed 001 §6.2: a normal change is monitored for an hour before it
    // closes.
    let tiered = Policy::load("tiered-cab").unwrap();
    let normal = tiered.change_type("normal").unwrap();
    let mut done = facts(normal, ChangeStatus::Implemented, &approved);
    done.approved_at = Some(now() - Duration::hours(3));
    done.actual_end = Some(now() - Duration::minutes(30));
    let refused = close(&done, now()).unwrap_err();
    assert_eq!(codes(&refused), [ViolationCode::MonitoringPeriod]);
    assert!(refused[0].message.starts_with(
        "monitoring period: a normal change is monitored for 1 hour after implementation; it closes from "
    ));
    done.actual_end = Some(now() - Duration::minutes(61));
    assert_eq!(close(&done, now()), Ok(ChangeStatus::Closed));

    // Seed 000: a rolled-back change closes only after the CAB's review.
    let cab_normal = cab.change_type("normal").unwrap();
    let mut rolled_back = facts(cab_normal, ChangeStatus::RolledBack, &approved);
    rolled_back.approved_at = Some(now() - Duration::hours(3));
    rolled_back.reviewed_at = Some(now());
    assert_eq!(
        codes(&close(&rolled_back, now()).unwrap_err()),
        [ViolationCode::BoardReviewMissing]
    );
    rolled_back.board_reviewed = true;
    assert_eq!(close(&rolled_back, now()), Ok(ChangeStatus::Closed));
}

/// The deadlines the start of an approved `f` at `now()` sets.
fn start_deadlines_of(f: &ChangeFacts<'_>) -> StartDeadlines {
    let mut f = f.clone();
    f.status = ChangeStatus::Approved;
    f.approved_at = Some(now() - Duration::hours(1));
    start(&f, now()).expect("the approved emergency starts")
}

fn response_due_of_pre_approved(
    change_type: &ChangeType,
    submitted: chrono::DateTime<Utc>,
) -> Option<chrono::DateTime<Utc>> {
    let mut pre_approved = change_type.clone();
    pre_approved.respond_within_hours = Some(24);
    response_due(&pre_approved, submitted)
}

#[test]
fn post_implementation_gates_hold_the_close_of_an_implemented_change_only() {
    let policy = Policy::load("tiered-cab").unwrap();
    let standard = policy.change_type("standard").unwrap();
    let approved = approved_state();
    let mut f = facts(standard, ChangeStatus::Implemented, &approved);
    f.approved_at = Some(now());
    f.unmet_close_gates = vec![gate_missing("post_deployment_validation")];
    // Not a reason to hold the start: only the close waits for it.
    f.status = ChangeStatus::Approved;
    assert!(!codes(&start_violations(&f, now())).contains(&ViolationCode::GateMissing));
    f.status = ChangeStatus::Implemented;
    assert_eq!(
        close(&f, now()),
        Err(vec![gate_missing("post_deployment_validation")])
    );
    // A rolled-back change verifies nothing it implemented; it owes its
    // review instead.
    f.status = ChangeStatus::RolledBack;
    f.reviewed_at = Some(now());
    assert_eq!(close(&f, now()), Ok(ChangeStatus::Closed));
    f.status = ChangeStatus::Implemented;
    f.unmet_close_gates.clear();
    assert_eq!(close(&f, now()), Ok(ChangeStatus::Closed));
}

#[test]
fn a_binding_risk_matrix_refuses_a_change_filed_below_its_rating() {
    let policy = Policy::load("tiered-cab").unwrap();
    let matrix = policy.risk_matrix.as_ref().unwrap();
    // Section 2.2: high impact, medium likelihood is major.
    assert_eq!(matrix.suggest(3, 5), Some("major"));
    assert_eq!(matrix.floor_above("normal", "major"), Some("major"));
    assert_eq!(matrix.floor_above("major", "normal"), None);
    // Emergencies are classified by urgency, not bound by the matrix.
    assert_eq!(matrix.floor_above("emergency", "major"), None);

    let normal = policy.change_type("normal").unwrap();
    let pending = pending_state();
    let mut f = facts(normal, ChangeStatus::Draft, &pending);
    f.required_type = Some("major".into());
    let refused = submit(&f).unwrap_err();
    assert_eq!(codes(&refused), vec![ViolationCode::RiskAboveType]);
    assert!(messages(&refused)[0].starts_with("the risk matrix rates this change major"));
    f.required_type = None;
    assert_eq!(submit(&f), Ok(ChangeStatus::AwaitingApproval));
}

#[test]
fn the_cabs_review_is_due_by_the_end_of_its_next_scheduled_meeting() {
    let policy = Policy::load("cab-quorum").unwrap();
    let approved = approved_state();
    let meeting_end = now() + Duration::days(2);
    let emergency = policy.change_type("emergency").unwrap();
    let mut f = facts(emergency, ChangeStatus::Implementing, &approved);
    f.next_board_meeting_end = Some(meeting_end);
    let (_, due) = complete(&f, ChangeOutcome::Successful, now()).unwrap();
    assert_eq!(due.board_review_due_at, Some(meeting_end));
    // Without a schedule there is no meeting to count to.
    f.next_board_meeting_end = None;
    let (_, due) = complete(&f, ChangeOutcome::Successful, now()).unwrap();
    assert_eq!(due.board_review_due_at, None);
    // A normal change owes the CAB's review only when it went wrong.
    let normal = policy.change_type("normal").unwrap();
    let mut n = facts(normal, ChangeStatus::Implementing, &approved);
    n.next_board_meeting_end = Some(meeting_end);
    let (_, succeeded) = complete(&n, ChangeOutcome::Successful, now()).unwrap();
    assert_eq!(succeeded.board_review_due_at, None);
    let (_, failed) = complete(&n, ChangeOutcome::Failed, now()).unwrap();
    assert_eq!(failed.board_review_due_at, Some(meeting_end));
    let rolled_back = roll_back(&n, "errors doubled", now()).unwrap();
    assert_eq!(rolled_back.board_review_due_at, Some(meeting_end));
    // Overdue once the meeting has ended without it; the BOARD review
    // meets it.
    let mut ended = facts(emergency, ChangeStatus::Implemented, &approved);
    ended.board_review_due_at = Some(meeting_end);
    let after = meeting_end + Duration::minutes(1);
    assert!(overdue(&ended, meeting_end).is_empty());
    assert_eq!(
        overdue(&ended, after)
            .into_iter()
            .map(|o| o.kind)
            .collect::<Vec<_>>(),
        vec![OverdueKind::BoardReview]
    );
    ended.board_reviewed = true;
    assert!(overdue(&ended, after).is_empty());
}

#[test]
fn a_rollback_names_one_of_the_policys_kinds_where_it_sets_objectives() {
    let tiered = Policy::load("tiered-cab").unwrap();
    let objectives = &tiered.rollback_objectives;
    let revert = rollback_objective(objectives, Some("version_revert"))
        .unwrap()
        .unwrap();
    assert_eq!(revert.restore_within_minutes, 15);
    assert_eq!(restore_due(revert, now()), now() + Duration::minutes(15));
    for refused in [None, Some(""), Some("  "), Some("hard_reset")] {
        let error = rollback_objective(objectives, refused).unwrap_err();
        assert_eq!(error.field, "rollbackKind");
        // The refusal names every kind with its objective.
        assert!(
            error
                .message
                .contains("database_migration (Complex rollback (database migration), 60 minutes)"),
            "{}",
            error.message
        );
    }
    // A policy without objectives asks for no kind and takes none.
    let quorum = Policy::load("cab-quorum").unwrap();
    assert!(quorum.rollback_objectives.is_empty());
    assert_eq!(
        rollback_objective(&quorum.rollback_objectives, None),
        Ok(None)
    );
    assert!(rollback_objective(&quorum.rollback_objectives, Some("version_revert")).is_err());
}

#[test]
fn a_rollback_is_overdue_until_its_incident_restores_service() {
    let policy = Policy::load("tiered-cab").unwrap();
    let normal = policy.change_type("normal").unwrap();
    let approved = approved_state();
    let due = now() + Duration::minutes(15);
    let mut f = facts(normal, ChangeStatus::RolledBack, &approved);
    f.restore_due_at = Some(due);
    assert!(overdue(&f, due).is_empty());
    let late = due + Duration::minutes(1);
    assert_eq!(
        overdue(&f, late)
            .into_iter()
            .map(|o| o.kind)
            .collect::<Vec<_>>(),
        vec![OverdueKind::Restore]
    );
    f.restored_at = Some(late);
    assert!(overdue(&f, late).is_empty());
    // Restored after the objective: met late, not within it.
    assert_eq!(
        within_restore_objective(f.restore_due_at, f.restored_at),
        Some(false)
    );
    assert_eq!(
        within_restore_objective(f.restore_due_at, Some(due)),
        Some(true)
    );
    assert_eq!(within_restore_objective(None, Some(due)), None);
    assert_eq!(within_restore_objective(Some(due), None), None);
}

#[test]
fn an_imported_change_gets_the_approval_deadline_a_live_one_would() {
    let at = |h: i64| Some(now() + Duration::hours(h));
    // tiered-cab: the CISO and CTO approve an emergency within 24 hours
    // of its start.
    let tiered = Policy::load("tiered-cab").unwrap();
    let emergency = tiered.change_type("emergency").unwrap();
    assert_eq!(
        imported_approval_due(emergency, at(0), at(5), at(1)),
        at(25),
        "approved after the start: due 24 hours after it"
    );
    assert_eq!(
        imported_approval_due(emergency, at(0), at(1), at(2)),
        None,
        "approved before the start: no deadline"
    );
    assert_eq!(imported_approval_due(emergency, at(0), None, None), None);
    let normal = tiered.change_type("normal").unwrap();
    assert_eq!(imported_approval_due(normal, at(0), at(5), at(1)), None);
    // cab-quorum: emergencies are approved within 30 minutes of submission.
    let quorum = Policy::load("cab-quorum").unwrap();
    let quick = quorum.change_type("emergency").unwrap();
    let due = imported_approval_due(quick, at(0), None, None);
    assert_eq!(due, Some(now() + Duration::minutes(30)));
}
