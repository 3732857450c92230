use sea_orm::entity::prelude::*;

use crate::enums::MeetingStatus;

/// A CAB meeting; its agenda is computed, its minutes recorded when held.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cab_meetings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub scheduled_for: DateTimeUtc,
    pub status: MeetingStatus,
    pub minutes: Option<String>,
    pub held_at: Option<DateTimeUtc>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
