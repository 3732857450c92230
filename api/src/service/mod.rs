//! Services: each public function is one use case. It checks who is
//! calling, applies the domain rules and writes the result together with
//! its audit event in one transaction.

pub mod audit;
pub mod audit_population;
pub mod cab;
pub mod calendar;
pub mod changes;
pub mod controls;
pub mod credential_changes;
pub mod deployments;
pub mod evidence;
pub mod ical;
pub mod import;
pub mod incidents;
pub mod lifecycle;
pub mod metrics;
pub mod nodes;
pub mod systems;
pub mod templates;
pub mod tokens;
pub mod users;
pub mod webhooks;

pub use crate::caller::Caller;
