//! What resolvers get from the request context.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

pub use crate::domain::node_id::NodeType;
use crate::{auth::Actor, domain::node_id, error::ServiceError, policy::Policy, service::Caller};

/// Shared, read-only state of the running application.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub policy: Arc<Policy>,
    /// When this process loaded `policy`: the policy's windows and freezes
    /// date from then (the calendar feed's Last-Modified).
    pub policy_loaded_at: chrono::DateTime<chrono::Utc>,
    pub max_page_size: u64,
    pub clock: crate::clock::Clock,
    pub monitoring: Arc<crate::monitoring::Monitoring>,
    pub events: crate::store::events::EventBus,
    /// Statements executed so far, exported as `gatehouse_db_statements_total`.
    pub queries: crate::db::QueryCounter,
    /// Whether webhooks may point at private addresses (`Settings::webhooks`).
    pub webhooks_allow_private: bool,
}

pub trait ContextExt {
    fn state(&self) -> async_graphql::Result<&AppState>;
    fn actor(&self) -> async_graphql::Result<&Actor>;
    fn caller(&self) -> async_graphql::Result<Caller> {
        Ok(Caller::Account(self.actor()?.clone()))
    }
}

impl ContextExt for Context<'_> {
    fn state(&self) -> async_graphql::Result<&AppState> {
        self.data::<AppState>()
            .map_err(|_| ServiceError::internal("application state missing from schema").extend())
    }

    /// The HTTP layer authenticates every request before execution; a
    /// missing actor therefore means a caller that skipped it.
    fn actor(&self) -> async_graphql::Result<&Actor> {
        self.data::<Actor>()
            .map_err(|_| ServiceError::Unauthenticated.extend())
    }
}

/// The inputs of a lifecycle transition, at this request's time.
pub fn transition<'a>(
    state: &'a AppState,
    caller: &'a Caller,
) -> crate::store::transitions::Request<'a> {
    crate::store::transitions::Request {
        db: &state.db,
        policy: &state.policy,
        events: &state.events,
        caller,
        now: state.clock.now(),
    }
}

/// Parses an id argument naming a `expected`: its global id
/// (`Change:uuid`) or the bare uuid.
pub fn parse_id(expected: NodeType, field: &str, id: &ID) -> async_graphql::Result<Uuid> {
    node_id::parse_as(field, id, expected).map_err(|error| ServiceError::from(error).extend())
}
