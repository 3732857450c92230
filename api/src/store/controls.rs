//! Loading change histories in batches (a fixed number of statements per
//! batch of changes, never one per change) and judging them by
//! `domain::controls`: verdicts per change and the exception register,
//! inside the caller's connection or snapshot (evidence packs).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{approval, audit_event, change, evidence, review};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{
        ValidationError,
        approval::{BoardVote, Vote},
        budget::Deadline,
        calendar::{self, FreezeKind, Interval},
        controls::{self, Control, ControlVerdict, Decided, History, Reviewed, Step, Verdict},
        gates::EvidenceRecord,
    },
    error::ServiceResult,
    policy::Policy,
    store::{self, changes::Snapshot},
};

/// Changes per batch of history queries: well inside both databases'
/// limits on bound parameters.
const BATCH: usize = 500;

/// The verdicts of each of `changes` (keyed by change id), in
/// `Control::ALL` order. A change of a type the policy no longer defines
/// gets none. Seven statements, plus four per batch of changes.
pub async fn verdicts_of<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    changes: &[change::Model],
    now: DateTime<Utc>,
) -> ServiceResult<HashMap<Uuid, Vec<ControlVerdict>>> {
    let seats = store::changes::board_seats(conn, policy.board.as_ref()).await?;
    let hard_freezes: Vec<calendar::Freeze> = store::calendar::rules(conn, policy)
        .await?
        .freezes
        .into_iter()
        .filter(|f| f.kind == FreezeKind::Hard)
        .collect();
    let mut verdicts = HashMap::with_capacity(changes.len());
    for batch in changes.chunks(BATCH) {
        let ids: Vec<Uuid> = batch.iter().map(|c| c.id).collect();
        let mut decisions = group(
            approval::Entity::find()
                .filter(approval::Column::ChangeId.is_in(ids.clone()))
                .order_by_asc(approval::Column::DecidedAt)
                .all(conn)
                .await?,
            |row| row.change_id,
        );
        let mut evidence = group(
            evidence::Entity::find()
                .filter(evidence::Column::ChangeId.is_in(ids.clone()))
                .order_by_asc(evidence::Column::RecordedAt)
                .all(conn)
                .await?,
            |row| row.change_id,
        );
        let mut reviews = group(
            review::Entity::find()
                .filter(review::Column::ChangeId.is_in(ids.clone()))
                .order_by_asc(review::Column::ReviewedAt)
                .all(conn)
                .await?,
            |row| row.change_id,
        );
        let mut events = group(
            audit_event::Entity::find()
                .filter(audit_event::Column::EntityType.eq("change"))
                .filter(audit_event::Column::EntityId.is_in(ids.iter().map(Uuid::to_string)))
                .order_by_asc(audit_event::Column::Seq)
                .all(conn)
                .await?,
            |row| row.entity_id.parse().unwrap_or_default(),
        );
        for change in batch {
            let Some(change_type) = policy.change_type(&change.change_type) else {
                continue;
            };
            let approvals: Vec<approval::Model> = decisions
                .remove(&change.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a.round == change.approval_round)
                .collect();
            let snapshot = Snapshot {
                change: change.clone(),
                change_type: change_type.clone(),
                votes: approvals
                    .iter()
                    .map(|vote| Vote {
                        person: vote.approver_id,
                        roles: store::changes::parse_json(&vote.approver_roles),
                        seat: vote.board_role,
                        decision: vote.decision,
                        after_start: vote.retroactive,
                        freeze_entry: vote.freeze_entry,
                    })
                    .collect(),
                seats: seats.clone(),
                evidence: evidence
                    .remove(&change.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| EvidenceRecord {
                        gate: e.gate,
                        status: e.status,
                        data: e.data,
                        recorded_at: e.recorded_at,
                        recorded_by: e.recorded_by,
                    })
                    .collect(),
                has_template: false,
                system_ids: Vec::new(),
            };
            let approval = snapshot.approval(policy, BoardVote::Open);
            let facts = snapshot.facts(policy, &approval, now);
            let content = store::changes::content_of(change, Vec::new());
            let decided: Vec<Decided> = approvals
                .iter()
                .map(|a| Decided {
                    approver: a.approver_id,
                    decision: a.decision,
                    decided_at: a.decided_at,
                    freeze_entry: a.freeze_entry,
                })
                .collect();
            let reviewed: Vec<Reviewed> = reviews
                .remove(&change.id)
                .unwrap_or_default()
                .into_iter()
                .map(|r| Reviewed {
                    reviewer: r.reviewer_id,
                    kind: r.kind,
                    reviewed_at: r.reviewed_at,
                })
                .collect();
            let steps: Vec<Step> = events
                .remove(&change.id)
                .unwrap_or_default()
                .into_iter()
                .map(|e| Step {
                    payload: serde_json::from_str(&e.payload).unwrap_or_default(),
                    seq: e.seq,
                    hash: e.hash,
                    action: e.action,
                    actor_id: e.actor_id,
                    actor_label: e.actor_label,
                    occurred_at: e.occurred_at,
                })
                .collect();
            // Emergencies pass freezes, except a type held to what it
            // needs to start during one.
            let bound_by_freezes =
                change_type.emergency.is_none() || change_type.in_freeze.is_some();
            let freezes_at_start = match change.actual_start {
                Some(start) if bound_by_freezes => calendar::freezes_in_force(
                    &hard_freezes,
                    Interval { start, end: start },
                    &Deadline::unbounded(),
                )
                .unwrap_or_default(),
                _ => Vec::new(),
            };
            let history = History {
                facts: &facts,
                requester: change.requester_id,
                submitted_at: change.submitted_at,
                implementer: change.implementation_started_by,
                closed_at: change.closed_at,
                attributes: &content.attributes,
                rollback_plan: content.rollback_plan.as_ref(),
                decisions: &decided,
                evidence: &snapshot.evidence,
                reviews: &reviewed,
                steps: &steps,
                hard_freezes_at_start: &freezes_at_start,
                now,
            };
            verdicts.insert(change.id, controls::evaluate(policy, &history));
        }
    }
    Ok(verdicts)
}

fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut grouped: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        grouped.entry(key(&row)).or_default().push(row);
    }
    grouped
}

/// The changes touching `[from, to)`: created, started, ended or closed in
/// it, oldest first.
pub async fn touching<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<Vec<change::Model>> {
    Ok(change::Entity::find()
        .filter(crate::store::changes::touching_period(from, to))
        .order_by_asc(change::Column::CreatedAt)
        .order_by_asc(change::Column::Id)
        .all(conn)
        .await?)
}

/// One failed control of one change.
#[derive(Debug, Clone)]
pub struct Exception {
    pub change: change::Model,
    pub verdict: ControlVerdict,
}

/// Where an exception stands in the register's order: its change's
/// creation, the change's id, the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExceptionPosition {
    pub created_at: DateTime<Utc>,
    pub change_id: Uuid,
    pub control: Control,
}

/// Every failed control over the changes touching `[from, to)`, in the
/// register's order.
pub async fn register<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<(ExceptionPosition, Exception)>> {
    if to <= from {
        return Err(ValidationError::new("to", "must be after from").into());
    }
    let population = touching(conn, from, to).await?;
    let mut verdicts = verdicts_of(conn, policy, &population, now).await?;
    let mut register = Vec::new();
    for change in population {
        for verdict in verdicts.remove(&change.id).unwrap_or_default() {
            if verdict.verdict == Verdict::Fail {
                register.push((
                    ExceptionPosition {
                        created_at: change.created_at,
                        change_id: change.id,
                        control: verdict.control,
                    },
                    Exception {
                        change: change.clone(),
                        verdict,
                    },
                ));
            }
        }
    }
    register.sort_by_key(|(position, _)| *position);
    Ok(register)
}
