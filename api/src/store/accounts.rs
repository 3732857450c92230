//! Accounts and their tokens as more than one service reads or writes them:
//! finding an account, its roles, its standing on the board, and inserting
//! a token with its audit event.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{BoardRole, api_token, cab_member, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

use crate::domain::audit_action;
use crate::{
    auth,
    caller::Caller,
    db,
    domain::permissions::Standing,
    error::{ServiceError, ServiceResult},
    policy::BoardPolicy,
    store::audit,
};

pub fn roles_of(model: &user::Model) -> BTreeSet<String> {
    serde_json::from_value(model.roles.clone()).unwrap_or_default()
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

pub async fn insert_token(
    txn: &DatabaseTransaction,
    caller: &Caller,
    user_id: Uuid,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    secret: &str,
) -> ServiceResult<api_token::Model> {
    let id = Uuid::now_v7();
    let (issued_by, issued_by_label) = match caller {
        Caller::Account(actor) => (Some(actor.user_id), actor.email.clone()),
        Caller::Operator { label } => (None, label.clone()),
    };
    // The audit trail records that a token exists, never its secret or hash.
    let recording = audit::recording(
        txn,
        caller,
        audit_action::TOKEN_ISSUED,
        "token",
        &id.to_string(),
        &json!({"userId": user_id, "name": name, "expiresAt": expires_at,
                "issuedBy": issued_by, "issuedByLabel": issued_by_label}),
    );
    let token = api_token::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        secret_hash: Set(auth::hash_token(secret)),
        created_at: Set(db::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        issued_by: Set(issued_by),
        issued_by_label: Set(Some(issued_by_label)),
    }
    .insert(&recording)
    .await?;
    recording.finish().await?;
    Ok(token)
}

/// An account's standing as its records say now.
/// An account's standing with the seat it holds, where the seat still
/// counts under `board`: a seat the policy gives only to some roles
/// (`chair_roles`, ...) counts for nothing once its holder no longer
/// holds one of them, as it could not be given to them now.
pub fn standing_of(
    person: &user::Model,
    seat: Option<BoardRole>,
    board: Option<&BoardPolicy>,
) -> Standing {
    let roles = roles_of(person);
    let seat = seat.filter(|seat| {
        board
            .is_none_or(|board| crate::domain::permissions::take_seat(board, *seat, &roles).is_ok())
    });
    Standing {
        user_id: person.id,
        roles,
        active: person.active,
        seat,
    }
}

/// Reads an account's standing (roles, active state, seat under `board`)
/// in the transaction of the act that depends on it.
pub async fn standing<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    board: Option<&BoardPolicy>,
) -> ServiceResult<Standing> {
    let person = find(conn, user_id).await?;
    let seat = cab_member::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .map(|seat| seat.board_role);
    Ok(standing_of(&person, seat, board))
}
