//! Relay pagination over an ordered result of known size.
//!
//! Cursors are positions in the ordered result. They are simple and exact
//! for a snapshot; when rows are inserted between two page requests a page
//! may shift by the number of inserted rows, as with any offset cursor.

use super::ValidationError;

pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// The arguments of a Relay connection field, with cursors decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub first: Option<i32>,
    pub after: Option<u64>,
    pub last: Option<i32>,
    pub before: Option<u64>,
}

/// Rows `[offset, offset + limit)` of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

impl Window {
    pub fn has_previous(&self) -> bool {
        self.offset > 0
    }

    pub fn has_next(&self, total: u64) -> bool {
        self.offset + self.limit < total
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

/// Which rows a request selects out of `total`, following the Relay
/// algorithm: apply `after`/`before` first, then `first`, then `last`.
pub fn window(request: PageRequest, total: u64, max: u64) -> Result<Window, ValidationError> {
    let first = page_size("first", request.first, max)?;
    let last = page_size("last", request.last, max)?;
    if first.is_some() && last.is_some() {
        return Err(ValidationError::new(
            "last",
            "give either first or last, not both",
        ));
    }
    let mut start = request
        .after
        .map_or(0, |after| after.saturating_add(1))
        .min(total);
    let mut end = request.before.map_or(total, |before| before.min(total));
    if end < start {
        end = start;
    }
    match (first, last) {
        (Some(first), _) => end = end.min(start + first),
        (None, Some(last)) => start = start.max(end.saturating_sub(last)),
        (None, None) => end = end.min(start + DEFAULT_PAGE_SIZE.min(max)),
    }
    Ok(Window {
        offset: start,
        limit: end - start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(first: Option<i32>, after: Option<u64>, last: Option<i32>, before: Option<u64>) -> Window {
        window(
            PageRequest {
                first,
                after,
                last,
                before,
            },
            100,
            50,
        )
        .unwrap()
    }

    #[test]
    fn forward_pages() {
        assert_eq!(
            w(Some(10), None, None, None),
            Window {
                offset: 0,
                limit: 10
            }
        );
        assert_eq!(
            w(Some(10), Some(9), None, None),
            Window {
                offset: 10,
                limit: 10
            }
        );
        assert_eq!(
            w(Some(10), Some(95), None, None),
            Window {
                offset: 96,
                limit: 4
            }
        );
        assert_eq!(
            w(Some(10), Some(500), None, None),
            Window {
                offset: 100,
                limit: 0
            }
        );
    }

    #[test]
    fn backward_pages() {
        assert_eq!(
            w(None, None, Some(10), None),
            Window {
                offset: 90,
                limit: 10
            }
        );
        assert_eq!(
            w(None, None, Some(10), Some(5)),
            Window {
                offset: 0,
                limit: 5
            }
        );
    }

    #[test]
    fn default_page_and_flags() {
        let page = w(None, None, None, None);
        assert_eq!(
            page,
            Window {
                offset: 0,
                limit: DEFAULT_PAGE_SIZE
            }
        );
        assert!(!page.has_previous());
        assert!(page.has_next(100));
        assert!(
            !Window {
                offset: 90,
                limit: 10
            }
            .has_next(100)
        );
    }

    #[test]
    fn rejects_oversized_negative_and_ambiguous_requests() {
        let request = |first, last| PageRequest {
            first,
            last,
            ..Default::default()
        };
        assert_eq!(
            window(request(Some(51), None), 100, 50).unwrap_err().field,
            "first"
        );
        assert_eq!(
            window(request(None, Some(-1)), 100, 50).unwrap_err().field,
            "last"
        );
        assert_eq!(
            window(request(Some(1), Some(1)), 100, 50)
                .unwrap_err()
                .field,
            "last"
        );
    }
}
