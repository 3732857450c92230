//! The board's meetings as more than one service reads them.

use chrono::{DateTime, Duration, Utc};
use entity::cab_meeting;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::{ServiceError, ServiceResult};
use crate::policy::Policy;

/// The next `count` (at most 52) starts of the board's schedule
/// (`[board.schedule]`) from `from`; none without a schedule.
pub async fn meeting_starts(
    policy: &Policy,
    from: DateTime<Utc>,
    count: usize,
) -> ServiceResult<Vec<DateTime<Utc>>> {
    let Some(schedule) = policy.board.as_ref().and_then(|b| b.schedule.as_ref()) else {
        return Ok(Vec::new());
    };
    let rule = schedule.to_rule()?;
    let count = count.min(52);
    crate::heavy::run(crate::heavy::CALENDAR, move |deadline| {
        Ok(rule.next_starts(from, count, &deadline)?)
    })
    .await
}

/// The end of the board's first scheduled meeting starting after `after`:
/// "at its next meeting" as a deadline. `None` without a schedule.
pub async fn next_meeting_end(
    policy: &Policy,
    after: DateTime<Utc>,
) -> ServiceResult<Option<DateTime<Utc>>> {
    let Some(schedule) = policy.board.as_ref().and_then(|b| b.schedule.as_ref()) else {
        return Ok(None);
    };
    let length = Duration::minutes(i64::from(schedule.duration_minutes));
    Ok(meeting_starts(policy, after, 1)
        .await?
        .first()
        .map(|start| *start + length))
}

pub async fn find_meeting<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> ServiceResult<cab_meeting::Model> {
    cab_meeting::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound {
            entity: "CAB meeting",
        })
}
