use sea_orm::entity::prelude::*;

/// An audit event committed with the write it records but not yet linked
/// into the chain (PostgreSQL only; the sealer moves it to `audit_events`
/// right after the commit). `id` orders events for sealing; the chain's
/// `seq` is given when sealed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    /// Canonical JSON text, exactly as it will be hashed.
    pub payload: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
