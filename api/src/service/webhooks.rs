//! Outbound webhooks: subscriptions an admin sets up, and their delivery
//! logs. Sending is `crate::outbound`'s, from the outbox this module's
//! subscriptions fill.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{webhook, webhook_delivery};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    caller::Caller,
    domain::{
        ValidationError, audit_action, permissions,
        webhooks::{self as rules, WebhookEvent},
    },
    error::{ServiceError, ServiceResult},
    store::audit,
};

/// The longest a webhook's host name may take to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The addresses `url`'s host resolves to, each allowed unless private
/// addresses are allowed (`domain::webhooks::is_private`).
pub async fn permitted_addresses(
    url: &str,
    allow_private: bool,
) -> Result<Vec<std::net::SocketAddr>, ValidationError> {
    let (host, port) = rules::host_and_port(url)
        .ok_or_else(|| ValidationError::new("url", "must name a host and a valid port"))?;
    let addresses: Vec<std::net::SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![(ip, port).into()],
        // Bounded: a name server that does not answer must not hold the
        // request (or a delivery attempt) for its own timeouts.
        Err(_) => tokio::time::timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| ValidationError::new("url", format!("{host} did not resolve in time")))?
        .map_err(|_| ValidationError::new("url", format!("{host} does not resolve")))?
        .collect(),
    };
    if addresses.is_empty() {
        return Err(ValidationError::new(
            "url",
            format!("{host} does not resolve"),
        ));
    }
    if !allow_private && let Some(private) = addresses.iter().find(|a| rules::is_private(a.ip())) {
        return Err(ValidationError::new(
            "url",
            format!(
                "{host} is a loopback or private address ({}); set GATEHOUSE_WEBHOOK_ALLOW_PRIVATE to allow it",
                private.ip()
            ),
        ));
    }
    Ok(addresses)
}

pub async fn create(
    db: &DatabaseConnection,
    caller: &Caller,
    url: &str,
    events: &[WebhookEvent],
    secret: &str,
    allow_private: bool,
    now: DateTime<Utc>,
) -> ServiceResult<webhook::Model> {
    caller.authorize(permissions::manage_webhooks)?;
    rules::check_url(url)?;
    let mut kinds = events.to_vec();
    kinds.sort_by_key(|k| format!("{k:?}"));
    kinds.dedup();
    if kinds.is_empty() {
        return Err(ServiceError::validation(
            "events",
            "name at least one kind of event",
        ));
    }
    if secret.trim().len() < 16 || secret.len() > 200 {
        return Err(ServiceError::validation(
            "secret",
            "must be 16 to 200 characters",
        ));
    }
    permitted_addresses(url, allow_private).await?;
    let txn = db.begin().await?;
    // From now on: events already recorded are not sent.
    let head = audit::chain::head(&txn).await?.map_or(0, |(seq, _)| seq);
    let id = Uuid::now_v7();
    let event = audit::Event::new(
        caller,
        audit_action::WEBHOOK_CREATED,
        "webhook",
        &id.to_string(),
        &json!({"url": url, "events": kinds, "fromSeq": head}),
    );
    let active = webhook::ActiveModel {
        id: Set(id),
        url: Set(url.to_owned()),
        events: Set(json!(kinds)),
        secret: Set(secret.to_owned()),
        active: Set(true),
        disabled_reason: Set(None),
        consecutive_failures: Set(0),
        last_seq: Set(head),
        created_by: Set(caller.account().map(|a| a.user_id)),
        created_at: Set(now),
    };
    audit::write(txn, db, event, async move |recording| {
        active.insert(recording).await
    })
    .await
}

pub async fn delete(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> ServiceResult<Uuid> {
    caller.authorize(permissions::manage_webhooks)?;
    let txn = db.begin().await?;
    let existing = webhook::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "webhook" })?;
    // The log goes with it: deliveries still owed are not sent.
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::WebhookId.eq(id))
        .exec(&txn)
        .await?;
    let event = audit::Event::new(
        caller,
        audit_action::WEBHOOK_DELETED,
        "webhook",
        &id.to_string(),
        &json!({"url": existing.url}),
    );
    audit::write(txn, db, event, async move |recording| {
        existing.delete(recording).await
    })
    .await?;
    Ok(id)
}

pub async fn list(db: &DatabaseConnection, caller: &Caller) -> ServiceResult<Vec<webhook::Model>> {
    caller.authorize(permissions::read_webhooks)?;
    Ok(webhook::Entity::find()
        .order_by_asc(webhook::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A webhook's latest deliveries, newest first.
pub async fn deliveries(
    db: &DatabaseConnection,
    caller: &Caller,
    webhook_id: Uuid,
    first: u64,
) -> ServiceResult<Vec<webhook_delivery::Model>> {
    caller.authorize(permissions::read_webhooks)?;
    Ok(webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .order_by_desc(webhook_delivery::Column::EventSeq)
        .limit(first)
        .all(db)
        .await?)
}

/// The kinds a stored webhook subscribes to.
pub fn kinds(model: &webhook::Model) -> Vec<WebhookEvent> {
    serde_json::from_value(model.events.clone()).unwrap_or_default()
}
