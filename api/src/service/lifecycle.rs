//! Moving a change through its lifecycle. Each function is one transaction:
//! lock the change, load what the rules need, apply `domain::lifecycle`,
//! write the new state and its audit event, commit — or write nothing and
//! return every violated rule.

use chrono::{DateTime, Utc};
use entity::{
    ChangeOutcome, ChangeStatus, Decision, EvidenceStatus, IncidentPriority, ReviewKind, approval,
    change, evidence, incident, review, user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait, sea_query::ExprTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::caller::Caller;
use crate::store;
use crate::store::accounts;
use crate::store::changes::Snapshot;
pub use crate::store::transitions::Request;
use crate::{
    domain::{
        ValidationError,
        approval::{self as approvals, ApprovalState, BoardVote, Outcome, Vote},
        gates::{self},
        lifecycle::{self, status_name},
        optional_text, permissions, required_text,
    },
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

fn refuse<T>(result: Result<T, Vec<String>>) -> ServiceResult<T> {
    result.map_err(ServiceError::PolicyViolation)
}

/// What every transition of a change starts from: the change claimed in
/// a new transaction (locked, its version checked), the caller authorised
/// by `permission` (given the change's requester), and its snapshot with
/// the approval state while the board's vote is open.
async fn open_transition(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
    permission: fn(&crate::auth::Actor, Uuid) -> Result<(), permissions::Denied>,
) -> ServiceResult<(DatabaseTransaction, Snapshot, ApprovalState)> {
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, expected_version).await?;
    request
        .caller
        .authorize(|actor| permission(actor, model.requester_id))?;
    let snapshot = store::changes::snapshot(&txn, request.policy, model).await?;
    let approval = snapshot.approval(request.policy, BoardVote::Open);
    Ok((txn, snapshot, approval))
}

fn account(caller: &Caller) -> ServiceResult<&crate::auth::Actor> {
    caller
        .account()
        .ok_or_else(|| ServiceError::forbidden("lifecycle actions are taken by accounts"))
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn submit(
    request: &Request<'_>,
    id: Uuid,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, permissions::submit_change).await?;
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
    }
    store::transitions::finish(
        txn,
        request,
        active,
        "change.submitted",
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
        open_transition(request, id, expected_version, permissions::submit_change).await?;
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
        "change.revised",
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
    let standing = accounts::standing(&txn, actor.user_id).await?;
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
        violations.push("requester cannot approve own change".into());
    }
    if !approvals::qualifies(&snapshot.change_type, &standing.roles, seat) {
        violations.push(format!(
            "you are not an approver of {} changes ({})",
            snapshot.change_type.key, snapshot.change_type.approval_summary
        ));
    }
    if snapshot.votes.iter().any(|v| v.person == actor.user_id) {
        violations
            .push("you have already decided on this approval round (one person, one vote)".into());
    }
    if !violations.is_empty() {
        return Err(ServiceError::PolicyViolation(violations));
    }
    if let Some(meeting) = meeting_id {
        crate::store::board::find_meeting(&txn, meeting).await?;
    }
    let retroactive = change.actual_start.is_some();
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
    }
    .insert(&txn)
    .await?;
    let mut snapshot = snapshot;
    snapshot.votes.push(Vote {
        person: actor.user_id,
        roles: standing.roles.clone(),
        seat,
        decision,
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
        }),
    )
    .await
}

/// Records a gate result (tests, reviews, scans, documentation).
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(change_id = %id, gate))]
pub async fn record_evidence(
    request: &Request<'_>,
    id: Uuid,
    gate: &str,
    status: EvidenceStatus,
    summary: Option<&str>,
    url: Option<&str>,
    data: Value,
) -> ServiceResult<evidence::Model> {
    let actor = account(request.caller)?;
    let gate_rules = request.policy.gate(gate).ok_or_else(|| {
        ServiceError::validation(
            "gate",
            format!(
                "`{gate}` is not a gate of the active policy (one of: {})",
                request
                    .policy
                    .gates
                    .iter()
                    .map(|g| g.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    optional_text("summary", summary, 10_000)?;
    if let Some(url) = url {
        required_text("url", url, 2_000)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ValidationError::new("url", "must be an http(s) URL").into());
        }
    }
    if !data.is_object() {
        return Err(ValidationError::new("data", "must be a JSON object").into());
    }
    if serde_json::to_string(&data)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
        > 64 * 1024
    {
        return Err(ValidationError::new("data", "must be at most 64 KiB").into());
    }
    gates::validate_evidence_data(gate_rules, &data)?;
    let txn = request.db.begin().await?;
    let model = store::transitions::claim(&txn, id, None).await?;
    request.caller.authorize(|actor| {
        permissions::record_evidence(actor, model.requester_id, gate_rules.is_review())
    })?;
    if matches!(model.status, ChangeStatus::Closed | ChangeStatus::Cancelled) {
        return Err(ServiceError::PolicyViolation(vec![format!(
            "cannot record evidence on a change that is {}",
            status_name(model.status)
        )]));
    }
    // Reviewers are accounts: the stored details are the server's account
    // lookup, in this transaction, not what the recorder wrote.
    let data = if gate_rules.kind == crate::policy::GateKind::CodeReview {
        let ids = gates::reviewer_ids(&data);
        let accounts = user::Entity::find()
            .filter(user::Column::Id.is_in(ids.clone()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|account| gates::ReviewerAccount {
                id: account.id,
                active: account.active,
                roles: accounts::roles_of(&account),
                email: account.email,
            })
            .collect::<Vec<_>>();
        gates::code_review_details(gate_rules, model.requester_id, &ids, &accounts)?
    } else {
        data
    };
    let record = evidence::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(id),
        gate: Set(gate.to_owned()),
        status: Set(status),
        summary: Set(summary.map(str::to_owned)),
        url: Set(url.map(str::to_owned)),
        data: Set(data.clone()),
        recorded_by: Set(actor.user_id),
        recorded_at: Set(request.now),
    }
    .insert(&txn)
    .await?;
    let mut active: change::ActiveModel = model.clone().into();
    let documents = gate_rules.kind == crate::policy::GateKind::Documentation
        && status == EvidenceStatus::Passed;
    if documents && model.documented_at.is_none() {
        active.documented_at = Set(Some(request.now));
    }
    store::transitions::finish(
        txn,
        request,
        active,
        "change.evidence_recorded",
        model.status,
        json!({"evidenceId": record.id, "gate": gate, "status": status, "summary": summary, "url": url, "data": data}),
    )
    .await?;
    Ok(record)
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn schedule(
    request: &Request<'_>,
    id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, permissions::schedule_change).await?;
    let mut violations = lifecycle::schedule(
        &snapshot.facts(request.policy, &approval, request.now),
        start,
        end,
        request.now,
    )
    .err()
    .unwrap_or_default();
    if end > start {
        let roles = snapshot
            .votes
            .iter()
            .filter(|v| v.decision == Decision::Approve)
            .flat_map(|v| v.roles.iter().cloned())
            .collect();
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
        "change.scheduled",
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
    let (txn, snapshot, approval) =
        open_transition(request, id, expected_version, permissions::implement_change).await?;
    let deadlines = refuse(lifecycle::start(
        &snapshot.facts(request.policy, &approval, request.now),
        request.now,
    ))?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(ChangeStatus::Implementing);
    active.actual_start = Set(Some(request.now));
    active.approval_due_at = Set(deadlines.approval_due_at);
    active.documentation_due_at = Set(deadlines.documentation_due_at);
    store::transitions::finish(
        txn,
        request,
        active,
        "change.implementation_started",
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
        open_transition(request, id, None, permissions::implement_change).await?;
    let (next, review_due) = refuse(lifecycle::complete(
        &snapshot.facts(request.policy, &approval, request.now),
        outcome,
        request.now,
    ))?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    active.outcome = Set(Some(outcome));
    active.actual_end = Set(Some(request.now));
    active.review_due_at = Set(review_due);
    store::transitions::finish(
        txn,
        request,
        active,
        "change.completed",
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
) -> ServiceResult<(change::Model, incident::Model)> {
    required_text("reason", reason, 10_000)?;
    let priority = priority.unwrap_or(IncidentPriority::P3);
    if priority > IncidentPriority::P3 {
        return Err(ValidationError::new(
            "priority",
            "a rollback incident is P3 or higher (P1-P3)",
        )
        .into());
    }
    let actor = account(request.caller)?;
    let (txn, snapshot, approval) =
        open_transition(request, id, None, permissions::implement_change).await?;
    let review_due = refuse(lifecycle::roll_back(
        &snapshot.facts(request.policy, &approval, request.now),
        reason,
        request.now,
    ))?;
    let opened = incident::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(id),
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
        resolved_at: Set(None),
    }
    .insert(&txn)
    .await?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(ChangeStatus::RolledBack);
    active.outcome = Set(Some(ChangeOutcome::RolledBack));
    active.actual_end = Set(Some(request.now));
    active.rollback_reason = Set(Some(reason.to_owned()));
    active.review_due_at = Set(review_due);
    let model = store::transitions::finish(
        txn,
        request,
        active,
        "change.rolled_back",
        before,
        json!({"reason": reason, "incidentId": opened.id, "incidentPriority": priority}),
    )
    .await?;
    Ok((model, opened))
}

#[tracing::instrument(skip_all, fields(change_id = %id))]
pub async fn record_review(
    request: &Request<'_>,
    id: Uuid,
    kind: ReviewKind,
    summary: &str,
    lessons_learned: Option<&str>,
) -> ServiceResult<review::Model> {
    required_text("summary", summary, 20_000)?;
    optional_text("lessonsLearned", lessons_learned, 20_000)?;
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
    refuse(lifecycle::can_review(&snapshot.facts(
        request.policy,
        &approval,
        request.now,
    )))?;
    let recorded = review::ActiveModel {
        id: Set(Uuid::now_v7()),
        change_id: Set(id),
        kind: Set(kind),
        reviewer_id: Set(actor.user_id),
        summary: Set(summary.to_owned()),
        lessons_learned: Set(lessons_learned.map(str::to_owned)),
        reviewed_at: Set(request.now),
    }
    .insert(&txn)
    .await?;
    let before = snapshot.change.status;
    let already_reviewed = snapshot.change.reviewed_at.is_some();
    let mut active: change::ActiveModel = snapshot.change.into();
    if !already_reviewed && kind != ReviewKind::Board {
        active.reviewed_at = Set(Some(request.now));
    }
    store::transitions::finish(
        txn,
        request,
        active,
        "change.reviewed",
        before,
        json!({"reviewId": recorded.id, "kind": kind, "summary": summary, "lessonsLearned": lessons_learned}),
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
        open_transition(request, id, expected_version, permissions::close_change).await?;
    let next = refuse(lifecycle::close(&snapshot.facts(
        request.policy,
        &approval,
        request.now,
    )))?;
    let before = snapshot.change.status;
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    active.closed_at = Set(Some(request.now));
    store::transitions::finish(txn, request, active, "change.closed", before, json!({})).await
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
        open_transition(request, id, expected_version, permissions::close_change).await?;
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
        "change.cancelled",
        before,
        json!({"reason": reason}),
    )
    .await
}

/// For a pipeline: may this change be deployed now, and if not, why not.
pub struct GateStatus {
    pub change: change::Model,
    pub may_deploy: bool,
    pub reasons: Vec<String>,
}

pub async fn gate_status(
    db: &DatabaseConnection,
    policy: &Policy,
    number: &str,
    now: DateTime<Utc>,
) -> ServiceResult<GateStatus> {
    let model = store::changes::find_by_number(db, number).await?;
    let snapshot = store::changes::snapshot(db, policy, model).await?;
    let approval = snapshot.approval(policy, BoardVote::Open);
    let facts = snapshot.facts(policy, &approval, now);
    let reasons = if snapshot.change.status == ChangeStatus::Implementing {
        // Deploying is what implementing means; the window still binds.
        match snapshot.change.scheduled_end {
            Some(end) if now > end => vec![format!(
                "the scheduled window closed at {}",
                end.to_rfc3339()
            )],
            _ => Vec::new(),
        }
    } else {
        lifecycle::start_violations(&facts, now)
    };
    Ok(GateStatus {
        may_deploy: reasons.is_empty(),
        reasons,
        change: snapshot.change,
    })
}

/// Changes with a deadline passed and its record missing.
pub async fn overdue(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<change::Model>> {
    use sea_orm::Condition;
    Ok(change::Entity::find()
        .filter(
            Condition::any()
                .add(
                    change::Column::ApprovalDueAt
                        .lt(now)
                        .and(change::Column::ApprovedAt.is_null()),
                )
                .add(
                    change::Column::DocumentationDueAt
                        .lt(now)
                        .and(change::Column::DocumentedAt.is_null()),
                )
                .add(
                    change::Column::ReviewDueAt
                        .lt(now)
                        .and(change::Column::ReviewedAt.is_null()),
                ),
        )
        .order_by_asc(change::Column::CreatedAt)
        .all(db)
        .await?)
}
