//! Appending to and verifying the audit hash chain.

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::Caller;
use crate::{
    db,
    domain::{
        ValidationError,
        audit_chain::{self, ChainBreak, ChainVerifier, EventContent, GENESIS_HASH},
        pagination::{self, PageRequest, Window},
        permissions,
    },
    error::{ServiceError, ServiceResult},
};

/// Any number that no other part of Gatehouse uses as an advisory lock key.
const AUDIT_LOCK_KEY: i64 = 0x6761_7465_6175_6474; // "gateaudt"
const VERIFY_BATCH: u64 = 20_000;

/// Appends one event inside the caller's transaction, so the event commits
/// or rolls back with the write it records.
///
/// The chain must stay one chain with several writers and several server
/// processes: on PostgreSQL a transaction-scoped advisory lock serialises
/// appenders until commit; SQLite admits one writer at a time by design.
pub async fn append(
    txn: &DatabaseTransaction,
    caller: &Caller,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    payload: &Value,
) -> ServiceResult<audit_event::Model> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [AUDIT_LOCK_KEY.into()],
        ))
        .await?;
    }
    let (prev_seq, prev_hash) = head(txn).await?.unwrap_or((0, GENESIS_HASH.to_owned()));
    let (actor_id, actor_label) = match caller {
        Caller::Account(actor) => (Some(actor.user_id), actor.email.clone()),
        Caller::Operator { label } => (None, label.clone()),
    };
    let payload = audit_chain::canonical_json(payload);
    let seq = prev_seq + 1;
    let occurred_at = db::now();
    let hash = audit_chain::event_hash(&EventContent {
        seq,
        occurred_at,
        actor_id,
        actor_label: &actor_label,
        action,
        entity_type,
        entity_id,
        payload: &payload,
        prev_hash: &prev_hash,
    });
    let event = audit_event::ActiveModel {
        seq: Set(seq),
        occurred_at: Set(occurred_at),
        actor_id: Set(actor_id),
        actor_label: Set(actor_label),
        action: Set(action.to_owned()),
        entity_type: Set(entity_type.to_owned()),
        entity_id: Set(entity_id.to_owned()),
        payload: Set(payload),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
    }
    .insert(txn)
    .await?;
    Ok(event)
}

/// The newest event's `(seq, hash)`, `None` on an empty trail.
pub async fn head<C: ConnectionTrait>(conn: &C) -> ServiceResult<Option<(i64, String)>> {
    Ok(audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::Hash)
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<(i64, String)>()
        .one(conn)
        .await?)
}

/// Which events to list; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    /// Occurred at or after (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Occurred before (exclusive).
    pub to: Option<DateTime<Utc>>,
}

impl EventFilter {
    fn condition(&self) -> Result<Condition, ValidationError> {
        let mut condition = Condition::all();
        for (field, value, column) in [
            (
                "filter.entityType",
                &self.entity_type,
                audit_event::Column::EntityType,
            ),
            (
                "filter.entityId",
                &self.entity_id,
                audit_event::Column::EntityId,
            ),
            ("filter.action", &self.action, audit_event::Column::Action),
        ] {
            if let Some(value) = value {
                // The columns hold at most 64 characters; a longer value
                // is a client mistake rather than a query for nothing.
                if value.chars().count() > 64 {
                    return Err(ValidationError::new(field, "at most 64 characters"));
                }
                condition = condition.add(column.eq(value.as_str()));
            }
        }
        if let Some(actor) = self.actor_id {
            condition = condition.add(audit_event::Column::ActorId.eq(actor));
        }
        if let Some(from) = self.from {
            condition = condition.add(audit_event::Column::OccurredAt.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(audit_event::Column::OccurredAt.lt(to));
        }
        Ok(condition)
    }
}

/// One page of events matching `filter`, oldest first, with the window and
/// the total. Offsets stay valid while events are appended, because new
/// events always sort after every existing one.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: &EventFilter,
    page: PageRequest,
    max_page_size: u64,
) -> ServiceResult<(Vec<audit_event::Model>, Window, u64)> {
    caller.authorize(permissions::read_audit_trail)?;
    let condition = filter.condition()?;
    let total = audit_event::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let window = pagination::window(page, total, max_page_size)?;
    if window.limit == 0 {
        return Ok((Vec::new(), window, total));
    }
    let rows = audit_event::Entity::find()
        .filter(condition)
        .order_by_asc(audit_event::Column::Seq)
        .offset(window.offset)
        .limit(window.limit)
        .all(db)
        .await?;
    Ok((rows, window, total))
}

/// Outcome of verifying the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact { events: i64, head_hash: String },
    Broken(ChainBreak),
}

/// The hashed columns and the stored hash of one event, as read for
/// verification (a tuple: no model, no by-name column lookups).
type EventRow = (
    i64,
    DateTime<Utc>,
    Option<Uuid>,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

async fn verify_batch(db: DatabaseConnection, after: i64) -> ServiceResult<Vec<EventRow>> {
    use audit_event::Column;
    Ok(audit_event::Entity::find()
        .select_only()
        .columns([
            Column::Seq,
            Column::OccurredAt,
            Column::ActorId,
            Column::ActorLabel,
            Column::Action,
            Column::EntityType,
            Column::EntityId,
            Column::Payload,
            Column::PrevHash,
            Column::Hash,
        ])
        .filter(Column::Seq.gt(after))
        .order_by_asc(Column::Seq)
        .limit(VERIFY_BATCH)
        .into_tuple()
        .all(&db)
        .await?)
}

/// Recomputes the chain from the first event, in batches so memory stays
/// flat however long the trail is. The next batch is read while the
/// current one is hashed, so the database and the hashing overlap.
pub async fn verify(
    db: &DatabaseConnection,
    anchor: Option<(i64, String)>,
) -> ServiceResult<Verification> {
    let mut verifier = match anchor {
        Some((seq, hash)) => ChainVerifier::with_anchor(seq, hash),
        None => ChainVerifier::default(),
    };
    let mut next = tokio::spawn(verify_batch(db.clone(), 0));
    loop {
        let batch = next
            .await
            .map_err(|e| ServiceError::Internal(format!("audit verification task: {e}")))??;
        let Some(last) = batch.last() else { break };
        next = tokio::spawn(verify_batch(db.clone(), last.0));
        for (
            seq,
            occurred_at,
            actor_id,
            actor_label,
            action,
            entity_type,
            entity_id,
            payload,
            prev_hash,
            hash,
        ) in &batch
        {
            let content = EventContent {
                seq: *seq,
                occurred_at: *occurred_at,
                actor_id: *actor_id,
                actor_label,
                action,
                entity_type,
                entity_id,
                payload,
                prev_hash,
            };
            if let Err(broken) = verifier.check(&content, hash) {
                next.abort();
                return Ok(Verification::Broken(broken));
            }
        }
    }
    Ok(match verifier.finish() {
        Ok((events, head_hash)) => Verification::Intact { events, head_hash },
        Err(broken) => Verification::Broken(broken),
    })
}
