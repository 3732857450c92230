use sea_orm::entity::prelude::*;

/// An account. Every action in Gatehouse is attributed to one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub email: String,
    /// JSON array of role keys, e.g. `["requester","change_manager"]`.
    pub roles: Json,
    pub active: bool,
    pub created_at: DateTimeUtc,
}

/// No relation is declared from the account side: tokens name their
/// account (`api_token::Relation::User`), and declaring it both ways made
/// the two entity files import each other.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
