//! `approvals.freeze_entry`: the approval lets a change start during a
//! freeze (a soft freeze's extra approval, or the CAB's approval an
//! emergency needs to start during one, seed 001 §6.3). It is not a
//! decision on the change itself, so it never fills an approval step, and
//! one person may give it beside their own decision: the one-vote index
//! gains the column. Rows from before this migration read as decisions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Approvals {
    Table,
    ChangeId,
    Round,
    ApproverId,
    Retroactive,
    FreezeEntry,
}

fn one_vote(name: &str, columns: Vec<Approvals>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Approvals::Table).unique();
    for column in columns {
        index.col(column);
    }
    index.to_owned()
}

fn drop_index(name: &str) -> IndexDropStatement {
    Index::drop().name(name).table(Approvals::Table).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Approvals::Table)
                    .add_column(boolean(Approvals::FreezeEntry).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(drop_index("ux_approvals_one_vote_per_phase"))
            .await?;
        manager
            .create_index(one_vote(
                "ux_approvals_one_vote_per_phase_and_kind",
                vec![
                    Approvals::ChangeId,
                    Approvals::Round,
                    Approvals::ApproverId,
                    Approvals::Retroactive,
                    Approvals::FreezeEntry,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(drop_index("ux_approvals_one_vote_per_phase_and_kind"))
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM approvals WHERE freeze_entry")
            .await?;
        manager
            .create_index(one_vote(
                "ux_approvals_one_vote_per_phase",
                vec![
                    Approvals::ChangeId,
                    Approvals::Round,
                    Approvals::ApproverId,
                    Approvals::Retroactive,
                ],
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Approvals::Table)
                    .drop_column(Approvals::FreezeEntry)
                    .to_owned(),
            )
            .await
    }
}
