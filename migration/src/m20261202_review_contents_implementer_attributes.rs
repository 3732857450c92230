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
    Table,
    RootCause,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    ImplementationStartedBy,
    Attributes,
    ImplementationDueAt,
    ResponseDueAt,
    RespondedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Reviews::Table)
                    .add_column(text_null(Reviews::RootCause))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .add_column(uuid_null(Changes::ImplementationStartedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .add_column(json_null(Changes::Attributes))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .add_column(timestamp_with_time_zone_null(Changes::ImplementationDueAt))
                    .to_owned(),
            )
            .await?;
        for column in [Changes::ResponseDueAt, Changes::RespondedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Changes::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Changes::RespondedAt,
            Changes::ResponseDueAt,
            Changes::ImplementationDueAt,
            Changes::Attributes,
            Changes::ImplementationStartedBy,
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
        manager
            .alter_table(
                Table::alter()
                    .table(Reviews::Table)
                    .drop_column(Reviews::RootCause)
                    .to_owned(),
            )
            .await
    }
}
