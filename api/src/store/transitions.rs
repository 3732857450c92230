//! The write every lifecycle transition ends with: the change claimed
//! (locked, its version checked), the new state written with its audit
//! event, committed, and the change event published. The lifecycle and the
//! board's meetings both move changes through it.

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, board_decision, change};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Set, TryIntoModel,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::audit_action;
use crate::{
    caller::Caller,
    domain::{
        approval::{BoardVote, Outcome},
        lifecycle::{self},
    },
    error::{ServiceError, ServiceResult},
    policy::Policy,
    store::{
        audit,
        changes::{self, Snapshot},
        events::ChangeEvent,
    },
};

/// Everything a transition needs besides the database.
pub struct Request<'a> {
    pub db: &'a DatabaseConnection,
    pub policy: &'a Policy,
    pub events: &'a crate::store::events::EventBus,
    pub caller: &'a Caller,
    pub now: DateTime<Utc>,
}

/// Locks the change for this transaction by bumping its version (and, when
/// the client names the version it saw, only if it still matches), so two
/// racing transitions run one after the other and the second sees the
/// first's result.
pub async fn claim(
    txn: &DatabaseTransaction,
    id: Uuid,
    expected_version: Option<i32>,
) -> ServiceResult<change::Model> {
    let mut update = change::Entity::update_many()
        .col_expr(
            change::Column::Version,
            Expr::col(change::Column::Version).add(1),
        )
        .filter(change::Column::Id.eq(id));
    if let Some(version) = expected_version {
        update = update.filter(change::Column::Version.eq(version));
    }
    let claimed = update.exec(txn).await?;
    let model = changes::find(txn, id).await?;
    if claimed.rows_affected == 0 {
        return Err(ServiceError::Conflict(format!(
            "{} was modified: expected version {}, current version is {}",
            model.number,
            expected_version.unwrap_or_default(),
            model.version
        )));
    }
    Ok(model)
}

/// Locks a change without a version expectation (for server-side
/// decisions such as a meeting closing).
pub async fn lock(txn: &DatabaseTransaction, id: Uuid) -> ServiceResult<change::Model> {
    claim(txn, id, None).await
}

/// Writes the new state and the audit event, and commits.
pub async fn finish(
    txn: DatabaseTransaction,
    request: &Request<'_>,
    mut active: change::ActiveModel,
    action: &str,
    before: ChangeStatus,
    details: Value,
) -> ServiceResult<change::Model> {
    active.updated_at = Set(request.now);
    let after = active.clone().try_into_model()?;
    let mut payload = json!({
        "number": after.number,
        "version": after.version,
        "statusBefore": before,
        "statusAfter": after.status,
    });
    if let (Value::Object(payload), Value::Object(details)) = (&mut payload, details) {
        payload.extend(details);
    }
    let payload = audit::under_policy(payload, request.policy);
    let recording = audit::recording(
        &txn,
        request.caller,
        action,
        "change",
        &after.id.to_string(),
        &payload,
    );
    let model = active.update(&recording).await?;
    let recorded = recording.finish().await?;
    audit::commit(txn, request.db).await?;
    request
        .events
        .committed(recorded.map(|recorded| ChangeEvent::new(&model, &recorded, Some(before))));
    Ok(model)
}

/// Evaluates the approval after a vote (or at a meeting's close) and moves
/// the change accordingly, then writes and audits.
pub async fn apply_outcome(
    txn: DatabaseTransaction,
    request: &Request<'_>,
    snapshot: Snapshot,
    board_vote: BoardVote,
    details: Value,
) -> ServiceResult<change::Model> {
    let approval = snapshot.approval(request.policy, board_vote);
    let before = snapshot.change.status;
    let next = lifecycle::after_decision(before, approval.outcome);
    let newly_approved =
        approval.outcome == Outcome::Approved && snapshot.change.approved_at.is_none();
    let round = snapshot.change.approval_round;
    // The board decides a round once: later votes of the round (or the
    // meeting's close) confirm that decision and keep its time.
    let board_decision = match approval.board_outcome() {
        Some(outcome) => {
            let recorded = board_decision::Entity::find_by_id((snapshot.change.id, round))
                .one(&txn)
                .await?;
            if recorded.is_none() {
                board_decision::ActiveModel {
                    change_id: Set(snapshot.change.id),
                    round: Set(round),
                    outcome: Set(outcome),
                    decided_at: Set(request.now),
                }
                .insert(&txn)
                .await?;
            }
            Some((outcome, recorded.map_or(request.now, |r| r.decided_at)))
        }
        None => None,
    };
    let first_response = snapshot.change.responded_at.is_none();
    let mut active: change::ActiveModel = snapshot.change.into();
    active.status = Set(next);
    if first_response {
        active.responded_at = Set(Some(request.now));
    }
    if newly_approved {
        active.approved_at = Set(Some(request.now));
        active.implementation_due_at = Set(crate::domain::lifecycle::implementation_due(
            &snapshot.change_type,
            request.now,
        ));
    }
    if let Some((outcome, decided_at)) = board_decision {
        active.board_outcome = Set(Some(outcome));
        active.board_decided_at = Set(Some(decided_at));
    }
    if approval.outcome == Outcome::Deferred {
        // Deferred (to the next meeting): everyone decides again there.
        active.approval_round = Set(round + 1);
    }
    let mut details = details;
    if let Value::Object(map) = &mut details {
        map.insert(
            "outcome".into(),
            json!(format!("{:?}", approval.outcome).to_uppercase()),
        );
        map.insert("missing".into(), json!(approval.missing()));
    }
    finish(
        txn,
        request,
        active,
        audit_action::CHANGE_DECISION,
        before,
        details,
    )
    .await
}
