//! The store: queries and writes that more than one service needs, and
//! the audit trail every write records into. A store function takes a
//! connection or a transaction and applies no permission: services decide
//! who may act, then call the store. The store never imports a service.

pub mod accounts;
pub mod audit;
pub mod board;
pub mod calendar;
pub mod changes;
pub mod controls;
pub mod events;
pub mod pages;
pub mod pg_copy;
pub mod population;
pub mod systems;
pub mod transitions;
