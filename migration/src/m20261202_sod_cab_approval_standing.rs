//! What an approval counted for when it was given: `approvals.approver_roles`
//! (the roles its approver held when deciding) and `approvals.board_role`
//! (their board seat then). Approvals are evaluated from these, so a later
//! role change or roster change neither creates nor withdraws one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Approvals {
    Table,
    ApproverRoles,
    BoardRole,
}

/// Existing approvals get the best record there is: their approver's roles
/// and seat as they stand now (the roles at decision time are in the
/// `change.decision` audit events for anyone who needs to compare).
const BACKFILL: &str = "UPDATE approvals SET
       approver_roles = COALESCE((SELECT u.roles FROM users u WHERE u.id = approvals.approver_id), approver_roles),
       board_role = (SELECT m.board_role FROM cab_members m WHERE m.user_id = approvals.approver_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // An approval without a recorded role counts for no role: the
        // default fails closed.
        manager
            .alter_table(
                Table::alter()
                    .table(Approvals::Table)
                    .add_column(json(Approvals::ApproverRoles).default("[]"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Approvals::Table)
                    .add_column(string_len_null(Approvals::BoardRole, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Approvals::BoardRole.into_iden(),
            Approvals::ApproverRoles.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Approvals::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
