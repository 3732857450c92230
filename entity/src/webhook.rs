use sea_orm::entity::prelude::*;

/// A subscription of an outside URL to kinds of events, signed with its
/// secret. `last_seq` is the audit sequence number up to which events have
/// been put in its outbox (`webhook_delivery`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    /// The event kinds it receives (`["CHANGE", "EXCEPTION"]`).
    pub events: Json,
    /// Signs every delivery (HMAC-SHA256); never shown after creation.
    pub secret: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    pub last_seq: i64,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
