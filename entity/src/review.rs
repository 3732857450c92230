use sea_orm::entity::prelude::*;

use crate::enums::ReviewKind;

/// A post-implementation or post-emergency review.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reviews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub change_id: Uuid,
    pub kind: ReviewKind,
    pub reviewer_id: Uuid,
    pub summary: String,
    pub lessons_learned: Option<String>,
    /// Why it went wrong, where the policy asks a review for it.
    pub root_cause: Option<String>,
    pub reviewed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
