//! Outbound webhooks and their delivery logs (never their secrets).

use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{webhook, webhook_delivery};

use crate::{
    domain::webhooks::WebhookEvent, error::GqlResultExt, graphql::context::ContextExt,
    service::webhooks,
};

pub struct Webhook(pub webhook::Model);

/// An outside URL that receives events, signed with its secret
/// (`X-Gatehouse-Signature`).
#[Object]
impl Webhook {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Webhook, self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn events(&self) -> Vec<WebhookEvent> {
        webhooks::kinds(&self.0)
    }
    /// False once disabled after repeated failed deliveries.
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    /// Failed attempts in a row, over all of its deliveries.
    async fn consecutive_failures(&self) -> i32 {
        self.0.consecutive_failures
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Its latest deliveries, newest first: the delivery log.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<WebhookDelivery>> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        webhooks::deliveries(&state.db, &caller, self.0.id, first as u64)
            .await
            .map(|rows| rows.into_iter().map(WebhookDelivery).collect())
            .gql()
    }
}

pub struct WebhookDelivery(pub webhook_delivery::Model);

/// One event owed to a webhook, and how sending it went.
#[Object]
impl WebhookDelivery {
    pub async fn id(&self) -> ID {
        global_id(NodeType::WebhookDelivery, self.0.id)
    }
    /// The audit action it carries (`change.submitted`).
    async fn event(&self) -> &str {
        &self.0.event
    }
    /// The audit event's sequence number.
    async fn seq(&self) -> i64 {
        self.0.event_seq
    }
    /// `PENDING`, `DELIVERED` or `FAILED` (given up).
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn next_attempt_at(&self) -> DateTime<Utc> {
        self.0.next_attempt_at
    }
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
}
