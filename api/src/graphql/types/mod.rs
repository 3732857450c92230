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
