use sea_orm::entity::prelude::*;

use crate::enums::BoardOutcome;

/// A decision of the board on one approval round of a change. Kept when the
/// change is revised (a new round), so every decision the board took
/// counts in the CAB approval rate.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "board_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub change_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub round: i32,
    pub outcome: BoardOutcome,
    pub decided_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
