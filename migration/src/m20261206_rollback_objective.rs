//! A rollback's kind, its incident and the rollback time objective
//! (seed 001 §7.3): `changes.rollback_kind`, `rollback_incident_id`,
//! `restore_due_at` (the rollback's start plus the kind's objective) and
//! `restored_at` (copied from the incident when it is resolved). Changes
//! rolled back before this migration get their incident (the one opened
//! by the rollback, at its moment) and its restore time; they carry no
//! kind and so no objective.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    RollbackKind,
    RollbackIncidentId,
    RestoreDueAt,
    RestoredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let columns = [
            string_len_null(Changes::RollbackKind, 64),
            uuid_null(Changes::RollbackIncidentId),
            timestamp_with_time_zone_null(Changes::RestoreDueAt),
            timestamp_with_time_zone_null(Changes::RestoredAt),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Changes::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        let connection = manager.get_connection();
        connection
            .execute_unprepared(
                // ORDER BY and LIMIT, not MIN: PostgreSQL has no MIN(uuid).
                "UPDATE changes SET rollback_incident_id = (SELECT incidents.id FROM incidents \
                 WHERE incidents.change_id = changes.id AND incidents.opened_at = changes.actual_end \
                 ORDER BY incidents.id LIMIT 1) \
                 WHERE changes.outcome = 'ROLLED_BACK'",
            )
            .await?;
        connection
            .execute_unprepared(
                "UPDATE changes SET restored_at = (SELECT incidents.restored_at FROM incidents \
                 WHERE incidents.id = changes.rollback_incident_id) \
                 WHERE changes.rollback_incident_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Changes::RestoredAt,
            Changes::RestoreDueAt,
            Changes::RollbackIncidentId,
            Changes::RollbackKind,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Changes::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
