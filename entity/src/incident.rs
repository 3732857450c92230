use sea_orm::entity::prelude::*;

use crate::enums::IncidentPriority;

/// An incident: linked to a change (a rollback opens one), to a
/// deployment, or to the systems it affects (`incident_systems`).
/// Resolving it records when service was restored, which time to restore
/// measures from `opened_at`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub change_id: Option<Uuid>,
    pub deployment_id: Option<Uuid>,
    pub priority: IncidentPriority,
    pub title: String,
    pub description: Option<String>,
    pub opened_by: Uuid,
    pub opened_at: DateTimeUtc,
    /// When the resolution was recorded.
    pub resolved_at: Option<DateTimeUtc>,
    /// When service was restored (given by whoever resolves it).
    pub restored_at: Option<DateTimeUtc>,
    pub resolution: Option<String>,
    pub resolved_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
