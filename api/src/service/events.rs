//! Change events for live subscribers, raised only by committed writes.
//!
//! A write calls `stage` inside its transaction and `committed` after the
//! commit. On PostgreSQL `stage` issues `pg_notify`, which the database
//! delivers only if and when the transaction commits, to every Gatehouse
//! process LISTENing on the channel (this one included): one dedicated
//! listener connection per process fans the notifications out into a
//! bounded in-process broadcast channel. On SQLite (one process) `committed`
//! sends straight into that channel.
//!
//! Back-pressure: the channel holds `CAPACITY` events. Writers never wait
//! for subscribers; a subscriber that falls further behind loses its place
//! and receives one LAGGED error, then its stream ends (the client
//! resubscribes and reconciles with a `changes` query).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, change};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    sqlx::postgres::PgListener,
};
use serde::{Deserialize, Serialize};
use tokio::{sync::broadcast, task::JoinHandle};
use uuid::Uuid;

use super::Caller;
use crate::error::ServiceResult;

pub const CHANNEL: &str = "gatehouse_change_events";
pub const CAPACITY: usize = 1024;

/// What a subscriber learns about a write: identifiers, the action and the
/// statuses, never the change's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub change_id: Uuid,
    pub number: String,
    pub change_type: String,
    /// The audit action, e.g. `change.created`, `change.submitted`.
    pub action: String,
    pub status_before: Option<ChangeStatus>,
    pub status_after: ChangeStatus,
    /// The account's email, or the operator label for CLI writes.
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}

impl ChangeEvent {
    pub fn new(
        change: &change::Model,
        action: &str,
        status_before: Option<ChangeStatus>,
        caller: &Caller,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        let actor = match caller {
            Caller::Account(actor) => actor.email.clone(),
            Caller::Operator { label } => label.clone(),
        };
        Self {
            change_id: change.id,
            number: change.number.clone(),
            change_type: change.change_type.clone(),
            action: action.to_owned(),
            status_before,
            status_after: change.status,
            actor,
            occurred_at,
        }
    }
}

/// The process's event fan-out. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<ChangeEvent>,
    via_postgres: bool,
    _listener: Option<Arc<ListenerTask>>,
}

/// Stops the listener task when the last handle to the bus goes.
struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EventBus {
    /// In-process only (SQLite, and the CLI which has no subscribers).
    pub fn in_process() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self {
            sender,
            via_postgres: false,
            _listener: None,
        }
    }

    /// On PostgreSQL, LISTENs on a dedicated connection before returning, so
    /// no event committed after start-up is missed.
    pub async fn start(
        db: &DatabaseConnection,
        database_url: &str,
        received: impl Fn() + Send + 'static,
    ) -> anyhow::Result<Self> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(Self::in_process());
        }
        let mut listener = PgListener::connect(database_url).await?;
        listener.listen(CHANNEL).await?;
        let (sender, _) = broadcast::channel(CAPACITY);
        let fan_out = sender.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        match serde_json::from_str::<ChangeEvent>(notification.payload()) {
                            Ok(event) => {
                                received();
                                // No receivers is fine: nobody subscribes.
                                let _ = fan_out.send(event);
                            }
                            Err(error) => {
                                tracing::warn!(%error, "ignoring a malformed change event");
                            }
                        }
                    }
                    Err(error) => {
                        // sqlx reconnects (and re-LISTENs) on the next recv;
                        // events committed meanwhile are not replayed.
                        tracing::warn!(%error, "change event listener lost its connection");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self {
            sender,
            via_postgres: true,
            _listener: Some(Arc::new(ListenerTask(task))),
        })
    }

    /// Inside the write's transaction, before its commit.
    pub async fn stage(&self, txn: &DatabaseTransaction, event: &ChangeEvent) -> ServiceResult<()> {
        if self.via_postgres {
            let payload = serde_json::to_string(event).map_err(|e| {
                crate::error::ServiceError::Internal(format!("encoding a change event: {e}"))
            })?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// After the commit succeeded.
    pub fn committed(&self, event: ChangeEvent) {
        if !self.via_postgres {
            let _ = self.sender.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.sender.subscribe()
    }
}
