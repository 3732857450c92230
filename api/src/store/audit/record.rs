//! Recording an event inside the transaction of the write it records:
//! into the outbox (PostgreSQL) or straight into the chain (SQLite).

use chrono::{DateTime, Utc};

use entity::{audit_event, audit_outbox};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, IntoActiveModel,
    Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::chain::head;
use crate::caller::Caller;
use crate::{
    auth::Credential,
    db,
    domain::audit_chain::{self, EventContent, GENESIS_HASH},
    error::ServiceResult,
};
/// An event's hashed content before it has a place in the chain.
pub(super) struct PendingEvent {
    pub(super) occurred_at: DateTime<Utc>,
    pub(super) actor_id: Option<Uuid>,
    pub(super) actor_label: String,
    pub(super) action: String,
    pub(super) entity_type: String,
    pub(super) entity_id: String,
    /// Canonical JSON text, exactly as hashed.
    pub(super) payload: String,
}

impl PendingEvent {
    pub(super) fn new(
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
    pub(super) fn outbox_values(self) -> [sea_orm::Value; 7] {
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
    pub(super) fn link(self, prev_seq: i64, prev_hash: String) -> audit_event::Model {
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

/// The payload of a change's lifecycle step with `policyVersion`, the
/// version of the policy the step was taken under. Inside the hashed
/// payload, so it is as tamper-evident as the step; events recorded
/// before versions were recorded carry none (and verify as they did).
pub fn under_policy(payload: Value, policy: &crate::policy::Policy) -> Value {
    let mut object = match payload {
        Value::Object(map) => map,
        other => serde_json::Map::from_iter([("value".to_owned(), other)]),
    };
    object.insert(
        POLICY_VERSION_FIELD.to_owned(),
        Value::String(policy.version.clone()),
    );
    Value::Object(object)
}

pub use crate::domain::controls::POLICY_VERSION_FIELD;

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
/// one another (measured with eight writers: docs/benchmarks.md); the
/// sealer links it just after the commit.
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

impl<'a> Recording<'a> {
    /// A recording of an event built beforehand (`write::Event`).
    pub(super) fn of(txn: &'a DatabaseTransaction, event: PendingEvent) -> Self {
        Recording {
            txn,
            pending: std::sync::Mutex::new(Some(event)),
            linked: std::sync::Mutex::new(None),
        }
    }
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
