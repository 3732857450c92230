use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use crate::{
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::System,
    },
    service::systems,
};

#[derive(Default)]
pub struct SystemMutation;

#[derive(InputObject)]
pub struct CreateSystemInput {
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<ID>,
    /// The team that owns it.
    pub team: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateSystemInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    /// `null` detaches the system from its parent.
    pub parent_id: MaybeUndefined<ID>,
    /// `null` leaves the system without an owning team.
    pub team: MaybeUndefined<String>,
}

#[Object]
impl SystemMutation {
    /// Registers a system (admin, change_manager).
    async fn create_system(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemInput,
    ) -> async_graphql::Result<System> {
        let caller = ctx.caller()?;
        let db = &ctx.state()?.db;
        let parent = input
            .parent_id
            .as_ref()
            .map(|id| parse_id(NodeType::System, "parentId", id))
            .transpose()?;
        systems::create(
            db,
            &caller,
            &input.name,
            input.description.as_deref(),
            parent,
            input.team.as_deref(),
        )
        .await
        .map(System)
        .gql()
    }

    /// Renames, re-describes or moves a system (admin, change_manager).
    async fn update_system(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSystemInput,
    ) -> async_graphql::Result<System> {
        let caller = ctx.caller()?;
        let db = &ctx.state()?.db;
        let id = parse_id(NodeType::System, "id", &id)?;
        let description = match &input.description {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(text) => Some(Some(text.as_str())),
        };
        let parent = match &input.parent_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(parent) => {
                Some(Some(parse_id(NodeType::System, "parentId", parent)?))
            }
        };
        let team = match &input.team {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(team) => Some(Some(team.as_str())),
        };
        systems::update(
            db,
            &caller,
            id,
            input.name.as_deref(),
            description,
            parent,
            team,
        )
        .await
        .map(System)
        .gql()
    }
}
