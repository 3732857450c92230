//! The GraphQL API: thin resolvers over `service`. One file per domain in
//! `query/` and `mutation/`, merged into the root types in `schema.rs`.

pub mod context;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod schema;
pub mod subscription;
pub mod types;

pub use schema::{AppSchema, build_schema, sdl};
