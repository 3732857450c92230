//! Lifecycle: approvals and CAB votes, evidence, incidents, reviews, the
//! CAB and its meetings, the standard change catalog, and the lifecycle
//! columns of a change (deadlines, board outcome, rollback reason).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    Id,
    TemplateId,
    ApprovalRound,
    ApprovalDueAt,
    DocumentationDueAt,
    DocumentedAt,
    ReviewDueAt,
    ReviewedAt,
    BoardOutcome,
    RollbackReason,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    ChangeId,
    Round,
    ApproverId,
    Decision,
    Comment,
    DecidedAt,
    MeetingId,
    Retroactive,
}

#[derive(DeriveIden)]
enum Evidence {
    Table,
    Id,
    ChangeId,
    Gate,
    Status,
    Summary,
    Url,
    Data,
    RecordedBy,
    RecordedAt,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    ChangeId,
    Priority,
    Title,
    Description,
    OpenedBy,
    OpenedAt,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum Reviews {
    Table,
    Id,
    ChangeId,
    Kind,
    ReviewerId,
    Summary,
    LessonsLearned,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum CabMembers {
    Table,
    UserId,
    BoardRole,
    AddedAt,
}

#[derive(DeriveIden)]
enum CabMeetings {
    Table,
    Id,
    ScheduledFor,
    Status,
    Minutes,
    HeldAt,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChangeTemplates {
    Table,
    Id,
    Key,
    Name,
    ChangeType,
    Description,
    Procedure,
    Active,
    CreatedBy,
    CreatedAt,
}

fn foreign_key(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            uuid_null(Changes::TemplateId),
            integer(Changes::ApprovalRound).default(1).to_owned(),
            timestamp_with_time_zone_null(Changes::ApprovalDueAt),
            timestamp_with_time_zone_null(Changes::DocumentationDueAt),
            timestamp_with_time_zone_null(Changes::DocumentedAt),
            timestamp_with_time_zone_null(Changes::ReviewDueAt),
            timestamp_with_time_zone_null(Changes::ReviewedAt),
            string_len_null(Changes::BoardOutcome, 16),
            text_null(Changes::RollbackReason),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Changes::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Approvals::Table)
                    .col(uuid(Approvals::Id).primary_key())
                    .col(uuid(Approvals::ChangeId))
                    .col(integer(Approvals::Round))
                    .col(uuid(Approvals::ApproverId))
                    .col(string_len(Approvals::Decision, 16))
                    .col(text_null(Approvals::Comment))
                    .col(timestamp_with_time_zone(Approvals::DecidedAt))
                    .col(uuid_null(Approvals::MeetingId))
                    .col(boolean(Approvals::Retroactive))
                    .foreign_key(&mut foreign_key(
                        "fk_approvals_change",
                        (Approvals::Table, Approvals::ChangeId),
                        (Changes::Table, Changes::Id),
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_approvals_user",
                        (Approvals::Table, Approvals::ApproverId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // One person, one vote per approval round, enforced by the database.
        manager
            .create_index(
                Index::create()
                    .name("ux_approvals_one_vote")
                    .table(Approvals::Table)
                    .col(Approvals::ChangeId)
                    .col(Approvals::Round)
                    .col(Approvals::ApproverId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Evidence::Table)
                    .col(uuid(Evidence::Id).primary_key())
                    .col(uuid(Evidence::ChangeId))
                    .col(string_len(Evidence::Gate, 64))
                    .col(string_len(Evidence::Status, 16))
                    .col(text_null(Evidence::Summary))
                    .col(text_null(Evidence::Url))
                    .col(json(Evidence::Data))
                    .col(uuid(Evidence::RecordedBy))
                    .col(timestamp_with_time_zone(Evidence::RecordedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_evidence_change",
                        (Evidence::Table, Evidence::ChangeId),
                        (Changes::Table, Changes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_evidence_change")
                    .table(Evidence::Table)
                    .col(Evidence::ChangeId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Incidents::Table)
                    .col(uuid(Incidents::Id).primary_key())
                    .col(uuid(Incidents::ChangeId))
                    .col(string_len(Incidents::Priority, 4))
                    .col(string_len(Incidents::Title, 200))
                    .col(text_null(Incidents::Description))
                    .col(uuid(Incidents::OpenedBy))
                    .col(timestamp_with_time_zone(Incidents::OpenedAt))
                    .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_incidents_change",
                        (Incidents::Table, Incidents::ChangeId),
                        (Changes::Table, Changes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_incidents_change")
                    .table(Incidents::Table)
                    .col(Incidents::ChangeId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Reviews::Table)
                    .col(uuid(Reviews::Id).primary_key())
                    .col(uuid(Reviews::ChangeId))
                    .col(string_len(Reviews::Kind, 32))
                    .col(uuid(Reviews::ReviewerId))
                    .col(text(Reviews::Summary))
                    .col(text_null(Reviews::LessonsLearned))
                    .col(timestamp_with_time_zone(Reviews::ReviewedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_reviews_change",
                        (Reviews::Table, Reviews::ChangeId),
                        (Changes::Table, Changes::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reviews_change")
                    .table(Reviews::Table)
                    .col(Reviews::ChangeId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CabMembers::Table)
                    .col(uuid(CabMembers::UserId).primary_key())
                    .col(string_len(CabMembers::BoardRole, 16))
                    .col(timestamp_with_time_zone(CabMembers::AddedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_cab_members_user",
                        (CabMembers::Table, CabMembers::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CabMeetings::Table)
                    .col(uuid(CabMeetings::Id).primary_key())
                    .col(timestamp_with_time_zone(CabMeetings::ScheduledFor))
                    .col(string_len(CabMeetings::Status, 16))
                    .col(text_null(CabMeetings::Minutes))
                    .col(timestamp_with_time_zone_null(CabMeetings::HeldAt))
                    .col(uuid(CabMeetings::CreatedBy))
                    .col(timestamp_with_time_zone(CabMeetings::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_cab_meetings_when")
                    .table(CabMeetings::Table)
                    .col(CabMeetings::ScheduledFor)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChangeTemplates::Table)
                    .col(uuid(ChangeTemplates::Id).primary_key())
                    .col(string_len_uniq(ChangeTemplates::Key, 64))
                    .col(string_len(ChangeTemplates::Name, 200))
                    .col(string_len(ChangeTemplates::ChangeType, 64))
                    .col(text(ChangeTemplates::Description))
                    .col(json(ChangeTemplates::Procedure))
                    .col(boolean(ChangeTemplates::Active))
                    .col(uuid(ChangeTemplates::CreatedBy))
                    .col(timestamp_with_time_zone(ChangeTemplates::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ChangeTemplates::Table.into_iden(),
            CabMeetings::Table.into_iden(),
            CabMembers::Table.into_iden(),
            Reviews::Table.into_iden(),
            Incidents::Table.into_iden(),
            Evidence::Table.into_iden(),
            Approvals::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [
            Changes::TemplateId.into_iden(),
            Changes::ApprovalRound.into_iden(),
            Changes::ApprovalDueAt.into_iden(),
            Changes::DocumentationDueAt.into_iden(),
            Changes::DocumentedAt.into_iden(),
            Changes::ReviewDueAt.into_iden(),
            Changes::ReviewedAt.into_iden(),
            Changes::BoardOutcome.into_iden(),
            Changes::RollbackReason.into_iden(),
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
        Ok(())
    }
}
