use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, Object};

use crate::{
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::System,
    },
    service::systems,
};

#[derive(Default)]
pub struct SystemQuery;

#[Object]
impl SystemQuery {
    /// Every system in the register, by name.
    async fn systems(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<System>> {
        ctx.actor()?;
        let db = &ctx.state()?.db;
        Ok(systems::list(db)
            .await
            .gql()?
            .into_iter()
            .map(System)
            .collect())
    }

    async fn system(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<System> {
        ctx.actor()?;
        let id = parse_id(NodeType::System, "id", &id)?;
        let db = &ctx.state()?.db;
        crate::store::systems::find(db, id).await.map(System).gql()
    }
}
