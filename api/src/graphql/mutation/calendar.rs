use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, Object};

use crate::{
    domain::calendar::FreezeKind,
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::calendar::{CalendarRuleRecord, FeedToken, IssuedFeedToken},
    },
    service::calendar::{self, NewRule},
};

#[derive(Default)]
pub struct CalendarMutation;

/// A recurring period in local time (RFC 5545).
#[derive(InputObject)]
pub struct CalendarRuleInput {
    pub name: String,
    /// Local start of the first occurrence, `YYYY-MM-DDTHH:MM[:SS]`.
    pub dtstart: String,
    /// RRULE value, e.g. `FREQ=WEEKLY;BYDAY=SU`; omit for a one-off period.
    pub rrule: Option<String>,
    pub duration_minutes: i32,
    /// IANA time zone, e.g. `America/New_York`.
    pub time_zone: String,
}

#[Object]
impl CalendarMutation {
    /// Adds a window that the given change types must be scheduled in
    /// (admin, change_manager).
    async fn create_window(
        &self,
        ctx: &Context<'_>,
        input: CalendarRuleInput,
        change_types: Vec<String>,
    ) -> async_graphql::Result<CalendarRuleRecord> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let new = NewRule {
            name: &input.name,
            dtstart: &input.dtstart,
            rrule: input.rrule.as_deref(),
            duration_minutes: input.duration_minutes.max(0) as u32,
            time_zone: &input.time_zone,
            change_types: &change_types,
            freeze_kind: None,
            approver_roles: &[],
        };
        calendar::create_rule(&state.db, &state.policy, &caller, new)
            .await
            .map(CalendarRuleRecord)
            .gql()
    }

    /// Adds a freeze: HARD admits only emergency changes; SOFT admits
    /// changes approved by one of `approverRoles` (admin, change_manager).
    async fn create_freeze(
        &self,
        ctx: &Context<'_>,
        input: CalendarRuleInput,
        kind: FreezeKind,
        #[graphql(default)] approver_roles: Vec<String>,
    ) -> async_graphql::Result<CalendarRuleRecord> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let new = NewRule {
            name: &input.name,
            dtstart: &input.dtstart,
            rrule: input.rrule.as_deref(),
            duration_minutes: input.duration_minutes.max(0) as u32,
            time_zone: &input.time_zone,
            change_types: &[],
            freeze_kind: Some(kind),
            approver_roles: &approver_roles,
        };
        calendar::create_rule(&state.db, &state.policy, &caller, new)
            .await
            .map(CalendarRuleRecord)
            .gql()
    }

    async fn retire_calendar_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CalendarRuleRecord> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        calendar::retire_rule(
            &state.db,
            &state.policy,
            &caller,
            parse_id(NodeType::CalendarRuleRecord, "id", &id)?,
        )
        .await
        .map(CalendarRuleRecord)
        .gql()
    }

    /// A read-only token for `/calendar.ics`, for your calendar client.
    async fn issue_feed_token(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<IssuedFeedToken> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let (token, secret) = calendar::issue_feed_token(&state.db, &caller, &name)
            .await
            .gql()?;
        Ok(IssuedFeedToken {
            path: format!("/calendar.ics?token={secret}"),
            token: FeedToken(token),
            secret,
        })
    }

    async fn revoke_feed_token(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<FeedToken> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        calendar::revoke_feed_token(
            &state.db,
            &caller,
            parse_id(NodeType::FeedToken, "id", &id)?,
        )
        .await
        .map(FeedToken)
        .gql()
    }
}
