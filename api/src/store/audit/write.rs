//! The write ritual in one call: an event built, the write it records run
//! through a recording of it, the event finished, the transaction
//! committed.

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use serde_json::Value;

use super::record::{PendingEvent, Recording};
use super::seal::commit;
use crate::{caller::Caller, error::ServiceResult};

/// An audit event built and waiting for the write it records (see
/// [`write`]).
pub struct Event(PendingEvent);

impl Event {
    pub fn new(
        caller: &Caller,
        action: &str,
        entity_type: &str,
        entity_id: &str,
        payload: &Value,
    ) -> Self {
        Self(PendingEvent::new(
            caller,
            action,
            entity_type,
            entity_id,
            payload,
        ))
    }
}

/// The write ritual in one call, for a use case whose transaction ends
/// with one recorded write: `write` runs its statement through a
/// [`Recording`] of `event` (so the event travels in that statement), the
/// event is finished, and `txn` is committed with [`commit`]. Returns what
/// `write` returned. Use [`super::recording`] directly where more statements
/// follow the recorded one.
pub async fn write<T>(
    txn: DatabaseTransaction,
    db: &DatabaseConnection,
    event: Event,
    write: impl AsyncFnOnce(&Recording<'_>) -> Result<T, DbErr>,
) -> ServiceResult<T> {
    let recording = Recording::of(&txn, event.0);
    let written = write(&recording).await?;
    recording.finish().await?;
    commit(txn, db).await?;
    Ok(written)
}
