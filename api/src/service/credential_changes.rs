//! Whether any account or token changed since a point in the audit trail:
//! what open WebSocket connections need to know to re-check their
//! credentials (`http::socket`).
//!
//! Every change to an account (roles, activation) or a token (issue,
//! revocation) commits with its audit event, so the trail is the one
//! signal that covers every Gatehouse process on the same database, with
//! no second notification path to keep consistent. Two indexed reads:
//! the sealed events after the last look (a primary-key range), and
//! events still waiting in the outbox (PostgreSQL; a handful of rows).

use entity::{audit_event, audit_outbox};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::error::ServiceResult;

/// The audit entity types whose events change what a token authenticates as.
const CREDENTIAL_ENTITIES: [&str; 2] = ["user", "token"];

/// What a look at the trail found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// The newest sealed sequence number seen: where the next look starts.
    pub head: i64,
    /// Whether an account or token event was sealed after the previous
    /// head, or is waiting to be.
    pub changed: bool,
}

/// The trail's newest sequence number, where watching starts.
pub async fn head(db: &DatabaseConnection) -> ServiceResult<i64> {
    let head = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(head.unwrap_or(0))
}

/// Looks at the events after `after`.
pub async fn since(db: &DatabaseConnection, after: i64) -> ServiceResult<Look> {
    // The head first: an event sealed while this look runs lies past it
    // and is seen by the next look, never skipped.
    let head = head(db).await?.max(after);
    let newest_credential = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .filter(audit_event::Column::Seq.gt(after))
        .filter(audit_event::Column::Seq.lte(head))
        .filter(audit_event::Column::EntityType.is_in(CREDENTIAL_ENTITIES))
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    let waiting = audit_outbox::Entity::find()
        .filter(audit_outbox::Column::EntityType.is_in(CREDENTIAL_ENTITIES))
        .count(db)
        .await?;
    Ok(Look {
        head,
        changed: newest_credential.is_some() || waiting > 0,
    })
}
