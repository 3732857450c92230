//! Building the schema. Pure: no connecting or migrating here.

use async_graphql::Schema;

use super::{context::AppState, mutation::Mutation, query::Query, subscription::Subscription};

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The per-request data (the caller, `loaders::for_request`) is added by
/// the HTTP layer.
pub fn build_schema(state: AppState) -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(state)
        .finish()
}

/// The schema in SDL, as committed in `api/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .finish()
        .sdl()
}
