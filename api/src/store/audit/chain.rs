//! The chain itself: its head, the lock that serialises extending or
//! trimming it, and the data generation the response cache keys on.

use chrono::{DateTime, Utc};
use entity::{audit_event, audit_outbox};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryOrder, QuerySelect, Statement,
};

use crate::error::{ServiceError, ServiceResult};

/// Any number that no other part of Gatehouse uses as an advisory lock key.
pub(super) const AUDIT_LOCK_KEY: i64 = 0x6761_7465_6175_6474; // "gateaudt"

/// Serialises everything that extends or trims the chain (PostgreSQL),
/// until the transaction ends.
pub(super) async fn lock_chain(txn: &DatabaseTransaction) -> ServiceResult<()> {
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
        .ok_or_else(|| ServiceError::internal("the audit head query returned no row"))?;
    let head: i64 = row.try_get("", "head")?;
    let waiting: i64 = row.try_get("", "waiting")?;
    Ok((waiting == 0).then_some(head))
}

/// When Gatehouse last wrote anything: the newest audit event's time, in
/// the chain or still in the outbox (every write commits with its event).
/// The outbox is read first: an event sealed between the two reads is
/// then seen in the chain, never missed by both.
pub async fn last_write_at<C: ConnectionTrait>(conn: &C) -> ServiceResult<Option<DateTime<Utc>>> {
    let waiting: Option<DateTime<Utc>> = audit_outbox::Entity::find()
        .select_only()
        .column_as(audit_outbox::Column::OccurredAt.max(), "at")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await?
        .flatten();
    let sealed: Option<DateTime<Utc>> = audit_event::Entity::find()
        .select_only()
        .column_as(audit_event::Column::OccurredAt.max(), "at")
        .into_tuple::<Option<DateTime<Utc>>>()
        .one(conn)
        .await?
        .flatten();
    Ok(waiting.max(sealed))
}
