//! Change requests: create, edit, read, list.

use chrono::{DateTime, Datelike, Utc};
use entity::{ChangeStatus, RiskLevel, change, change_sequence, change_system};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    TryIntoModel,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, NullOrdering, OnConflict, Query},
};
use serde_json::json;
use uuid::Uuid;

use super::systems;
use crate::caller::Caller;
use crate::store::audit;
use crate::store::events::{self, ChangeEvent, EventBus};
use crate::{
    db,
    domain::{
        ValidationError,
        change::{ChangeContent, ChangePatch, Link, RollbackPlan, diff},
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
    let now = db::now();
    let txn = db.begin().await?;
    // Numbering first: on SQLite it makes this transaction the writer before
    // anything is read, on PostgreSQL it locks the year's counter row so
    // concurrent creates queue instead of skipping numbers.
    let sequence = next_sequence(&txn, now.year()).await?;
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
        board_outcome: Set(None),
        board_decided_at: Set(None),
        rollback_reason: Set(None),
        schedule_sequence: Set(0),
        ..Default::default()
    };
    write_content(&mut active, &content);
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
    replace_systems(&txn, id, &content.system_ids).await?;
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
    let existing = find(&txn, id).await?;
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
    let before = content_of(&existing, system_ids_of(&txn, id).await?);
    let mut after = before.clone();
    patch.apply(&mut after);
    after.validate(&policy.change_type_keys())?;
    if after.system_ids != before.system_ids {
        ensure_systems_exist(&txn, &after.system_ids).await?;
        replace_systems(&txn, id, &after.system_ids).await?;
    }
    let mut active: change::ActiveModel = existing.into();
    write_content(&mut active, &after);
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

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> ServiceResult<change::Model> {
    change::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "change" })
}

pub async fn find_by_number(db: &DatabaseConnection, number: &str) -> ServiceResult<change::Model> {
    numbering::parse_number(number)?;
    change::Entity::find()
        .filter(change::Column::Number.eq(number))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound { entity: "change" })
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
        let scope: Vec<Uuid> = hierarchy::with_descendants(&systems::edges(db).await?, system)
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

/// Hands out the next number of `year` inside the caller's transaction.
pub(crate) async fn next_sequence<C: ConnectionTrait>(conn: &C, year: i32) -> ServiceResult<i32> {
    let statement = Query::insert()
        .into_table(change_sequence::Entity)
        .columns([
            change_sequence::Column::Year,
            change_sequence::Column::LastValue,
        ])
        .values_panic([year.into(), 1.into()])
        .on_conflict(
            OnConflict::column(change_sequence::Column::Year)
                .value(
                    change_sequence::Column::LastValue,
                    Expr::col((change_sequence::Entity, change_sequence::Column::LastValue)).add(1),
                )
                .to_owned(),
        )
        .returning_col(change_sequence::Column::LastValue)
        .to_owned();
    let row = conn
        .query_one(&statement)
        .await?
        .ok_or_else(|| ServiceError::Internal("change number allocation returned no row".into()))?;
    Ok(row.try_get::<i32>("", "last_value")?)
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

pub(crate) async fn replace_systems<C: ConnectionTrait>(
    conn: &C,
    change_id: Uuid,
    ids: &[Uuid],
) -> ServiceResult<()> {
    change_system::Entity::delete_many()
        .filter(change_system::Column::ChangeId.eq(change_id))
        .exec(conn)
        .await?;
    if !ids.is_empty() {
        change_system::Entity::insert_many(ids.iter().map(|system_id| {
            change_system::ActiveModel {
                change_id: Set(change_id),
                system_id: Set(*system_id),
            }
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// System ids of one change, in a stable order.
pub async fn system_ids_of<C: ConnectionTrait>(
    conn: &C,
    change_id: Uuid,
) -> ServiceResult<Vec<Uuid>> {
    Ok(change_system::Entity::find()
        .select_only()
        .column(change_system::Column::SystemId)
        .filter(change_system::Column::ChangeId.eq(change_id))
        .order_by_asc(change_system::Column::SystemId)
        .into_tuple()
        .all(conn)
        .await?)
}

pub(crate) fn write_content(active: &mut change::ActiveModel, content: &ChangeContent) {
    let risk = content.risk();
    active.title = Set(content.title.trim().to_owned());
    active.description = Set(content.description.clone());
    active.business_justification = Set(content.business_justification.clone());
    active.expected_benefit = Set(content.expected_benefit.clone());
    active.urgency = Set(content.urgency);
    active.priority = Set(content.priority);
    active.change_type = Set(content.change_type.clone());
    active.likelihood = Set(content.likelihood);
    active.impact = Set(content.impact);
    active.inherent_score = Set(risk.inherent_score);
    active.mitigations = Set(content.mitigations.clone());
    active.residual_likelihood = Set(content.residual_likelihood);
    active.residual_impact = Set(content.residual_impact);
    active.residual_score = Set(risk.residual_score);
    active.risk_level = Set(risk.level);
    active.services = Set(json!(content.services));
    active.customers_affected = Set(content.customers_affected.clone());
    active.downtime_required = Set(content.downtime_required);
    active.performance_impact = Set(content.performance_impact.clone());
    active.implementation_steps = Set(json!(content.implementation_steps));
    active.deployment_method = Set(content.deployment_method);
    active.canary_stages = Set(json!(content.canary_stages));
    active.test_plan = Set(content.test_plan.clone());
    active.rollback_plan = Set(content.rollback_plan.as_ref().map(|plan| json!(plan)));
    active.links = Set(json!(content.links));
    active.planned_start = Set(content.planned_start);
    active.planned_end = Set(content.planned_end);
    active.template_id = Set(content.template_id);
}

/// The JSON columns were written by `write_content` from validated values,
/// so they parse; a row edited by hand into something else reads as empty
/// rather than failing every request that touches it.
pub fn content_of(model: &change::Model, mut system_ids: Vec<Uuid>) -> ChangeContent {
    system_ids.sort();
    ChangeContent {
        title: model.title.clone(),
        description: model.description.clone(),
        business_justification: model.business_justification.clone(),
        expected_benefit: model.expected_benefit.clone(),
        urgency: model.urgency,
        priority: model.priority,
        change_type: model.change_type.clone(),
        likelihood: model.likelihood,
        impact: model.impact,
        mitigations: model.mitigations.clone(),
        residual_likelihood: model.residual_likelihood,
        residual_impact: model.residual_impact,
        system_ids,
        services: parse_json(&model.services),
        customers_affected: model.customers_affected.clone(),
        downtime_required: model.downtime_required,
        performance_impact: model.performance_impact.clone(),
        implementation_steps: parse_json(&model.implementation_steps),
        deployment_method: model.deployment_method,
        canary_stages: parse_json(&model.canary_stages),
        test_plan: model.test_plan.clone(),
        rollback_plan: model.rollback_plan.as_ref().map(parse_json::<RollbackPlan>),
        links: parse_json::<Vec<Link>>(&model.links),
        planned_start: model.planned_start,
        planned_end: model.planned_end,
        template_id: model.template_id,
    }
}

pub fn parse_json<T: serde::de::DeserializeOwned + Default>(value: &serde_json::Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_default()
}
