//! Change events for live subscribers, raised only by committed writes.
//!
//! Every event is built from the audit event that records its write and
//! carries its sequence number. On SQLite (one process) the write links its
//! audit event in its own transaction and calls `committed` after the
//! commit, which sends straight into a bounded in-process broadcast channel.
//! On PostgreSQL the audit sealer (`audit::seal`) issues `pg_notify` in the
//! transaction that links events into the chain (`notify_sealed`); the
//! database delivers the notifications only if and when it commits, to every
//! Gatehouse process LISTENing on the channel (this one included), whose one
//! dedicated listener connection fans them out into that channel. Seals are
//! serialised, so notifications arrive in sequence order. When the listener's connection drops, events
//! committed before it is back would be lost: after every (re)connection
//! the listener re-reads the audit trail past the last sequence number it
//! delivered and delivers those events first, then drops notifications at
//! or below it, so subscribers get every event once, in order.
//!
//! Back-pressure: the channel holds `CAPACITY` events. Writers never wait
//! for subscribers; a subscriber that falls further behind loses its place
//! and receives one LAGGED error, then its stream ends (the client
//! resubscribes and reconciles with a `changes` query).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{ChangeStatus, audit_event, change};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
    sqlx::{
        self,
        postgres::{PgConnectOptions, PgListener, PgPoolOptions},
    },
};
use serde::{Deserialize, Serialize};
use tokio::{sync::broadcast, task::JoinHandle};
use uuid::Uuid;

use super::audit::chain;
use crate::domain::audit_action;
use crate::error::ServiceResult;

pub const CHANNEL: &str = "gatehouse_change_events";
pub const CAPACITY: usize = 1024;
/// The listener connection's `application_name`, so operators (and the
/// reconnect test) can find it in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "gatehouse-events";
/// Audit rows read per query while catching up.
const REPLAY_BATCH: u64 = 500;
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

pub const CREATED: &str = audit_action::CHANGE_CREATED;
pub const UPDATED: &str = audit_action::CHANGE_UPDATED;
/// Audit actions on changes that raise no event: an import writes history
/// in bulk from the CLI, not live activity; a gate check reads the change
/// and changes nothing about it.
const NOT_PUBLISHED: &[&str] = &[
    audit_action::CHANGE_IMPORTED,
    audit_action::CHANGE_GATE_CHECKED,
];

/// What a subscriber learns about a write: identifiers, the action and the
/// statuses, never the change's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// The sequence number of the audit event recording the write.
    pub seq: i64,
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
    /// The event of a write: the change as written and the audit event
    /// recording it (which gives the action, the actor and the time, so a
    /// replay from the audit trail rebuilds the very same event).
    pub fn new(
        change: &change::Model,
        audit: &audit_event::Model,
        status_before: Option<ChangeStatus>,
    ) -> Self {
        Self {
            seq: audit.seq,
            change_id: change.id,
            number: change.number.clone(),
            change_type: change.change_type.clone(),
            action: audit.action.clone(),
            status_before,
            status_after: change.status,
            actor: audit.actor_label.clone(),
            occurred_at: audit.occurred_at,
        }
    }

    /// The event an audit event raised, `None` for one that raises none.
    /// The change's type is not in every payload; it is the change's
    /// current type (a type only changes by editing a draft).
    pub fn from_audit(audit: &audit_event::Model, change_type: &str) -> Option<Self> {
        if audit.entity_type != "change" || NOT_PUBLISHED.contains(&audit.action.as_str()) {
            return None;
        }
        let payload: serde_json::Value = serde_json::from_str(&audit.payload).ok()?;
        let status = |key: &str| {
            payload
                .get(key)
                .and_then(|v| serde_json::from_value::<ChangeStatus>(v.clone()).ok())
        };
        let (status_before, status_after) = match audit.action.as_str() {
            CREATED => (None, status("status")?),
            UPDATED => {
                // Only drafts can be edited; older edits did not record it.
                let status = status("status").unwrap_or(ChangeStatus::Draft);
                (Some(status), status)
            }
            _ => (Some(status("statusBefore")?), status("statusAfter")?),
        };
        Some(Self {
            seq: audit.seq,
            change_id: audit.entity_id.parse().ok()?,
            number: payload.get("number")?.as_str()?.to_owned(),
            change_type: change_type.to_owned(),
            action: audit.action.clone(),
            status_before,
            status_after,
            actor: audit.actor_label.clone(),
            occurred_at: audit.occurred_at,
        })
    }
}

/// Notifies every listening process of the change events among `sealed`,
/// audit events just linked into the chain in `txn` (PostgreSQL). The
/// database delivers the notifications when `txn` commits, in the order
/// sent, and seals are serialised, so listeners receive events in `seq`
/// order.
pub async fn notify_sealed(
    txn: &DatabaseTransaction,
    sealed: &[audit_event::Model],
) -> ServiceResult<()> {
    let published: Vec<&audit_event::Model> = sealed
        .iter()
        .filter(|event| {
            event.entity_type == "change" && !NOT_PUBLISHED.contains(&event.action.as_str())
        })
        .collect();
    if published.is_empty() {
        return Ok(());
    }
    let types = change_types(txn, published.iter().map(|event| event.entity_id.as_str())).await?;
    let mut payloads = Vec::with_capacity(published.len());
    for audit in published {
        let Some(event) = audit
            .entity_id
            .parse::<Uuid>()
            .ok()
            .and_then(|id| ChangeEvent::from_audit(audit, types.get(&id)?))
        else {
            continue;
        };
        payloads.push(serde_json::to_string(&event).map_err(|e| {
            crate::error::ServiceError::internal_from("encoding a change event", e)
        })?);
    }
    if payloads.is_empty() {
        return Ok(());
    }
    // One statement for the batch; notifications go out in array order,
    // which is chain order.
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS payload",
        [CHANNEL.into(), payloads.into()],
    ))
    .await?;
    Ok(())
}

/// The current type of each change named by id.
async fn change_types<'a, C: ConnectionTrait>(
    conn: &C,
    ids: impl Iterator<Item = &'a str>,
) -> ServiceResult<std::collections::HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = ids.filter_map(|id| id.parse().ok()).collect();
    Ok(change::Entity::find()
        .select_only()
        .column(change::Column::Id)
        .column(change::Column::ChangeType)
        .filter(change::Column::Id.is_in(ids))
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The events raised after audit sequence number `after`, oldest first,
/// from at most `limit` audit rows, and the sequence number of the last
/// row read (`None`: nothing after `after`).
pub async fn raised_after<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    limit: u64,
) -> ServiceResult<(Vec<ChangeEvent>, Option<i64>)> {
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.gt(after))
        .filter(audit_event::Column::EntityType.eq("change"))
        .filter(audit_event::Column::Action.is_not_in(NOT_PUBLISHED.iter().copied()))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?;
    let types = change_types(conn, rows.iter().map(|row| row.entity_id.as_str())).await?;
    let events = rows
        .iter()
        .filter_map(|row| {
            let id: Uuid = row.entity_id.parse().ok()?;
            ChangeEvent::from_audit(row, types.get(&id)?)
        })
        .collect();
    Ok((events, rows.last().map(|row| row.seq)))
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

    /// On PostgreSQL, LISTENs on a dedicated connection before returning;
    /// every event committed after start-up reaches this process's
    /// subscribers, across reconnections of that connection.
    pub async fn start(
        db: &DatabaseConnection,
        database_url: &str,
        received: impl Fn() + Send + 'static,
    ) -> anyhow::Result<Self> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(Self::in_process());
        }
        // Read before LISTEN: the first catch-up then covers whatever
        // commits in between.
        let last_seq = chain::head(db).await?.map_or(0, |(seq, _)| seq);
        let options: PgConnectOptions = database_url.parse()?;
        let options = options.application_name(LISTENER_APPLICATION_NAME);
        let listener = connect_listener(&options).await?;
        let (sender, _) = broadcast::channel(CAPACITY);
        let task = tokio::spawn(
            Listener {
                db: db.clone(),
                options,
                last_seq,
                fan_out: sender.clone(),
                received,
            }
            .run(listener),
        );
        Ok(Self {
            sender,
            via_postgres: true,
            _listener: Some(Arc::new(ListenerTask(task))),
        })
    }

    /// After the commit of a write whose audit event was linked in its
    /// transaction (SQLite, one process): sends the event to this
    /// process's subscribers. On PostgreSQL the event is `None` here: the
    /// audit sealer notifies every process, this one included, in the
    /// transaction that links the event into the chain.
    pub fn committed(&self, event: Option<ChangeEvent>) {
        if let Some(event) = event
            && !self.via_postgres
        {
            let _ = self.sender.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.sender.subscribe()
    }
}

/// One connection, LISTENing on `CHANNEL`, that is never recycled.
async fn connect_listener(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The LISTEN side of one process (PostgreSQL).
struct Listener<F> {
    db: DatabaseConnection,
    options: PgConnectOptions,
    /// The newest event delivered (or present at start-up).
    last_seq: i64,
    fan_out: broadcast::Sender<ChangeEvent>,
    received: F,
}

impl<F: Fn() + Send + 'static> Listener<F> {
    async fn run(mut self, listener: PgListener) {
        let mut listener = Some(listener);
        let mut caught_up = false;
        loop {
            let Some(active) = listener.as_mut() else {
                // Starting afresh rather than trusting a connection in an
                // unknown state; a new one LISTENs before anything else.
                match connect_listener(&self.options).await {
                    Ok(fresh) => {
                        listener = Some(fresh);
                        caught_up = false;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "change event listener cannot reconnect yet");
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                }
                continue;
            };
            if !caught_up {
                match self.catch_up().await {
                    Ok(replayed) => {
                        caught_up = true;
                        if replayed > 0 {
                            tracing::info!(
                                replayed,
                                "replayed change events missed by the listener"
                            );
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "change event listener cannot catch up yet");
                        tokio::time::sleep(RETRY_DELAY).await;
                        continue;
                    }
                }
            }
            match active.try_recv().await {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<ChangeEvent>(notification.payload()) {
                        Ok(event) => {
                            self.deliver(event);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "ignoring a malformed change event");
                        }
                    }
                }
                // sqlx has already reconnected and re-LISTENed.
                Ok(None) => {
                    tracing::warn!("change event listener reconnected after losing its connection");
                    caught_up = false;
                }
                Err(error) => {
                    tracing::warn!(%error, "change event listener lost its connection");
                    listener = None;
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }

    /// Delivers the events committed since the last one delivered. Called
    /// once the listener LISTENs: whatever commits later is notified too,
    /// and `deliver` drops the overlap.
    async fn catch_up(&mut self) -> ServiceResult<usize> {
        let mut replayed = 0;
        let mut cursor = self.last_seq;
        loop {
            let (missed, last_read) = raised_after(&self.db, cursor, REPLAY_BATCH).await?;
            let Some(last_read) = last_read else {
                return Ok(replayed);
            };
            for event in missed {
                if self.deliver(event) {
                    replayed += 1;
                }
            }
            cursor = last_read;
        }
    }

    /// Sends `event` to this process's subscribers unless it was already.
    fn deliver(&mut self, event: ChangeEvent) -> bool {
        if event.seq <= self.last_seq {
            return false;
        }
        self.last_seq = event.seq;
        (self.received)();
        // No receivers is fine: nobody subscribes.
        let _ = self.fan_out.send(event);
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn audit(seq: i64, action: &str, payload: serde_json::Value) -> audit_event::Model {
        audit_event::Model {
            seq,
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
            actor_id: None,
            actor_label: "rita@example.com".into(),
            action: action.into(),
            entity_type: "change".into(),
            entity_id: "0190f3c2-7a1e-7000-8000-000000000001".into(),
            payload: payload.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn expected(
        seq: i64,
        action: &str,
        before: Option<ChangeStatus>,
        after: ChangeStatus,
    ) -> ChangeEvent {
        ChangeEvent {
            seq,
            change_id: "0190f3c2-7a1e-7000-8000-000000000001".parse().unwrap(),
            number: "CR-2026-0007".into(),
            change_type: "major".into(),
            action: action.into(),
            status_before: before,
            status_after: after,
            actor: "rita@example.com".into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
        }
    }

    #[test]
    fn creates_edits_and_transitions_are_rebuilt_from_their_audit_events() {
        let created = audit(
            4,
            CREATED,
            json!({"number": "CR-2026-0007", "status": "DRAFT", "content": {}}),
        );
        assert_eq!(
            ChangeEvent::from_audit(&created, "major"),
            Some(expected(4, CREATED, None, ChangeStatus::Draft))
        );
        let edited = audit(
            5,
            UPDATED,
            json!({"number": "CR-2026-0007", "version": 2, "status": "DRAFT", "changes": {}}),
        );
        assert_eq!(
            ChangeEvent::from_audit(&edited, "major"),
            Some(expected(
                5,
                UPDATED,
                Some(ChangeStatus::Draft),
                ChangeStatus::Draft
            ))
        );
        // Edits recorded before the status was part of the payload.
        let older_edit = audit(
            5,
            UPDATED,
            json!({"number": "CR-2026-0007", "version": 2, "changes": {}}),
        );
        assert_eq!(
            ChangeEvent::from_audit(&older_edit, "major"),
            Some(expected(
                5,
                UPDATED,
                Some(ChangeStatus::Draft),
                ChangeStatus::Draft
            ))
        );
        let submitted = audit(
            9,
            "change.submitted",
            json!({"number": "CR-2026-0007", "version": 3, "statusBefore": "DRAFT", "statusAfter": "AWAITING_APPROVAL"}),
        );
        assert_eq!(
            ChangeEvent::from_audit(&submitted, "major"),
            Some(expected(
                9,
                "change.submitted",
                Some(ChangeStatus::Draft),
                ChangeStatus::AwaitingApproval
            ))
        );
    }

    #[test]
    fn imports_and_other_records_raise_no_event() {
        let imported = audit(
            3,
            "change.imported",
            json!({"number": "CR-2026-0007", "status": "CLOSED"}),
        );
        assert_eq!(ChangeEvent::from_audit(&imported, "major"), None);
        let mut user = audit(2, "user.created", json!({"email": "a@example.com"}));
        user.entity_type = "user".into();
        assert_eq!(ChangeEvent::from_audit(&user, "major"), None);
    }

    #[test]
    fn the_notification_payload_round_trips() {
        let event = expected(
            9,
            "change.submitted",
            Some(ChangeStatus::Draft),
            ChangeStatus::AwaitingApproval,
        );
        let payload = serde_json::to_string(&event).unwrap();
        assert!(payload.contains("\"seq\":9"), "{payload}");
        assert_eq!(
            serde_json::from_str::<ChangeEvent>(&payload).unwrap(),
            event
        );
    }
}
