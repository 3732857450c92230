//! `changes.board_review_due_at` and `changes.board_reviewed_at`: the CAB
//! reviews an emergency (or a rolled-back change) "at its next meeting"
//! (seed 000, seed 001 §4.4). Where the board meets on a schedule, the end
//! of implementation sets that meeting's end as the review's deadline, and
//! the first BOARD review meets it. Existing BOARD reviews fill
//! `board_reviewed_at`; changes that ended before this migration carry no
//! such deadline.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    BoardReviewDueAt,
    BoardReviewedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [Changes::BoardReviewDueAt, Changes::BoardReviewedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Changes::Table)
                        .add_column(timestamp_with_time_zone_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE changes SET board_reviewed_at = (SELECT MIN(reviews.reviewed_at) FROM reviews \
                 WHERE reviews.change_id = changes.id AND reviews.kind = 'BOARD')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Changes::BoardReviewedAt, Changes::BoardReviewDueAt] {
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
