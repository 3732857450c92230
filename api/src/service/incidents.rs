//! Incidents: opened by hand (linked to a change, a deployment or the
//! systems they affect) or by a rollback (`lifecycle::implementation`),
//! and resolved with the time service was restored, which time to restore
//! measures. The rules are `domain::deployment::check_incident` and
//! `check_resolution`.

use chrono::{DateTime, Utc};
use entity::{IncidentPriority, change, deployment, incident, incident_system};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    caller::Caller,
    domain::{audit_action, deployment as rules, lifecycle, permissions, timestamps},
    error::{ServiceError, ServiceResult},
    store::{self, audit},
};

/// A new incident as its reporter gives it.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub description: Option<String>,
    pub priority: Option<IncidentPriority>,
    pub change_number: Option<String>,
    pub deployment_id: Option<Uuid>,
    pub systems: Vec<String>,
    /// When the incident began; now when not given.
    pub opened_at: Option<DateTime<Utc>>,
    /// Who it is recorded for when the operator records it (an import of
    /// another tool's history); an account records its own.
    pub reported_by: Option<Uuid>,
}

/// The account acting: the caller's own, or for the operator the account
/// the history names.
fn account(caller: &Caller, for_operator: Option<Uuid>) -> ServiceResult<Uuid> {
    caller
        .account()
        .map(|a| a.user_id)
        .or(for_operator)
        .ok_or_else(|| ServiceError::Forbidden("incidents are recorded by an account".into()))
}

pub async fn record(
    db: &DatabaseConnection,
    caller: &Caller,
    input: NewIncident,
    now: DateTime<Utc>,
) -> ServiceResult<incident::Model> {
    caller.authorize(permissions::record_incident)?;
    let opened_by = account(caller, input.reported_by)?;
    let opened_at = input.opened_at.unwrap_or(now);
    timestamps::check("openedAt", opened_at)?;
    rules::check_incident(
        &input.title,
        input.description.as_deref(),
        input.change_number.is_some(),
        input.deployment_id.is_some(),
        input.systems.len(),
        opened_at,
        now,
    )?;
    let txn = db.begin().await?;
    let deployment = match input.deployment_id {
        Some(id) => Some(
            deployment::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    ServiceError::validation("deploymentId", "no deployment has this id")
                })?,
        ),
        None => None,
    };
    // A deployment's incident is its change's too: the change-based
    // "changes with issues" counts it.
    let change_id = match (&input.change_number, &deployment) {
        (Some(number), _) => Some(
            change::Entity::find()
                .filter(change::Column::Number.eq(number.trim()))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    ServiceError::validation("changeNumber", "no change has this number")
                })?
                .id,
        ),
        (None, Some(deployment)) => deployment.change_id,
        (None, None) => None,
    };
    let systems = store::systems::named(&txn, "systems", &input.systems).await?;
    let id = Uuid::now_v7();
    let priority = input.priority.unwrap_or(rules::DEFAULT_INCIDENT_PRIORITY);
    let recording = audit::recording(
        &txn,
        caller,
        audit_action::INCIDENT_RECORDED,
        "incident",
        &id.to_string(),
        &json!({
            "title": input.title.trim(),
            "priority": priority,
            "changeId": change_id,
            "deploymentId": input.deployment_id,
            "systems": systems.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            "openedAt": opened_at,
        }),
    );
    let model = incident::ActiveModel {
        id: Set(id),
        change_id: Set(change_id),
        deployment_id: Set(input.deployment_id),
        priority: Set(priority),
        title: Set(input.title.trim().to_owned()),
        description: Set(input.description.clone()),
        opened_by: Set(opened_by),
        opened_at: Set(opened_at),
        resolved_at: Set(None),
        restored_at: Set(None),
        resolution: Set(None),
        resolved_by: Set(None),
    }
    .insert(&recording)
    .await?;
    recording.finish().await?;
    if !systems.is_empty() {
        incident_system::Entity::insert_many(systems.iter().map(|s| {
            incident_system::ActiveModel {
                incident_id: Set(id),
                system_id: Set(s.id),
            }
        }))
        .exec(&txn)
        .await?;
    }
    audit::commit(txn, db).await?;
    Ok(model)
}

/// Resolves an open incident: service was restored at `restored_at`.
pub async fn resolve(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    restored_at: DateTime<Utc>,
    summary: &str,
    now: DateTime<Utc>,
) -> ServiceResult<incident::Model> {
    resolve_for(db, caller, None, id, restored_at, summary, now).await
}

/// `resolve`, by the operator for the account `reported_by` (imports).
pub async fn resolve_for(
    db: &DatabaseConnection,
    caller: &Caller,
    reported_by: Option<Uuid>,
    id: Uuid,
    restored_at: DateTime<Utc>,
    summary: &str,
    now: DateTime<Utc>,
) -> ServiceResult<incident::Model> {
    timestamps::check("restoredAt", restored_at)?;
    let resolved_by = account(caller, reported_by)?;
    let txn = db.begin().await?;
    // Claimed by an update that only an open incident satisfies, so two
    // racing resolutions cannot both land.
    let existing = find(&txn, id).await?;
    caller.authorize(|actor| permissions::resolve_incident(actor, existing.opened_by))?;
    rules::check_resolution(
        existing.opened_at,
        existing.restored_at,
        restored_at,
        summary,
        now,
    )?;
    // A rollback's incident also restores its change: the restore time is
    // held against the rollback kind's objective.
    let change_id = existing.change_id;
    let rollback = store::changes::rolled_back_by(&txn, id, change_id)
        .await?
        .map(|change| {
            json!({
                "change": change.number,
                "rollbackKind": change.rollback_kind,
                "restoreDueAt": change.restore_due_at,
                "withinObjective": lifecycle::within_restore_objective(change.restore_due_at, Some(restored_at)),
            })
        });
    let event = audit::Event::new(
        caller,
        audit_action::INCIDENT_RESOLVED,
        "incident",
        &id.to_string(),
        &json!({
            "restoredAt": restored_at,
            "summary": summary.trim(),
            "hoursToRestore": (restored_at - existing.opened_at).num_seconds() as f64 / 3600.0,
            "rollback": rollback,
        }),
    );
    let claimed = audit::write(txn, db, event, async move |recording| {
        store::changes::record_restoration(recording, id, change_id, restored_at).await?;
        incident::Entity::update_many()
            .col_expr(incident::Column::RestoredAt, restored_at.into())
            .col_expr(incident::Column::ResolvedAt, now.into())
            .col_expr(
                incident::Column::Resolution,
                Some(summary.trim().to_owned()).into(),
            )
            .col_expr(incident::Column::ResolvedBy, Some(resolved_by).into())
            .filter(incident::Column::Id.eq(id))
            .filter(incident::Column::RestoredAt.is_null())
            .exec(recording)
            .await
    })
    .await?;
    if claimed.rows_affected == 0 {
        return Err(ServiceError::Conflict(
            "the incident was resolved meanwhile".into(),
        ));
    }
    find(db, id).await
}

async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> ServiceResult<incident::Model> {
    incident::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "incident" })
}

pub async fn get(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
) -> ServiceResult<incident::Model> {
    caller.authorize(permissions::read_changes)?;
    find(db, id).await
}

/// Which incidents a list shows.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Open (no restoration recorded) or resolved only.
    pub open: Option<bool>,
    pub change_number: Option<String>,
    pub priority: Option<IncidentPriority>,
    /// Opened in `[opened_from, opened_to)`.
    pub opened_from: Option<DateTime<Utc>>,
    pub opened_to: Option<DateTime<Utc>>,
}

/// A page of incidents, newest first, keyed by id like deployments.
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: &IncidentFilter,
    after: Option<Uuid>,
    first: u64,
) -> ServiceResult<(Vec<incident::Model>, u64, bool)> {
    caller.authorize(permissions::read_changes)?;
    let mut condition = Condition::all();
    match filter.open {
        Some(true) => condition = condition.add(incident::Column::RestoredAt.is_null()),
        Some(false) => condition = condition.add(incident::Column::RestoredAt.is_not_null()),
        None => {}
    }
    if let Some(number) = &filter.change_number {
        let change = store::changes::find_by_number(db, number.trim()).await?;
        condition = condition.add(incident::Column::ChangeId.eq(change.id));
    }
    if let Some(priority) = filter.priority {
        condition = condition.add(incident::Column::Priority.eq(priority));
    }
    if let Some(from) = filter.opened_from {
        condition = condition.add(incident::Column::OpenedAt.gte(from));
    }
    if let Some(to) = filter.opened_to {
        condition = condition.add(incident::Column::OpenedAt.lt(to));
    }
    store::pages::newest_first::<incident::Entity>(
        db,
        condition,
        incident::Column::Id,
        after,
        first,
    )
    .await
}
