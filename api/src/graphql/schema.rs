//! Building the schema. Pure: no connecting or migrating here.

use async_graphql::{EmptySubscription, Schema, dataloader::DataLoader};

use super::{context::AppState, loaders::DbLoader, mutation::Mutation, query::Query};

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn build_schema(state: AppState) -> AppSchema {
    let loader = DataLoader::new(
        DbLoader {
            db: state.db.clone(),
        },
        tokio::spawn,
    );
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(state)
        .data(loader)
        .finish()
}

/// The schema in SDL, as committed in `api/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}
