//! When the board decided: `changes.board_decided_at` (the time of the
//! decision in `board_outcome`) and `board_decisions`, one row per approval
//! round the board decided, kept when a rejected change is revised so the
//! CAB approval rate still counts the rejection.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    Id,
    BoardDecidedAt,
}

#[derive(DeriveIden)]
enum BoardDecisions {
    Table,
    ChangeId,
    Round,
    Outcome,
    DecidedAt,
}

/// Existing board outcomes get the time of the change's last vote (or its
/// approval, or its last update) and one decision row each. Deferrals moved
/// the change to the next round, so theirs is the round before.
const BACKFILL: [&str; 2] = [
    "UPDATE changes SET board_decided_at = COALESCE(
       (SELECT MAX(a.decided_at) FROM approvals a WHERE a.change_id = changes.id),
       approved_at, updated_at)
     WHERE board_outcome IS NOT NULL",
    "INSERT INTO board_decisions (change_id, round, outcome, decided_at)
     SELECT id, CASE WHEN board_outcome = 'DEFERRED' THEN approval_round - 1 ELSE approval_round END,
            board_outcome, board_decided_at
     FROM changes WHERE board_outcome IS NOT NULL",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .add_column(timestamp_with_time_zone_null(Changes::BoardDecidedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BoardDecisions::Table)
                    .col(uuid(BoardDecisions::ChangeId))
                    .col(integer(BoardDecisions::Round))
                    .col(string_len(BoardDecisions::Outcome, 16))
                    .col(timestamp_with_time_zone(BoardDecisions::DecidedAt))
                    .primary_key(
                        Index::create()
                            .col(BoardDecisions::ChangeId)
                            .col(BoardDecisions::Round),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_board_decisions_change")
                            .from(BoardDecisions::Table, BoardDecisions::ChangeId)
                            .to(Changes::Table, Changes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The metrics read decisions by time.
        manager
            .create_index(
                Index::create()
                    .name("idx_board_decisions_decided_at")
                    .table(BoardDecisions::Table)
                    .col(BoardDecisions::DecidedAt)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in BACKFILL {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BoardDecisions::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .drop_column(Changes::BoardDecidedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
