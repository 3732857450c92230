use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    domain::calendar::FreezeKind,
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        types::{
            Change,
            calendar::{CalendarRuleRecord, FeedToken},
        },
    },
    service::calendar,
};

#[derive(Default)]
pub struct CalendarQuery;

/// A time slot.
#[derive(SimpleObject)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One occurrence of a window or freeze.
#[derive(SimpleObject)]
pub struct Occurrence {
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// For freezes.
    pub freeze_kind: Option<FreezeKind>,
    /// For freezes: the numbers of the scheduled changes in this view the
    /// occurrence stops (a soft freeze until its approvers let them in).
    pub blocks: Vec<String>,
}

#[derive(SimpleObject)]
pub struct CalendarView {
    /// Changes with a scheduled slot in the range.
    pub changes: Vec<Change>,
    pub windows: Vec<Occurrence>,
    pub freezes: Vec<Occurrence>,
}

#[Object]
impl CalendarQuery {
    /// Changes, window occurrences and freezes between `from` and `to`
    /// (at most 400 days), optionally for some systems (with their parents
    /// and children).
    async fn calendar(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default)] systems: Vec<ID>,
    ) -> async_graphql::Result<CalendarView> {
        ctx.actor()?;
        let state = ctx.state()?;
        let systems = systems
            .iter()
            .enumerate()
            .map(|(i, id)| parse_id(NodeType::System, &format!("systems[{i}]"), id))
            .collect::<async_graphql::Result<Vec<_>>>()?;
        let view = calendar::view(&state.db, &state.policy, from, to, &systems)
            .await
            .gql()?;
        Ok(CalendarView {
            changes: view.changes.into_iter().map(Change).collect(),
            windows: view
                .windows
                .into_iter()
                .map(|(name, o)| Occurrence {
                    name,
                    start: o.start,
                    end: o.end,
                    freeze_kind: None,
                    blocks: Vec::new(),
                })
                .collect(),
            freezes: view
                .freezes
                .into_iter()
                .map(|f| Occurrence {
                    name: f.name,
                    start: f.interval.start,
                    end: f.interval.end,
                    freeze_kind: Some(f.kind),
                    blocks: f.blocks,
                })
                .collect(),
        })
    }

    /// The next free slots for a change that pass every scheduling check.
    async fn suggest_slots(
        &self,
        ctx: &Context<'_>,
        change_id: ID,
        after: Option<DateTime<Utc>>,
        #[graphql(default = 3)] count: i32,
    ) -> async_graphql::Result<Vec<Slot>> {
        ctx.actor()?;
        let state = ctx.state()?;
        let now = state.clock.now();
        let slots = calendar::suggest_slots(
            &state.db,
            &state.policy,
            parse_id(NodeType::Change, "changeId", &change_id)?,
            after.unwrap_or(now),
            count.max(0) as usize,
            now,
        )
        .await
        .gql()?;
        Ok(slots
            .into_iter()
            .map(|s| Slot {
                start: s.start,
                end: s.end,
            })
            .collect())
    }

    /// Windows and freezes defined at run time (the policy's are in `policy`).
    async fn calendar_rules(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<CalendarRuleRecord>> {
        ctx.actor()?;
        Ok(calendar::list_rules(&ctx.state()?.db)
            .await
            .gql()?
            .into_iter()
            .map(CalendarRuleRecord)
            .collect())
    }

    /// Your iCalendar feed tokens.
    async fn feed_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FeedToken>> {
        let caller = ctx.caller()?;
        Ok(calendar::feed_tokens(&ctx.state()?.db, &caller)
            .await
            .gql()?
            .into_iter()
            .map(FeedToken)
            .collect())
    }
}
