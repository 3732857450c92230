//! Audit trail: the outbox that lets concurrent PostgreSQL writers commit
//! their events without queueing on the chain, and purge permits that make
//! events older than the retention period deletable (and nothing else).

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditOutbox {
    Table,
    Id,
    OccurredAt,
    ActorId,
    ActorLabel,
    Action,
    EntityType,
    EntityId,
    Payload,
}

#[derive(DeriveIden)]
enum AuditPurgePermits {
    Table,
    PurgeBefore,
}

/// PostgreSQL: audit_events rows may only be deleted when a purge permit
/// (written by `gatehouse audit purge` in the same transaction, after it
/// checked the policy's retention period) covers them; never updated,
/// never truncated.
const PG_APPEND_ONLY_WITH_PURGE: &str = r#"CREATE OR REPLACE FUNCTION gatehouse_audit_append_only() RETURNS trigger AS $$
   BEGIN
     IF TG_OP = 'DELETE' AND EXISTS (
       SELECT 1 FROM audit_purge_permits p WHERE OLD.occurred_at < p.purge_before
     ) THEN
       RETURN OLD;
     END IF;
     RAISE EXCEPTION 'audit_events is append-only';
   END;
   $$ LANGUAGE plpgsql"#;

const PG_APPEND_ONLY: &str = r#"CREATE OR REPLACE FUNCTION gatehouse_audit_append_only() RETURNS trigger AS $$
   BEGIN
     RAISE EXCEPTION 'audit_events is append-only';
   END;
   $$ LANGUAGE plpgsql"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditOutbox::Table)
                    .col(big_pk_auto(AuditOutbox::Id))
                    .col(timestamp_with_time_zone(AuditOutbox::OccurredAt))
                    .col(uuid_null(AuditOutbox::ActorId))
                    .col(string_len(AuditOutbox::ActorLabel, 320))
                    .col(string_len(AuditOutbox::Action, 64))
                    .col(string_len(AuditOutbox::EntityType, 64))
                    .col(string_len(AuditOutbox::EntityId, 64))
                    .col(text(AuditOutbox::Payload))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditPurgePermits::Table)
                    .col(timestamp_with_time_zone(AuditPurgePermits::PurgeBefore).primary_key())
                    .to_owned(),
            )
            .await?;
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => vec![PG_APPEND_ONLY_WITH_PURGE],
            DbBackend::Sqlite => vec![
                "DROP TRIGGER audit_events_no_delete",
                r#"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
                   WHEN NOT EXISTS (
                     SELECT 1 FROM audit_purge_permits p WHERE OLD.occurred_at < p.purge_before
                   )
                   BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"#,
            ],
            _ => vec![],
        };
        let connection = manager.get_connection();
        for statement in statements {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => vec![PG_APPEND_ONLY],
            DbBackend::Sqlite => vec![
                "DROP TRIGGER audit_events_no_delete",
                r#"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
                   BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"#,
            ],
            _ => vec![],
        };
        let connection = manager.get_connection();
        for statement in statements {
            connection.execute_unprepared(statement).await?;
        }
        for table in [
            AuditPurgePermits::Table.into_iden(),
            AuditOutbox::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
