//! Who issued each token.
//!
//! An audit event names the token that acted and the account that issued
//! it, and a token issued by one account for another only works while that
//! other account is a service account (docs/security.md). Both
//! need the issuer on the token row, read with the token itself when a
//! request is authenticated.
//!
//! `issued_by` is the issuing account, NULL when the operator issued the
//! token from the host (the CLI, the bootstrap token); `issued_by_label`
//! names the issuer as the audit trail does (an email or `cli:<user>`).
//! Tokens issued before this migration have neither: their issuer is in
//! the `token.issued` audit event only, and they keep working as before.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    IssuedBy,
    IssuedByLabel,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(uuid_null(ApiTokens::IssuedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(string_len_null(ApiTokens::IssuedByLabel, 320))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ApiTokens::IssuedByLabel, ApiTokens::IssuedBy] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiTokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
