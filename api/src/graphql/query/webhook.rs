//! Outbound webhooks and their delivery logs (admin, auditor).

use async_graphql::{Context, Object};

use crate::{
    error::GqlResultExt,
    graphql::{context::ContextExt, types::webhook::Webhook},
    service::webhooks,
};

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every webhook (admin, auditor).
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        webhooks::list(&state.db, &caller)
            .await
            .map(|rows| rows.into_iter().map(Webhook).collect())
            .gql()
    }
}
