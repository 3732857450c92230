use sea_orm::entity::prelude::*;

/// A bearer token. Only the SHA-256 of the secret is stored; the secret is
/// shown once, when the token is issued.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub secret_hash: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// The account that issued the token; `None` when the operator issued
    /// it from the host (CLI, bootstrap) or it predates the column.
    pub issued_by: Option<Uuid>,
    /// The issuer as the audit trail names it (email or `cli:<user>`);
    /// `None` for tokens issued before it was recorded.
    pub issued_by_label: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
