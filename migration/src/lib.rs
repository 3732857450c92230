//! Schema migrations. Each one runs on SQLite and PostgreSQL; anything that
//! only one backend supports (triggers) is guarded by the backend check.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261123_000002_lifecycle;
mod m20261123_000003_calendar;
mod m20261123_000004_audit_sealing;
mod m20261129_000005_board_decision;
mod m20261130_000006_metrics_input_index;
mod m20261202_review_contents_implementer_attributes;
mod m20261202_sod_cab_approval_standing;
mod m20261202_token_issuer;
mod m20261202_vote_per_phase;
mod m20261203_deployments_incidents;
mod m20261203_webhooks;
mod m20261204_freeze_entry;
mod m20261205_board_review_deadline;
mod m20261206_rollback_objective;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_lifecycle::Migration),
            Box::new(m20261123_000003_calendar::Migration),
            Box::new(m20261123_000004_audit_sealing::Migration),
            Box::new(m20261129_000005_board_decision::Migration),
            Box::new(m20261130_000006_metrics_input_index::Migration),
            Box::new(m20261202_sod_cab_approval_standing::Migration),
            Box::new(m20261202_token_issuer::Migration),
            Box::new(m20261202_vote_per_phase::Migration),
            Box::new(m20261202_review_contents_implementer_attributes::Migration),
            Box::new(m20261203_deployments_incidents::Migration),
            Box::new(m20261203_webhooks::Migration),
            Box::new(m20261204_freeze_entry::Migration),
            Box::new(m20261205_board_review_deadline::Migration),
            Box::new(m20261206_rollback_objective::Migration),
        ]
    }
}
