//! Asking for approval and deciding: submit, revise, decide.

use entity::{BoardRole, ChangeStatus, Decision, approval, change};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::domain::audit_action;
use crate::domain::violation::{Violation, ViolationCode};
use crate::store;
use crate::store::accounts;
use crate::store::transitions::Request;
use crate::{
    domain::{
        ValidationError,
        approval::{self as approvals, BoardVote, Vote},
        lifecycle::{self},
        optional_text, permissions,
    },
    error::{ServiceError, ServiceResult},
};

use super::transition::{account, open_transition, refuse};

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn submit(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, |actor, requester, _| {
            permissions::submit_change(actor, requester)
        })
        .await?;
    let next = refuse(lifecycle::submit(&snapshot.facts(
        request.policy,
        &approval,
        request.now,
    )))?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    active.submitted_at = Set(Some(request.now));
    if next == ChangeStatus::Approved {
        active.approved_at = Set(Some(request.now));
        active.implementation_due_at = Set(lifecycle::implementation_due(
            &snapshot.change_type,
            request.now,
        ));
    } else {
        active.approval_due_at = Set(lifecycle::submission_approval_due(
            &snapshot.change_type,
            request.now,
        ));
        active.response_due_at = Set(lifecycle::response_due(&snapshot.change_type, request.now));
        active.responded_at = Set(None);
    }
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_SUBMITTED,
        before,
        json!({"preApproved": next == ChangeStatus::Approved}),
    )
    .await
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn revise(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, |actor, requester, _| {
            permissions::submit_change(actor, requester)
        })
        .await?;
    let next = refuse(lifecycle::revise(&snapshot.facts(
        request.policy,
        &approval,
        request.now,
    )))?;
    let before = snapshot.change.status;
    let round = snapshot.change.approval_round + 1;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    // Decisions on the old version no longer count for its approval; the
    // board's decision stays in `board_decisions` for the CAB rate.
    active.approval_round = Set(round);
    active.submitted_at = Set(None);
    active.board_outcome = Set(None);
    active.board_decided_at = Set(None);
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_REVISED,
        before,
        json!({"approvalRound": round}),
    )
    .await
}

/// Records the caller's decision and applies its consequence.
#[tracing::instrument(skip_all, fields(change_id = %id, ?decision))]
pub async fn decide(
    request: &Request<'_>,
    id: Uuid,
    decision: Decision,
    comment: Option<&str>,
    meeting_id: Option<Uuid>,
) -> ServiceResult<change::Model> {
    optional_text("comment", comment, 10_000)?;
    let actor = account(request.caller)?;
    if decision != Decision::Approve && comment.is_none_or(|c| c.trim().is_empty()) {
        return Err(
            ValidationError::new("comment", "a rejection or deferral needs a rationale").into(),
        );
    }
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, None).await?;
    // Who may decide, and for which roles and seat, is read from the
    // account as it stands now, in this transaction: not from the identity
    // the caller signed in with, nor from a seat granted earlier.
    let standing = accounts::standing(&txn, actor.user_id, request.policy.board.as_ref()).await?;
    permissions::decide_approvals(&standing).map_err(ServiceError::Forbidden)?;
    let seat = standing.board_seat();
    let snapshot = store::changes::snapshot(&txn, request.policy, model).await?;
    let change = &snapshot.change;
    let approval = snapshot.approval(request.policy, BoardVote::Open);
    let mut violations =
        lifecycle::can_decide(&snapshot.facts(request.policy, &approval, request.now))
            .err()
            .unwrap_or_default();
    if actor.user_id == change.requester_id {
        violations.push(Violation::new(
            ViolationCode::SelfApproval,
            "requester cannot approve own change",
        ));
    }
    if !approvals::qualifies(&snapshot.change_type, &standing.roles, seat) {
        violations.push(Violation::new(
            ViolationCode::NotAnApprover,
            format!(
                "you are not an approver of {} changes ({})",
                snapshot.change_type.key, snapshot.change_type.approval_summary
            ),
        ));
    }
    // Where a type's steps are split by the start, one person decides once
    // before it and once after (the CISO's verbal approval, then the
    // CISO's sign-off); otherwise once per round.
    let after_start = crate::domain::lifecycle::has_started(change.status, change.actual_start);
    let split = snapshot
        .change_type
        .approvals
        .iter()
        .any(|s| s.timing == crate::policy::StepTiming::AfterStart);
    if snapshot.votes.iter().any(|v| {
        v.person == actor.user_id && !v.freeze_entry && (!split || v.after_start == after_start)
    }) {
        violations.push(Violation::new(
            ViolationCode::AlreadyDecided,
            "you have already decided on this approval round (one person, one vote)",
        ));
    }
    if let Some(waiting) =
        approvals::waits_for(&snapshot.change_type, &approval, &standing.roles, seat)
    {
        violations.push(Violation::new(
            ViolationCode::StepNotOpen,
            format!("not open for your decision yet: {waiting}"),
        ));
    }
    // Whether the testing is on record matters only to someone who could
    // otherwise approve now: a draft, the requester or a non-approver is
    // told that alone.
    if decision == Decision::Approve && violations.is_empty() {
        let unmet: Vec<&str> = snapshot
            .gate_results(request.policy, request.now)
            .into_iter()
            .filter(|(_, unmet)| unmet.is_some())
            .map(|(gate, _)| gate.key.as_str())
            .collect();
        if let Some(waiting) = approvals::approval_waits_for_gates(
            &snapshot.change_type,
            &standing.roles,
            seat,
            &unmet,
        ) {
            violations.push(Violation::new(
                ViolationCode::StepNotOpen,
                format!("not open for your approval yet: {waiting}"),
            ));
        }
    }
    if approvals::rationale_owed(
        request.policy.board.as_ref(),
        &snapshot.change_type,
        &standing.roles,
        seat,
    ) && comment.is_none_or(|c| c.trim().is_empty())
    {
        violations.push(Violation::new(
            ViolationCode::RationaleMissing,
            "the policy records the rationale of every decision on this type, approvals too: say why in the comment",
        ));
    }
    let as_substitute = approvals::stands_in_only(&snapshot.change_type, &standing.roles, seat);
    if as_substitute && comment.is_none_or(|c| c.trim().is_empty()) {
        violations.push(Violation::new(
            ViolationCode::SubstituteReasonMissing,
            "you decide as a backup approver: say in the comment why the primary approver cannot act",
        ));
    }
    if decision == Decision::Approve {
        violations.extend(crate::domain::segregation::may_approve(
            &request.policy.segregation,
            actor.user_id,
            change.implementation_started_by,
        ));
    }
    if !violations.is_empty() {
        return Err(ServiceError::PolicyViolation(violations));
    }
    if let Some(meeting) = meeting_id {
        crate::store::board::find_meeting(&txn, meeting).await?;
    }
    let retroactive = crate::domain::lifecycle::has_started(change.status, change.actual_start);
    approval::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(change.id),
        round: Set(change.approval_round),
        approver_id: Set(actor.user_id),
        decision: Set(decision),
        comment: Set(comment.map(str::to_owned)),
        decided_at: Set(request.now),
        meeting_id: Set(meeting_id),
        retroactive: Set(retroactive),
        approver_roles: Set(json!(standing.roles)),
        board_role: Set(seat),
        freeze_entry: Set(false),
    }
    .insert(&txn)
    .await?;
    let mut snapshot = snapshot;
    snapshot.votes.push(Vote {
        person: actor.user_id,
        roles: standing.roles.clone(),
        seat,
        decision,
        after_start: retroactive,
        freeze_entry: false,
    });
    store::transitions::apply_outcome(
        txn,
        request,
        snapshot,
        BoardVote::Open,
        json!({
            "decision": decision,
            "comment": comment,
            "approverRoles": standing.roles,
            "boardRole": seat,
            "retroactive": retroactive,
            "meetingId": meeting_id,
            "asSubstitute": as_substitute,
        }),
    )
    .await
}

/// A soft freeze's extra approval, given by a holder of one of the roles
/// the freeze names (seed 001 §6.3: "extra testing and CAB approval during
/// a freeze"), whether or not they approve the change's type. It is
/// recorded as an approval of the current round carrying only the freeze
/// roles held, so it lets the change into the freeze and fills no approval
/// step a freeze role does not name.
#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn approve_freeze_entry(
    request: &Request<'_>,
    id: Uuid,
    comment: Option<&str>,
) -> ServiceResult<change::Model> {
    optional_text("comment", comment, 10_000)?;
    let actor = account(request.caller)?;
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, None).await?;
    let standing = accounts::standing(&txn, actor.user_id, request.policy.board.as_ref()).await?;
    permissions::decide_approvals(&standing).map_err(ServiceError::Forbidden)?;
    let snapshot = store::changes::snapshot(&txn, request.policy, model).await?;
    let approval = snapshot.approval(request.policy, BoardVote::Open);
    let mut violations = lifecycle::can_approve_freeze_entry(&snapshot.facts(
        request.policy,
        &approval,
        request.now,
    ))
    .err()
    .unwrap_or_default();
    if actor.user_id == snapshot.change.requester_id {
        violations.push(Violation::new(
            ViolationCode::SelfApproval,
            "requester cannot approve own change into a freeze",
        ));
    }
    let rules = store::calendar::rules(&txn, request.policy).await?;
    let held = crate::domain::calendar::soft_freeze_roles_held(&rules.freezes, &standing.roles);
    // Where the type needs the CAB's approval to start during a freeze,
    // each voting member's entry approval counts towards it.
    let seat = standing.board_seat().filter(|_| {
        snapshot
            .change_type
            .in_freeze
            .as_ref()
            .is_some_and(|f| f.board_approval)
    });
    let voting_seat = matches!(seat, Some(BoardRole::Chair | BoardRole::Member));
    if held.is_empty() && !voting_seat {
        violations.push(Violation::new(
            ViolationCode::NotAnApprover,
            "you hold none of the roles a soft freeze in force names as its approvers, nor a voting CAB seat where the change's type needs the CAB's approval to start during a freeze",
        ));
    }
    if snapshot
        .votes
        .iter()
        .any(|v| v.person == actor.user_id && v.freeze_entry)
    {
        violations.push(Violation::new(
            ViolationCode::AlreadyDecided,
            "you have already approved this change's freeze entry",
        ));
    }
    if !violations.is_empty() {
        return Err(ServiceError::PolicyViolation(violations));
    }
    let change = snapshot.change;
    approval::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(change.id),
        round: Set(change.approval_round),
        approver_id: Set(actor.user_id),
        decision: Set(Decision::Approve),
        comment: Set(comment.map(str::to_owned)),
        decided_at: Set(request.now),
        meeting_id: Set(None),
        retroactive: Set(false),
        approver_roles: Set(json!(held)),
        board_role: Set(seat.filter(|_| voting_seat)),
        freeze_entry: Set(true),
    }
    .insert(&txn)
    .await?;
    let before = change.status;
    let active: change::ActiveModel = change.into();
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_FREEZE_ENTRY_APPROVED,
        before,
        json!({"freezeRoles": held, "boardSeat": seat.filter(|_| voting_seat), "comment": comment}),
    )
    .await
}
