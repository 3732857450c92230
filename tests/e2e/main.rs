//! End-to-end tests over real HTTP against the whole application.
//! Run on SQLite by default and on PostgreSQL when
//! GATEHOUSE_TEST_POSTGRES_URL is set (see helpers.rs).

mod accounts;
mod audit;
mod audit_workspace;
mod authorization;
mod bad_requests;
mod calendar;
mod changes;
mod cli;
mod concurrency;
mod controls;
mod crash;
mod deployments;
mod evidence;
mod graphql_http;
mod health;
mod helpers;
mod hooks;
mod hostile_input;
mod hostile_requests;
mod import;
mod lifecycle;
mod limits;
mod listing;
mod metrics;
mod nodes;
mod operations;
mod outage;
mod reports;
mod response_cache;
mod schema;
mod segregation_accounts;
mod segregation_board;
mod starvation;
mod subscriptions;
mod telemetry;
mod webhooks;
