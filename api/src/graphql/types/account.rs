use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{api_token, user};

use crate::service::users::roles_of;

pub struct User(pub user::Model);

/// An account.
#[Object]
impl User {
    pub async fn id(&self) -> ID {
        global_id(NodeType::User, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Role keys: built-in (admin, auditor, requester, change_manager) and
    /// the approver roles of the active policy.
    async fn roles(&self) -> Vec<String> {
        roles_of(&self.0).into_iter().collect()
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct ApiToken(pub api_token::Model);

/// A bearer token's metadata. The secret is never readable after issue.
#[Object]
impl ApiToken {
    pub async fn id(&self) -> ID {
        global_id(NodeType::ApiToken, self.0.id)
    }
    async fn user_id(&self) -> ID {
        global_id(NodeType::User, self.0.user_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// The account that issued the token; null when the operator issued it
    /// from the host (CLI, bootstrap) or it predates issuer tracking.
    async fn issued_by_id(&self) -> Option<ID> {
        self.0.issued_by.map(|id| global_id(NodeType::User, id))
    }
    /// The issuer as the audit trail names it: an email or `cli:<user>`.
    async fn issued_by_label(&self) -> Option<&str> {
        self.0.issued_by_label.as_deref()
    }
    /// Neither revoked nor expired.
    async fn active(&self) -> bool {
        self.0.revoked_at.is_none() && self.0.expires_at.is_none_or(|expiry| expiry > Utc::now())
    }
}

/// A token just issued. `secret` is shown this once; store it now.
#[derive(SimpleObject)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}
