//! Keyset pages: a page after a cursor never repeats or skips a row,
//! however many rows are written between two requests. `newest_first` for
//! lists keyed by a time-ordered id (UUID v7); `keyset_page` for any order
//! a list defines (`KeysetOrder`), forwards and backwards.

use std::ops::Not;

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::{
    domain::pagination::{KeysetPage, PageFlags},
    error::ServiceResult,
};

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

/// A list's order for keyset pages: how rows are sorted, where a row
/// stands in that order, and which rows lie strictly after or before a
/// position.
///
/// Both conditions must be definite (true or false, never SQL NULL, for
/// every row): the pages negate them to ask what lies at or beyond a
/// cursor.
pub trait KeysetOrder<E: EntityTrait> {
    type Position;
    /// Sorts in the list's order, or in the opposite order when `reversed`.
    fn sort(&self, query: Select<E>, reversed: bool) -> Select<E>;
    fn position(&self, row: &E::Model) -> Self::Position;
    /// Rows strictly after `position` in the list's order.
    fn after(&self, position: &Self::Position) -> Condition;
    /// Rows strictly before `position` in the list's order.
    fn before(&self, position: &Self::Position) -> Condition;
}

/// One Relay page of what `condition` selects, in `order`: the rows with
/// their positions, and the page's flags. Two statements (three when a
/// cursor is given on the side opposite the read), whatever the page size.
pub async fn keyset_page<E, O>(
    db: &DatabaseConnection,
    condition: Condition,
    order: &O,
    page: &KeysetPage<O::Position>,
) -> ServiceResult<(Vec<(O::Position, E::Model)>, PageFlags)>
where
    E: EntityTrait,
    E::Model: Sync,
    O: KeysetOrder<E>,
{
    let mut query = E::find().filter(condition.clone());
    if let Some(after) = &page.after {
        query = query.filter(order.after(after));
    }
    if let Some(before) = &page.before {
        query = query.filter(order.before(before));
    }
    // One row beyond the page says whether more follow in this direction.
    let mut rows = order
        .sort(query, page.from_end)
        .limit(page.limit.saturating_add(1))
        .all(db)
        .await?;
    let more = rows.len() as u64 > page.limit;
    rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    if page.from_end {
        rows.reverse();
    }
    let beyond_opposite_cursor = match page.opposite_cursor() {
        None => false,
        Some(cursor) => {
            let at_or_beyond = if page.from_end {
                order.before(cursor).not()
            } else {
                order.after(cursor).not()
            };
            E::find()
                .filter(condition)
                .filter(at_or_beyond)
                .limit(1)
                .all(db)
                .await?
                .is_empty()
                .not()
        }
    };
    let rows = rows
        .into_iter()
        .map(|row| (order.position(&row), row))
        .collect();
    Ok((rows, page.flags(more, beyond_opposite_cursor)))
}
