use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use crate::{
    domain::timestamps,
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::{ApiToken, IssuedToken, User},
    },
    service::{tokens, users},
};

#[derive(Default)]
pub struct AccountMutation;

#[derive(InputObject)]
pub struct CreateUserInput {
    pub name: String,
    pub email: String,
    /// Role keys, e.g. ["requester", "change_manager"].
    pub roles: Vec<String>,
}

#[Object]
impl AccountMutation {
    /// Creates an account (admin).
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<User> {
        let caller = ctx.caller()?;
        let state = ctx.state()?;
        users::create(
            &state.db,
            &state.policy,
            &caller,
            &input.name,
            &input.email,
            &input.roles,
        )
        .await
        .map(User)
        .gql()
    }

    /// Replaces an account's roles (admin).
    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        roles: Vec<String>,
    ) -> async_graphql::Result<User> {
        let caller = ctx.caller()?;
        let state = ctx.state()?;
        let user_id = parse_id(NodeType::User, "userId", &user_id)?;
        users::set_roles(&state.db, &state.policy, &caller, user_id, &roles)
            .await
            .map(User)
            .gql()
    }

    /// Disables an account and revokes all its tokens (admin).
    async fn deactivate_user(&self, ctx: &Context<'_>, user_id: ID) -> async_graphql::Result<User> {
        let caller = ctx.caller()?;
        let db = &ctx.state()?.db;
        let user_id = parse_id(NodeType::User, "userId", &user_id)?;
        users::set_active(db, &caller, user_id, false)
            .await
            .map(User)
            .gql()
    }

    /// Re-enables an account (admin). Its old tokens stay revoked.
    async fn activate_user(&self, ctx: &Context<'_>, user_id: ID) -> async_graphql::Result<User> {
        let caller = ctx.caller()?;
        let db = &ctx.state()?.db;
        let user_id = parse_id(NodeType::User, "userId", &user_id)?;
        users::set_active(db, &caller, user_id, true)
            .await
            .map(User)
            .gql()
    }

    /// Issues a token for yourself (`userId` omitted or your own), or, by
    /// an admin, for a service account (role `service`). A person's first
    /// token is issued by the operator: `gatehouse tokens issue`. The
    /// secret is in the response only.
    async fn issue_token(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        name: String,
        expires_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<IssuedToken> {
        timestamps::check_optional("expiresAt", expires_at).gql()?;
        let caller = ctx.caller()?;
        let owner = match &user_id {
            Some(id) => parse_id(NodeType::User, "userId", id)?,
            None => ctx.actor()?.user_id,
        };
        let db = &ctx.state()?.db;
        let issued = tokens::issue(db, &caller, owner, &name, expires_at)
            .await
            .gql()?;
        Ok(IssuedToken {
            token: ApiToken(issued.token),
            secret: issued.secret,
        })
    }

    /// Revokes a token; it stops working immediately.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiToken> {
        let caller = ctx.caller()?;
        let db = &ctx.state()?.db;
        let id = parse_id(NodeType::ApiToken, "id", &id)?;
        tokens::revoke(db, &caller, id).await.map(ApiToken).gql()
    }
}
