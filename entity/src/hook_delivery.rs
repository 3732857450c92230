use sea_orm::entity::prelude::*;

/// A forge's delivery a receiver accepted (`X-GitHub-Delivery`, GitLab's
/// `X-Gitlab-Event-UUID`): a redelivery of it is acknowledged, not stored
/// again.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub source: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
