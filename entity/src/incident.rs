use sea_orm::entity::prelude::*;

use crate::enums::IncidentPriority;

/// An incident linked to a change (opened automatically on rollback).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub change_id: Uuid,
    pub priority: IncidentPriority,
    pub title: String,
    pub description: Option<String>,
    pub opened_by: Uuid,
    pub opened_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
