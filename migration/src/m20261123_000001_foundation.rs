//! Accounts, tokens, systems, change requests, change numbering and the
//! audit trail.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    Email,
    Roles,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    SecretHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Systems {
    Table,
    Id,
    Name,
    Description,
    ParentId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    Id,
    Number,
    Title,
    Description,
    BusinessJustification,
    ExpectedBenefit,
    Urgency,
    Priority,
    ChangeType,
    Status,
    Likelihood,
    Impact,
    InherentScore,
    Mitigations,
    ResidualLikelihood,
    ResidualImpact,
    ResidualScore,
    RiskLevel,
    RequesterId,
    Services,
    CustomersAffected,
    DowntimeRequired,
    PerformanceImpact,
    ImplementationSteps,
    DeploymentMethod,
    CanaryStages,
    TestPlan,
    RollbackPlan,
    Links,
    PlannedStart,
    PlannedEnd,
    ScheduledStart,
    ScheduledEnd,
    ActualStart,
    ActualEnd,
    Outcome,
    SubmittedAt,
    ApprovedAt,
    ClosedAt,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum ChangeSystems {
    Table,
    ChangeId,
    SystemId,
}

#[derive(DeriveIden)]
enum ChangeSequences {
    Table,
    Year,
    LastValue,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Seq,
    OccurredAt,
    ActorId,
    ActorLabel,
    Action,
    EntityType,
    EntityId,
    Payload,
    PrevHash,
    Hash,
}

fn index(name: &str, table: impl IntoIden, columns: &[&'static str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(Alias::new(*column));
    }
    statement.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(string_len(Users::Name, 200))
                    .col(string_len_uniq(Users::Email, 320))
                    .col(json(Users::Roles))
                    .col(boolean(Users::Active))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(uuid(ApiTokens::Id).primary_key())
                    .col(uuid(ApiTokens::UserId))
                    .col(string_len(ApiTokens::Name, 200))
                    .col(string_len_uniq(ApiTokens::SecretHash, 64))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_tokens_user")
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_api_tokens_user", ApiTokens::Table, &["user_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Systems::Table)
                    .col(uuid(Systems::Id).primary_key())
                    .col(string_len_uniq(Systems::Name, 200))
                    .col(text_null(Systems::Description))
                    .col(uuid_null(Systems::ParentId))
                    .col(timestamp_with_time_zone(Systems::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_systems_parent")
                            .from(Systems::Table, Systems::ParentId)
                            .to(Systems::Table, Systems::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_systems_parent", Systems::Table, &["parent_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(uuid(Changes::Id).primary_key())
                    .col(string_len_uniq(Changes::Number, 32))
                    .col(string_len(Changes::Title, 200))
                    .col(text(Changes::Description))
                    .col(text(Changes::BusinessJustification))
                    .col(text_null(Changes::ExpectedBenefit))
                    .col(string_len(Changes::Urgency, 16))
                    .col(string_len(Changes::Priority, 16))
                    .col(string_len(Changes::ChangeType, 64))
                    .col(string_len(Changes::Status, 32))
                    .col(integer(Changes::Likelihood))
                    .col(integer(Changes::Impact))
                    .col(integer(Changes::InherentScore))
                    .col(text_null(Changes::Mitigations))
                    .col(integer_null(Changes::ResidualLikelihood))
                    .col(integer_null(Changes::ResidualImpact))
                    .col(integer_null(Changes::ResidualScore))
                    .col(string_len(Changes::RiskLevel, 16))
                    .col(uuid(Changes::RequesterId))
                    .col(json(Changes::Services))
                    .col(text_null(Changes::CustomersAffected))
                    .col(boolean(Changes::DowntimeRequired))
                    .col(text_null(Changes::PerformanceImpact))
                    .col(json(Changes::ImplementationSteps))
                    .col(string_len_null(Changes::DeploymentMethod, 16))
                    .col(json(Changes::CanaryStages))
                    .col(text_null(Changes::TestPlan))
                    .col(json_null(Changes::RollbackPlan))
                    .col(json(Changes::Links))
                    .col(timestamp_with_time_zone_null(Changes::PlannedStart))
                    .col(timestamp_with_time_zone_null(Changes::PlannedEnd))
                    .col(timestamp_with_time_zone_null(Changes::ScheduledStart))
                    .col(timestamp_with_time_zone_null(Changes::ScheduledEnd))
                    .col(timestamp_with_time_zone_null(Changes::ActualStart))
                    .col(timestamp_with_time_zone_null(Changes::ActualEnd))
                    .col(string_len_null(Changes::Outcome, 32))
                    .col(timestamp_with_time_zone_null(Changes::SubmittedAt))
                    .col(timestamp_with_time_zone_null(Changes::ApprovedAt))
                    .col(timestamp_with_time_zone_null(Changes::ClosedAt))
                    .col(timestamp_with_time_zone(Changes::CreatedAt))
                    .col(timestamp_with_time_zone(Changes::UpdatedAt))
                    .col(integer(Changes::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_changes_requester")
                            .from(Changes::Table, Changes::RequesterId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_changes_status", &["status"][..]),
            ("idx_changes_type", &["change_type"][..]),
            ("idx_changes_requester", &["requester_id"][..]),
            ("idx_changes_created_at", &["created_at"][..]),
            ("idx_changes_planned_start", &["planned_start"][..]),
            (
                "idx_changes_scheduled",
                &["scheduled_start", "scheduled_end"][..],
            ),
            ("idx_changes_actual_end", &["actual_end"][..]),
        ] {
            manager
                .create_index(index(name, Changes::Table, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ChangeSystems::Table)
                    .col(uuid(ChangeSystems::ChangeId))
                    .col(uuid(ChangeSystems::SystemId))
                    .primary_key(
                        Index::create()
                            .col(ChangeSystems::ChangeId)
                            .col(ChangeSystems::SystemId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_change_systems_change")
                            .from(ChangeSystems::Table, ChangeSystems::ChangeId)
                            .to(Changes::Table, Changes::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_change_systems_system")
                            .from(ChangeSystems::Table, ChangeSystems::SystemId)
                            .to(Systems::Table, Systems::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_change_systems_system",
                ChangeSystems::Table,
                &["system_id", "change_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChangeSequences::Table)
                    .col(integer(ChangeSequences::Year).primary_key())
                    .col(integer(ChangeSequences::LastValue))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_integer(AuditEvents::Seq).primary_key())
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(string_len(AuditEvents::ActorLabel, 320))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::EntityType, 64))
                    .col(string_len(AuditEvents::EntityId, 64))
                    .col(text(AuditEvents::Payload))
                    .col(string_len(AuditEvents::PrevHash, 64))
                    .col(string_len_uniq(AuditEvents::Hash, 64))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_audit_entity", &["entity_type", "entity_id"][..]),
            ("idx_audit_actor", &["actor_id"][..]),
            ("idx_audit_occurred_at", &["occurred_at"][..]),
        ] {
            manager
                .create_index(index(name, AuditEvents::Table, columns))
                .await?;
        }

        // The audit trail is append-only at the database level too, so a
        // compromised application role cannot rewrite history quietly.
        let append_only = match manager.get_database_backend() {
            DbBackend::Postgres => vec![
                r#"CREATE FUNCTION gatehouse_audit_append_only() RETURNS trigger AS $$
                   BEGIN
                     RAISE EXCEPTION 'audit_events is append-only';
                   END;
                   $$ LANGUAGE plpgsql"#,
                r#"CREATE TRIGGER audit_events_append_only
                   BEFORE UPDATE OR DELETE ON audit_events
                   FOR EACH ROW EXECUTE FUNCTION gatehouse_audit_append_only()"#,
                r#"CREATE TRIGGER audit_events_no_truncate
                   BEFORE TRUNCATE ON audit_events
                   FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_audit_append_only()"#,
            ],
            DbBackend::Sqlite => vec![
                r#"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
                   BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"#,
                r#"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
                   BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"#,
            ],
            _ => vec![],
        };
        let connection = manager.get_connection();
        for statement in append_only {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP TABLE IF EXISTS audit_events; DROP FUNCTION IF EXISTS gatehouse_audit_append_only()",
                )
                .await?;
        } else {
            manager
                .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
                .await?;
        }
        for table in [
            ChangeSequences::Table.into_iden(),
            ChangeSystems::Table.into_iden(),
            Changes::Table.into_iden(),
            Systems::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
