//! Building the schema. Pure: no connecting or migrating here.

use async_graphql::Schema;

use super::{context::AppState, mutation::Mutation, query::Query, subscription::Subscription};

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The per-request data (the caller, `loaders::for_request`) is added by
/// the HTTP layer.
pub fn build_schema(state: AppState, limits: &crate::config::Limits) -> AppSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(state)
        .limit_depth(limits.max_query_depth)
        .limit_complexity(limits.max_query_complexity)
        .limit_directives(limits.max_directives);
    // Any extension takes every field off async-graphql's fast path (a
    // registry lookup and a boxed future per field, some 2,000 on a page
    // of changes), so the operation and resolver spans are only built
    // when something records them: traces exported, or debug logging.
    if crate::telemetry::graphql_spans_recorded() {
        builder = builder.extension(crate::telemetry::GraphqlTracing);
    }
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema in SDL, as committed in `api/schema.graphql`.
pub fn sdl() -> String {
    // `@specifiedBy` tells codegen and clients what a custom scalar holds
    // (DateTime: RFC 3339).
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
