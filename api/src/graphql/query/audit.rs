use crate::domain::node_id::NodeType;
use async_graphql::{
    Context, ID, InputObject, Object, SimpleObject,
    connection::{Connection, Edge, OpaqueCursor},
};
use chrono::{DateTime, Utc};

use crate::{
    domain::{audit_chain, budget::Deadline, pagination::PageRequest},
    error::{GqlResultExt, ServiceError},
    graphql::{
        context::{ContextExt, parse_id},
        loaders::{Loaders, UserId},
        query::change::decode_cursor,
        types::{AuditEvent, AuditVerification},
    },
    service::audit,
    store::audit::EventFilter,
};

#[derive(Default)]
pub struct AuditQuery;

/// Narrows the audit trail; every given field must match.
#[derive(InputObject, Default)]
pub struct AuditEventFilterInput {
    /// `change`, `system`, `user` or `api_token`.
    pub entity_type: Option<String>,
    /// The record's uuid, or its global id (`Change:uuid`).
    pub entity_id: Option<String>,
    /// Events by this account.
    pub actor_id: Option<ID>,
    /// E.g. `change.updated`.
    pub action: Option<String>,
    /// Occurred at or after (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Occurred before (exclusive).
    pub to: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct AuditEventConnectionFields {
    /// Number of events matching the filter, across all pages.
    pub total_count: u64,
}

type Cursor = OpaqueCursor<i64>;

#[Object]
impl AuditQuery {
    /// Recomputes the whole audit hash chain (auditor, admin). With an
    /// anchor — an event's `seq` and `hash` recorded earlier, e.g. an
    /// evidence pack's `chainHead` — the chain must still reach that event
    /// with that hash, which also detects a truncated tail.
    // Audit reads are never answered from the response cache: an auditor
    // sees what the database holds at that moment.
    #[graphql(cache_control(no_cache))]
    async fn verify_audit_log(
        &self,
        ctx: &Context<'_>,
        anchor_seq: Option<i64>,
        anchor_hash: Option<String>,
    ) -> async_graphql::Result<AuditVerification> {
        let caller = ctx.caller()?;
        let anchor = audit_chain::parse_anchor(anchor_seq, anchor_hash)
            .map_err(ServiceError::from)
            .gql()?;
        let db = &ctx.state()?.db;
        let deadline = Deadline::after(crate::heavy::AUDIT_VERIFY);
        Ok(audit::verify(db, &caller, anchor, deadline)
            .await
            .gql()?
            .into())
    }

    /// The audit trail, oldest first, as a Relay connection (auditor,
    /// admin). For a whole period with offline re-verification, export an
    /// evidence pack instead (`GET /audit/export`).
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        complexity = "(first.or(last).unwrap_or(20).max(1) as usize) * child_complexity + 1",
        cache_control(no_cache)
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilterInput>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, AuditEvent, AuditEventConnectionFields>> {
        let caller = ctx.caller()?;
        let state = ctx.state()?;
        let filter = filter.unwrap_or_default();
        let filter = EventFilter {
            entity_type: filter.entity_type,
            // A global id (`Change:uuid`) names the same record as the
            // bare uuid the trail stores.
            entity_id: filter.entity_id.map(|id| {
                crate::domain::node_id::parse("filter.entityId", &id)
                    .map_or(id, |parsed| parsed.uuid.to_string())
            }),
            actor_id: filter
                .actor_id
                .as_ref()
                .map(|id| parse_id(NodeType::User, "filter.actorId", id))
                .transpose()?,
            action: filter.action,
            from: filter.from,
            to: filter.to,
        };
        let page = PageRequest {
            first,
            after: decode_cursor("after", after)?,
            last,
            before: decode_cursor("before", before)?,
        };
        let page = audit::list(&state.db, &caller, &filter, page, state.max_page_size)
            .await
            .gql()?;
        if ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("actor")
            .exists()
        {
            // One query for the page's actors instead of one per event.
            ctx.data::<Loaders>()?
                .load_many(
                    page.rows
                        .iter()
                        .filter_map(|(_, row)| row.actor_id.map(UserId)),
                )
                .await?;
        }
        let mut connection = Connection::with_additional_fields(
            page.flags.has_previous,
            page.flags.has_next,
            AuditEventConnectionFields {
                total_count: page.total,
            },
        );
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|(seq, row)| Edge::new(OpaqueCursor(seq), AuditEvent(row))),
        );
        Ok(connection)
    }
}
