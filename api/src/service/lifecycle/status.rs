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
    facts.calendar_violations = store::calendar::start_violations(db, policy, &snapshot).await?;
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
