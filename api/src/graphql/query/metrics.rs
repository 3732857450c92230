use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

use crate::{
    error::GqlResultExt,
    graphql::{
        context::ContextExt,
        types::metrics::{Granularity, MetricsBucket},
    },
    service::metrics,
};

#[derive(Default)]
pub struct MetricsQuery;

#[Object]
impl MetricsQuery {
    /// Change metrics for `[from, to)`, one bucket per month, quarter or
    /// ISO week in `timeZone` (an IANA name), periods without changes
    /// included. A change belongs to the period its implementation ended
    /// in. Any authenticated account may read them.
    ///
    /// `systems` (names) and `team` narrow them to what touches those
    /// systems, or the systems the team owns (both: the named systems the
    /// team owns): changes affecting one of them, deployments to one of
    /// them or of such a change, incidents affecting one of them or linked
    /// to such a change.
    #[allow(clippy::too_many_arguments)]
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
        #[graphql(default_with = "String::from(\"UTC\")")] time_zone: String,
        #[graphql(default)] systems: Vec<String>,
        team: Option<String>,
    ) -> async_graphql::Result<Vec<MetricsBucket>> {
        ctx.actor()?;
        let state = ctx.state()?;
        let scope = metrics::scope(&state.db, &systems, team.as_deref())
            .await
            .gql()?;
        let buckets = metrics::buckets(
            &state.db,
            &state.policy,
            granularity.into(),
            &time_zone,
            from,
            to,
            &scope,
        )
        .await
        .gql()?;
        Ok(buckets.into_iter().map(MetricsBucket::from).collect())
    }
}
