//! Database entities and the enums they store. No business rules live here:
//! the rules are in `api::domain`, the queries in `api::service`.

pub mod api_token;
pub mod approval;
pub mod audit_event;
pub mod audit_outbox;
pub mod audit_purge_permit;
pub mod board_decision;
pub mod cab_meeting;
pub mod cab_member;
pub mod calendar_rule;
pub mod change;
pub mod change_sequence;
pub mod change_system;
pub mod change_template;
pub mod deployment;
pub mod deployment_system;
pub mod enums;
pub mod evidence;
pub mod feed_token;
pub mod hook_delivery;
pub mod incident;
pub mod incident_system;
pub mod review;
pub mod system;
pub mod user;
pub mod webhook;
pub mod webhook_delivery;

pub use enums::*;
