//! Read-only answers: whether a change may deploy now, and what is overdue.

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, change};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::domain::violation::{Violation, ViolationCode};
use crate::store;
use crate::{
    domain::{
        approval::BoardVote,
        lifecycle::{self},
    },
    error::ServiceResult,
    policy::Policy,
};

/// For a pipeline: may this change be deployed now, and if not, why not.
pub struct GateStatus {
    pub change: change::Model,
    pub may_deploy: bool,
    pub reasons: Vec<Violation>,
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
    let mut facts = snapshot.facts(policy, &approval, now);
    facts.calendar_violations =
        store::calendar::start_violations(db, policy, &snapshot, now).await?;
    let reasons = if snapshot.change.status == ChangeStatus::Implementing {
        // Deploying is what implementing means; the window still binds.
        match snapshot.change.scheduled_end {
            Some(end) if now > end => vec![Violation::new(
                ViolationCode::OutsideScheduledSlot,
                format!("the scheduled window closed at {}", end.to_rfc3339()),
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

/// The longest a pipeline may wait for a gate to open (`check_gate`).
pub const MAX_GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);
/// How often a waiting gate check looks again without an event: windows
/// open and freezes end by the clock alone.
const GATE_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// A pipeline's gate check on the record: the answer for `number`, waiting
/// up to `wait` for it to become "may deploy" (re-evaluated on every event
/// of the change and every few seconds), then written to the audit trail
/// as evidence of what the gate said when.
pub async fn check_gate(
    request: &store::transitions::Request<'_>,
    number: &str,
    wait: std::time::Duration,
) -> ServiceResult<GateStatus> {
    request
        .caller
        .authorize(crate::domain::permissions::check_gate)?;
    if wait > MAX_GATE_WAIT {
        return Err(crate::error::ServiceError::validation(
            "waitSeconds",
            format!("at most {}", MAX_GATE_WAIT.as_secs()),
        ));
    }
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    // Subscribed before the first look, so no event between the two is
    // missed.
    let mut events = request.events.subscribe();
    let mut status = gate_status(request.db, request.policy, number, request.now).await?;
    while !status.may_deploy && tokio::time::Instant::now() < deadline {
        let pause = GATE_RECHECK.min(deadline - tokio::time::Instant::now());
        let change_id = status.change.id;
        let _ = tokio::time::timeout(pause, async {
            loop {
                match events.recv().await {
                    Ok(event) if event.change_id == change_id => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        })
        .await;
        let now = request.now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        status = gate_status(request.db, request.policy, number, now).await?;
    }
    let txn = sea_orm::TransactionTrait::begin(request.db).await?;
    store::audit::append(
        &txn,
        request.caller,
        crate::domain::audit_action::CHANGE_GATE_CHECKED,
        "change",
        &status.change.id.to_string(),
        &serde_json::json!({
            "number": status.change.number,
            "statusBefore": status.change.status,
            "statusAfter": status.change.status,
            "mayDeploy": status.may_deploy,
            "reasonCodes": crate::domain::violation::codes(&status.reasons),
            "reasons": crate::domain::violation::messages(&status.reasons),
            "waitedSeconds": started.elapsed().as_secs_f64(),
        }),
    )
    .await?;
    store::audit::commit(txn, request.db).await?;
    Ok(status)
}

/// Changes with a deadline passed and its record missing.
pub async fn overdue(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<change::Model>> {
    Ok(change::Entity::find()
        .filter(store::changes::any_overdue_condition(now))
        .order_by_asc(change::Column::CreatedAt)
        .all(db)
        .await?)
}
