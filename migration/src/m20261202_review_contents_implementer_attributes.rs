//! What a review states, who started an implementation, and the
//! attributes a change carries.
//!
//! `reviews.root_cause`: seed 000 and seed 001 §7.2 ask a review after a
//! rollback for its root cause, next to the lessons learned the table
//! already holds. `changes.implementation_started_by`: the account that
//! started implementation, which a policy's segregation of duties compares
//! with the approvers and the reviewer. Rows from before this migration
//! have neither; the start is still in the `change.implementation_started`
//! audit event. `changes.attributes`: a JSON array of the policy's
//! attribute keys the change carries (`authentication`, `user_facing`),
//! which conditional gates read; NULL reads as none.
//! `changes.implementation_due_at`: when an approved change must have
//! started (the type's `implement_within_hours` after approval), so that
//! one never scheduled is overdue too. `changes.response_due_at` and
//! `changes.responded_at`: when the approvers' first decision is due (the
//! type's `respond_within_hours` after submission) and when it came.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reviews {
    RootCause,
}

#[derive(DeriveIden)]
enum Changes {
    ImplementationStartedBy,
    Attributes,
    ImplementationDueAt,
    ResponseDueAt,
    RespondedAt,
}

/// The columns this migration adds, table by table, in order.
fn added() -> Vec<(Alias, ColumnDef)> {
    vec![
        (Alias::new("reviews"), text_null(Reviews::RootCause)),
        (
            Alias::new("changes"),
            uuid_null(Changes::ImplementationStartedBy),
        ),
        (Alias::new("changes"), json_null(Changes::Attributes)),
        (
            Alias::new("changes"),
            timestamp_with_time_zone_null(Changes::ImplementationDueAt),
        ),
        (
            Alias::new("changes"),
            timestamp_with_time_zone_null(Changes::ResponseDueAt),
        ),
        (
            Alias::new("changes"),
            timestamp_with_time_zone_null(Changes::RespondedAt),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for (table, mut column) in added() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in added().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Alias::new(column.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
