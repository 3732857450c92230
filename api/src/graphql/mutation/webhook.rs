//! Outbound webhooks (admin).

use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ID, InputObject, Object};

use crate::{
    domain::webhooks::WebhookEvent,
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::webhook::Webhook,
    },
    service::webhooks,
};

#[derive(Default)]
pub struct WebhookMutation;

#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// Where deliveries are POSTed; loopback and private addresses are
    /// refused unless the operator allows them.
    pub url: String,
    pub events: Vec<WebhookEvent>,
    /// Signs each delivery (16 to 200 characters); never shown again.
    pub secret: String,
}

#[Object]
impl WebhookMutation {
    /// Subscribes a URL to events from now on (admin).
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> async_graphql::Result<Webhook> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        webhooks::create(
            &state.db,
            &caller,
            input.url.trim(),
            &input.events,
            &input.secret,
            state.webhooks_allow_private,
            state.clock.now(),
        )
        .await
        .map(Webhook)
        .gql()
    }

    /// Deletes a webhook and its delivery log; deliveries still owed are
    /// not sent (admin).
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        webhooks::delete(&state.db, &caller, parse_id(NodeType::Webhook, "id", &id)?)
            .await
            .map(|id| global_id(NodeType::Webhook, id))
            .gql()
    }
}
