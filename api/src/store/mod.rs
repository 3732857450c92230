//! The store: queries and writes that more than one service needs, and
//! the audit trail every write records into. A store function takes a
//! connection or a transaction and applies no permission: services decide
//! who may act, then call the store. The store never imports a service.

pub mod audit;
pub mod events;
