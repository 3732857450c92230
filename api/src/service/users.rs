//! Accounts.

use std::collections::BTreeSet;

use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::{Caller, audit, tokens};
use crate::{
    db,
    domain::{account, permissions, roles},
    error::{ServiceError, ServiceResult},
};

pub const BOOTSTRAP_EMAIL: &str = "admin@localhost";

pub fn roles_of(model: &user::Model) -> BTreeSet<String> {
    serde_json::from_value(model.roles.clone()).unwrap_or_default()
}

pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller,
    name: &str,
    email: &str,
    role_names: &[String],
) -> ServiceResult<user::Model> {
    caller.authorize(permissions::manage_accounts)?;
    account::validate_name(name)?;
    let email = account::normalize_email(email)?;
    let roles = roles::parse_roles(role_names)?;
    let txn = db.begin().await?;
    if user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(format!(
            "an account with email {email} already exists"
        )));
    }
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.trim().to_owned()),
        email: Set(email),
        roles: Set(json!(roles)),
        active: Set(true),
        created_at: Set(db::now()),
    }
    .insert(&txn)
    .await?;
    audit::append(
        &txn,
        caller,
        "user.created",
        "user",
        &model.id.to_string(),
        &json!({"name": model.name, "email": model.email, "roles": roles}),
    )
    .await?;
    audit::commit(txn, db).await?;
    Ok(model)
}

pub async fn set_roles(
    db: &DatabaseConnection,
    caller: &Caller,
    user_id: Uuid,
    role_names: &[String],
) -> ServiceResult<user::Model> {
    caller.authorize(permissions::manage_accounts)?;
    let roles = roles::parse_roles(role_names)?;
    let txn = db.begin().await?;
    let existing = find(&txn, user_id).await?;
    let before = roles_of(&existing);
    if let Caller::Account(actor) = caller
        && actor.user_id == user_id
        && before.contains(roles::ADMIN)
        && !roles.contains(roles::ADMIN)
    {
        return Err(ServiceError::validation(
            "roles",
            "an admin cannot remove their own admin role; ask another admin",
        ));
    }
    let mut active: user::ActiveModel = existing.into();
    active.roles = Set(json!(roles));
    let model = active.update(&txn).await?;
    audit::append(
        &txn,
        caller,
        "user.roles_changed",
        "user",
        &user_id.to_string(),
        &json!({"before": before, "after": roles}),
    )
    .await?;
    audit::commit(txn, db).await?;
    Ok(model)
}

/// Deactivating keeps the account (history refers to it) but every token
/// of it stops working at once.
pub async fn set_active(
    db: &DatabaseConnection,
    caller: &Caller,
    user_id: Uuid,
    active_flag: bool,
) -> ServiceResult<user::Model> {
    caller.authorize(permissions::manage_accounts)?;
    if let Caller::Account(actor) = caller
        && actor.user_id == user_id
        && !active_flag
    {
        return Err(ServiceError::validation(
            "userId",
            "you cannot deactivate your own account",
        ));
    }
    let txn = db.begin().await?;
    let existing = find(&txn, user_id).await?;
    let mut active: user::ActiveModel = existing.into();
    active.active = Set(active_flag);
    let model = active.update(&txn).await?;
    audit::append(
        &txn,
        caller,
        if active_flag {
            "user.activated"
        } else {
            "user.deactivated"
        },
        "user",
        &user_id.to_string(),
        &json!({"active": active_flag}),
    )
    .await?;
    audit::commit(txn, db).await?;
    Ok(model)
}

pub async fn list(db: &DatabaseConnection, caller: &Caller) -> ServiceResult<Vec<user::Model>> {
    caller.authorize(permissions::read_accounts)?;
    Ok(user::Entity::find()
        .order_by_asc(user::Column::Email)
        .all(db)
        .await?)
}

pub async fn find<C: sea_orm::ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> ServiceResult<user::Model> {
    user::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "user" })
}

/// Finds an account by id or email (CLI convenience).
pub async fn find_by_reference(
    db: &DatabaseConnection,
    reference: &str,
) -> ServiceResult<user::Model> {
    if let Ok(id) = reference.parse::<Uuid>() {
        return find(db, id).await;
    }
    let email = account::normalize_email(reference)?;
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound { entity: "user" })
}

/// On an empty database: creates the `admin` account and its first token.
/// Returns the token secret when Gatehouse generated it (to print once);
/// `None` when the database already had accounts or the operator supplied
/// the token.
pub async fn bootstrap_admin(
    db: &DatabaseConnection,
    supplied_token: Option<&str>,
) -> ServiceResult<Option<String>> {
    let txn = db.begin().await?;
    if user::Entity::find().count(&txn).await? > 0 {
        return Ok(None);
    }
    let caller = Caller::Operator {
        label: "bootstrap".into(),
    };
    let admin = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("admin".into()),
        email: Set(BOOTSTRAP_EMAIL.into()),
        roles: Set(json!([roles::ADMIN])),
        active: Set(true),
        created_at: Set(db::now()),
    }
    .insert(&txn)
    .await?;
    audit::append(
        &txn,
        &caller,
        "user.created",
        "user",
        &admin.id.to_string(),
        &json!({"name": admin.name, "email": admin.email, "roles": [roles::ADMIN], "bootstrap": true}),
    )
    .await?;
    let secret = supplied_token
        .map(str::to_owned)
        .unwrap_or_else(crate::auth::generate_token);
    tokens::insert_token(&txn, &caller, admin.id, "bootstrap", None, &secret).await?;
    audit::commit(txn, db).await?;
    Ok(supplied_token.is_none().then_some(secret))
}
