//! The systems register (configuration items).

use entity::system;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::store;
use crate::store::audit;
use crate::{
    db,
    domain::{optional_text, permissions, required_text, systems as hierarchy},
    error::{ServiceError, ServiceResult},
};

pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller,
    name: &str,
    description: Option<&str>,
    parent_id: Option<Uuid>,
    team: Option<&str>,
) -> ServiceResult<system::Model> {
    caller.authorize(permissions::manage_systems)?;
    required_text("name", name, 200)?;
    optional_text("description", description, 2000)?;
    let team = team_name(team)?;
    let txn = db.begin().await?;
    if let Some(parent) = parent_id {
        store::systems::find(&txn, parent)
            .await
            .map_err(|_| ServiceError::validation("parentId", "no system with this id"))?;
    }
    let id = Uuid::now_v7();
    let name = name.trim();
    ensure_name_free(&txn, name, None).await?;
    let recording = audit::recording(
        &txn,
        caller,
        audit_action::SYSTEM_CREATED,
        "system",
        &id.to_string(),
        &json!({"name": name, "description": description, "parentId": parent_id, "team": team}),
    );
    let model = system::ActiveModel {
        id: Set(id),
        name: Set(name.to_owned()),
        description: Set(description.map(str::to_owned)),
        parent_id: Set(parent_id),
        team: Set(team.clone()),
        created_at: Set(db::now()),
    }
    .insert(&recording)
    .await?;
    recording.finish().await?;
    audit::commit(txn, db).await?;
    Ok(model)
}

/// Changes a system; `parent_id: Some(None)` detaches it from its parent.
pub async fn update(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    name: Option<&str>,
    description: Option<Option<&str>>,
    parent_id: Option<Option<Uuid>>,
    team: Option<Option<&str>>,
) -> ServiceResult<system::Model> {
    caller.authorize(permissions::manage_systems)?;
    if let Some(name) = name {
        required_text("name", name, 200)?;
    }
    let team = team.map(team_name).transpose()?;
    if let Some(description) = description {
        optional_text("description", description, 2000)?;
    }
    let txn = db.begin().await?;
    let existing = store::systems::find(&txn, id).await?;
    let before = json!({"name": existing.name, "description": existing.description, "parentId": existing.parent_id, "team": existing.team});
    if let Some(name) = name {
        ensure_name_free(&txn, name.trim(), Some(id)).await?;
    }
    if let Some(Some(parent)) = parent_id {
        store::systems::find(&txn, parent)
            .await
            .map_err(|_| ServiceError::validation("parentId", "no system with this id"))?;
        if hierarchy::would_cycle(&store::systems::edges(&txn).await?, id, parent) {
            return Err(ServiceError::validation(
                "parentId",
                "a system cannot be placed below itself or one of its subsystems",
            ));
        }
    }
    let mut active: system::ActiveModel = existing.into();
    if let Some(name) = name {
        active.name = Set(name.trim().to_owned());
    }
    if let Some(description) = description {
        active.description = Set(description.map(str::to_owned));
    }
    if let Some(parent) = parent_id {
        active.parent_id = Set(parent);
    }
    if let Some(team) = team {
        active.team = Set(team);
    }
    let after = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::SYSTEM_UPDATED,
        "system",
        &id.to_string(),
        &json!({"before": before, "after": {"name": after.name, "description": after.description, "parentId": after.parent_id, "team": after.team}}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(model)
}

/// An owning team's name: trimmed, at most 100 characters; blank is none.
fn team_name(team: Option<&str>) -> ServiceResult<Option<String>> {
    optional_text("team", team, 100)?;
    Ok(team
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned))
}

async fn ensure_name_free<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    except: Option<Uuid>,
) -> ServiceResult<()> {
    let clash = system::Entity::find()
        .filter(system::Column::Name.eq(name))
        .one(conn)
        .await?;
    match clash {
        Some(other) if Some(other.id) != except => Err(ServiceError::Conflict(format!(
            "a system named {name} already exists"
        ))),
        _ => Ok(()),
    }
}

pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<system::Model>> {
    Ok(system::Entity::find()
        .order_by_asc(system::Column::Name)
        .all(db)
        .await?)
}
