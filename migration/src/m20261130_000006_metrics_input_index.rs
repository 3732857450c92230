//! The metrics' input as one narrow, ordered index (PostgreSQL).
//!
//! The metrics read ten columns of every implemented change in a range
//! (`api::service::metrics::load_frames_copy`). From the table that is a
//! sequential scan of every column of every change (titles and
//! descriptions included) and a sort on the
//! client. This partial index holds only implemented changes, keyed by
//! `actual_end` and carrying the other nine columns, so the loader reads
//! an index-only scan a fraction of that size (docs/benchmarks-reports.md),
//! already in the order
//! the metrics group by.
//!
//! SQLite has no `INCLUDE`, and its loader is not the path that serves a
//! million changes (docs/operations.md, "Running on PostgreSQL"), so it keeps
//! `idx_changes_actual_end` alone.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = "CREATE INDEX IF NOT EXISTS idx_changes_metrics_input ON changes (actual_end) \
     INCLUDE (id, change_type, outcome, submitted_at, approved_at, scheduled_start, scheduled_end, \
     actual_start, approval_due_at) \
     WHERE outcome IS NOT NULL";

const DROP: &str = "DROP INDEX IF EXISTS idx_changes_metrics_input";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(CREATE).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(DROP).await?;
        }
        Ok(())
    }
}
