//! Verdicts per control for changes, and the exception register: every
//! failed control of every change touching a period (`store::controls`
//! loads and judges them).

use chrono::{DateTime, Utc};
use entity::change;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

pub use crate::store::controls::{Exception, ExceptionPosition};
use crate::{
    caller::Caller,
    domain::{
        controls::ControlVerdict,
        pagination::{self, Page, PageRequest},
        permissions,
    },
    error::ServiceResult,
    policy::Policy,
    store,
};

/// The verdicts of each of `changes` (keyed by change id), from the
/// sealed trail.
pub async fn verdicts_of(
    db: &DatabaseConnection,
    policy: &Policy,
    changes: &[change::Model],
    now: DateTime<Utc>,
) -> ServiceResult<std::collections::HashMap<Uuid, Vec<ControlVerdict>>> {
    store::audit::seal_before_reading(db).await;
    store::controls::verdicts_of(db, policy, changes, now).await
}

/// One Relay page of the exception register, for auditors and admins.
#[allow(clippy::too_many_arguments)]
pub async fn exceptions(
    conn: &DatabaseConnection,
    policy: &Policy,
    caller: &Caller,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    request: PageRequest<ExceptionPosition>,
    max_page_size: u64,
    now: DateTime<Utc>,
) -> ServiceResult<Page<ExceptionPosition, Exception>> {
    caller.authorize(permissions::read_audit_trail)?;
    let page = pagination::keyset(request, max_page_size)?;
    store::audit::seal_before_reading(conn).await;
    let register = store::controls::register(conn, policy, from, to, now).await?;
    Ok(pagination::page_of(register, &page))
}
