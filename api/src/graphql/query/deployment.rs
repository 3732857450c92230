//! Deployments, the exceptions among them, and incidents, as Relay
//! connections keyed by id: ids grow with time, so a page neither repeats
//! nor skips rows recorded between two requests.

use crate::domain::node_id::NodeType;
use async_graphql::{
    Context, ID, InputObject, Object, SimpleObject,
    connection::{Connection, CursorType, Edge, OpaqueCursor},
};
use chrono::{DateTime, Utc};
use entity::{DeploymentStatus, IncidentPriority};
use uuid::Uuid;

use crate::{
    error::{GqlResultExt, ServiceError},
    graphql::{
        context::{ContextExt, parse_id},
        types::{Deployment, lifecycle::Incident},
    },
    service::{
        deployments::{self, DeploymentFilter},
        incidents::{self, IncidentFilter},
    },
};

#[derive(Default)]
pub struct DeploymentQuery;

type Cursor = OpaqueCursor<Uuid>;

#[derive(SimpleObject)]
pub struct ListFields {
    /// Number of items matching the filter, across all pages.
    pub total_count: u64,
}

#[derive(InputObject, Default)]
pub struct DeploymentFilterInput {
    pub change_number: Option<String>,
    pub environment: Option<String>,
    pub production: Option<bool>,
    pub status: Option<DeploymentStatus>,
    /// Finished in `[finishedFrom, finishedTo)`.
    pub finished_from: Option<DateTime<Utc>>,
    pub finished_to: Option<DateTime<Utc>>,
}

#[derive(InputObject, Default)]
pub struct IncidentFilterInput {
    /// Open (not yet resolved) or resolved only.
    pub open: Option<bool>,
    pub change_number: Option<String>,
    pub priority: Option<IncidentPriority>,
    /// Opened in `[openedFrom, openedTo)`.
    pub opened_from: Option<DateTime<Utc>>,
    pub opened_to: Option<DateTime<Utc>>,
}

fn page(
    max: u64,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(u64, Option<Uuid>)> {
    use async_graphql::ErrorExtensions;
    let first = match first {
        None => 20.min(max),
        Some(n) if n < 0 => {
            return Err(ServiceError::validation("first", "must not be negative").extend());
        }
        Some(n) if n as u64 > max => {
            return Err(
                ServiceError::validation("first", format!("at most {max} items per page")).extend(),
            );
        }
        Some(n) => n as u64,
    };
    let after = after
        .map(|text| {
            Cursor::decode_cursor(&text).map(|c| c.0).map_err(|_| {
                ServiceError::validation("after", "is not a cursor of this list").extend()
            })
        })
        .transpose()?;
    Ok((first, after))
}

fn connection<T, N>(
    rows: Vec<T>,
    total: u64,
    more: bool,
    after: Option<Uuid>,
    id: impl Fn(&T) -> Uuid,
    node: impl Fn(T) -> N,
) -> Connection<Cursor, N, ListFields>
where
    N: async_graphql::OutputType,
{
    let mut connection = Connection::with_additional_fields(
        after.is_some(),
        more,
        ListFields { total_count: total },
    );
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(OpaqueCursor(id(&row)), node(row))),
    );
    connection
}

#[Object]
impl DeploymentQuery {
    /// Deployments, newest first.
    #[graphql(complexity = "(first.unwrap_or(20).max(1) as usize) * child_complexity + 1")]
    async fn deployments(
        &self,
        ctx: &Context<'_>,
        filter: Option<DeploymentFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Deployment, ListFields>> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let (first, after) = page(state.max_page_size, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = DeploymentFilter {
            change_number: filter.change_number,
            environment: filter.environment,
            production: filter.production,
            status: filter.status,
            exceptions_only: false,
            from: filter.finished_from,
            to: filter.finished_to,
        };
        let (rows, total, more) = deployments::list(&state.db, &caller, &filter, after, first)
            .await
            .gql()?;
        Ok(connection(rows, total, more, after, |d| d.id, Deployment))
    }

    /// Production deployments no change authorised (unauthorised changes),
    /// that happened in `[from, to)`, newest first; `exception` says why.
    #[graphql(complexity = "(first.unwrap_or(20).max(1) as usize) * child_complexity + 1")]
    async fn exceptions(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Deployment, ListFields>> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let (first, after) = page(state.max_page_size, first, after)?;
        let filter = DeploymentFilter {
            exceptions_only: true,
            from: Some(from),
            to: Some(to),
            ..DeploymentFilter::default()
        };
        let (rows, total, more) = deployments::list(&state.db, &caller, &filter, after, first)
            .await
            .gql()?;
        Ok(connection(rows, total, more, after, |d| d.id, Deployment))
    }

    async fn deployment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Deployment> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        deployments::get(
            &state.db,
            &caller,
            parse_id(NodeType::Deployment, "id", &id)?,
        )
        .await
        .map(Deployment)
        .gql()
    }

    /// Incidents, newest first.
    #[graphql(complexity = "(first.unwrap_or(20).max(1) as usize) * child_complexity + 1")]
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        filter: Option<IncidentFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Incident, ListFields>> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let (first, after) = page(state.max_page_size, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = IncidentFilter {
            open: filter.open,
            change_number: filter.change_number,
            priority: filter.priority,
            opened_from: filter.opened_from,
            opened_to: filter.opened_to,
        };
        let (rows, total, more) = incidents::list(&state.db, &caller, &filter, after, first)
            .await
            .gql()?;
        Ok(connection(rows, total, more, after, |i| i.id, Incident))
    }

    async fn incident(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Incident> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        incidents::get(&state.db, &caller, parse_id(NodeType::Incident, "id", &id)?)
            .await
            .map(Incident)
            .gql()
    }
}
