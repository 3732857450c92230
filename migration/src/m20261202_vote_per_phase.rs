//! One person, one vote per approval round, and per phase where a type's
//! steps are split by the start: the CISO's verbal approval before
//! implementation and the CISO's retroactive sign-off after it are two
//! decisions (seed 002 §5). The database still refuses a second vote in the
//! same phase; the service decides which phases a type has.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Approvals {
    Table,
    ChangeId,
    Round,
    ApproverId,
    Retroactive,
}

fn one_vote(name: &str, columns: Vec<Approvals>) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Approvals::Table).unique();
    for column in columns {
        index.col(column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_approvals_one_vote")
                    .table(Approvals::Table)
                    .to_owned(),
            )
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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_approvals_one_vote_per_phase")
                    .table(Approvals::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(one_vote(
                "ux_approvals_one_vote",
                vec![Approvals::ChangeId, Approvals::Round, Approvals::ApproverId],
            ))
            .await
    }
}
