use sea_orm::entity::prelude::*;

use crate::enums::EvidenceStatus;

/// A result recorded against one of the policy's gates (tests passed, code
/// review, SAST scan, ...). The latest record of a gate counts.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "evidence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub change_id: Uuid,
    pub gate: String,
    pub status: EvidenceStatus,
    pub summary: Option<String>,
    pub url: Option<String>,
    /// Gate-specific details, e.g. reviewers or SAST finding counts.
    pub data: Json,
    pub recorded_by: Uuid,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
