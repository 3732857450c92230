//! Gatehouse: the system of record for SOC 2 change management.
//!
//! Layers, outermost first: `cli` and `http` (transport), `graphql` (thin
//! resolvers), `service` (transactions: rules applied together with the
//! write and its audit event), `domain` and `policy` (plain rules over plain
//! data, no I/O).

pub mod auth;
pub mod caller;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod heavy;
pub mod http;
pub mod monitoring;
pub mod outbound;
pub mod policy;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
