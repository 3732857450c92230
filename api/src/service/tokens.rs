//! API tokens: issue, revoke, list, and authenticating a request.

use chrono::{DateTime, Utc};
use entity::{api_token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait, TryIntoModel,
};
use serde_json::json;
use uuid::Uuid;

use crate::caller::Caller;
use crate::domain::audit_action;
use crate::store::accounts;
use crate::store::audit;
use crate::{
    auth::{self, Actor, Credential},
    db,
    domain::{ValidationError, permissions, required_text},
    error::{ServiceError, ServiceResult},
};

/// A token as just issued: the secret exists only in this value.
pub struct IssuedToken {
    pub token: api_token::Model,
    pub secret: String,
}

pub async fn issue(
    db: &DatabaseConnection,
    caller: &Caller,
    user_id: Uuid,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> ServiceResult<IssuedToken> {
    caller.authorize(|actor| permissions::manage_tokens_of(actor, user_id))?;
    required_text("name", name, 200)?;
    if let Some(expiry) = expires_at
        && expiry <= Utc::now()
    {
        return Err(ValidationError::new("expiresAt", "must be in the future").into());
    }
    let txn = db.begin().await?;
    let owner = accounts::find(&txn, user_id).await?;
    // Read in the transaction that inserts the token, so the owner's roles
    // checked are the ones it is issued under.
    caller.authorize(|actor| {
        permissions::issue_token_for(actor, user_id, &accounts::roles_of(&owner))
    })?;
    if !owner.active {
        return Err(ServiceError::validation(
            "userId",
            "the account is deactivated",
        ));
    }
    let secret = auth::generate_token();
    let token =
        accounts::insert_token(&txn, caller, user_id, name.trim(), expires_at, &secret).await?;
    audit::commit(txn, db).await?;
    Ok(IssuedToken { token, secret })
}

pub async fn revoke(
    db: &DatabaseConnection,
    caller: &Caller,
    token_id: Uuid,
) -> ServiceResult<api_token::Model> {
    let txn = db.begin().await?;
    let token = api_token::Entity::find_by_id(token_id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "token" })?;
    caller.authorize(|actor| permissions::manage_tokens_of(actor, token.user_id))?;
    if token.revoked_at.is_some() {
        return Ok(token);
    }
    let mut active: api_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(db::now()));
    let preview = active.clone().try_into_model()?;
    let event = audit::Event::new(
        caller,
        audit_action::TOKEN_REVOKED,
        "token",
        &token_id.to_string(),
        &json!({"userId": preview.user_id, "name": preview.name}),
    );
    let token = audit::write(txn, db, event, async move |recording| {
        active.update(recording).await
    })
    .await?;
    Ok(token)
}

pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    user_id: Uuid,
) -> ServiceResult<Vec<api_token::Model>> {
    caller.authorize(|actor| permissions::read_tokens_of(actor, user_id))?;
    Ok(api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user_id))
        .order_by_asc(api_token::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Resolves a bearer secret to its account. Unknown, revoked and expired
/// tokens and deactivated accounts all give the same answer, so a caller
/// learns nothing about which it was.
pub async fn authenticate(db: &DatabaseConnection, secret: &str) -> ServiceResult<Actor> {
    Ok(authenticate_until(db, secret).await?.0)
}

/// [`authenticate`], also returning when the token expires (for callers
/// that remember the result).
pub async fn authenticate_until(
    db: &DatabaseConnection,
    secret: &str,
) -> ServiceResult<(Actor, Option<DateTime<Utc>>)> {
    if secret.len() > 256 {
        return Err(ServiceError::Unauthenticated);
    }
    let found = api_token::Entity::find()
        .filter(api_token::Column::SecretHash.eq(auth::hash_token(secret)))
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    let Some((token, Some(account))) = found else {
        return Err(ServiceError::Unauthenticated);
    };
    let expired = token.expires_at.is_some_and(|expiry| expiry <= Utc::now());
    let roles = accounts::roles_of(&account);
    if token.revoked_at.is_some()
        || expired
        || !account.active
        || !permissions::token_acts(token.issued_by, account.id, &roles)
    {
        return Err(ServiceError::Unauthenticated);
    }
    let actor = Actor {
        user_id: account.id,
        roles,
        name: account.name,
        email: account.email,
        credential: Some(Credential {
            token_id: token.id,
            issued_by: token.issued_by,
            issued_by_label: token.issued_by_label,
        }),
    };
    Ok((actor, token.expires_at))
}
