//! Building the schema. Pure: no connecting or migrating here.

use async_graphql::{EmptySubscription, Schema};

use super::{context::AppState, mutation::Mutation, query::Query};

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// The per-request data (the caller, `loaders::for_request`) is added by
/// the HTTP layer.
pub fn build_schema(state: AppState) -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(state)
        .finish()
}

/// The schema in SDL, as committed in `api/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}
