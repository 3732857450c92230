use sea_orm::entity::prelude::*;

/// A pre-approved procedure of the standard change catalog.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "change_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub key: String,
    pub name: String,
    pub change_type: String,
    pub description: String,
    /// JSON array of the procedure's steps.
    pub procedure: Json,
    pub active: bool,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
