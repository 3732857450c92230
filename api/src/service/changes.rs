//! Change requests: create, edit, read, list.

use chrono::{DateTime, Datelike, Utc};
use entity::{ChangeStatus, RiskLevel, change, change_system};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    TryIntoModel,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, NullOrdering, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::store;
use crate::store::audit;
/// Reading one change is the store's; resolvers find changes here.
pub use crate::store::changes::{find, find_by_number};
use crate::store::events::{self, ChangeEvent, EventBus};
use crate::{
    db,
    domain::{
        ValidationError,
        change::{ChangeContent, ChangePatch, diff},
        numbering,
        pagination::{self, Page, PageRequest},
        permissions, systems as hierarchy,
    },
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

/// What to list. Every field narrows the result; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub types: Option<Vec<String>>,
    pub statuses: Option<Vec<ChangeStatus>>,
    pub risk_levels: Option<Vec<RiskLevel>>,
    pub requester_id: Option<Uuid>,
    /// Changes affecting this system or any system below it.
    pub system_id: Option<Uuid>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub planned_from: Option<DateTime<Utc>>,
    pub planned_to: Option<DateTime<Utc>>,
    pub title_contains: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    PlannedStart,
    RiskScore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeOrder {
    pub field: OrderField,
    pub descending: bool,
}

impl Default for ChangeOrder {
    fn default() -> Self {
        Self {
            field: OrderField::CreatedAt,
            descending: true,
        }
    }
}

#[tracing::instrument(skip_all, fields(change_type = %content.change_type))]
pub async fn create(
    db: &DatabaseConnection,
    policy: &Policy,
    events: &EventBus,
    caller: &Caller,
    content: ChangeContent,
) -> ServiceResult<change::Model> {
    caller.authorize(permissions::create_change)?;
    // The requester is always the authenticated account, never input.
    let requester = caller
        .account()
        .ok_or_else(|| ServiceError::forbidden("a change request is filed by an account"))?
        .user_id;
    content.validate(&policy.change_type_keys())?;
    content.validate_attributes(&policy.attribute_keys())?;
    let now = db::now();
    let txn = db.begin().await?;
    // Numbering first: on SQLite it makes this transaction the writer before
    // anything is read, on PostgreSQL it locks the year's counter row so
    // concurrent creates queue instead of skipping numbers.
    let sequence = store::changes::next_sequence(&txn, now.year()).await?;
    ensure_systems_exist(&txn, &content.system_ids).await?;
    let id = Uuid::now_v7();
    let number = numbering::format_number(now.year(), sequence);
    let mut active = change::ActiveModel {
        id: Set(id),
        number: Set(number.clone()),
        status: Set(ChangeStatus::Draft),
        requester_id: Set(requester),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        scheduled_start: Set(None),
        scheduled_end: Set(None),
        actual_start: Set(None),
        actual_end: Set(None),
        outcome: Set(None),
        submitted_at: Set(None),
        approved_at: Set(None),
        closed_at: Set(None),
        approval_round: Set(1),
        approval_due_at: Set(None),
        documentation_due_at: Set(None),
        documented_at: Set(None),
        review_due_at: Set(None),
        reviewed_at: Set(None),
        board_review_due_at: Set(None),
        board_reviewed_at: Set(None),
        board_outcome: Set(None),
        board_decided_at: Set(None),
        rollback_reason: Set(None),
        schedule_sequence: Set(0),
        ..Default::default()
    };
    store::changes::write_content(&mut active, &content);
    let risk = content.risk();
    let recording = audit::recording(
        &txn,
        caller,
        events::CREATED,
        "change",
        &id.to_string(),
        &audit::under_policy(
            json!({
                "number": number,
                "status": ChangeStatus::Draft,
                "content": content,
                "risk": {"inherentScore": risk.inherent_score, "residualScore": risk.residual_score, "level": risk.level},
            }),
            policy,
        ),
    );
    let model = active.insert(&recording).await?;
    let recorded = recording.finish().await?;
    store::changes::replace_systems(&txn, id, &content.system_ids).await?;
    audit::commit(txn, db).await?;
    events.committed(recorded.map(|recorded| ChangeEvent::new(&model, &recorded, None)));
    Ok(model)
}

/// Edits a draft. `expected_version` is the version the client based its
/// edit on; if anyone wrote in between, nothing is changed and the client
/// gets CONFLICT with the current version.
#[tracing::instrument(skip_all, fields(change_id = %id, expected_version))]
pub async fn update(
    db: &DatabaseConnection,
    policy: &Policy,
    events: &EventBus,
    caller: &Caller,
    id: Uuid,
    expected_version: i32,
    patch: ChangePatch,
) -> ServiceResult<change::Model> {
    let txn = db.begin().await?;
    // Claim the row first (bumping the version only if it is still the one
    // the client saw): the write lock is taken before anything is read, so
    // two racing edits cannot both pass.
    let claimed = change::Entity::update_many()
        .col_expr(
            change::Column::Version,
            Expr::col(change::Column::Version).add(1),
        )
        .filter(change::Column::Id.eq(id))
        .filter(change::Column::Version.eq(expected_version))
        .exec(&txn)
        .await?;
    let existing = store::changes::find(&txn, id).await?;
    // Who may edit comes before whether the version matches, so a caller
    // without the right learns nothing about the change's state.
    caller.authorize(|actor| {
        permissions::edit_change(actor, existing.requester_id, existing.status)
    })?;
    if claimed.rows_affected == 0 {
        return Err(ServiceError::Conflict(format!(
            "{} was modified: expected version {expected_version}, current version is {}",
            existing.number, existing.version
        )));
    }
    let before =
        store::changes::content_of(&existing, store::changes::system_ids_of(&txn, id).await?);
    let mut after = before.clone();
    patch.apply(&mut after);
    after.validate(&policy.change_type_keys())?;
    after.validate_attributes(&policy.attribute_keys())?;
    if after.system_ids != before.system_ids {
        ensure_systems_exist(&txn, &after.system_ids).await?;
        store::changes::replace_systems(&txn, id, &after.system_ids).await?;
    }
    let mut active: change::ActiveModel = existing.into();
    store::changes::write_content(&mut active, &after);
    active.updated_at = Set(db::now());
    let updated = active.clone().try_into_model()?;
    let recording = audit::recording(
        &txn,
        caller,
        events::UPDATED,
        "change",
        &id.to_string(),
        &audit::under_policy(
            json!({"number": updated.number, "version": updated.version, "status": updated.status,
                "changes": diff(&before, &after)}),
            policy,
        ),
    );
    let model = active.update(&recording).await?;
    let recorded = recording.finish().await?;
    audit::commit(txn, db).await?;
    events.committed(
        recorded.map(|recorded| ChangeEvent::new(&model, &recorded, Some(model.status))),
    );
    Ok(model)
}

/// One page of changes with their positions (the cursors), the page's
/// flags and the total matching the filter. A cursor is refused by another
/// order than the one it came from.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    filter: &ChangeFilter,
    order: ChangeOrder,
    page: PageRequest<ChangePosition>,
    max_page_size: u64,
) -> ServiceResult<Page<ChangePosition, change::Model>> {
    for position in page.after.iter().chain(page.before.iter()) {
        if position.field != order.field {
            return Err(ValidationError::new(
                if page.after.as_ref() == Some(position) {
                    "after"
                } else {
                    "before"
                },
                "is a cursor of another order of this list",
            )
            .into());
        }
    }
    let page = pagination::keyset(page, max_page_size)?;
    let condition = filter_condition(db, filter).await?;
    let total = change::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let (rows, flags) = store::pages::keyset_page(db, condition, &order, &page).await?;
    Ok(Page { rows, flags, total })
}

/// Where a change stands in a list order: the order's sort key and the
/// change's id, which breaks ties. Cursors carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangePosition {
    pub field: OrderField,
    /// `None` for a change without a planned start (listed last).
    pub key: Option<SortKey>,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortKey {
    Time(DateTime<Utc>),
    Score(i32),
}

impl SortKey {
    fn value(&self) -> sea_orm::Value {
        match self {
            Self::Time(time) => (*time).into(),
            Self::Score(score) => (*score).into(),
        }
    }
}

impl ChangeOrder {
    fn key_expr(&self) -> sea_orm::sea_query::SimpleExpr {
        match self.field {
            OrderField::CreatedAt => Expr::col(change::Column::CreatedAt),
            OrderField::UpdatedAt => Expr::col(change::Column::UpdatedAt),
            OrderField::PlannedStart => Expr::col(change::Column::PlannedStart),
            OrderField::RiskScore => Func::coalesce([
                Expr::col(change::Column::ResidualScore),
                Expr::col(change::Column::InherentScore),
            ])
            .into(),
        }
    }

    /// Only the planned start may be unset; changes without one come last.
    fn nullable(&self) -> bool {
        self.field == OrderField::PlannedStart
    }

    /// Rows strictly after (`later`) or strictly before a position: by the
    /// key, then by id among equal keys, with unset keys at the end.
    fn beyond(&self, position: &ChangePosition, later: bool) -> Condition {
        let key = self.key_expr();
        // Later in a descending order, or earlier in an ascending one, is
        // towards smaller values.
        let smaller = self.descending == later;
        let past = |expr: sea_orm::sea_query::SimpleExpr, value: sea_orm::Value| {
            if smaller {
                expr.lt(value)
            } else {
                expr.gt(value)
            }
        };
        let id_past = past(Expr::col(change::Column::Id), position.id.into());
        match &position.key {
            Some(value) => {
                let among_values = Condition::any().add(past(key.clone(), value.value())).add(
                    Condition::all()
                        .add(key.clone().eq(value.value()))
                        .add(id_past),
                );
                match (self.nullable(), later) {
                    (true, true) => among_values.add(key.is_null()),
                    // `IS NOT NULL` keeps the condition definite on unset
                    // keys, where the comparisons are NULL.
                    (true, false) => Condition::all().add(key.is_not_null()).add(among_values),
                    (false, _) => among_values,
                }
            }
            None => {
                let among_unset = Condition::all().add(key.clone().is_null()).add(id_past);
                if later {
                    among_unset
                } else {
                    Condition::any().add(key.is_not_null()).add(among_unset)
                }
            }
        }
    }
}

impl store::pages::KeysetOrder<change::Entity> for ChangeOrder {
    type Position = ChangePosition;

    fn sort(
        &self,
        query: sea_orm::Select<change::Entity>,
        reversed: bool,
    ) -> sea_orm::Select<change::Entity> {
        let direction = if self.descending != reversed {
            Order::Desc
        } else {
            Order::Asc
        };
        // Unset keys stay at the list's end: first when read from the end.
        let nulls = if reversed {
            NullOrdering::First
        } else {
            NullOrdering::Last
        };
        query
            .order_by_with_nulls(self.key_expr(), direction.clone(), nulls)
            .order_by(change::Column::Id, direction)
    }

    fn position(&self, row: &change::Model) -> ChangePosition {
        let key = match self.field {
            OrderField::CreatedAt => Some(SortKey::Time(row.created_at)),
            OrderField::UpdatedAt => Some(SortKey::Time(row.updated_at)),
            OrderField::PlannedStart => row.planned_start.map(SortKey::Time),
            OrderField::RiskScore => Some(SortKey::Score(
                row.residual_score.unwrap_or(row.inherent_score),
            )),
        };
        ChangePosition {
            field: self.field,
            key,
            id: row.id,
        }
    }

    fn after(&self, position: &ChangePosition) -> Condition {
        self.beyond(position, true)
    }

    fn before(&self, position: &ChangePosition) -> Condition {
        self.beyond(position, false)
    }
}

async fn filter_condition(
    db: &DatabaseConnection,
    filter: &ChangeFilter,
) -> ServiceResult<Condition> {
    // PostgreSQL refuses NUL in text; say so instead of failing inside.
    let texts = filter
        .types
        .iter()
        .flatten()
        .chain(filter.title_contains.iter());
    if texts.into_iter().any(|text| text.contains('\0')) {
        return Err(ValidationError::new("filter", "must not contain NUL characters").into());
    }
    for (field, value) in [
        ("filter.createdFrom", filter.created_from),
        ("filter.createdTo", filter.created_to),
        ("filter.plannedFrom", filter.planned_from),
        ("filter.plannedTo", filter.planned_to),
    ] {
        crate::domain::timestamps::check_optional(field, value)?;
    }
    let mut condition = Condition::all();
    if let Some(types) = &filter.types {
        condition = condition.add(change::Column::ChangeType.is_in(types.clone()));
    }
    if let Some(statuses) = &filter.statuses {
        condition = condition.add(change::Column::Status.is_in(statuses.clone()));
    }
    if let Some(levels) = &filter.risk_levels {
        condition = condition.add(change::Column::RiskLevel.is_in(levels.clone()));
    }
    if let Some(requester) = filter.requester_id {
        condition = condition.add(change::Column::RequesterId.eq(requester));
    }
    if let Some(system) = filter.system_id {
        let scope: Vec<Uuid> =
            hierarchy::with_descendants(&crate::store::systems::edges(db).await?, system)
                .into_iter()
                .collect();
        condition = condition.add(
            change::Column::Id.in_subquery(
                Query::select()
                    .column(change_system::Column::ChangeId)
                    .from(change_system::Entity)
                    .and_where(change_system::Column::SystemId.is_in(scope))
                    .to_owned(),
            ),
        );
    }
    if let Some(from) = filter.created_from {
        condition = condition.add(change::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        condition = condition.add(change::Column::CreatedAt.lt(to));
    }
    if let Some(from) = filter.planned_from {
        condition = condition.add(change::Column::PlannedStart.gte(from));
    }
    if let Some(to) = filter.planned_to {
        condition = condition.add(change::Column::PlannedStart.lt(to));
    }
    if let Some(text) = &filter.title_contains {
        if text.chars().count() > 200 {
            return Err(
                ValidationError::new("filter.titleContains", "at most 200 characters").into(),
            );
        }
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        condition = condition.add(
            Expr::expr(Func::lower(Expr::col(change::Column::Title)))
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    Ok(condition)
}

async fn ensure_systems_exist<C: ConnectionTrait>(conn: &C, ids: &[Uuid]) -> ServiceResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: Vec<Uuid> = entity::system::Entity::find()
        .select_only()
        .column(entity::system::Column::Id)
        .filter(entity::system::Column::Id.is_in(ids.to_vec()))
        .into_tuple()
        .all(conn)
        .await?;
    match ids.iter().position(|id| !found.contains(id)) {
        Some(index) => Err(ValidationError::new(
            format!("systemIds[{index}]"),
            format!("no system with id {}", ids[index]),
        )
        .into()),
        None => Ok(()),
    }
}
