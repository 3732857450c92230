use sea_orm::entity::prelude::*;

use crate::enums::{DeploymentSource, DeploymentStatus};

/// A deployment a pipeline or a forge reported, linked to its change by
/// the change number it carried. `exception_reason` is set when it reached
/// production without a change authorising it (an unauthorised change).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The reporter's id for it (`github:<deployment id>`, a pipeline's
    /// run id): recording it again updates this row.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    pub change_id: Option<Uuid>,
    /// The change number as reported, kept even when no change has it.
    pub change_number: Option<String>,
    pub environment: String,
    pub production: bool,
    pub version: Option<String>,
    pub commit_sha: Option<String>,
    pub commit_time: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub status: DeploymentStatus,
    pub url: Option<String>,
    pub source: DeploymentSource,
    pub exception_reason: Option<String>,
    pub exception_at: Option<DateTimeUtc>,
    /// The account that reported it; none for a forge's receiver and the CLI
    /// (`source` says which).
    pub recorded_by: Option<Uuid>,
    pub recorded_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
