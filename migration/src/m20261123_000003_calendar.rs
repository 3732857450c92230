//! Calendar: maintenance/deployment windows and freezes defined at run
//! time (policy presets bring their own), iCalendar feed tokens, and the
//! iCalendar SEQUENCE of each change's scheduled slot.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    ScheduleSequence,
}

#[derive(DeriveIden)]
enum CalendarRules {
    Table,
    Id,
    Kind,
    Name,
    Dtstart,
    Rrule,
    DurationMinutes,
    TimeZone,
    ChangeTypes,
    FreezeKind,
    ApproverRoles,
    Active,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FeedTokens {
    Table,
    Id,
    UserId,
    Name,
    SecretHash,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .add_column(integer(Changes::ScheduleSequence).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarRules::Table)
                    .col(uuid(CalendarRules::Id).primary_key())
                    .col(string_len(CalendarRules::Kind, 16))
                    .col(string_len(CalendarRules::Name, 200))
                    .col(string_len(CalendarRules::Dtstart, 32))
                    .col(string_len_null(CalendarRules::Rrule, 500))
                    .col(integer(CalendarRules::DurationMinutes))
                    .col(string_len(CalendarRules::TimeZone, 64))
                    .col(json(CalendarRules::ChangeTypes))
                    .col(string_len_null(CalendarRules::FreezeKind, 16))
                    .col(json(CalendarRules::ApproverRoles))
                    .col(boolean(CalendarRules::Active))
                    .col(uuid(CalendarRules::CreatedBy))
                    .col(timestamp_with_time_zone(CalendarRules::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FeedTokens::Table)
                    .col(uuid(FeedTokens::Id).primary_key())
                    .col(uuid(FeedTokens::UserId))
                    .col(string_len(FeedTokens::Name, 200))
                    .col(string_len_uniq(FeedTokens::SecretHash, 64))
                    .col(timestamp_with_time_zone(FeedTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(FeedTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeedTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CalendarRules::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .drop_column(Changes::ScheduleSequence)
                    .to_owned(),
            )
            .await
    }
}
