//! Retention: purging events older than the policy's retention period,
//! recorded as an event in the chain where verification resumes.

use chrono::{DateTime, Utc};

use entity::{audit_event, audit_purge_permit};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::chain::{head, lock_chain};
use super::record::append;
use super::seal::{commit, seal};
use crate::caller::Caller;
use crate::domain::audit_action;
use crate::{
    domain::audit_chain::{self},
    error::{ServiceError, ServiceResult},
};
/// The action of the event a retention purge leaves in the chain.
pub const PURGE_ACTION: &str = audit_action::AUDIT_PURGED;

/// What an `audit.purged` event records: enough for verification to start
/// after the purged events, and for an auditor to see what went and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PurgeRecord {
    pub(super) through_seq: i64,
    pub(super) through_hash: String,
    purged_before: DateTime<Utc>,
    events: u64,
    retention_years: Option<u32>,
}

/// What a purge removed (or, for a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeOutcome {
    pub events: u64,
    /// The last purged event; `None` when nothing was old enough.
    pub through_seq: Option<i64>,
}

/// Deletes the events that occurred before `purge_before`, if the policy's
/// retention period allows it, and records the purge as an event in the
/// chain (with the last purged event's hash, where verification resumes).
/// The newest event is always kept, so the chain goes on from it. The
/// database refuses the deletion unless the purge permit written in the
/// same transaction covers every deleted row.
pub async fn purge(
    db: &DatabaseConnection,
    caller: &Caller,
    purge_before: DateTime<Utc>,
    retention_years: Option<u32>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> ServiceResult<PurgeOutcome> {
    audit_chain::check_purge_cutoff(purge_before, now, retention_years).map_err(|reason| {
        ServiceError::PolicyViolation(vec![crate::domain::violation::Violation::new(
            crate::domain::violation::ViolationCode::RetentionNotElapsed,
            reason,
        )])
    })?;
    seal(db).await?;
    let txn = db.begin().await?;
    lock_chain(&txn).await?;
    let Some((head_seq, _)) = head(&txn).await? else {
        return Ok(PurgeOutcome {
            events: 0,
            through_seq: None,
        });
    };
    let first_kept: Option<i64> = audit_event::Entity::find()
        .select_only()
        .column_as(audit_event::Column::Seq.min(), "first_kept")
        .filter(audit_event::Column::OccurredAt.gte(purge_before))
        .into_tuple::<Option<i64>>()
        .one(&txn)
        .await?
        .flatten();
    let through_seq = first_kept.unwrap_or(head_seq + 1).min(head_seq) - 1;
    let purged = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.lte(through_seq))
        .count(&txn)
        .await?;
    if purged == 0 {
        return Ok(PurgeOutcome {
            events: 0,
            through_seq: None,
        });
    }
    if dry_run {
        return Ok(PurgeOutcome {
            events: purged,
            through_seq: Some(through_seq),
        });
    }
    let through_hash = audit_event::Entity::find_by_id(through_seq)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::internal(format!("audit event {through_seq} vanished")))?
        .hash;
    audit_purge_permit::ActiveModel {
        purge_before: Set(purge_before),
    }
    .insert(&txn)
    .await?;
    audit_event::Entity::delete_many()
        .filter(audit_event::Column::Seq.lte(through_seq))
        .exec(&txn)
        .await?;
    audit_purge_permit::Entity::delete_by_id(purge_before)
        .exec(&txn)
        .await?;
    let record = PurgeRecord {
        through_seq,
        through_hash,
        purged_before: purge_before,
        events: purged,
        retention_years,
    };
    let payload = serde_json::to_value(&record)
        .map_err(|e| ServiceError::internal_from("encoding the purge record", e))?;
    append(
        &txn,
        caller,
        PURGE_ACTION,
        "audit_trail",
        "audit_events",
        &payload,
    )
    .await?;
    commit(txn, db).await?;
    Ok(PurgeOutcome {
        events: purged,
        through_seq: Some(through_seq),
    })
}
