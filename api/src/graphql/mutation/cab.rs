use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::BoardRole;

use crate::{
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id, transition},
        types::lifecycle::{CabMeeting, CabMember, Template},
    },
    service::{cab, templates},
};

#[derive(Default)]
pub struct CabMutation;

#[derive(InputObject)]
pub struct CreateTemplateInput {
    /// Stable key, e.g. `tls-cert-renewal`.
    pub key: String,
    pub name: String,
    /// The change type the template is for (usually `standard`).
    pub change_type: String,
    pub description: String,
    /// The pre-approved procedure, step by step.
    pub procedure: Vec<String>,
}

#[Object]
impl CabMutation {
    /// Seats an account on the CAB (admin, change_manager).
    async fn set_board_member(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        board_role: BoardRole,
    ) -> async_graphql::Result<CabMember> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        cab::set_member(
            &state.db,
            &state.policy,
            &caller,
            parse_id(NodeType::User, "userId", &user_id)?,
            board_role,
        )
        .await
        .map(CabMember)
        .gql()
    }

    async fn remove_board_member(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<bool> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        cab::remove_member(
            &state.db,
            &state.policy,
            &caller,
            parse_id(NodeType::User, "userId", &user_id)?,
        )
        .await
        .gql()?;
        Ok(true)
    }

    /// Plans a CAB meeting (chair, change_manager) at a start of the
    /// board's schedule; off it, where the policy allows extraordinary
    /// meetings for the business on the agenda, with its `reason`.
    async fn schedule_cab_meeting(
        &self,
        ctx: &Context<'_>,
        at: DateTime<Utc>,
        reason: Option<String>,
    ) -> async_graphql::Result<CabMeeting> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        cab::schedule_meeting(&state.db, &state.policy, &caller, at, reason.as_deref())
            .await
            .map(CabMeeting)
            .gql()
    }

    /// Holds the meeting: decides every change awaiting the board on the
    /// votes cast (no quorum defers it) and records the minutes.
    async fn close_cab_meeting(
        &self,
        ctx: &Context<'_>,
        id: ID,
        minutes: String,
    ) -> async_graphql::Result<CabMeeting> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        cab::close_meeting(
            &transition(state, &caller),
            parse_id(NodeType::CabMeeting, "id", &id)?,
            &minutes,
        )
        .await
        .map(CabMeeting)
        .gql()
    }

    /// Adds a pre-approved procedure to the standard change catalog (change_manager).
    async fn create_template(
        &self,
        ctx: &Context<'_>,
        input: CreateTemplateInput,
    ) -> async_graphql::Result<Template> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        templates::create(
            &state.db,
            &state.policy,
            &caller,
            templates::NewTemplate {
                key: &input.key,
                name: &input.name,
                change_type: &input.change_type,
                description: &input.description,
                procedure: &input.procedure,
            },
        )
        .await
        .map(Template)
        .gql()
    }

    /// Retires a template: new changes can no longer reference it.
    async fn retire_template(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Template> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        templates::set_active(
            &state.db,
            &caller,
            parse_id(NodeType::Template, "id", &id)?,
            false,
        )
        .await
        .map(Template)
        .gql()
    }
}
