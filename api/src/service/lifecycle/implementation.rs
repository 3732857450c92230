//! Scheduling and implementing: schedule, start, complete, roll back.

use chrono::{DateTime, Utc};
use entity::{ChangeOutcome, ChangeStatus, IncidentPriority, change, incident};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::domain::audit_action;
use crate::store;
use crate::store::transitions::Request;
use crate::{
    domain::{
        ValidationError,
        approval::{BoardVote, Outcome},
        lifecycle::{self},
        optional_text, permissions, required_text, segregation,
    },
    error::{ServiceError, ServiceResult},
};

use super::transition::{account, open_transition, refuse};

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn schedule(
    request: &Request<'_>,
    id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, |actor, requester, _| {
            permissions::schedule_change(actor, requester)
        })
        .await?;
    let mut violations = lifecycle::schedule(
        &snapshot.facts(request.policy, &approval, request.now),
        start,
        end,
        request.now,
    )
    .err()
    .unwrap_or_default();
    if end > start {
        let roles = snapshot.approving_roles();
        let slot = crate::domain::calendar::Interval { start, end };
        violations.extend(
            crate::store::calendar::slot_violations(
                &txn,
                request.policy,
                &snapshot.change,
                &roles,
                slot,
            )
            .await?,
        );
    }
    if !violations.is_empty() {
        return Err(ServiceError::PolicyViolation(violations));
    }
    let before = snapshot.change.status;
    let previous = (
        snapshot.change.scheduled_start,
        snapshot.change.scheduled_end,
    );
    let sequence = snapshot.change.schedule_sequence + 1;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(ChangeStatus::Scheduled);
    active.scheduled_start = Set(Some(start));
    active.scheduled_end = Set(Some(end));
    // Calendar clients replace an event only when its SEQUENCE grows.
    active.schedule_sequence = Set(sequence);
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_SCHEDULED,
        before,
        json!({"scheduledStart": start, "scheduledEnd": end, "previousStart": previous.0, "previousEnd": previous.1}),
    )
    .await
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn start_implementation(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) = open_transition(
        request,
        id,
        expected_version,
        |actor, requester, authority| {
            permissions::implement_change(actor, requester, &authority.implement)
        },
    )
    .await?;
    let implementer = account(request.caller)?.user_id;
    let mut facts = snapshot.facts(request.policy, &approval, request.now);
    facts.calendar_violations =
        store::calendar::start_violations(&txn, request.policy, &snapshot, request.now).await?;
    let duty = segregation::may_implement(
        &request.policy.segregation,
        implementer,
        snapshot.approvers(),
    );
    let deadlines = match (lifecycle::start(&facts, request.now), duty) {
        (Ok(deadlines), None) => deadlines,
        (Ok(_), Some(duty)) => return Err(ServiceError::PolicyViolation(vec![duty])),
        (Err(mut violations), duty) => {
            violations.extend(duty);
            return Err(ServiceError::PolicyViolation(violations));
        }
    };
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(ChangeStatus::Implementing);
    active.implementation_started_by = Set(Some(implementer));
    active.actual_start = Set(Some(request.now));
    active.approval_due_at = Set(deadlines.approval_due_at);
    active.documentation_due_at = Set(deadlines.documentation_due_at);
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_IMPLEMENTATION_STARTED,
        before,
        json!({
            "beforeApproval": approval.outcome != Outcome::Approved,
            "approvalDueAt": deadlines.approval_due_at,
            "documentationDueAt": deadlines.documentation_due_at,
        }),
    )
    .await
}

#[tracing::instrument(skip_all, fields(change_id = %id, ?outcome))]
pub async fn complete(
    request: &Request<'_>,
    id: Uuid,
    outcome: ChangeOutcome,
    notes: Option<&str>,
) -> ServiceResult<change::Model> {
    optional_text("notes", notes, 10_000)?;
    let (txn, snapshot, approval) =
        open_transition(request, id, None, |actor, requester, authority| {
            permissions::implement_change(actor, requester, &authority.implement)
        })
        .await?;
    let mut facts = snapshot.facts(request.policy, &approval, request.now);
    facts.next_board_meeting_end =
        store::board::next_meeting_end(request.policy, request.now).await?;
    let (next, due) = refuse(lifecycle::complete(&facts, outcome, request.now))?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    active.outcome = Set(Some(outcome));
    active.actual_end = Set(Some(request.now));
    active.review_due_at = Set(due.review_due_at);
    active.board_review_due_at = Set(due.board_review_due_at);
    if let Some(documentation_due_at) = due.documentation_due_at {
        active.documentation_due_at = Set(Some(documentation_due_at));
    }
    let review_due = due.review_due_at;
    store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_COMPLETED,
        before,
        json!({"outcome": outcome, "notes": notes, "reviewDueAt": review_due}),
    )
    .await
}

/// Rolls a change back and opens its incident (P3 unless a higher
/// priority is given: "documented as an incident (minimum P3)").
#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn roll_back(
    request: &Request<'_>,
    id: Uuid,
    reason: &str,
    priority: Option<IncidentPriority>,
    kind: Option<&str>,
) -> ServiceResult<(change::Model, incident::Model)> {
    required_text("reason", reason, 10_000)?;
    let objective = lifecycle::rollback_objective(&request.policy.rollback_objectives, kind)?;
    let restore_due_at = objective.map(|o| lifecycle::restore_due(o, request.now));
    let priority = priority.unwrap_or(IncidentPriority::P3);
    if priority > IncidentPriority::P3 {
        return Err(ValidationError::new(
            "priority",
            "a rollback incident is P3 or higher (P1-P3)",
        )
        .into());
    }
    let actor = account(request.caller)?;
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, None).await?;
    let snapshot = store::changes::snapshot(&txn, request.policy, model).await?;
    let board_member = snapshot.seats.iter().any(|s| s.person == actor.user_id);
    let authority = permissions::roll_back_change(
        actor,
        snapshot.change.requester_id,
        &snapshot.change_type,
        board_member,
        priority == IncidentPriority::P1,
    )
    .map_err(ServiceError::Forbidden)?;
    let approval = snapshot.approval(request.policy, BoardVote::Open);
    let due = refuse(lifecycle::roll_back(
        &snapshot.facts(request.policy, &approval, request.now),
        reason,
        request.now,
    ))?;
    let opened = incident::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(Some(id)),
        priority: Set(priority),
        title: Set(format!(
            "Rollback of {}: {}",
            snapshot.change.number, snapshot.change.title
        )
        .chars()
        .take(200)
        .collect()),
        description: Set(Some(reason.to_owned())),
        opened_by: Set(actor.user_id),
        opened_at: Set(request.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(ChangeStatus::RolledBack);
    active.outcome = Set(Some(ChangeOutcome::RolledBack));
    active.actual_end = Set(Some(request.now));
    active.rollback_reason = Set(Some(reason.to_owned()));
    active.rollback_kind = Set(objective.map(|o| o.kind.clone()));
    active.rollback_incident_id = Set(Some(opened.id));
    active.restore_due_at = Set(restore_due_at);
    active.review_due_at = Set(due.review_due_at);
    active.board_review_due_at = Set(due.board_review_due_at);
    if let Some(documentation_due_at) = due.documentation_due_at {
        active.documentation_due_at = Set(Some(documentation_due_at));
    }
    let model = store::transitions::finish(
        txn,
        request,
        active,
        audit_action::CHANGE_ROLLED_BACK,
        before,
        json!({
            "reason": reason,
            "incidentId": opened.id,
            "incidentPriority": priority,
            "authority": authority,
            "rollbackKind": objective.map(|o| &o.kind),
            "restoreDueAt": restore_due_at,
        }),
    )
    .await?;
    Ok((model, opened))
}
