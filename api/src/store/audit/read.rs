//! Reading the trail: filtered pages of events, oldest first.

use chrono::{DateTime, Utc};

use entity::audit_event;
use sea_orm::{
    AccessMode, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder, Select, TransactionTrait,
};
use uuid::Uuid;

use super::seal::seal_before_reading;
use crate::{
    domain::{
        ValidationError,
        pagination::{self, Page, PageRequest},
    },
    error::ServiceResult,
    store::pages::{KeysetOrder, keyset_page},
};
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
                // NUL is refused there too: PostgreSQL text cannot hold it.
                crate::domain::optional_text(field, Some(value), 64)?;
                condition = condition.add(column.eq(value.as_str()));
            }
        }
        crate::domain::timestamps::check_optional("filter.from", self.from)?;
        crate::domain::timestamps::check_optional("filter.to", self.to)?;
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

/// A read-only transaction that sees one state of the database: a
/// snapshot on PostgreSQL (repeatable read) and on SQLite (a WAL read
/// transaction), so the chain head and the records read in it agree with
/// each other while writers carry on.
pub async fn snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
        }
        _ => db.begin().await,
    }
}

/// One page of events matching `filter`, oldest first, with their `seq`
/// (the cursors), the page's flags and the total.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    filter: &EventFilter,
    page: PageRequest<i64>,
    max_page_size: u64,
) -> ServiceResult<Page<i64, audit_event::Model>> {
    let condition = filter.condition()?;
    let page = pagination::keyset(page, max_page_size)?;
    seal_before_reading(db).await;
    let total = audit_event::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let (rows, flags) = keyset_page(db, condition, &OldestFirst, &page).await?;
    Ok(Page { rows, flags, total })
}

/// The trail's order: by `seq`, which is unique and only grows.
struct OldestFirst;

impl KeysetOrder<audit_event::Entity> for OldestFirst {
    type Position = i64;

    fn sort(
        &self,
        query: Select<audit_event::Entity>,
        reversed: bool,
    ) -> Select<audit_event::Entity> {
        if reversed {
            query.order_by_desc(audit_event::Column::Seq)
        } else {
            query.order_by_asc(audit_event::Column::Seq)
        }
    }

    fn position(&self, row: &audit_event::Model) -> i64 {
        row.seq
    }

    fn after(&self, seq: &i64) -> Condition {
        Condition::all().add(audit_event::Column::Seq.gt(*seq))
    }

    fn before(&self, seq: &i64) -> Condition {
        Condition::all().add(audit_event::Column::Seq.lt(*seq))
    }
}
