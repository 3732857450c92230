//! Verification: recomputing the chain over every stored event, streaming,
//! on either database.

use chrono::{DateTime, Utc};
use std::time::Duration;

use entity::audit_event;
use futures::TryStreamExt;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm::{DatabaseConnectionType, sqlx};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::retention::{PURGE_ACTION, PurgeRecord};
use super::seal::seal_before_reading;
use crate::{
    domain::{
        audit_chain::{ChainBreak, ChainVerifier, EventContent},
        budget::Deadline,
    },
    error::{ServiceError, ServiceResult},
};
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
                .map_err(|e| ServiceError::internal_from("reading audit event", e))?;
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
        .map_err(|e| ServiceError::internal_from("audit verification task", e))??;
    // A break found by the checker ends reading early; report it rather
    // than the read's own outcome.
    match checked {
        Err(broken) => Ok(Err(broken)),
        Ok(verifier) => {
            read.map_err(|e| ServiceError::internal_from("reading audit events", e))?;
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
/// worker thread separately); the figures are in docs/benchmarks.md.
fn verify_sqlite_file(
    path: &std::path::Path,
    mut verifier: ChainVerifier,
    deadline: Deadline,
) -> ServiceResult<Result<ChainVerifier, ChainBreak>> {
    use rusqlite::{OpenFlags, types::ValueRef};
    let failed = |e: crate::error::Cause| {
        ServiceError::internal_from(format!("reading audit events from {}", path.display()), e)
    };
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| failed(e.into()))?;
    // As long as the server's own connections wait for the write lock.
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(|e| failed(e.into()))?;
    let mut statement = connection
        .prepare(VERIFY_SQL)
        .map_err(|e| failed(e.into()))?;
    let mut rows = statement.query([]).map_err(|e| failed(e.into()))?;
    while let Some(row) = rows.next().map_err(|e| failed(e.into()))? {
        deadline.check()?;
        let text = |index: usize| -> ServiceResult<&str> {
            row.get_ref(index)
                .and_then(|value| Ok(value.as_str()?))
                .map_err(|e| failed(e.into()))
        };
        // Decoded as the ORM stores them: timestamps as RFC 3339 text,
        // UUIDs as 16-byte blobs.
        let occurred_at = DateTime::parse_from_rfc3339(text(1)?)
            .map_err(|e| failed(e.into()))?
            .with_timezone(&Utc);
        let actor_id = match row.get_ref(2).map_err(|e| failed(e.into()))? {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(Uuid::from_slice(bytes).map_err(|e| failed(e.into()))?),
            other => {
                return Err(failed(
                    format!("actor_id holds a {} value", other.data_type()).into(),
                ));
            }
        };
        let content = EventContent {
            seq: row.get(0).map_err(|e| failed(e.into()))?,
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
                .map_err(|e| ServiceError::internal_from("audit verification task", e))?
        }
        _ => Err(ServiceError::internal(
            "audit verification needs PostgreSQL or SQLite",
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
