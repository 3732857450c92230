//! Abuse limits applied before a GraphQL request runs: the rate limiter
//! (charged per account and per client address, see `gate`), an alias and
//! fragment budget, and the normalisation of errors so every error
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

    /// When `key`'s bucket is empty, how long until it holds a request
    /// again; `None` when it has one. Takes nothing.
    pub fn exhausted(&self, key: &str, now: Instant) -> Option<Duration> {
        if self.per_minute == 0 {
            return None;
        }
        let per_second = f64::from(self.per_minute) / 60.0;
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.get(key)?;
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        let tokens = bucket.tokens + elapsed * per_second;
        (tokens < 1.0)
            .then(|| Duration::from_secs_f64(((1.0 - tokens) / per_second).ceil().max(1.0)))
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

/// What executing a document can cost beyond what async-graphql's depth
/// and complexity limits see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentCost {
    /// Aliased fields, each fragment counted at every spread that reaches
    /// it (a fragment of 30 aliases spread 30 times is 900 aliases).
    pub aliases: usize,
    /// The longest chain of fragment spreads (`...A` in which `...B` ...):
    /// validation follows it recursively, so it is bounded like nesting.
    pub spread_depth: usize,
}

/// Measures a parsed document without recursing along fragment spreads
/// (the document's own nesting is already bounded by `request_shape`).
pub fn measure(document: &ExecutableDocument) -> DocumentCost {
    #[derive(Default)]
    struct Local<'a> {
        aliases: usize,
        spreads: Vec<&'a str>,
    }
    fn walk<'a>(set: &'a SelectionSet, local: &mut Local<'a>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    local.aliases += usize::from(field.node.alias.is_some());
                    walk(&field.node.selection_set.node, local);
                }
                Selection::InlineFragment(fragment) => {
                    walk(&fragment.node.selection_set.node, local)
                }
                Selection::FragmentSpread(spread) => {
                    local.spreads.push(spread.node.fragment_name.node.as_str());
                }
            }
        }
    }
    let locals: HashMap<&str, Local> = document
        .fragments
        .iter()
        .map(|(name, fragment)| {
            let mut local = Local::default();
            walk(&fragment.node.selection_set.node, &mut local);
            (name.as_str(), local)
        })
        .collect();
    let combine = |local: &Local, totals: &HashMap<&str, DocumentCost>| {
        local.spreads.iter().fold(
            DocumentCost {
                aliases: local.aliases,
                spread_depth: 0,
            },
            |cost, spread| {
                // An unknown or cyclic spread costs nothing here: the
                // validator refuses the document.
                let reached = totals.get(spread).copied().unwrap_or_default();
                DocumentCost {
                    aliases: cost.aliases.saturating_add(reached.aliases),
                    spread_depth: cost
                        .spread_depth
                        .max(reached.spread_depth.saturating_add(1)),
                }
            },
        )
    };
    // Each fragment's total, children first, with an explicit stack.
    let mut totals: HashMap<&str, DocumentCost> = HashMap::new();
    let mut visiting: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for start in locals.keys() {
        let mut stack = vec![(*start, false)];
        while let Some((name, children_done)) = stack.pop() {
            if totals.contains_key(name) {
                continue;
            }
            let Some(local) = locals.get(name) else {
                continue;
            };
            if children_done {
                visiting.remove(name);
                let cost = combine(local, &totals);
                totals.insert(name, cost);
            } else if visiting.insert(name) {
                stack.push((name, true));
                for spread in &local.spreads {
                    if !totals.contains_key(spread) && !visiting.contains(spread) {
                        stack.push((spread, false));
                    }
                }
            }
        }
    }
    document
        .operations
        .iter()
        .map(|(_, operation)| {
            let mut local = Local::default();
            walk(&operation.node.selection_set.node, &mut local);
            combine(&local, &totals)
        })
        .fold(DocumentCost::default(), |sum, cost| DocumentCost {
            aliases: sum.aliases.saturating_add(cost.aliases),
            spread_depth: sum.spread_depth.max(cost.spread_depth),
        })
}

/// The first limit a parsed document exceeds, as a client error message.
pub fn check_document(document: &ExecutableDocument, max_aliases: usize) -> Result<(), String> {
    let cost = measure(document);
    if cost.aliases > max_aliases {
        return Err(format!(
            "too many aliases: {} (at most {max_aliases}, counting every fragment spread)",
            cost.aliases
        ));
    }
    let max_spread_depth = super::request_shape::MAX_NESTING;
    if cost.spread_depth > max_spread_depth {
        return Err(format!(
            "fragment spreads nest more than {max_spread_depth} levels deep"
        ));
    }
    Ok(())
}

/// Whether any selection of the document (its operations or fragments)
/// asks for the schema (`__schema` or `__type`; `__typename` is data).
/// Recursion is bounded: the document's nesting was checked before parsing.
pub fn selects_introspection(document: &ExecutableDocument) -> bool {
    fn asks(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "__schema" | "__type")
                    || asks(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => asks(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    document
        .operations
        .iter()
        .any(|(_, operation)| asks(&operation.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|fragment| asks(&fragment.node.selection_set.node))
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
            || error.message.starts_with("Invalid value for argument")
            // A variable the request never gave, found when a resolver
            // reads it (over WebSocket; HTTP refuses it before executing).
            || (error.message.starts_with("Variable ")
                && error.message.ends_with(" is not defined."));
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
    fn looking_at_a_bucket_takes_nothing() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();
        assert_eq!(
            limiter.exhausted("a", start),
            None,
            "an unseen key has its budget"
        );
        limiter.check("a", start).unwrap();
        assert_eq!(limiter.exhausted("a", start), None);
        limiter.check("a", start).unwrap();
        assert_eq!(limiter.exhausted("a", start), Some(Duration::from_secs(30)));
        assert_eq!(limiter.exhausted("a", start), Some(Duration::from_secs(30)));
        assert_eq!(
            limiter.exhausted("a", start + Duration::from_secs(30)),
            None
        );
    }

    fn cost(text: &str) -> DocumentCost {
        measure(&async_graphql::parser::parse_query(text).unwrap())
    }

    #[test]
    fn aliases_are_counted_everywhere() {
        let counted = cost(
            "query { a: me { id } b: me { x: id } ...F } fragment F on Query { c: me { id } }",
        );
        assert_eq!(
            counted,
            DocumentCost {
                aliases: 4,
                spread_depth: 1
            }
        );
    }

    #[test]
    fn aliases_count_at_every_spread_that_reaches_them() {
        let counted = cost(
            "query { ...B ...B ...B } fragment B on Query { ...A ...A } fragment A on Query { x: me { id } y: me { id } }",
        );
        assert_eq!(
            counted,
            DocumentCost {
                aliases: 12,
                spread_depth: 2
            }
        );
        // Doubling at each of 80 levels saturates instead of overflowing.
        let mut text = String::from("query { ...F0 }");
        for level in 0..80 {
            text.push_str(&format!(
                " fragment F{level} on Query {{ ...F{} ...F{} }}",
                level + 1,
                level + 1
            ));
        }
        text.push_str(" fragment F80 on Query { a: me { id } }");
        let deep = cost(&text);
        assert_eq!(deep.aliases, usize::MAX);
        assert_eq!(deep.spread_depth, 81);
        assert!(check_document(&async_graphql::parser::parse_query(&text).unwrap(), 30).is_err());
    }

    #[test]
    fn cyclic_spreads_terminate() {
        let counted = cost(
            "query { ...A } fragment A on Query { a: me { id } ...B } fragment B on Query { ...A }",
        );
        assert_eq!(counted.aliases, 1);
    }
}
