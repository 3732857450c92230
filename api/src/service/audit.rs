//! Appending to and verifying the audit hash chain.

use chrono::{DateTime, Utc};
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use entity::{audit_event, audit_outbox, audit_purge_permit};
use futures::TryStreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};
use sea_orm::{DatabaseConnectionType, sqlx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};
use uuid::Uuid;

use super::{Caller, events};
use crate::{
    auth::Credential,
    db,
    domain::{
        ValidationError,
        audit_chain::{self, ChainBreak, ChainVerifier, EventContent, GENESIS_HASH},
        budget::Deadline,
        pagination::{self, PageRequest, Window},
        permissions,
    },
    error::{ServiceError, ServiceResult},
};

/// Any number that no other part of Gatehouse uses as an advisory lock key.
const AUDIT_LOCK_KEY: i64 = 0x6761_7465_6175_6474; // "gateaudt"
/// Outbox events sealed per transaction at most (a batch travels as ten
/// column arrays, so this bounds memory, not parameters).
const SEAL_BATCH: u64 = 1_000;
/// How often each PostgreSQL-backed process looks for events whose writer
/// committed but died before sealing them.
const SEAL_SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// How long the sealer lets commits gather after a seal that linked
/// something, before it seals again. Under a stream of commits, sealing
/// on every wake-up meant many small seals (each seven statements, woken
/// by commits thousands of times a second); gathering makes at most about
/// 50 seals a second, each of whatever gathered (8 writers on PostgreSQL:
/// with audit 0.75-0.80x of the throughput without, median 0.78, against
/// 0.68-0.73x sealing at once; docs/benchmarks.md; one writer 0.81x
/// against 0.60x). Nobody waits for it: writers do not wait for the
/// seal, readers of the trail seal first
/// (`seal_before_reading`), and live subscribers hear of an event at most
/// this much later.
const SEAL_GATHER: Duration = Duration::from_millis(20);

/// An event's hashed content before it has a place in the chain.
struct PendingEvent {
    occurred_at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor_label: String,
    action: String,
    entity_type: String,
    entity_id: String,
    /// Canonical JSON text, exactly as hashed.
    payload: String,
}

impl PendingEvent {
    fn new(
        caller: &Caller,
        action: &str,
        entity_type: &str,
        entity_id: &str,
        payload: &Value,
    ) -> Self {
        let (actor_id, actor_label) = match caller {
            Caller::Account(actor) => (Some(actor.user_id), actor.email.clone()),
            Caller::Operator { label } => (None, label.clone()),
        };
        let credential = caller.account().and_then(|a| a.credential.as_ref());
        Self {
            occurred_at: db::now(),
            actor_id,
            actor_label,
            action: action.to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            payload: audit_chain::canonical_json(&with_actor_token(payload, credential)),
        }
    }

    /// The outbox row's values, in the order of `OUTBOX_COLUMNS`.
    fn outbox_values(self) -> [sea_orm::Value; 7] {
        [
            self.occurred_at.into(),
            self.actor_id.into(),
            self.actor_label.into(),
            self.action.into(),
            self.entity_type.into(),
            self.entity_id.into(),
            self.payload.into(),
        ]
    }

    /// The chain link after `(prev_seq, prev_hash)`: the one place where an
    /// event gets its sequence number and hash.
    fn link(self, prev_seq: i64, prev_hash: String) -> audit_event::Model {
        let seq = prev_seq + 1;
        let hash = audit_chain::event_hash(&EventContent {
            seq,
            occurred_at: self.occurred_at,
            actor_id: self.actor_id,
            actor_label: &self.actor_label,
            action: &self.action,
            entity_type: &self.entity_type,
            entity_id: &self.entity_id,
            payload: &self.payload,
            prev_hash: &prev_hash,
        });
        audit_event::Model {
            seq,
            occurred_at: self.occurred_at,
            actor_id: self.actor_id,
            actor_label: self.actor_label,
            action: self.action,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            payload: self.payload,
            prev_hash,
            hash,
        }
    }
}

/// The payload as hashed: with `actorToken` naming the token that acted and
/// who issued it (`id`, `issuedById`, `issuedBy`), when an account acted
/// through a token. Inside the hashed payload it is as tamper-evident as
/// the rest of the event, and events recorded before it existed hash and
/// verify exactly as they did. A payload that is not an object (none is
/// today) is kept whole under `value`.
fn with_actor_token(payload: &Value, credential: Option<&Credential>) -> Value {
    let Some(credential) = credential else {
        return payload.clone();
    };
    let token = serde_json::json!({
        "id": credential.token_id,
        "issuedById": credential.issued_by,
        "issuedBy": credential.issued_by_label,
    });
    let mut object = match payload {
        Value::Object(map) => map.clone(),
        other => serde_json::Map::from_iter([("value".to_owned(), other.clone())]),
    };
    object.insert("actorToken".to_owned(), token);
    Value::Object(object)
}

impl From<audit_outbox::Model> for PendingEvent {
    fn from(row: audit_outbox::Model) -> Self {
        Self {
            occurred_at: row.occurred_at,
            actor_id: row.actor_id,
            actor_label: row.actor_label,
            action: row.action,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            payload: row.payload,
        }
    }
}

const OUTBOX_COLUMNS: &str =
    "occurred_at, actor_id, actor_label, action, entity_type, entity_id, payload";

/// `$first, $first+1, ...`: placeholders for the seven outbox values.
fn outbox_placeholders(first: usize) -> String {
    (first..first + 7)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes one event inside `txn` by a statement of its own: into the outbox
/// on PostgreSQL, linked into the chain right away on SQLite (which admits
/// one writer at a time). Returns the linked event on SQLite.
///
/// Linking on PostgreSQL here would mean holding the chain's lock until
/// the commit's WAL flush, which serialises every concurrent write behind
/// one another (measured: 8 writers ran at 0.21x of their speed without the
/// audit; docs/benchmarks.md); the sealer links it just after the commit.
async fn write_alone(
    txn: &DatabaseTransaction,
    event: PendingEvent,
) -> Result<Option<audit_event::Model>, DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO audit_outbox ({OUTBOX_COLUMNS}) VALUES ({})",
                outbox_placeholders(1)
            ),
            event.outbox_values(),
        ))
        .await?;
        Ok(None)
    } else {
        let (prev_seq, prev_hash) = head(txn).await?.unwrap_or((0, GENESIS_HASH.to_owned()));
        let linked = event.link(prev_seq, prev_hash);
        Ok(Some(
            linked.into_active_model().reset_all().insert(txn).await?,
        ))
    }
}

/// Records one event inside the caller's transaction by a statement of its
/// own, so the event commits or rolls back with the write it records.
/// Commit that transaction with [`commit`]. Returns the linked event on
/// SQLite, `None` on PostgreSQL while it waits in the outbox.
///
/// Where the write is one statement run after the event is known, prefer
/// [`recording`]: the event then travels in the write's own statement, one
/// round trip fewer.
pub async fn append(
    txn: &DatabaseTransaction,
    caller: &Caller,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    payload: &Value,
) -> ServiceResult<Option<audit_event::Model>> {
    Ok(write_alone(
        txn,
        PendingEvent::new(caller, action, entity_type, entity_id, payload),
    )
    .await?)
}

/// An audit event that travels with the write it records: pass the
/// [`Recording`] to the write (`active.insert(&recording)`,
/// `active.update(&recording)`, `model.delete(&recording)`, ...) in place
/// of the transaction, then call [`Recording::finish`] before [`commit`].
///
/// On PostgreSQL the first statement run through it carries the outbox
/// insert as a data-modifying `WITH` (`WITH audit_event AS (INSERT INTO
/// audit_outbox ...) UPDATE ...`): one statement, one round trip, where a
/// separate insert cost a fifth round trip on a four-statement mutation.
/// With eight writers on two cores the round trip, not the row, was the
/// audit's largest cost (docs/benchmarks.md). On SQLite the event is
/// linked into the chain just before that statement (no round trips
/// there). Either way the event commits or rolls back with the write.
pub fn recording<'a>(
    txn: &'a DatabaseTransaction,
    caller: &Caller,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    payload: &Value,
) -> Recording<'a> {
    Recording {
        txn,
        pending: std::sync::Mutex::new(Some(PendingEvent::new(
            caller,
            action,
            entity_type,
            entity_id,
            payload,
        ))),
        linked: std::sync::Mutex::new(None),
    }
}

/// See [`recording`].
pub struct Recording<'a> {
    txn: &'a DatabaseTransaction,
    /// The event until a statement has carried it.
    pending: std::sync::Mutex<Option<PendingEvent>>,
    /// The linked event (SQLite).
    linked: std::sync::Mutex<Option<audit_event::Model>>,
}

impl Recording<'_> {
    fn take_pending(&self) -> Option<PendingEvent> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// `stmt` with the event riding on it, if the event has not travelled
    /// yet: prefixed as a data-modifying `WITH` on PostgreSQL, linked just
    /// before on SQLite. A statement that cannot carry a prefix (one with
    /// a `WITH` of its own) goes after the event's own statement.
    async fn carry(&self, stmt: Statement) -> Result<Statement, DbErr> {
        let Some(event) = self.take_pending() else {
            return Ok(stmt);
        };
        if stmt.db_backend == DbBackend::Postgres && can_carry(&stmt.sql) {
            let mut values = stmt.values.map(|values| values.0).unwrap_or_default();
            let placeholders = outbox_placeholders(values.len() + 1);
            values.extend(event.outbox_values());
            return Ok(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "WITH audit_event AS (INSERT INTO audit_outbox ({OUTBOX_COLUMNS}) VALUES ({placeholders})) {}",
                    stmt.sql
                ),
                values,
            ));
        }
        let linked = write_alone(self.txn, event).await?;
        *self
            .linked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = linked;
        Ok(stmt)
    }

    /// Writes the event by a statement of its own if no statement carried
    /// it (so it is never lost), and returns the linked event on SQLite,
    /// `None` on PostgreSQL. Commit with [`commit`].
    pub async fn finish(self) -> ServiceResult<Option<audit_event::Model>> {
        if let Some(event) = self.take_pending() {
            return Ok(write_alone(self.txn, event).await?);
        }
        Ok(self
            .linked
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Whether PostgreSQL accepts a leading data-modifying `WITH` on `sql`:
/// a plain `INSERT`, `UPDATE`, `DELETE` or `SELECT`.
fn can_carry(sql: &str) -> bool {
    let first_word = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    ["INSERT", "UPDATE", "DELETE", "SELECT"]
        .iter()
        .any(|keyword| first_word.eq_ignore_ascii_case(keyword))
}

#[async_trait::async_trait]
impl ConnectionTrait for Recording<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        let stmt = self.carry(stmt).await?;
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        let stmt = self
            .carry(Statement::from_string(self.get_database_backend(), sql))
            .await?;
        match stmt.values {
            Some(_) => self.txn.execute_raw(stmt).await,
            None => self.txn.execute_unprepared(&stmt.sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        let stmt = self.carry(stmt).await?;
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        let stmt = self.carry(stmt).await?;
        self.txn.query_all_raw(stmt).await
    }
}

/// Wakes this process's sealer after a commit (PostgreSQL). A wake-up and
/// nothing else: a spurious one costs one empty-outbox check.
static SEAL_WANTED: Notify = Notify::const_new();
/// Sealer tasks running in this process; without one (a CLI command) the
/// committing writer seals itself.
static SEALERS: AtomicUsize = AtomicUsize::new(0);

/// Commits a transaction that appended audit events. On PostgreSQL the
/// events are sealed into the chain by this process's sealer task, woken
/// here, so writers do not wait for the chain (readers of the trail seal
/// first, see [`seal_before_reading`]); a process without a sealer seals
/// right away. A failed seal does not fail the write: the write and its
/// event are committed, and the next seal links the event.
pub async fn commit(txn: DatabaseTransaction, db: &DatabaseConnection) -> ServiceResult<()> {
    txn.commit().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        if SEALERS.load(Ordering::Acquire) > 0 {
            SEAL_WANTED.notify_waiters();
        } else if let Err(error) = seal(db).await {
            tracing::warn!(%error, "audit events committed but not yet sealed; the next seal links them");
        }
    }
    Ok(())
}

/// Seals what has been committed so far before reading the trail, so a
/// reader sees every write committed before it asked (PostgreSQL; one
/// round trip when nothing waits). Reading goes on if sealing fails.
pub async fn seal_before_reading(db: &DatabaseConnection) {
    if let Err(error) = seal(db).await {
        tracing::warn!(%error, "could not seal committed audit events before reading the trail");
    }
}

/// Moves committed outbox events into the chain, oldest first, in batches;
/// returns how many. One sealer at a time across every process, by a
/// transaction-scoped advisory lock, so the chain stays one chain. A batch
/// costs one commit however many writers it serves. No-op on SQLite.
pub async fn seal(db: &DatabaseConnection) -> ServiceResult<u64> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let mut sealed = 0;
    loop {
        // Without the lock: once this writer's commit is visible, an empty
        // outbox means someone already sealed its events.
        if outbox_is_empty(db).await? {
            return Ok(sealed);
        }
        let txn = db.begin().await?;
        // The seal need not wait for its own WAL flush: every event it
        // links is already durable in the outbox (its writer's commit was
        // synchronous), and the seal moves it atomically. Should the
        // database crash before this commit reaches disk, the seal is lost
        // as a whole, the events are still in the outbox, and the next
        // seal links them again, in the same order after the same head.
        // Waiting for the flush here would serialise every writer behind
        // one disk flush per seal. One statement with the chain's lock.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', 'off', true)",
            [AUDIT_LOCK_KEY.into()],
        ))
        .await?;
        let pending = take_outbox_batch(&txn).await?;
        let count = pending.len() as u64;
        if count > 0 {
            let (mut seq, mut hash) = head(&txn).await?.unwrap_or((0, GENESIS_HASH.to_owned()));
            let mut linked = Vec::with_capacity(pending.len());
            for row in pending {
                let event = PendingEvent::from(row).link(seq, hash);
                seq = event.seq;
                hash = event.hash.clone();
                linked.push(event);
            }
            insert_linked(&txn, &linked).await?;
            // Live subscribers learn of the changes' writes as their events
            // join the chain, in chain order.
            events::notify_sealed(&txn, &linked).await?;
        }
        txn.commit().await?;
        sealed += count;
        if count < SEAL_BATCH {
            return Ok(sealed);
        }
    }
}

/// Removes the oldest `SEAL_BATCH` outbox events and returns them oldest
/// first (PostgreSQL, under the chain's lock). One fixed statement, so it
/// is prepared once per connection whatever the batch holds.
async fn take_outbox_batch(txn: &DatabaseTransaction) -> ServiceResult<Vec<audit_outbox::Model>> {
    let mut taken = audit_outbox::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM audit_outbox WHERE id IN (SELECT id FROM audit_outbox ORDER BY id LIMIT $1) \
         RETURNING id, occurred_at, actor_id, actor_label, action, entity_type, entity_id, payload",
        [(SEAL_BATCH as i64).into()],
    ))
    .all(txn)
    .await?;
    taken.sort_unstable_by_key(|row| row.id);
    Ok(taken)
}

/// Appends linked events to the chain with one fixed statement (column
/// arrays, unnested), however many there are (PostgreSQL).
async fn insert_linked(
    txn: &DatabaseTransaction,
    linked: &[audit_event::Model],
) -> ServiceResult<()> {
    fn column<T>(
        linked: &[audit_event::Model],
        value: impl Fn(&audit_event::Model) -> T,
    ) -> Vec<T> {
        linked.iter().map(value).collect()
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO audit_events (seq, occurred_at, actor_id, actor_label, action, entity_type, entity_id, payload, prev_hash, hash) \
         SELECT seq, occurred_at, NULLIF(actor_id, '')::uuid, actor_label, action, entity_type, entity_id, payload, prev_hash, hash \
         FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
         AS linked (seq, occurred_at, actor_id, actor_label, action, entity_type, entity_id, payload, prev_hash, hash)",
        [
            column(linked, |e| e.seq).into(),
            column(linked, |e| e.occurred_at).into(),
            // Arrays bind without NULL elements: no actor travels as ''.
            column(linked, |e| e.actor_id.map(|id| id.to_string()).unwrap_or_default()).into(),
            column(linked, |e| e.actor_label.clone()).into(),
            column(linked, |e| e.action.clone()).into(),
            column(linked, |e| e.entity_type.clone()).into(),
            column(linked, |e| e.entity_id.clone()).into(),
            column(linked, |e| e.payload.clone()).into(),
            column(linked, |e| e.prev_hash.clone()).into(),
            column(linked, |e| e.hash.clone()).into(),
        ],
    ))
    .await?;
    Ok(())
}

async fn outbox_is_empty(db: &DatabaseConnection) -> ServiceResult<bool> {
    Ok(audit_outbox::Entity::find()
        .select_only()
        .column(audit_outbox::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_none())
}

/// Serialises everything that extends or trims the chain (PostgreSQL),
/// until the transaction ends.
async fn lock_chain(txn: &DatabaseTransaction) -> ServiceResult<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [AUDIT_LOCK_KEY.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The process's sealer (PostgreSQL): seals whenever a commit wakes it
/// (after a seal that linked something, once `SEAL_GATHER` has passed),
/// and at least every `SEAL_SWEEP_INTERVAL`, which also links events of
/// writers in processes that stopped between commit and seal.
pub fn spawn_sealer(db: &DatabaseConnection) -> Option<JoinHandle<()>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let db = db.clone();
    Some(tokio::spawn(async move {
        struct Running;
        impl Drop for Running {
            fn drop(&mut self) {
                SEALERS.fetch_sub(1, Ordering::AcqRel);
            }
        }
        SEALERS.fetch_add(1, Ordering::AcqRel);
        let _running = Running;
        loop {
            // Registered before sealing: a commit during the seal wakes
            // the next round instead of being missed.
            let wanted = SEAL_WANTED.notified();
            tokio::pin!(wanted);
            wanted.as_mut().enable();
            match seal(&db).await {
                Ok(0) => {}
                Ok(_) => tokio::time::sleep(SEAL_GATHER).await,
                Err(error) => {
                    tracing::warn!(%error, "sealing audit events failed; retrying");
                }
            }
            let _ = tokio::time::timeout(SEAL_SWEEP_INTERVAL, wanted).await;
        }
    }))
}

/// The newest event's `(seq, hash)`, `None` on an empty trail.
pub async fn head<C: ConnectionTrait>(conn: &C) -> Result<Option<(i64, String)>, DbErr> {
    audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::Hash)
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<(i64, String)>()
        .one(conn)
        .await
}

/// The state of everything Gatehouse stores, as one number: the chain's
/// newest sequence number. Every write commits with its audit event, so
/// every committed write moves it (the response cache keys on it). `None`
/// while committed events wait in the outbox (PostgreSQL): those writes
/// are visible but not yet counted. One statement, one snapshot.
pub async fn data_generation(db: &DatabaseConnection) -> ServiceResult<Option<i64>> {
    const SQL: &str = "SELECT COALESCE((SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1), 0) AS head, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM audit_outbox) THEN 1 ELSE 0 END AS BIGINT) AS waiting";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), SQL))
        .await?
        .ok_or_else(|| ServiceError::Internal("the audit head query returned no row".into()))?;
    let head: i64 = row.try_get("", "head")?;
    let waiting: i64 = row.try_get("", "waiting")?;
    Ok((waiting == 0).then_some(head))
}

/// The action of the event a retention purge leaves in the chain.
pub const PURGE_ACTION: &str = "audit.purged";

/// What an `audit.purged` event records: enough for verification to start
/// after the purged events, and for an auditor to see what went and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurgeRecord {
    through_seq: i64,
    through_hash: String,
    purged_before: DateTime<Utc>,
    events: u64,
    retention_years: Option<u32>,
}

/// What a purge removed (or, for a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeOutcome {
    pub events: u64,
    /// The last purged event; `None` when nothing was old enough.
    pub through_seq: Option<i64>,
}

/// Deletes the events that occurred before `purge_before`, if the policy's
/// retention period allows it, and records the purge as an event in the
/// chain (with the last purged event's hash, where verification resumes).
/// The newest event is always kept, so the chain goes on from it. The
/// database refuses the deletion unless the purge permit written in the
/// same transaction covers every deleted row.
pub async fn purge(
    db: &DatabaseConnection,
    caller: &Caller,
    purge_before: DateTime<Utc>,
    retention_years: Option<u32>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> ServiceResult<PurgeOutcome> {
    if caller.account().is_some() {
        return Err(ServiceError::forbidden(
            "audit events are purged by the host operator with `gatehouse audit purge`",
        ));
    }
    audit_chain::check_purge_cutoff(purge_before, now, retention_years)
        .map_err(|reason| ServiceError::PolicyViolation(vec![reason]))?;
    seal(db).await?;
    let txn = db.begin().await?;
    lock_chain(&txn).await?;
    let Some((head_seq, _)) = head(&txn).await? else {
        return Ok(PurgeOutcome {
            events: 0,
            through_seq: None,
        });
    };
    let first_kept: Option<i64> = audit_event::Entity::find()
        .select_only()
        .column_as(audit_event::Column::Seq.min(), "first_kept")
        .filter(audit_event::Column::OccurredAt.gte(purge_before))
        .into_tuple::<Option<i64>>()
        .one(&txn)
        .await?
        .flatten();
    let through_seq = first_kept.unwrap_or(head_seq + 1).min(head_seq) - 1;
    let purged = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.lte(through_seq))
        .count(&txn)
        .await?;
    if purged == 0 {
        return Ok(PurgeOutcome {
            events: 0,
            through_seq: None,
        });
    }
    if dry_run {
        return Ok(PurgeOutcome {
            events: purged,
            through_seq: Some(through_seq),
        });
    }
    let through_hash = audit_event::Entity::find_by_id(through_seq)
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("audit event {through_seq} vanished")))?
        .hash;
    audit_purge_permit::ActiveModel {
        purge_before: Set(purge_before),
    }
    .insert(&txn)
    .await?;
    audit_event::Entity::delete_many()
        .filter(audit_event::Column::Seq.lte(through_seq))
        .exec(&txn)
        .await?;
    audit_purge_permit::Entity::delete_by_id(purge_before)
        .exec(&txn)
        .await?;
    let record = PurgeRecord {
        through_seq,
        through_hash,
        purged_before: purge_before,
        events: purged,
        retention_years,
    };
    let payload = serde_json::to_value(&record)
        .map_err(|e| ServiceError::Internal(format!("encoding the purge record: {e}")))?;
    append(
        &txn,
        caller,
        PURGE_ACTION,
        "audit_trail",
        "audit_events",
        &payload,
    )
    .await?;
    commit(txn, db).await?;
    Ok(PurgeOutcome {
        events: purged,
        through_seq: Some(through_seq),
    })
}

/// Which events to list; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    /// Occurred at or after (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Occurred before (exclusive).
    pub to: Option<DateTime<Utc>>,
}

impl EventFilter {
    fn condition(&self) -> Result<Condition, ValidationError> {
        let mut condition = Condition::all();
        for (field, value, column) in [
            (
                "filter.entityType",
                &self.entity_type,
                audit_event::Column::EntityType,
            ),
            (
                "filter.entityId",
                &self.entity_id,
                audit_event::Column::EntityId,
            ),
            ("filter.action", &self.action, audit_event::Column::Action),
        ] {
            if let Some(value) = value {
                // The columns hold at most 64 characters; a longer value
                // is a client mistake rather than a query for nothing.
                // NUL is refused there too: PostgreSQL text cannot hold it.
                crate::domain::optional_text(field, Some(value), 64)?;
                condition = condition.add(column.eq(value.as_str()));
            }
        }
        crate::domain::timestamps::check_optional("filter.from", self.from)?;
        crate::domain::timestamps::check_optional("filter.to", self.to)?;
        if let Some(actor) = self.actor_id {
            condition = condition.add(audit_event::Column::ActorId.eq(actor));
        }
        if let Some(from) = self.from {
            condition = condition.add(audit_event::Column::OccurredAt.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(audit_event::Column::OccurredAt.lt(to));
        }
        Ok(condition)
    }
}

/// One page of events matching `filter`, oldest first, with the window and
/// the total. Offsets stay valid while events are appended, because new
/// events always sort after every existing one.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: &EventFilter,
    page: PageRequest,
    max_page_size: u64,
) -> ServiceResult<(Vec<audit_event::Model>, Window, u64)> {
    caller.authorize(permissions::read_audit_trail)?;
    let condition = filter.condition()?;
    seal_before_reading(db).await;
    let total = audit_event::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let window = pagination::window(page, total, max_page_size)?;
    if window.limit == 0 {
        return Ok((Vec::new(), window, total));
    }
    let rows = audit_event::Entity::find()
        .filter(condition)
        .order_by_asc(audit_event::Column::Seq)
        .offset(window.offset)
        .limit(window.limit)
        .all(db)
        .await?;
    Ok((rows, window, total))
}

/// Outcome of verifying the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// `events` were verified, from the first kept event to the head.
    Intact {
        events: i64,
        head_seq: i64,
        head_hash: String,
    },
    Broken(ChainBreak),
}

const VERIFY_SQL: &str = "SELECT seq, occurred_at, actor_id, actor_label, action, entity_type, \
     entity_id, payload, prev_hash, hash FROM audit_events ORDER BY seq";
/// Rows handed from the reading task to the hashing thread at a time
/// (PostgreSQL).
const VERIFY_CHUNK: usize = 2_048;
/// Chunks in flight: enough to keep both sides busy, little memory.
const VERIFY_CHUNKS_IN_FLIGHT: usize = 8;

/// Reads the hashed columns of one PostgreSQL row, borrowing the text from
/// the row (no allocation per field), and the stored hash.
fn pg_event_columns(row: &sqlx::postgres::PgRow) -> Result<(EventContent<'_>, &str), sqlx::Error> {
    use sqlx::Row;
    Ok((
        EventContent {
            seq: row.try_get(0)?,
            occurred_at: row.try_get(1)?,
            actor_id: row.try_get(2)?,
            actor_label: row.try_get(3)?,
            action: row.try_get(4)?,
            entity_type: row.try_get(5)?,
            entity_id: row.try_get(6)?,
            payload: row.try_get(7)?,
            prev_hash: row.try_get(8)?,
        },
        row.try_get(9)?,
    ))
}

/// Hashes the rows of each chunk as it arrives; runs on a blocking thread
/// so the runtime's workers stay free for requests.
fn check_pg_chunks(
    mut verifier: ChainVerifier,
    mut chunks: mpsc::Receiver<Vec<sqlx::postgres::PgRow>>,
    deadline: Deadline,
) -> ServiceResult<Result<ChainVerifier, ChainBreak>> {
    while let Some(chunk) = chunks.blocking_recv() {
        // Stopping drops the receiver, which ends the reading side too.
        deadline.check()?;
        for row in &chunk {
            let (content, hash) = pg_event_columns(row)
                .map_err(|e| ServiceError::Internal(format!("reading audit event: {e}")))?;
            if let Err(broken) = verifier.check(&content, hash) {
                return Ok(Err(broken));
            }
        }
    }
    Ok(Ok(verifier))
}

/// PostgreSQL: reads the whole trail once, in order, in one streaming
/// statement, while a blocking thread hashes the chunks already read
/// (reading and hashing overlap on two cores; memory stays at a few
/// chunks).
async fn verify_postgres(
    pool: &sqlx::PgPool,
    verifier: ChainVerifier,
    deadline: Deadline,
) -> ServiceResult<Result<ChainVerifier, ChainBreak>> {
    let (sender, receiver) = mpsc::channel(VERIFY_CHUNKS_IN_FLIGHT);
    let checker =
        tokio::task::spawn_blocking(move || check_pg_chunks(verifier, receiver, deadline));
    let read: Result<(), sqlx::Error> = async {
        let mut rows = sqlx::query(VERIFY_SQL).fetch(pool);
        let mut chunk = Vec::with_capacity(VERIFY_CHUNK);
        while let Some(row) = rows.try_next().await? {
            chunk.push(row);
            if chunk.len() == VERIFY_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(VERIFY_CHUNK));
                if sender.send(full).await.is_err() {
                    // The checker stopped at a broken link.
                    return Ok(());
                }
            }
        }
        if !chunk.is_empty() {
            let _ = sender.send(chunk).await;
        }
        Ok(())
    }
    .await;
    drop(sender);
    let checked = checker
        .await
        .map_err(|e| ServiceError::Internal(format!("audit verification task: {e}")))??;
    // A break found by the checker ends reading early; report it rather
    // than the read's own outcome.
    match checked {
        Err(broken) => Ok(Err(broken)),
        Ok(verifier) => {
            read.map_err(|e| ServiceError::Internal(format!("reading audit events: {e}")))?;
            Ok(Ok(verifier))
        }
    }
}

/// SQLite: reads the whole trail in one statement through a read-only
/// connection of its own to the database file, hashing each row while
/// SQLite holds it, its text borrowed in place. The one statement reads
/// one snapshot; WAL lets it read beside the server's writer without
/// blocking it, and the read-only connection cannot write. Reading through
/// the server's pool instead cost several times the hashing (sqlx's SQLite
/// driver copies every value of every row and hands each row over from its
/// worker thread separately): 8-14 s for a million events against about
/// 2 s this way (docs/benchmarks.md).
fn verify_sqlite_file(
    path: &std::path::Path,
    mut verifier: ChainVerifier,
    deadline: Deadline,
) -> ServiceResult<Result<ChainVerifier, ChainBreak>> {
    use rusqlite::{OpenFlags, types::ValueRef};
    let failed = |e: &dyn std::fmt::Display| {
        ServiceError::Internal(format!("reading audit events from {}: {e}", path.display()))
    };
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| failed(&e))?;
    // As long as the server's own connections wait for the write lock.
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(|e| failed(&e))?;
    let mut statement = connection.prepare(VERIFY_SQL).map_err(|e| failed(&e))?;
    let mut rows = statement.query([]).map_err(|e| failed(&e))?;
    while let Some(row) = rows.next().map_err(|e| failed(&e))? {
        deadline.check()?;
        let text = |index: usize| -> ServiceResult<&str> {
            row.get_ref(index)
                .and_then(|value| Ok(value.as_str()?))
                .map_err(|e| failed(&e))
        };
        // Decoded as the ORM stores them: timestamps as RFC 3339 text,
        // UUIDs as 16-byte blobs.
        let occurred_at = DateTime::parse_from_rfc3339(text(1)?)
            .map_err(|e| failed(&e))?
            .with_timezone(&Utc);
        let actor_id = match row.get_ref(2).map_err(|e| failed(&e))? {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(Uuid::from_slice(bytes).map_err(|e| failed(&e))?),
            other => {
                return Err(failed(&format!(
                    "actor_id holds a {} value",
                    other.data_type()
                )));
            }
        };
        let content = EventContent {
            seq: row.get(0).map_err(|e| failed(&e))?,
            occurred_at,
            actor_id,
            actor_label: text(3)?,
            action: text(4)?,
            entity_type: text(5)?,
            entity_id: text(6)?,
            payload: text(7)?,
            prev_hash: text(8)?,
        };
        if let Err(broken) = verifier.check(&content, text(9)?) {
            return Ok(Err(broken));
        }
    }
    Ok(Ok(verifier))
}

/// Recomputes the chain over every stored event in `seq` order.
async fn verify_all(
    db: &DatabaseConnection,
    verifier: ChainVerifier,
    deadline: Deadline,
) -> ServiceResult<Result<ChainVerifier, ChainBreak>> {
    match &db.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            verify_postgres(db.get_postgres_connection_pool(), verifier, deadline).await
        }
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            let path = db
                .get_sqlite_connection_pool()
                .connect_options()
                .get_filename()
                .to_owned();
            tokio::task::spawn_blocking(move || verify_sqlite_file(&path, verifier, deadline))
                .await
                .map_err(|e| ServiceError::Internal(format!("audit verification task: {e}")))?
        }
        _ => Err(ServiceError::Internal(
            "audit verification needs PostgreSQL or SQLite".into(),
        )),
    }
}

/// Where verification starts: at the genesis, or, after a retention purge,
/// just after the last purged event as recorded by the `audit.purged` event
/// in the chain itself.
async fn starting_point(
    db: &DatabaseConnection,
) -> ServiceResult<Result<Option<(i64, String)>, ChainBreak>> {
    let first = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::PrevHash)
        .order_by_asc(audit_event::Column::Seq)
        .limit(1)
        .into_tuple::<(i64, String)>()
        .one(db)
        .await?;
    let Some((first_seq, first_prev_hash)) = first else {
        return Ok(Ok(None));
    };
    if first_seq == 1 {
        return Ok(Ok(None));
    }
    let purges = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Payload)
        .filter(audit_event::Column::Action.eq(PURGE_ACTION))
        .order_by_desc(audit_event::Column::Seq)
        .into_tuple::<String>()
        .all(db)
        .await?;
    let recorded = purges.iter().find_map(|payload| {
        let record: PurgeRecord = serde_json::from_str(payload).ok()?;
        (record.through_seq == first_seq - 1).then_some(record)
    });
    Ok(match recorded {
        Some(record) if record.through_hash == first_prev_hash => {
            Ok(Some((record.through_seq, record.through_hash)))
        }
        Some(record) => Err(ChainBreak {
            seq: first_seq,
            reason: format!(
                "the first remaining event follows hash {first_prev_hash} but the purge record says event {} hashed to {}",
                record.through_seq, record.through_hash
            ),
        }),
        None => Err(ChainBreak {
            seq: 1,
            reason: format!(
                "the trail starts at event {first_seq} and no audit.purged event records purging events 1 to {}",
                first_seq - 1
            ),
        }),
    })
}

/// Recomputes the chain from its first event (the genesis, or the point a
/// retention purge recorded), streaming so memory stays flat however long
/// the trail is. With an anchor, the chain must reach it with its hash.
/// Hashing runs on blocking threads and stops with `TIMEOUT` at `deadline`
/// (GraphQL: [`super::heavy::AUDIT_VERIFY`]; the CLI: unbounded).
pub async fn verify(
    db: &DatabaseConnection,
    anchor: Option<(i64, String)>,
    deadline: Deadline,
) -> ServiceResult<Verification> {
    seal_before_reading(db).await;
    let start = match starting_point(db).await? {
        Ok(start) => start,
        Err(broken) => return Ok(Verification::Broken(broken)),
    };
    let purged_through = start.as_ref().map_or(0, |(seq, _)| *seq);
    let verifier = ChainVerifier::starting(start, anchor);
    let verifier = match verify_all(db, verifier, deadline).await? {
        Ok(verifier) => verifier,
        Err(broken) => return Ok(Verification::Broken(broken)),
    };
    Ok(match verifier.finish() {
        Ok((head_seq, head_hash)) => Verification::Intact {
            events: head_seq - purged_through,
            head_seq,
            head_hash,
        },
        Err(broken) => Verification::Broken(broken),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::{Credential, can_carry, outbox_placeholders, with_actor_token};

    #[test]
    fn the_acting_token_and_its_issuer_join_the_payload() {
        let token = Uuid::from_u128(7);
        let admin = Uuid::from_u128(9);
        let credential = Credential {
            token_id: token,
            issued_by: Some(admin),
            issued_by_label: Some("admin@localhost".into()),
        };
        assert_eq!(
            with_actor_token(&json!({"name": "Ada"}), Some(&credential)),
            json!({"name": "Ada", "actorToken": {"id": token, "issuedById": admin, "issuedBy": "admin@localhost"}})
        );
        assert_eq!(
            with_actor_token(&json!([1]), Some(&credential))["value"],
            json!([1])
        );
        // The operator and events without a token: the payload as given.
        assert_eq!(
            with_actor_token(&json!({"name": "Ada"}), None),
            json!({"name": "Ada"})
        );
    }

    #[test]
    fn plain_statements_carry_the_event_and_those_with_a_with_do_not() {
        for sql in [
            "INSERT INTO systems (id) VALUES ($1) RETURNING id",
            "  update \"changes\" SET status = $1",
            "DELETE FROM cab_members WHERE user_id = $1",
            "SELECT 1",
        ] {
            assert!(can_carry(sql), "{sql}");
        }
        for sql in [
            "WITH n AS (SELECT 1) SELECT * FROM n",
            "with recursive t AS (SELECT 1) SELECT * FROM t",
            "BEGIN",
            "",
        ] {
            assert!(!can_carry(sql), "{sql}");
        }
    }

    #[test]
    fn the_outbox_values_are_numbered_after_the_statements_own() {
        assert_eq!(outbox_placeholders(1), "$1, $2, $3, $4, $5, $6, $7");
        assert_eq!(outbox_placeholders(4), "$4, $5, $6, $7, $8, $9, $10");
    }
}
