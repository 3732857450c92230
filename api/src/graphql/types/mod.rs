//! GraphQL output types wrapping stored records.

pub mod account;
pub mod audit;
pub mod calendar;
pub mod change;
pub mod deployment;
pub mod lifecycle;
pub mod metrics;
pub mod system;
pub mod webhook;

pub use account::{ApiToken, IssuedToken, User};
pub use audit::{AuditEvent, AuditVerification};
pub use change::Change;
pub use deployment::Deployment;
pub use system::System;

use async_graphql::ID;

use crate::domain::node_id::{self, NodeType};

/// The `id` of the record `uuid` of type `node_type`: its global id.
pub fn global_id(node_type: NodeType, uuid: uuid::Uuid) -> ID {
    ID(node_id::global(node_type, uuid))
}
