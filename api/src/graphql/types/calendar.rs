use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ID, Object, SimpleObject};

use crate::{error::GqlResultExt, graphql::context::ContextExt};
use chrono::{DateTime, Utc};
use entity::{calendar_rule, feed_token};

use crate::domain::calendar::FreezeKind;
use crate::store::changes::parse_json;

pub struct CalendarRuleRecord(pub calendar_rule::Model);

/// What a run-time calendar rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum CalendarRuleKind {
    /// When the change types it governs may be implemented.
    Window,
    /// When they may not (hard) or need an extra approval (soft).
    Freeze,
}

/// A window or freeze defined at run time.
#[Object(name = "CalendarRuleRecord")]
impl CalendarRuleRecord {
    pub async fn id(&self) -> ID {
        global_id(NodeType::CalendarRuleRecord, self.0.id)
    }
    async fn kind(&self) -> CalendarRuleKind {
        if self.0.kind == "FREEZE" {
            CalendarRuleKind::Freeze
        } else {
            CalendarRuleKind::Window
        }
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn dtstart(&self) -> &str {
        &self.0.dtstart
    }
    async fn rrule(&self) -> Option<&str> {
        self.0.rrule.as_deref()
    }
    async fn duration_minutes(&self) -> i32 {
        self.0.duration_minutes
    }
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    async fn change_types(&self) -> Vec<String> {
        parse_json(&self.0.change_types)
    }
    /// A freeze's kind; null for a window.
    async fn freeze_kind(&self) -> Option<FreezeKind> {
        (self.0.kind == "FREEZE").then(|| crate::store::calendar::freeze_kind_of(&self.0))
    }
    async fn approver_roles(&self) -> Vec<String> {
        parse_json(&self.0.approver_roles)
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    /// For a freeze in force: the numbers of the scheduled changes it
    /// stops from now on (a soft freeze until its approvers let them in).
    async fn blocks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        let state = ctx.state()?;
        crate::service::calendar::blocked_by(&state.db, &state.policy, &self.0, state.clock.now())
            .await
            .gql()
    }
}

pub struct FeedToken(pub feed_token::Model);

#[Object]
impl FeedToken {
    pub async fn id(&self) -> ID {
        global_id(NodeType::FeedToken, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A feed token just issued: subscribe calendar clients to `path` on this
/// server (the secret is shown this once).
#[derive(SimpleObject)]
pub struct IssuedFeedToken {
    pub token: FeedToken,
    pub secret: String,
    /// `/calendar.ics?token=...`; add `&system=ID,ID` or `&type=normal` to filter.
    pub path: String,
}
