//! Moving a change through its lifecycle. Each function is one transaction:
//! lock the change, load what the rules need, apply `domain::lifecycle`,
//! write the new state and its audit event, commit — or write nothing and
//! return every violated rule.
//!
//! One file per phase; `transition.rs` holds what they share.

mod approval;
mod closing;
mod evidence;
mod implementation;
mod status;
mod transition;

pub use crate::store::transitions::Request;
pub use approval::{approve_freeze_entry, decide, revise, submit};
pub use closing::{cancel, close, record_review};
pub use evidence::record_evidence;
pub use implementation::{complete, roll_back, schedule, start_implementation};
pub use status::{GateStatus, MAX_GATE_WAIT, check_gate, gate_status, overdue};
