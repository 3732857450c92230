//! Relay pagination by keyset: a cursor is the position of a row in the
//! list's order (its sort key and id), not an offset, so a page after a
//! cursor neither repeats nor skips rows however many are written between
//! two requests.

use super::ValidationError;

pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// The arguments of a Relay connection field, with cursors decoded into
/// positions of type `P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<P> {
    pub first: Option<i32>,
    pub after: Option<P>,
    pub last: Option<i32>,
    pub before: Option<P>,
}

impl<P> Default for PageRequest<P> {
    fn default() -> Self {
        Self {
            first: None,
            after: None,
            last: None,
            before: None,
        }
    }
}

/// Which rows a request selects: those strictly between `after` and
/// `before` in the list's order, `limit` of them, from the `after` end, or
/// from the `before` end when `from_end` (a `last` request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetPage<P> {
    pub after: Option<P>,
    pub before: Option<P>,
    pub limit: u64,
    pub from_end: bool,
}

/// One page of a list: its rows, each with its position (the cursor), the
/// page's flags and the number of rows in the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<P, R> {
    pub rows: Vec<(P, R)>,
    pub flags: PageFlags,
    pub total: u64,
}

/// What a page's query found, for `pageInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageFlags {
    pub has_previous: bool,
    pub has_next: bool,
}

impl<P> KeysetPage<P> {
    /// `pageInfo` from one page's rows: `more` says the query found a row
    /// beyond `limit` in the direction it read; `beyond_opposite_cursor`
    /// says whether rows exist at or past the cursor opposite the read
    /// (`opposite_cursor`; only looked up when that cursor was given).
    pub fn flags(&self, more: bool, beyond_opposite_cursor: bool) -> PageFlags {
        if self.from_end {
            PageFlags {
                has_previous: more,
                has_next: self.before.is_some() && beyond_opposite_cursor,
            }
        } else {
            PageFlags {
                has_previous: self.after.is_some() && beyond_opposite_cursor,
                has_next: more,
            }
        }
    }

    /// The cursor on the side opposite the read, whose far side decides the
    /// other `pageInfo` flag.
    pub fn opposite_cursor(&self) -> Option<&P> {
        if self.from_end {
            self.before.as_ref()
        } else {
            self.after.as_ref()
        }
    }
}

fn page_size(field: &str, value: Option<i32>, max: u64) -> Result<Option<u64>, ValidationError> {
    match value {
        None => Ok(None),
        Some(n) if n < 0 => Err(ValidationError::new(field, "must not be negative")),
        Some(n) if n as u64 > max => Err(ValidationError::new(
            field,
            format!("at most {max} items per page"),
        )),
        Some(n) => Ok(Some(n as u64)),
    }
}

/// Which rows a request selects, following the Relay algorithm: apply
/// `after`/`before` first, then `first`, or else `last`; the default page
/// when neither is given.
pub fn keyset<P>(request: PageRequest<P>, max: u64) -> Result<KeysetPage<P>, ValidationError> {
    let first = page_size("first", request.first, max)?;
    let last = page_size("last", request.last, max)?;
    let (limit, from_end) = match (first, last) {
        (Some(_), Some(_)) => {
            return Err(ValidationError::new(
                "last",
                "give either first or last, not both",
            ));
        }
        (Some(first), None) => (first, false),
        (None, Some(last)) => (last, true),
        (None, None) => (DEFAULT_PAGE_SIZE.min(max), false),
    };
    Ok(KeysetPage {
        after: request.after,
        before: request.before,
        limit,
        from_end,
    })
}

/// One page of a list computed in memory, `rows` in the list's order:
/// the rows, flags and total `store::pages::keyset_page` gives of a table,
/// by the same positions.
pub fn page_of<P: Ord, R>(rows: Vec<(P, R)>, page: &KeysetPage<P>) -> Page<P, R> {
    let total = rows.len() as u64;
    let beyond_opposite_cursor = page.opposite_cursor().is_some_and(|cursor| {
        rows.iter().any(|(position, _)| {
            if page.from_end {
                position >= cursor
            } else {
                position <= cursor
            }
        })
    });
    let mut within: Vec<(P, R)> = rows
        .into_iter()
        .filter(|(position, _)| page.after.as_ref().is_none_or(|after| position > after))
        .filter(|(position, _)| page.before.as_ref().is_none_or(|before| position < before))
        .collect();
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let more = within.len() > limit;
    if page.from_end {
        within.drain(..within.len().saturating_sub(limit));
    } else {
        within.truncate(limit);
    }
    Page {
        rows: within,
        flags: page.flags(more, beyond_opposite_cursor),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_in_memory_pages_by_position_both_ways() {
        let rows = || (1..=5u32).map(|n| (n, n * 10)).collect::<Vec<_>>();
        let forward = page_of(rows(), &page(Some(2), Some(1), None, None));
        assert_eq!(forward.rows, vec![(2, 20), (3, 30)]);
        assert_eq!(forward.total, 5);
        assert_eq!(
            forward.flags,
            PageFlags {
                has_previous: true,
                has_next: true
            }
        );
        let backward = page_of(rows(), &page(None, None, Some(2), Some(5)));
        assert_eq!(backward.rows, vec![(3, 30), (4, 40)]);
        assert_eq!(
            backward.flags,
            PageFlags {
                has_previous: true,
                has_next: true
            }
        );
        let last = page_of(rows(), &page(Some(10), Some(3), None, None));
        assert_eq!(last.rows, vec![(4, 40), (5, 50)]);
        assert!(!last.flags.has_next);
    }

    fn page(
        first: Option<i32>,
        after: Option<u32>,
        last: Option<i32>,
        before: Option<u32>,
    ) -> KeysetPage<u32> {
        keyset(
            PageRequest {
                first,
                after,
                last,
                before,
            },
            50,
        )
        .unwrap()
    }

    #[test]
    fn first_reads_from_the_after_end_and_last_from_the_before_end() {
        let forward = page(Some(10), Some(9), None, None);
        assert_eq!(
            (forward.limit, forward.from_end, forward.after),
            (10, false, Some(9))
        );
        let backward = page(None, None, Some(5), Some(40));
        assert_eq!(
            (backward.limit, backward.from_end, backward.before),
            (5, true, Some(40))
        );
        let default = page(None, None, None, None);
        assert_eq!(
            (default.limit, default.from_end),
            (DEFAULT_PAGE_SIZE, false)
        );
    }

    #[test]
    fn page_info_comes_from_the_read_and_the_opposite_cursor() {
        let forward = page(Some(10), Some(9), None, None);
        assert_eq!(forward.opposite_cursor(), Some(&9));
        assert_eq!(
            forward.flags(true, true),
            PageFlags {
                has_previous: true,
                has_next: true
            }
        );
        let first_page = page(Some(10), None, None, None);
        assert_eq!(first_page.opposite_cursor(), None);
        assert!(!first_page.flags(false, true).has_previous);
        let backward = page(None, None, Some(5), Some(40));
        assert_eq!(backward.opposite_cursor(), Some(&40));
        assert_eq!(
            backward.flags(false, true),
            PageFlags {
                has_previous: false,
                has_next: true
            }
        );
        let last_page = page(None, None, Some(5), None);
        assert!(!last_page.flags(true, true).has_next);
    }

    #[test]
    fn rejects_oversized_negative_and_ambiguous_requests() {
        let request = |first, last| PageRequest::<u32> {
            first,
            last,
            ..Default::default()
        };
        assert_eq!(
            keyset(request(Some(51), None), 50).unwrap_err().field,
            "first"
        );
        assert_eq!(
            keyset(request(None, Some(-1)), 50).unwrap_err().field,
            "last"
        );
        assert_eq!(
            keyset(request(Some(1), Some(1)), 50).unwrap_err().field,
            "last"
        );
    }
}
