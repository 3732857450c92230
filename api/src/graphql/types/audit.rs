use async_graphql::{Context, Object, SimpleObject, types::Json};
use chrono::{DateTime, Utc};
use entity::audit_event;
use serde_json::Value;

use super::User;
use crate::{
    graphql::loaders::{Loaders, UserId},
    store::audit::Verification,
};

/// Result of recomputing the audit hash chain.
#[derive(SimpleObject)]
pub struct AuditVerification {
    /// True when every event's hash and link recomputes.
    pub ok: bool,
    /// Number of events verified (up to the first broken one).
    pub events: i64,
    /// Sequence number of the last event when the chain is intact.
    pub head_seq: Option<i64>,
    /// Hash of the last event when the chain is intact.
    pub head_hash: Option<String>,
    /// Sequence number of the first broken event.
    pub broken_at: Option<i64>,
    /// What is wrong at `broken_at`.
    pub reason: Option<String>,
}

impl From<Verification> for AuditVerification {
    fn from(verification: Verification) -> Self {
        match verification {
            Verification::Intact {
                events,
                head_seq,
                head_hash,
            } => Self {
                ok: true,
                events,
                head_seq: Some(head_seq),
                head_hash: Some(head_hash),
                broken_at: None,
                reason: None,
            },
            Verification::Broken(broken) => Self {
                ok: false,
                events: broken.seq - 1,
                head_seq: None,
                head_hash: None,
                broken_at: Some(broken.seq),
                reason: Some(broken.reason),
            },
        }
    }
}

/// One link of the append-only, hash-chained audit trail.
pub struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    /// Position in the chain, from 1, without gaps.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The account that acted; null for an operator at the command line.
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let Some(actor_id) = self.0.actor_id else {
            return Ok(None);
        };
        let loader = ctx.data::<Loaders>()?;
        Ok(loader.load_one(UserId(actor_id)).await?.map(User))
    }
    /// The actor's email when the event was written, or `cli:USER`.
    async fn actor_label(&self) -> &str {
        &self.0.actor_label
    }
    /// What happened, e.g. `change.created`, `user.roles_changed`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// Kind of record acted on: `change`, `system`, `user`, `api_token`.
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }
    async fn entity_id(&self) -> &str {
        &self.0.entity_id
    }
    /// What was recorded: the new record, or the changed fields with
    /// `before` and `after`.
    async fn payload(&self) -> Json<Value> {
        // The stored text is canonical JSON written by the server; should a
        // row ever hold something else, show it verbatim rather than fail.
        Json(
            serde_json::from_str(&self.0.payload)
                .unwrap_or_else(|_| Value::String(self.0.payload.clone())),
        )
    }
    /// Hash of the previous event (64 zeros for the first).
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    /// SHA-256 of this event's canonical encoding, as stored.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}
