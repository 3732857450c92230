use async_graphql::{
    Context, Object, SimpleObject,
    connection::{Connection, Edge, OpaqueCursor},
};
use chrono::{DateTime, Utc};

use crate::{
    domain::{
        controls::{Control, EventRef},
        pagination::PageRequest,
    },
    error::GqlResultExt,
    graphql::{context::ContextExt, query::change::decode_cursor, types::Change},
    service::controls::{self, Exception, ExceptionPosition},
};

#[derive(Default)]
pub struct ControlsQuery;

/// One failed control of one change: an entry of the exception register.
pub struct AuditException(Exception);

#[Object]
impl AuditException {
    async fn change(&self) -> Change {
        Change(self.0.change.clone())
    }
    async fn control(&self) -> Control {
        self.0.verdict.control
    }
    /// Why the control failed.
    async fn reason(&self) -> &str {
        &self.0.verdict.reason
    }
    /// The audit events (seq and hash) that prove it.
    async fn evidence(&self) -> &[EventRef] {
        &self.0.verdict.evidence
    }
    /// The policy version recorded on those events (null for events from
    /// before versions were recorded).
    async fn policy_version(&self) -> Option<&str> {
        self.0.verdict.policy_version.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct AuditExceptionConnectionFields {
    /// Failed controls in the whole register, across all pages.
    pub total_count: u64,
}

type Cursor = OpaqueCursor<ExceptionPosition>;

#[Object]
impl ControlsQuery {
    /// The exception register: every failed control of every change
    /// touching `[from, to)` (created, started, ended or closed in it), in
    /// the order of the changes' creation, then the controls' order.
    /// Auditors and admins only.
    #[graphql(
        complexity = "(first.or(last).unwrap_or(20).max(1) as usize) * child_complexity + 1",
        cache_control(no_cache)
    )]
    #[allow(clippy::too_many_arguments)]
    async fn audit_exceptions(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, AuditException, AuditExceptionConnectionFields>>
    {
        let caller = ctx.caller()?;
        let state = ctx.state()?;
        let page = PageRequest {
            first,
            after: decode_cursor("after", after)?,
            last,
            before: decode_cursor("before", before)?,
        };
        let page = controls::exceptions(
            &state.db,
            &state.policy,
            &caller,
            from,
            to,
            page,
            state.max_page_size,
            state.clock.now(),
        )
        .await
        .gql()?;
        let mut connection = Connection::with_additional_fields(
            page.flags.has_previous,
            page.flags.has_next,
            AuditExceptionConnectionFields {
                total_count: page.total,
            },
        );
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|(position, row)| Edge::new(OpaqueCursor(position), AuditException(row))),
        );
        Ok(connection)
    }
}
