use crate::domain::node_id::NodeType;
use std::collections::HashMap;

use async_graphql::{
    Context, Enum, ID, InputObject, Object, SimpleObject,
    connection::{Connection, Edge, OpaqueCursor},
    dataloader::Loader,
};
use chrono::{DateTime, Utc};
use entity::{ChangeStatus, RiskLevel};

use crate::{
    domain::pagination::PageRequest,
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id},
        loaders::{
            ApprovalsOfChange, DbLoader, EvidenceOfChange, HistoryOfChange, IncidentsOfChange,
            Loaders, ReviewsOfChange, SystemsOfChange, TemplateId, UserId,
        },
        types::Change,
    },
    service::changes::{self, ChangeFilter, ChangeOrder, ChangePosition, OrderField},
};

#[derive(Default)]
pub struct ChangeQuery;

/// Narrows a change list; every given field must match.
#[derive(InputObject, Default)]
pub struct ChangeFilterInput {
    /// Change type keys.
    pub types: Option<Vec<String>>,
    pub statuses: Option<Vec<ChangeStatus>>,
    pub risk_levels: Option<Vec<RiskLevel>>,
    pub requester_id: Option<ID>,
    /// Changes affecting this system or any of its subsystems.
    pub system_id: Option<ID>,
    /// Created at or after (inclusive).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (exclusive).
    pub created_to: Option<DateTime<Utc>>,
    /// Planned start at or after (inclusive).
    pub planned_from: Option<DateTime<Utc>>,
    /// Planned start before (exclusive).
    pub planned_to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the title.
    pub title_contains: Option<String>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangeOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    PlannedStart,
    RiskScore,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    Asc,
    #[default]
    Desc,
}

#[derive(InputObject)]
pub struct ChangeOrderInput {
    #[graphql(default)]
    pub field: ChangeOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

#[derive(SimpleObject)]
pub struct ChangeConnectionFields {
    /// Number of changes matching the filter, across all pages.
    pub total_count: u64,
}

type Cursor = OpaqueCursor<ChangePosition>;

impl ChangeFilterInput {
    fn into_filter(self) -> async_graphql::Result<ChangeFilter> {
        Ok(ChangeFilter {
            types: self.types,
            statuses: self.statuses,
            risk_levels: self.risk_levels,
            requester_id: self
                .requester_id
                .as_ref()
                .map(|id| parse_id(NodeType::User, "filter.requesterId", id))
                .transpose()?,
            system_id: self
                .system_id
                .as_ref()
                .map(|id| parse_id(NodeType::System, "filter.systemId", id))
                .transpose()?,
            created_from: self.created_from,
            created_to: self.created_to,
            planned_from: self.planned_from,
            planned_to: self.planned_to,
            title_contains: self.title_contains,
        })
    }
}

/// A connection argument's cursor, decoded into the list's position type
/// `P`; anything else (tampered, or another list's) is VALIDATION.
pub(super) fn decode_cursor<P>(
    field: &str,
    cursor: Option<String>,
) -> async_graphql::Result<Option<P>>
where
    P: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
{
    use async_graphql::ErrorExtensions;
    use async_graphql::connection::CursorType;
    cursor
        .map(|text| {
            OpaqueCursor::<P>::decode_cursor(&text)
                .map(|c| c.0)
                .map_err(|_| {
                    crate::error::ServiceError::validation(field, "is not a cursor of this list")
                        .extend()
                })
        })
        .transpose()
}

/// Loads the requesters, systems and lifecycle lists (approvals, evidence,
/// incidents, reviews, template, history) of a whole page in one query each, when
/// the client asked for them, so the per-row resolvers hit the cache.
/// (Left to the loader alone, a large page can be split into several
/// batches when the executor yields part-way through the list.)
///
/// The lists are loaded concurrently, then the people they name together
/// with the requesters: two rounds of queries whatever the selection,
/// where one query after the other would add up every query's latency
/// and the loader's batching delay.
async fn prime_related(
    ctx: &Context<'_>,
    rows: &[&entity::change::Model],
) -> async_graphql::Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data::<Loaders>()?;
    let ids = || rows.iter().map(|row| row.id);
    let (_, approvals, evidence, incidents, reviews, _, _) = futures::try_join!(
        load_if(
            loaders,
            node.field("systems").exists(),
            ids().map(SystemsOfChange)
        ),
        load_if(
            loaders,
            node.field("approvals").exists(),
            ids().map(ApprovalsOfChange)
        ),
        load_if(
            loaders,
            node.field("evidence").exists(),
            ids().map(EvidenceOfChange)
        ),
        load_if(
            loaders,
            node.field("incidents").exists(),
            ids().map(IncidentsOfChange)
        ),
        load_if(
            loaders,
            node.field("reviews").exists(),
            ids().map(ReviewsOfChange)
        ),
        load_if(
            loaders,
            node.field("history").exists(),
            ids().map(HistoryOfChange)
        ),
        load_if(
            loaders,
            node.field("template").exists(),
            rows.iter()
                .filter_map(|row| row.template_id.map(TemplateId)),
        ),
    )?;
    let named = |list: &str, person: &str| node.field(list).field(person).exists();
    let mut people = Vec::new();
    if node.field("requester").exists() {
        people.extend(rows.iter().map(|row| UserId(row.requester_id)));
    }
    if named("approvals", "approver") {
        people.extend(approvals.values().flatten().map(|a| UserId(a.approver_id)));
    }
    if named("evidence", "recordedBy") {
        people.extend(evidence.values().flatten().map(|e| UserId(e.recorded_by)));
    }
    if named("incidents", "openedBy") {
        people.extend(incidents.values().flatten().map(|i| UserId(i.opened_by)));
    }
    if named("reviews", "reviewer") {
        people.extend(reviews.values().flatten().map(|r| UserId(r.reviewer_id)));
    }
    load_if(loaders, !people.is_empty(), people).await?;
    Ok(())
}

/// `keys` through the request's loader when `wanted`; nothing otherwise.
async fn load_if<K>(
    loaders: &Loaders,
    wanted: bool,
    keys: impl IntoIterator<Item = K>,
) -> async_graphql::Result<HashMap<K, <DbLoader as Loader<K>>::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    DbLoader: Loader<K, Error = std::sync::Arc<sea_orm::DbErr>>,
{
    if !wanted {
        return Ok(HashMap::new());
    }
    Ok(loaders.load_many(keys).await?)
}

#[Object]
impl ChangeQuery {
    /// One change, by `id` or by `number` (CR-YYYY-NNNN).
    async fn change(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        number: Option<String>,
    ) -> async_graphql::Result<Change> {
        ctx.actor()?;
        let db = &ctx.state()?.db;
        match (id, number) {
            (Some(id), None) => {
                crate::store::changes::find(db, parse_id(NodeType::Change, "id", &id)?)
                    .await
                    .map(Change)
                    .gql()
            }
            (None, Some(number)) => changes::find_by_number(db, &number).await.map(Change).gql(),
            _ => Err(crate::error::ServiceError::validation(
                "id",
                "give exactly one of id or number",
            ))
            .gql(),
        }
    }

    /// Changes matching `filter`, as a Relay connection. Its complexity is
    /// the page size times the complexity of one edge.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "(first.or(last).unwrap_or(20).max(1) as usize) * child_complexity + 1")]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChangeFilterInput>,
        order_by: Option<ChangeOrderInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Change, ChangeConnectionFields>> {
        ctx.actor()?;
        let state = ctx.state()?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let order = order_by.map_or_else(ChangeOrder::default, |o| ChangeOrder {
            field: match o.field {
                ChangeOrderField::CreatedAt => OrderField::CreatedAt,
                ChangeOrderField::UpdatedAt => OrderField::UpdatedAt,
                ChangeOrderField::PlannedStart => OrderField::PlannedStart,
                ChangeOrderField::RiskScore => OrderField::RiskScore,
            },
            descending: o.direction == OrderDirection::Desc,
        });
        let page = PageRequest {
            first,
            after: decode_cursor("after", after)?,
            last,
            before: decode_cursor("before", before)?,
        };
        let page = changes::list(&state.db, &filter, order, page, state.max_page_size)
            .await
            .gql()?;
        let models: Vec<&entity::change::Model> = page.rows.iter().map(|(_, row)| row).collect();
        prime_related(ctx, &models).await?;
        let mut connection = Connection::with_additional_fields(
            page.flags.has_previous,
            page.flags.has_next,
            ChangeConnectionFields {
                total_count: page.total,
            },
        );
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|(position, row)| Edge::new(OpaqueCursor(position), Change(row))),
        );
        Ok(connection)
    }
}
