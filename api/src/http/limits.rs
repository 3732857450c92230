//! Abuse limits applied before a GraphQL request runs: a per-token rate
//! limit, an alias budget, and the normalisation of errors so every error
//! a client sees carries a stable `extensions.code` and no internals.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_graphql::{
    ServerError,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// Token buckets per caller key (the hash of the bearer token). Buckets
/// live in this process: with several replicas each enforces its own share,
/// which bounds a single client without shared state.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

const MAX_TRACKED_KEYS: usize = 50_000;

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket; `Err(retry_after)` when it is
    /// empty. A bucket holds a minute's worth and refills continuously.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > MAX_TRACKED_KEYS {
            // Full buckets carry no information; forget them.
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - bucket.tokens) / per_second).ceil().max(1.0),
            ))
        }
    }
}

/// Aliased fields in the whole document, fragments included.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + walk(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => walk(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// Gives every error a code. Request-level errors (parse, validation,
/// depth and complexity limits) are the client's: VALIDATION. A resolver
/// error without a code escaped the service layer's mapping (a loader's
/// database error, say): its message may hold internals, so it is logged
/// and replaced.
pub fn normalize_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        // Argument coercion errors carry a path but are the client's
        // input: async-graphql words them "Failed to parse ..." /
        // "Invalid value for argument ...".
        let bad_input = error.message.starts_with("Failed to parse")
            || error.message.starts_with("Invalid value for argument");
        let code = if error.path.is_empty() || bad_input {
            "VALIDATION"
        } else {
            tracing::error!(error = %error.message, path = ?error.path, "resolver error without a code");
            error.message = "internal error".into();
            "INTERNAL"
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_configured_rate() {
        let limiter = RateLimiter::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check("a", start).is_ok());
        }
        assert_eq!(limiter.check("a", start), Err(Duration::from_secs(1)));
        assert!(limiter.check("b", start).is_ok(), "buckets are per key");
        assert!(limiter.check("a", start + Duration::from_secs(1)).is_ok());
        assert!(RateLimiter::new(0).check("a", start).is_ok(), "0 disables");
    }

    #[test]
    fn aliases_are_counted_everywhere() {
        let document = async_graphql::parser::parse_query(
            "query { a: me { id } b: me { x: id } ...F } fragment F on Query { c: me { id } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&document), 4);
    }
}
