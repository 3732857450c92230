//! Sealing: moving committed outbox events into the chain (PostgreSQL),
//! the commit that wakes the sealer, and the sealer task.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use entity::{audit_event, audit_outbox};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, QuerySelect,
    Statement, TransactionTrait,
};
use tokio::{sync::Notify, task::JoinHandle};

use super::chain::{AUDIT_LOCK_KEY, head};
use super::record::PendingEvent;
use crate::store::events;
use crate::{domain::audit_chain::GENESIS_HASH, error::ServiceResult};
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
/// 50 seals a second, each of whatever gathered (with one and with eight
/// writers it kept more of the throughput than sealing at once:
/// docs/benchmarks.md). Nobody waits for it: writers do not wait for the
/// seal, readers of the trail seal first
/// (`seal_before_reading`), and live subscribers hear of an event at most
/// this much later.
const SEAL_GATHER: Duration = Duration::from_millis(20);

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
