//! After implementation: review, close; and cancelling.

use entity::{ReviewKind, change, review};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::domain::audit_action;
use crate::store;
use crate::store::transitions::Request;
use crate::{
    domain::{
        approval::{self as approvals, BoardVote},
        lifecycle::{self},
        optional_text, permissions, required_text,
    },
    error::{ServiceError, ServiceResult},
};

use super::transition::{account, open_transition, refuse};

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn record_review(
    request: &Request<'_>,
    id: Uuid,
    kind: ReviewKind,
    summary: &str,
    lessons_learned: Option<&str>,
    root_cause: Option<&str>,
) -> ServiceResult<review::Model> {
    required_text("summary", summary, 20_000)?;
    optional_text("lessonsLearned", lessons_learned, 20_000)?;
    optional_text("rootCause", root_cause, 20_000)?;
    let actor = account(request.caller)?;
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, None).await?;
    let snapshot = store::changes::snapshot(&txn, request.policy, model).await?;
    let seat = snapshot.seats.iter().find(|s| s.person == actor.user_id);
    let qualified = approvals::qualifies(&snapshot.change_type, &actor.roles, None);
    request.caller.authorize(|actor| {
        permissions::review_change(
            actor,
            snapshot.change.requester_id,
            &snapshot.change_type,
            kind == ReviewKind::Board,
            qualified,
            seat.is_some(),
        )
    })?;
    if kind == ReviewKind::Board && seat.is_none() {
        return Err(ServiceError::forbidden(
            "a board review is recorded by a CAB member",
        ));
    }
    let approval = snapshot.approval(request.policy, BoardVote::Open);
    let mut refusals = lifecycle::can_review(
        &snapshot.facts(request.policy, &approval, request.now),
        &lifecycle::ReviewContents {
            lessons_learned,
            root_cause,
        },
    )
    .err()
    .unwrap_or_default();
    refusals.extend(crate::domain::segregation::may_review(
        &request.policy.segregation,
        actor.user_id,
        snapshot.change.implementation_started_by,
    ));
    if !refusals.is_empty() {
        return Err(ServiceError::PolicyViolation(refusals));
    }
    let recorded = review::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(id),
        kind: Set(kind),
        reviewer_id: Set(actor.user_id),
        summary: Set(summary.to_owned()),
        lessons_learned: Set(lessons_learned.map(str::to_owned)),
        root_cause: Set(root_cause.map(str::to_owned)),
        reviewed_at: Set(request.now),
    }
    .insert(&txn)
    .await?;
    let before = snapshot.change.status;
    let already_reviewed = snapshot.change.reviewed_at.is_some();
    let board_reviewed = snapshot.change.board_reviewed_at.is_some();
    let mut active: change::ActiveModel = snapshot.change.into();
    if !already_reviewed && lifecycle::review_satisfies(&snapshot.change_type, kind) {
        active.reviewed_at = Set(Some(request.now));
    }
    if kind == ReviewKind::Board && !board_reviewed {
        active.board_reviewed_at = Set(Some(request.now));
    }
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_REVIEWED,
        before,
        json!({"reviewId": recorded.id, "kind": kind, "summary": summary, "lessonsLearned": lessons_learned, "rootCause": root_cause}),
    )
    .await?;
    Ok(recorded)
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn close(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, |actor, requester, _| {
            permissions::close_change(actor, requester)
        })
        .await?;
    let next = refuse(lifecycle::close(
        &snapshot.facts(request.policy, &approval, request.now),
        request.now,
    ))?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    active.closed_at = Set(Some(request.now));
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_CLOSED,
        before,
        json!({}),
    )
    .await
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn cancel(
    request: &Request<'_>,
    id: Uuid,
    reason: &str,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    required_text("reason", reason, 10_000)?;
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, |actor, requester, _| {
            permissions::close_change(actor, requester)
        })
        .await?;
    let next = refuse(lifecycle::cancel(&snapshot.facts(
        request.policy,
        &approval,
        request.now,
    )))?;
    let before = snapshot.change.status;
    let sequence = snapshot.change.schedule_sequence + 1;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    active.closed_at = Set(Some(request.now));
    // A cancelled event is an update calendar clients must take.
    active.schedule_sequence = Set(sequence);
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_CANCELLED,
        before,
        json!({"reason": reason}),
    )
    .await
}
