//! The outbound webhooks' dispatcher: one task per process that fills each
//! active webhook's outbox from the audit trail and sends what is due.
//!
//! Durable and at least once: a delivery is a row (`webhook_deliveries`)
//! before anything is sent, and it stays `PENDING` until a receiver
//! answered 2xx, across restarts. One sender per delivery, however many
//! replicas run: the outbox rows are unique per (webhook, audit event), so
//! replicas filling it at once store each once; and a replica sends a row
//! only after claiming it with a conditional update (`locked_until`),
//! which exactly one of them wins. A replica that dies mid-send leaves the
//! claim to expire and another sends it again: at least once, never by two
//! at the same time.
//!
//! Each attempt re-checks where the URL points (a name may resolve
//! elsewhere since the webhook was created) and connects to the address it
//! checked, follows no redirects, and gives up after a timeout. Failures
//! are retried with exponential backoff (`domain::webhooks::backoff`); a
//! delivery is given up after `MAX_ATTEMPTS`, and a webhook failing
//! `DISABLE_AFTER_FAILURES` times in a row is disabled, with an audit
//! event saying why.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{audit_event, webhook, webhook_delivery};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    caller::Caller,
    clock::Clock,
    config::WebhookSettings,
    domain::{
        audit_action,
        webhooks::{self as rules},
    },
    error::ServiceResult,
    service::webhooks::{kinds, permitted_addresses},
    store::audit,
};

/// Audit events read per webhook and pass.
const BATCH: u64 = 200;
/// Deliveries sent per pass.
const SEND_BATCH: u64 = 50;
/// How long a claim lasts: longer than an attempt can take.
const CLAIM: chrono::Duration = chrono::Duration::seconds(60);
/// The longest an attempt waits for the receiver.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an error or answer kept in the log.
const LOGGED_CHARS: usize = 500;

pub const PENDING: &str = "PENDING";
pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";

pub struct Dispatcher {
    db: DatabaseConnection,
    settings: WebhookSettings,
    clock: Clock,
}

/// Starts the dispatcher of this process.
pub fn spawn(db: &DatabaseConnection, settings: &WebhookSettings, clock: &Clock) -> JoinHandle<()> {
    let dispatcher = Dispatcher {
        db: db.clone(),
        settings: settings.clone(),
        clock: clock.clone(),
    };
    tokio::spawn(async move {
        loop {
            if let Err(error) = dispatcher.pass().await {
                tracing::warn!(error = %error, "webhook dispatch pass failed; retrying");
            }
            tokio::time::sleep(dispatcher.settings.poll).await;
        }
    })
}

impl Dispatcher {
    /// One pass: fill the outboxes, then send what is due.
    pub async fn pass(&self) -> ServiceResult<()> {
        let webhooks = webhook::Entity::find()
            .filter(webhook::Column::Active.eq(true))
            .all(&self.db)
            .await?;
        for hook in &webhooks {
            self.fill(hook).await?;
        }
        self.send_due().await
    }

    /// Puts the audit events after the webhook's `last_seq` that it
    /// subscribes to into its outbox, and moves `last_seq` past them.
    async fn fill(&self, hook: &webhook::Model) -> ServiceResult<()> {
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gt(hook.last_seq))
            .order_by_asc(audit_event::Column::Seq)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let wanted = kinds(hook);
        let now = self.clock.now();
        let rows: Vec<webhook_delivery::ActiveModel> = events
            .iter()
            .filter_map(|event| {
                let kind = rules::kind_of(&event.entity_type, &event.action)?;
                wanted.contains(&kind).then(|| {
                    let id = Uuid::now_v7();
                    let data: serde_json::Value =
                        serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
                    let body = json!({
                        "delivery": id,
                        "webhook": hook.id,
                        "kind": kind,
                        "event": event.action,
                        "seq": event.seq,
                        "occurredAt": event.occurred_at,
                        "entityType": event.entity_type,
                        "entityId": event.entity_id,
                        "actor": event.actor_label,
                        "data": data,
                    });
                    webhook_delivery::ActiveModel {
                        id: Set(id),
                        webhook_id: Set(hook.id),
                        event_seq: Set(event.seq),
                        event: Set(event.action.clone()),
                        payload: Set(body.to_string()),
                        status: Set(PENDING.to_owned()),
                        attempts: Set(0),
                        next_attempt_at: Set(now),
                        locked_until: Set(None),
                        last_attempt_at: Set(None),
                        last_status_code: Set(None),
                        last_error: Set(None),
                        delivered_at: Set(None),
                        created_at: Set(now),
                    }
                })
            })
            .collect();
        let txn = self.db.begin().await?;
        if !rows.is_empty() {
            // Another replica may have filled the same events: those rows
            // stay as they are.
            webhook_delivery::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    webhook_delivery::Column::WebhookId,
                    webhook_delivery::Column::EventSeq,
                ])
                .exec(&txn)
                .await?;
        }
        webhook::Entity::update_many()
            .col_expr(webhook::Column::LastSeq, Expr::value(last))
            .filter(webhook::Column::Id.eq(hook.id))
            .filter(webhook::Column::LastSeq.lt(last))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Sends the deliveries that are due, each claimed first.
    async fn send_due(&self) -> ServiceResult<()> {
        let now = self.clock.now();
        let due = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Status.eq(PENDING))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(unclaimed(now))
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .order_by_asc(webhook_delivery::Column::EventSeq)
            .limit(SEND_BATCH)
            .all(&self.db)
            .await?;
        for delivery in due {
            let claimed = webhook_delivery::Entity::update_many()
                .col_expr(
                    webhook_delivery::Column::LockedUntil,
                    Expr::value(Some(now + CLAIM)),
                )
                .filter(webhook_delivery::Column::Id.eq(delivery.id))
                .filter(webhook_delivery::Column::Status.eq(PENDING))
                .filter(unclaimed(now))
                .exec(&self.db)
                .await?;
            if claimed.rows_affected == 0 {
                continue;
            }
            let Some(hook) = webhook::Entity::find_by_id(delivery.webhook_id)
                .one(&self.db)
                .await?
            else {
                continue;
            };
            if !hook.active {
                continue;
            }
            let outcome = self.attempt(&hook, &delivery).await;
            self.settle(&hook, delivery, outcome).await?;
        }
        Ok(())
    }

    /// One attempt: `Ok(status)` for a 2xx answer, `Err((status, why))`
    /// otherwise.
    async fn attempt(
        &self,
        hook: &webhook::Model,
        delivery: &webhook_delivery::Model,
    ) -> Result<u16, (Option<u16>, String)> {
        let addresses = permitted_addresses(&hook.url, self.settings.allow_private)
            .await
            .map_err(|e| (None, e.message))?;
        let (host, _) = rules::host_and_port(&hook.url)
            .ok_or_else(|| (None, "the URL names no host".to_owned()))?;
        // Connect to the address just checked, not to whatever the name
        // resolves to a moment later.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .resolve(&host, addresses[0])
            .build()
            .map_err(|e| (None, e.to_string()))?;
        let sent_at = self.clock.now().timestamp();
        let response = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("user-agent", "Gatehouse-Webhooks/1")
            .header("x-gatehouse-event", &delivery.event)
            .header("x-gatehouse-delivery", delivery.id.to_string())
            .header(
                rules::SIGNATURE_HEADER,
                rules::signature(&hook.secret, sent_at, &delivery.payload),
            )
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| (None, clipped(&e.to_string())))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            let text = response.text().await.unwrap_or_default();
            Err((Some(status), clipped(&format!("HTTP {status}: {text}"))))
        }
    }

    /// Records an attempt's outcome on the delivery and the webhook.
    async fn settle(
        &self,
        hook: &webhook::Model,
        delivery: webhook_delivery::Model,
        outcome: Result<u16, (Option<u16>, String)>,
    ) -> ServiceResult<()> {
        let now = self.clock.now();
        let attempts = delivery.attempts.saturating_add(1);
        let txn = self.db.begin().await?;
        let mut row: webhook_delivery::ActiveModel = delivery.into();
        row.attempts = Set(attempts);
        row.last_attempt_at = Set(Some(now));
        row.locked_until = Set(None);
        let failures = match &outcome {
            Ok(status) => {
                row.status = Set(DELIVERED.to_owned());
                row.delivered_at = Set(Some(now));
                row.last_status_code = Set(Some(i32::from(*status)));
                row.last_error = Set(None);
                0
            }
            Err((status, why)) => {
                row.last_status_code = Set(status.map(i32::from));
                row.last_error = Set(Some(why.clone()));
                if attempts >= rules::MAX_ATTEMPTS {
                    row.status = Set(FAILED.to_owned());
                } else {
                    row.next_attempt_at =
                        Set(now + rules::backoff(attempts, retry_base(&self.settings)));
                }
                hook.consecutive_failures.saturating_add(1)
            }
        };
        row.update(&txn).await?;
        let disable = failures >= rules::DISABLE_AFTER_FAILURES;
        let mut update = webhook::Entity::update_many()
            .col_expr(webhook::Column::ConsecutiveFailures, Expr::value(failures))
            .filter(webhook::Column::Id.eq(hook.id));
        if disable {
            let reason = format!(
                "disabled after {failures} failed attempts in a row; the last: {}",
                outcome
                    .as_ref()
                    .err()
                    .map(|(_, why)| why.as_str())
                    .unwrap_or_default()
            );
            update = update
                .col_expr(webhook::Column::Active, Expr::value(false))
                .col_expr(
                    webhook::Column::DisabledReason,
                    Expr::value(Some(reason.clone())),
                );
            audit::append(
                &txn,
                &Caller::Operator {
                    label: "webhook dispatcher".into(),
                },
                audit_action::WEBHOOK_DISABLED,
                "webhook",
                &hook.id.to_string(),
                &json!({"url": hook.url, "reason": reason}),
            )
            .await?;
        }
        update.exec(&txn).await?;
        audit::commit(txn, &self.db).await?;
        if disable {
            tracing::warn!(webhook = %hook.id, "webhook disabled after repeated failed deliveries");
        }
        Ok(())
    }
}

fn unclaimed(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(webhook_delivery::Column::LockedUntil.is_null())
        .add(webhook_delivery::Column::LockedUntil.lt(now))
}

fn retry_base(settings: &WebhookSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.retry_base).unwrap_or(chrono::Duration::seconds(10))
}

fn clipped(text: &str) -> String {
    text.chars().take(LOGGED_CHARS).collect()
}
