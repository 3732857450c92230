//! Deployments, incidents of their own, and the teams that own systems
//! (docs/design.md, "Deployments and incidents").
//!
//! - `deployments`: what a pipeline or a forge's receiver reported, with
//!   the change it belongs to (by number) and, for a production deployment
//!   no change authorised, the exception (`exception_reason`). Idempotent
//!   on `external_id`. `deployment_systems` names the systems deployed.
//! - `incidents` gains a life of its own: `change_id` becomes optional (an
//!   incident may be linked to a deployment or to systems only), and it is
//!   resolved with the time service was restored (`restored_at`, what time
//!   to restore measures), a summary and who resolved it. SQLite cannot
//!   drop a NOT NULL, so the table is rebuilt (on both databases, one code
//!   path): created anew, the rows copied, the old table dropped, the new
//!   one renamed. Nothing references `incidents`.
//! - `incident_systems`: the systems an incident affects.
//! - `systems.team`: the owning team, which the DORA metrics group by.
//! - `hook_deliveries`: the delivery ids the GitHub and GitLab receivers
//!   have accepted, so a redelivered event is stored once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    ExternalId,
    ChangeId,
    ChangeNumber,
    Environment,
    Production,
    Version,
    CommitSha,
    CommitTime,
    StartedAt,
    FinishedAt,
    Status,
    Url,
    Source,
    ExceptionReason,
    ExceptionAt,
    RecordedBy,
    RecordedAt,
    UpdatedAt,
}

/// Link tables: the owner's key and `system_id`.
#[derive(DeriveIden, Clone, Copy)]
enum DeploymentSystems {
    Table,
    DeploymentId,
}

#[derive(DeriveIden, Clone, Copy)]
enum IncidentSystems {
    Table,
    IncidentId,
}

#[derive(DeriveIden)]
enum HookDeliveries {
    Table,
    Source,
    DeliveryId,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    ChangeId,
    DeploymentId,
    Priority,
    Title,
    Description,
    OpenedBy,
    OpenedAt,
    ResolvedAt,
    RestoredAt,
    Resolution,
    ResolvedBy,
}

#[derive(DeriveIden)]
enum Systems {
    Table,
    Id,
    Team,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    Id,
}

const INCIDENTS_NEXT: &str = "incidents_next";

/// The incidents table as it is after this migration, under `name`.
fn incidents_table(name: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
        .col(uuid(Incidents::Id).primary_key())
        .col(uuid_null(Incidents::ChangeId))
        .col(uuid_null(Incidents::DeploymentId))
        .col(string_len(Incidents::Priority, 4))
        .col(string_len(Incidents::Title, 200))
        .col(text_null(Incidents::Description))
        .col(uuid(Incidents::OpenedBy))
        .col(timestamp_with_time_zone(Incidents::OpenedAt))
        .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
        .col(timestamp_with_time_zone_null(Incidents::RestoredAt))
        .col(text_null(Incidents::Resolution))
        .col(uuid_null(Incidents::ResolvedBy))
        .foreign_key(
            ForeignKey::create()
                .name("fk_incidents_change")
                .from(Alias::new(name), Incidents::ChangeId)
                .to(Changes::Table, Changes::Id),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_incidents_deployment")
                .from(Alias::new(name), Incidents::DeploymentId)
                .to(Deployments::Table, Deployments::Id),
        )
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

/// A link table `(owner, system)`, both keys, the pair unique.
fn link_table(table: impl IntoIden + Clone, owner: impl IntoIden + Clone) -> TableCreateStatement {
    Table::create()
        .table(table.clone())
        .col(uuid(owner.clone()))
        .col(uuid(Alias::new("system_id")))
        .primary_key(Index::create().col(owner).col(Alias::new("system_id")))
        .foreign_key(
            ForeignKey::create()
                .from(table, Alias::new("system_id"))
                .to(Systems::Table, Systems::Id),
        )
        .to_owned()
}

/// Replaces `incidents` by `next` (a table named `INCIDENTS_NEXT`) with
/// the columns both shapes have copied over, and indexes it by change.
async fn rebuild_incidents(
    manager: &SchemaManager<'_>,
    next: TableCreateStatement,
) -> Result<(), DbErr> {
    manager.create_table(next).await?;
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "INSERT INTO {INCIDENTS_NEXT} (id, change_id, priority, title, description, opened_by, opened_at, resolved_at) \
             SELECT id, change_id, priority, title, description, opened_by, opened_at, resolved_at FROM incidents"
        ))
        .await?;
    manager
        .drop_table(Table::drop().table(Incidents::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Alias::new(INCIDENTS_NEXT), Incidents::Table)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index(
            "idx_incidents_change",
            Incidents::Table,
            &["change_id"],
        ))
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Systems::Table)
                    .add_column(string_len_null(Systems::Team, 100))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deployments::Table)
                    .col(uuid(Deployments::Id).primary_key())
                    .col(string_len_null(Deployments::ExternalId, 200).unique_key())
                    .col(uuid_null(Deployments::ChangeId))
                    .col(string_len_null(Deployments::ChangeNumber, 64))
                    .col(string_len(Deployments::Environment, 100))
                    .col(boolean(Deployments::Production))
                    .col(string_len_null(Deployments::Version, 200))
                    .col(string_len_null(Deployments::CommitSha, 64))
                    .col(timestamp_with_time_zone_null(Deployments::CommitTime))
                    .col(timestamp_with_time_zone_null(Deployments::StartedAt))
                    .col(timestamp_with_time_zone_null(Deployments::FinishedAt))
                    .col(string_len(Deployments::Status, 16))
                    .col(text_null(Deployments::Url))
                    .col(string_len(Deployments::Source, 16))
                    .col(text_null(Deployments::ExceptionReason))
                    .col(timestamp_with_time_zone_null(Deployments::ExceptionAt))
                    .col(uuid_null(Deployments::RecordedBy))
                    .col(timestamp_with_time_zone(Deployments::RecordedAt))
                    .col(timestamp_with_time_zone(Deployments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deployments_change")
                            .from(Deployments::Table, Deployments::ChangeId)
                            .to(Changes::Table, Changes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_deployments_finished",
                Deployments::Table,
                &["finished_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_deployments_change",
                Deployments::Table,
                &["change_id"],
            ))
            .await?;
        manager
            .create_table(link_table(
                DeploymentSystems::Table,
                DeploymentSystems::DeploymentId,
            ))
            .await?;

        rebuild_incidents(manager, incidents_table(INCIDENTS_NEXT)).await?;
        manager
            .create_index(index(
                "idx_incidents_restored",
                Incidents::Table,
                &["restored_at"],
            ))
            .await?;
        // The foreign key's other side: without it, every deployment
        // deleted or changed scans the incidents.
        manager
            .create_index(index(
                "idx_incidents_deployment",
                Incidents::Table,
                &["deployment_id"],
            ))
            .await?;
        manager
            .create_table(link_table(
                IncidentSystems::Table,
                IncidentSystems::IncidentId,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(HookDeliveries::Table)
                    .col(string_len(HookDeliveries::Source, 16))
                    .col(string_len(HookDeliveries::DeliveryId, 200))
                    .col(timestamp_with_time_zone(HookDeliveries::ReceivedAt))
                    .primary_key(
                        Index::create()
                            .col(HookDeliveries::Source)
                            .col(HookDeliveries::DeliveryId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Alias::new("hook_deliveries"),
            Alias::new("incident_systems"),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        // Incidents without a change cannot go back into the old table.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM incidents WHERE change_id IS NULL")
            .await?;
        let old = Table::create()
            .table(Alias::new(INCIDENTS_NEXT))
            .col(uuid(Incidents::Id).primary_key())
            .col(uuid(Incidents::ChangeId))
            .col(string_len(Incidents::Priority, 4))
            .col(string_len(Incidents::Title, 200))
            .col(text_null(Incidents::Description))
            .col(uuid(Incidents::OpenedBy))
            .col(timestamp_with_time_zone(Incidents::OpenedAt))
            .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_incidents_change")
                    .from(Alias::new(INCIDENTS_NEXT), Incidents::ChangeId)
                    .to(Changes::Table, Changes::Id),
            )
            .to_owned();
        rebuild_incidents(manager, old).await?;
        for table in [Alias::new("deployment_systems"), Alias::new("deployments")] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Systems::Table)
                    .drop_column(Systems::Team)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
