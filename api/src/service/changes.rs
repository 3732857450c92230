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
        pagination::{self, PageRequest, Window},
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
        &json!({
            "number": number,
            "status": ChangeStatus::Draft,
            "content": content,
            "risk": {"inherentScore": risk.inherent_score, "residualScore": risk.residual_score, "level": risk.level},
        }),
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
        &json!({"number": updated.number, "version": updated.version, "status": updated.status,
                "changes": diff(&before, &after)}),
    );
    let model = active.update(&recording).await?;
    let recorded = recording.finish().await?;
    audit::commit(txn, db).await?;
    events.committed(
        recorded.map(|recorded| ChangeEvent::new(&model, &recorded, Some(model.status))),
    );
    Ok(model)
}

/// One page of changes, the window it covers and the total matching the
/// filter.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    filter: &ChangeFilter,
    order: ChangeOrder,
    page: PageRequest,
    max_page_size: u64,
) -> ServiceResult<(Vec<change::Model>, Window, u64)> {
    let condition = filter_condition(db, filter).await?;
    let total = change::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let window = pagination::window(page, total, max_page_size)?;
    if window.limit == 0 {
        return Ok((Vec::new(), window, total));
    }
    let direction = if order.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut query = change::Entity::find().filter(condition);
    query = match order.field {
        OrderField::CreatedAt => query.order_by(change::Column::CreatedAt, direction.clone()),
        OrderField::UpdatedAt => query.order_by(change::Column::UpdatedAt, direction.clone()),
        OrderField::PlannedStart => query.order_by_with_nulls(
            change::Column::PlannedStart,
            direction.clone(),
            NullOrdering::Last,
        ),
        OrderField::RiskScore => query.order_by(
            Expr::expr(Func::coalesce([
                Expr::col(change::Column::ResidualScore),
                Expr::col(change::Column::InherentScore),
            ])),
            direction.clone(),
        ),
    };
    // The id breaks ties so pages never overlap or skip rows.
    let rows = query
        .order_by(change::Column::Id, direction)
        .offset(window.offset)
        .limit(window.limit)
        .all(db)
        .await?;
    Ok((rows, window, total))
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
