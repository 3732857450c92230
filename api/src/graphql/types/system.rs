use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::system;

use crate::graphql::loaders::{Loaders, SystemId};

pub struct System(pub system::Model);

/// A configuration item that changes affect. Systems form a hierarchy.
#[Object]
impl System {
    pub async fn id(&self) -> ID {
        global_id(NodeType::System, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The team that owns it.
    async fn team(&self) -> Option<&str> {
        self.0.team.as_deref()
    }
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<System>> {
        let Some(parent) = self.0.parent_id else {
            return Ok(None);
        };
        let loader = ctx.data::<Loaders>()?;
        Ok(loader.load_one(SystemId(parent)).await?.map(System))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
