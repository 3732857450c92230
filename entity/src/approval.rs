use sea_orm::entity::prelude::*;

use crate::enums::{BoardRole, Decision};

/// One person's decision on one approval round of a change. A CAB member's
/// vote and a role holder's approval are the same record: one person, one
/// vote (unique per change, round and person).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "approvals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub change_id: Uuid,
    pub round: i32,
    pub approver_id: Uuid,
    pub decision: Decision,
    pub comment: Option<String>,
    pub decided_at: DateTimeUtc,
    pub meeting_id: Option<Uuid>,
    /// Given after implementation started (emergency changes).
    pub retroactive: bool,
    /// The roles the approver held when deciding (JSON array of role
    /// keys). The approval counts for these: a later grant or removal of a
    /// role neither creates nor withdraws it.
    pub approver_roles: Json,
    /// The approver's board seat when deciding. A board vote counts when it
    /// was cast from a voting seat, whatever the roster is later.
    pub board_role: Option<BoardRole>,
    /// Lets the change start during a freeze (`approveFreezeEntry`): not a
    /// decision on the change, so it fills no approval step.
    pub freeze_entry: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::ApproverId",
        to = "super::user::Column::Id"
    )]
    Approver,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Approver.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
