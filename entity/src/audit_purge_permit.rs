use sea_orm::entity::prelude::*;

/// Written and removed inside one purge transaction: while it exists, the
/// database lets events that occurred before `purge_before` be deleted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_purge_permits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub purge_before: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
