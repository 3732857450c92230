use async_graphql::{Context, Object};

use crate::{graphql::context::ContextExt, policy::Policy};

#[derive(Default)]
pub struct PolicyQuery;

#[Object]
impl PolicyQuery {
    /// The change-management policy in force.
    async fn policy(&self, ctx: &Context<'_>) -> async_graphql::Result<Policy> {
        ctx.actor()?;
        Ok(ctx.state()?.policy.as_ref().clone())
    }
}
