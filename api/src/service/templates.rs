//! The standard change catalog: pre-approved procedures.

use entity::change_template;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::store::audit;
use crate::{
    domain::{ValidationError, permissions, required_text},
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

/// A catalog entry as submitted.
pub struct NewTemplate<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub change_type: &'a str,
    pub description: &'a str,
    pub procedure: &'a [String],
}

pub async fn create(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    template: NewTemplate<'_>,
) -> ServiceResult<change_template::Model> {
    let NewTemplate {
        key,
        name,
        change_type,
        description,
        procedure,
    } = template;
    caller.authorize(permissions::manage_templates)?;
    if !key
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        || key.is_empty()
        || key.len() > 64
    {
        return Err(
            ValidationError::new("key", "lowercase letters, digits, - and _; at most 64").into(),
        );
    }
    required_text("name", name, 200)?;
    required_text("description", description, 20_000)?;
    if policy.change_type(change_type).is_none() {
        return Err(ValidationError::new(
            "changeType",
            format!("`{change_type}` is not a change type of the active policy"),
        )
        .into());
    }
    if procedure.is_empty() {
        return Err(
            ValidationError::new("procedure", "a template documents its procedure steps").into(),
        );
    }
    for (index, step) in procedure.iter().enumerate() {
        required_text(&format!("procedure[{index}]"), step, 2_000)?;
    }
    let creator = caller
        .account()
        .map(|a| a.user_id)
        .ok_or_else(|| ServiceError::forbidden("templates are created by accounts"))?;
    let txn = db.begin().await?;
    if change_template::Entity::find()
        .filter(change_template::Column::Key.eq(key))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(format!(
            "a template with key {key} already exists"
        )));
    }
    let active = change_template::ActiveModel {
        id: Set(Uuid::now_v7()),
        key: Set(key.to_owned()),
        name: Set(name.trim().to_owned()),
        change_type: Set(change_type.to_owned()),
        description: Set(description.to_owned()),
        procedure: Set(json!(procedure)),
        active: Set(true),
        created_by: Set(creator),
        created_at: Set(crate::db::now()),
    };
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::TEMPLATE_CREATED,
        "change_template",
        &preview.id.to_string(),
        &json!({"key": key, "name": name, "changeType": change_type, "description": description, "procedure": procedure}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.insert(recording).await
    })
    .await?;
    Ok(model)
}

pub async fn set_active(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    active_flag: bool,
) -> ServiceResult<change_template::Model> {
    caller.authorize(permissions::manage_templates)?;
    let txn = db.begin().await?;
    let template = find(&txn, id).await?;
    let mut active: change_template::ActiveModel = template.into();
    active.active = Set(active_flag);
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        if active_flag {
            audit_action::TEMPLATE_ACTIVATED
        } else {
            audit_action::TEMPLATE_RETIRED
        },
        "change_template",
        &id.to_string(),
        &json!({"key": preview.key}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(model)
}

pub async fn find<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> ServiceResult<change_template::Model> {
    change_template::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "template" })
}

pub async fn list(db: &DatabaseConnection) -> ServiceResult<Vec<change_template::Model>> {
    Ok(change_template::Entity::find()
        .order_by_asc(change_template::Column::Key)
        .all(db)
        .await?)
}
