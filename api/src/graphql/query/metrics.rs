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
    async fn metrics(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
        #[graphql(default_with = "String::from(\"UTC\")")] time_zone: String,
    ) -> async_graphql::Result<Vec<MetricsBucket>> {
        ctx.actor()?;
        let state = ctx.state()?;
        let buckets = metrics::buckets(
            &state.db,
            &state.policy,
            granularity.into(),
            &time_zone,
            from,
            to,
        )
        .await
        .gql()?;
        Ok(buckets.into_iter().map(MetricsBucket::from).collect())
    }
}
