use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, Object};

use crate::{
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::{ApiToken, User},
    },
    service::{tokens, users},
};

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The account the request's token belongs to.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let actor = ctx.actor()?;
        let db = &ctx.state()?.db;
        users::find(db, actor.user_id).await.map(User).gql()
    }

    /// All accounts (admin, auditor).
    async fn users(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let caller = ctx.caller()?;
        let db = &ctx.state()?.db;
        Ok(users::list(db, &caller)
            .await
            .gql()?
            .into_iter()
            .map(User)
            .collect())
    }

    /// Tokens of an account; your own when `userId` is omitted.
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> async_graphql::Result<Vec<ApiToken>> {
        let caller = ctx.caller()?;
        let owner = match &user_id {
            Some(id) => parse_id(NodeType::User, "userId", id)?,
            None => ctx.actor()?.user_id,
        };
        let db = &ctx.state()?.db;
        Ok(tokens::list(db, &caller, owner)
            .await
            .gql()?
            .into_iter()
            .map(ApiToken)
            .collect())
    }
}
