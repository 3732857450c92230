//! Keyset pages, newest first, for lists keyed by a time-ordered id
//! (UUID v7): a page after a cursor never repeats or skips a row, however
//! many rows are written between two requests.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::error::ServiceResult;

/// A page of what `condition` selects: up to `first` rows with an id below
/// `after` (all when `None`), newest first; the number of rows the
/// condition selects in all; and whether more follow the page.
pub async fn newest_first<E>(
    db: &DatabaseConnection,
    condition: Condition,
    id: E::Column,
    after: Option<Uuid>,
    first: u64,
) -> ServiceResult<(Vec<E::Model>, u64, bool)>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let total = E::find().filter(condition.clone()).count(db).await?;
    let mut query = E::find().filter(condition);
    if let Some(after) = after {
        query = query.filter(id.lt(after));
    }
    let mut rows = query.order_by_desc(id).limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok((rows, total, more))
}
