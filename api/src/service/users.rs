//! Accounts.

use entity::{api_token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, Statement,
    TransactionTrait, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::store::accounts;
pub use crate::store::accounts::{find, roles_of};
use crate::store::audit;
use crate::{
    db,
    domain::{account, permissions, roles},
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

pub const BOOTSTRAP_EMAIL: &str = "admin@localhost";

/// PostgreSQL advisory lock serialising the account changes that can take
/// an admin away, so two admins demoting each other at the same moment
/// cannot both pass the "an active admin remains" check.
const ADMINS_LOCK_KEY: i64 = 0x6761_7465_6164_6d6e; // "gateadmn"

/// Refuses, before anything is written, a change that would leave no
/// active admin (from the CLI, or two admins acting on each other at
/// once); the caller's transaction is dropped, so nothing is recorded.
async fn ensure_an_active_admin_remains(
    txn: &DatabaseTransaction,
    target: &user::Model,
    active_after: bool,
    admin_after: bool,
) -> ServiceResult<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [ADMINS_LOCK_KEY.into()],
        ))
        .await?;
    }
    // SQLite needs no lock: its pool has one connection, so transactions
    // already run one at a time. Accounts are few; the roles are JSON, so
    // the admins are picked out here rather than in SQL on both backends.
    let standings: Vec<_> = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .all(txn)
        .await?
        .iter()
        .map(|account| account::AdminStanding {
            id: account.id,
            active: account.active,
            admin: roles_of(account).contains(roles::ADMIN),
        })
        .collect();
    let after = account::AdminStanding {
        id: target.id,
        active: active_after,
        admin: admin_after,
    };
    if account::leaves_an_active_admin(&standings, &target.id, &after) {
        Ok(())
    } else {
        Err(ServiceError::Conflict(format!(
            "{} is the last active admin account; make another account admin first",
            target.email
        )))
    }
}

pub async fn create(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    name: &str,
    email: &str,
    role_names: &[String],
) -> ServiceResult<user::Model> {
    caller.authorize(permissions::manage_accounts)?;
    account::validate_name(name)?;
    let email = account::normalize_email(email)?;
    let roles = roles::parse_roles(role_names)?;
    roles::check_separation(&roles, &policy.approval_roles())?;
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
    let active = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.trim().to_owned()),
        email: Set(email),
        roles: Set(json!(roles)),
        active: Set(true),
        created_at: Set(db::now()),
    };
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::USER_CREATED,
        "user",
        &preview.id.to_string(),
        &json!({"name": preview.name, "email": preview.email, "roles": roles}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.insert(recording).await
    })
    .await?;
    Ok(model)
}

pub async fn set_roles(
    db: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    user_id: Uuid,
    role_names: &[String],
) -> ServiceResult<user::Model> {
    caller.authorize(permissions::manage_accounts)?;
    let roles = roles::parse_roles(role_names)?;
    let approval_roles = policy.approval_roles();
    roles::check_separation(&roles, &approval_roles)?;
    let txn = db.begin().await?;
    let existing = find(&txn, user_id).await?;
    let before = roles_of(&existing);
    caller.authorize(|actor| {
        permissions::grant_roles(actor, user_id, &before, &roles, &approval_roles)
    })?;
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
    ensure_an_active_admin_remains(
        &txn,
        &existing,
        existing.active,
        roles.contains(roles::ADMIN),
    )
    .await?;
    let mut active: user::ActiveModel = existing.into();
    active.roles = Set(json!(roles));
    let event = audit::Event::new(
        caller,
        audit_action::USER_ROLES_CHANGED,
        "user",
        &user_id.to_string(),
        &json!({"before": before, "after": roles}),
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(model)
}

/// Deactivating keeps the account (history refers to it) and revokes
/// every token of it, in the same transaction: re-activating the account
/// later does not bring back credentials that may have leaked or been
/// handed on meanwhile; its owner is issued new ones.
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
    if !active_flag {
        let admin = roles_of(&existing).contains(roles::ADMIN);
        ensure_an_active_admin_remains(&txn, &existing, false, admin).await?;
    }
    let revoked = if active_flag {
        Vec::new()
    } else {
        revoke_all_tokens(&txn, user_id).await?
    };
    let mut active: user::ActiveModel = existing.into();
    active.active = Set(active_flag);
    let payload = if active_flag {
        json!({"active": true})
    } else {
        json!({"active": false, "revokedTokens": revoked})
    };
    let event = audit::Event::new(
        caller,
        if active_flag {
            audit_action::USER_ACTIVATED
        } else {
            audit_action::USER_DEACTIVATED
        },
        "user",
        &user_id.to_string(),
        &payload,
    );
    let model = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(model)
}

/// Revokes every token of `user_id` not yet revoked (expired ones too, so
/// none can come back) and returns their ids, for the deactivation's
/// audit event.
async fn revoke_all_tokens(txn: &DatabaseTransaction, user_id: Uuid) -> ServiceResult<Vec<Uuid>> {
    let live = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .all(txn)
        .await?;
    let ids: Vec<Uuid> = live.iter().map(|token| token.id).collect();
    if !ids.is_empty() {
        api_token::Entity::update_many()
            .col_expr(
                api_token::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(db::now()),
            )
            .filter(api_token::Column::Id.is_in(ids.clone()))
            .exec(txn)
            .await?;
    }
    Ok(ids)
}

pub async fn list(db: &DatabaseConnection, caller: &Caller) -> ServiceResult<Vec<user::Model>> {
    caller.authorize(permissions::read_accounts)?;
    Ok(user::Entity::find()
        .order_by_asc(user::Column::Email)
        .all(db)
        .await?)
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
    let active = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set("admin".into()),
        email: Set(BOOTSTRAP_EMAIL.into()),
        roles: Set(json!([roles::ADMIN])),
        active: Set(true),
        created_at: Set(db::now()),
    };
    let preview = active.clone().try_into_model()?;
    let recording = audit::recording(
        &txn,
        &caller,
        audit_action::USER_CREATED,
        "user",
        &preview.id.to_string(),
        &json!({"name": preview.name, "email": preview.email, "roles": [roles::ADMIN], "bootstrap": true}),
    );
    let admin = active.insert(&recording).await?;
    recording.finish().await?;
    let secret = supplied_token
        .map(str::to_owned)
        .unwrap_or_else(crate::auth::generate_token);
    accounts::insert_token(&txn, &caller, admin.id, "bootstrap", None, &secret).await?;
    audit::commit(txn, db).await?;
    Ok(supplied_token.is_none().then_some(secret))
}
