//! Reading the trail: filtered pages of events, oldest first.

use chrono::{DateTime, Utc};

use entity::audit_event;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::seal::seal_before_reading;
use crate::{
    domain::{
        ValidationError,
        pagination::{self, PageRequest, Window},
    },
    error::ServiceResult,
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

/// One page of events matching `filter`, oldest first, with the window and
/// the total. Offsets stay valid while events are appended, because new
/// events always sort after every existing one.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    filter: &EventFilter,
    page: PageRequest,
    max_page_size: u64,
) -> ServiceResult<(Vec<audit_event::Model>, Window, u64)> {
    let condition = filter.condition()?;
    seal_before_reading(db).await;
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
