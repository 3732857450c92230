use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::{
            Change,
            lifecycle::{CabMeeting, CabMember, Template},
        },
    },
    policy::BoardPolicy,
    service::{cab, lifecycle, templates},
};

#[derive(Default)]
pub struct LifecycleQuery;

/// For a CI/CD pipeline: may the change be deployed now?
#[derive(SimpleObject)]
pub struct GateStatus {
    pub number: String,
    pub status: entity::ChangeStatus,
    pub may_deploy: bool,
    /// Every reason it may not (empty when it may), for people.
    pub reasons: Vec<String>,
    /// The stable code of each reason, in the same order: what a
    /// pipeline matches.
    pub reason_codes: Vec<crate::domain::violation::ViolationCode>,
}

impl From<lifecycle::GateStatus> for GateStatus {
    fn from(status: lifecycle::GateStatus) -> Self {
        Self {
            number: status.change.number,
            status: status.change.status,
            may_deploy: status.may_deploy,
            reason_codes: crate::domain::violation::codes(&status.reasons),
            reasons: crate::domain::violation::messages(&status.reasons),
        }
    }
}

/// The Change Advisory Board.
#[derive(SimpleObject)]
pub struct Board {
    /// What the policy says about the board (quorum, tie-break, ...).
    pub policy: Option<BoardPolicy>,
    pub members: Vec<CabMember>,
}

#[Object]
impl LifecycleQuery {
    /// Whether change `number` may be deployed now, with every reason it
    /// may not. A read for dashboards, not recorded; a pipeline deciding
    /// whether to deploy asks `checkGate`, which waits if asked and keeps
    /// its answer in the audit trail.
    async fn gate_status(
        &self,
        ctx: &Context<'_>,
        number: String,
    ) -> async_graphql::Result<GateStatus> {
        ctx.actor()?;
        let state = ctx.state()?;
        let status = lifecycle::gate_status(&state.db, &state.policy, &number, state.clock.now())
            .await
            .gql()?;
        Ok(status.into())
    }

    /// Changes with a missed deadline: retroactive approval, emergency
    /// documentation or review.
    async fn overdue(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Change>> {
        ctx.actor()?;
        let state = ctx.state()?;
        Ok(lifecycle::overdue(&state.db, state.clock.now())
            .await
            .gql()?
            .into_iter()
            .map(Change)
            .collect())
    }

    async fn board(&self, ctx: &Context<'_>) -> async_graphql::Result<Board> {
        ctx.actor()?;
        let state = ctx.state()?;
        Ok(Board {
            policy: state.policy.board.clone(),
            members: cab::members(&state.db)
                .await
                .gql()?
                .into_iter()
                .map(CabMember)
                .collect(),
        })
    }

    /// CAB meetings, newest first.
    async fn cab_meetings(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CabMeeting>> {
        ctx.actor()?;
        Ok(cab::meetings(&ctx.state()?.db)
            .await
            .gql()?
            .into_iter()
            .map(CabMeeting)
            .collect())
    }

    /// The next starts of the board's meeting schedule (`[board.schedule]`),
    /// at most 52; empty where the policy sets none.
    async fn cab_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 4, validator(minimum = 1, maximum = 52))] first: i32,
    ) -> async_graphql::Result<Vec<DateTime<Utc>>> {
        ctx.actor()?;
        let state = ctx.state()?;
        cab::next_meetings(&state.policy, state.clock.now(), first as usize)
            .await
            .gql()
    }

    async fn cab_meeting(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<CabMeeting> {
        ctx.actor()?;
        crate::store::board::find_meeting(
            &ctx.state()?.db,
            parse_id(NodeType::CabMeeting, "id", &id)?,
        )
        .await
        .map(CabMeeting)
        .gql()
    }

    /// The standard change catalog.
    async fn templates(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Template>> {
        ctx.actor()?;
        Ok(templates::list(&ctx.state()?.db)
            .await
            .gql()?
            .into_iter()
            .map(Template)
            .collect())
    }
}
