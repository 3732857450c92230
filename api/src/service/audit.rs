//! The audit trail's use cases: reading and verifying it (auditors and
//! admins) and trimming it by retention (the host operator only). The
//! chain's mechanics live in `store::audit`.

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::DatabaseConnection;

use crate::{
    caller::Caller,
    domain::{
        budget::Deadline,
        pagination::{Page, PageRequest},
        permissions,
    },
    error::{ServiceError, ServiceResult},
    store::audit::{self, EventFilter, PurgeOutcome, Verification},
};

/// One page of events matching `filter`, oldest first, with their `seq`
/// (the cursors), the page's flags and the total.
#[tracing::instrument(skip_all)]
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: &EventFilter,
    page: PageRequest<i64>,
    max_page_size: u64,
) -> ServiceResult<Page<i64, audit_event::Model>> {
    caller.authorize(permissions::read_audit_trail)?;
    audit::list(db, filter, page, max_page_size).await
}

/// Recomputes the chain (see `store::audit::verify`).
pub async fn verify(
    db: &DatabaseConnection,
    caller: &Caller,
    anchor: Option<(i64, String)>,
    deadline: Deadline,
) -> ServiceResult<Verification> {
    caller.authorize(permissions::read_audit_trail)?;
    audit::verify(db, anchor, deadline).await
}

/// Purges events older than `purge_before` where the retention period
/// allows it (see `store::audit::purge`). Only the host operator purges:
/// no account, whatever its roles, removes evidence.
pub async fn purge(
    db: &DatabaseConnection,
    caller: &Caller,
    purge_before: DateTime<Utc>,
    retention_years: Option<u32>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> ServiceResult<PurgeOutcome> {
    if caller.account().is_some() {
        return Err(ServiceError::forbidden(
            "audit events are purged by the host operator with `gatehouse audit purge`",
        ));
    }
    audit::purge(db, caller, purge_before, retention_years, now, dry_run).await
}
