//! Answers to repeated GraphQL queries, kept until the data changes.
//!
//! Every write Gatehouse makes commits together with its audit event, so
//! the audit chain's head (its newest sequence number) names the state of
//! all the data a query can read: the *generation*. An answer is stored
//! under the generation read *before* its query ran and served only while
//! that is still the newest generation seen. A write that committed while
//! the query ran may show in the stored answer (newer than its generation,
//! never older), and once the write moves the head no later request is
//! served anything stored before it. Generations only move forward here,
//! so a slow request that read an older head cannot bring old answers back.
//!
//! Answers are kept per token (what a query returns depends on who asks)
//! and for at most `max_age` by the application clock, which bounds how
//! long a time-dependent answer (an overdue flag) or a database edited
//! behind Gatehouse's back can be served. The tokens themselves are kept
//! the same way, so a cached request costs one statement (the head).
//!
//! When an answer is missing or expired, the first request for it computes
//! it and the others asking at the same time wait for that one answer
//! instead of each computing their own (all 32 connections of a dashboard
//! wall would otherwise recompute a page together once a second).
//!
//! Bookkeeping only; the HTTP layer decides what is cacheable.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, PoisonError},
};

use tokio::sync::watch;

use axum::body::Bytes;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::auth::Actor;

/// Tokens remembered per generation; beyond this the list starts over
/// (each is one request's database lookup away).
const MAX_CALLERS: usize = 10_000;
/// No single answer may take more than this share of the budget.
const MAX_ANSWER_SHARE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Memory for stored answers; 0 turns the cache off.
    pub max_bytes: usize,
    /// Longest an answer or a token is served from memory.
    pub max_age: std::time::Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            max_age: std::time::Duration::from_secs(1),
        }
    }
}

/// What identifies one answer: the token asking and the request as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnswerKey([u8; 32]);

impl AnswerKey {
    /// `token_hash` is the stored form of the bearer token (never the
    /// secret); `variables` the request's variables as JSON text.
    pub fn new(token_hash: &str, operation: Option<&str>, query: &str, variables: &str) -> Self {
        let mut digest = Sha256::new();
        // Length-prefixed, so no two different requests encode alike.
        for part in [token_hash, operation.unwrap_or_default(), query, variables] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.update([u8::from(operation.is_some())]);
        Self(digest.finalize().into())
    }
}

/// A stored answer: the response body exactly as first sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    /// The operation name, for the per-operation request counters.
    pub operation: Option<String>,
    stored_at: DateTime<Utc>,
}

struct Caller {
    actor: Actor,
    token_expires_at: Option<DateTime<Utc>>,
    stored_at: DateTime<Utc>,
}

/// An answer being computed: waiters hold the receiver, which reports
/// when the computing request's [`Flight`] ends (stored or not).
struct InFlight {
    id: u64,
    done: watch::Receiver<()>,
}

#[derive(Default)]
struct Entries {
    /// The newest generation seen; everything below belongs to it.
    generation: i64,
    answers: HashMap<AnswerKey, Answer>,
    /// Oldest first, for eviction when the memory budget is spent.
    stored_order: VecDeque<AnswerKey>,
    bytes: usize,
    callers: HashMap<String, Caller>,
    in_flight: HashMap<AnswerKey, InFlight>,
    flights_started: u64,
}

impl Entries {
    /// Moves to `generation` if it is newer, dropping everything stored
    /// for older ones; false when `generation` is older than the newest.
    fn is_current(&mut self, generation: i64) -> bool {
        if generation > self.generation {
            *self = Entries {
                generation,
                // Ids stay unique across generations (see `Flight::drop`).
                flights_started: self.flights_started,
                ..Entries::default()
            };
        }
        generation == self.generation
    }
}

/// What to do about a request's answer.
pub enum Lookup<'a> {
    /// Stored and fresh: send it.
    Hit(Answer),
    /// Another request is computing it: wait until its flight ends
    /// (`changed()` returns, with an error when it ended), then look again.
    Wait(watch::Receiver<()>),
    /// Compute it. With a flight, this request is the one others wait for:
    /// store the answer, then drop the flight. Without one (the request
    /// read an older head than the newest seen) the answer is not stored.
    Compute(Option<Flight<'a>>),
}

/// The computing of one answer that other requests may be waiting for;
/// dropping it (answer stored, not storable, or the request abandoned)
/// wakes them.
pub struct Flight<'a> {
    cache: &'a ResponseCache,
    key: AnswerKey,
    id: u64,
    _done: watch::Sender<()>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut entries = self.cache.entries();
        // Only our own: a newer generation may have a flight for the key.
        if entries
            .in_flight
            .get(&self.key)
            .is_some_and(|f| f.id == self.id)
        {
            entries.in_flight.remove(&self.key);
        }
        // `_done` drops after this, waking the waiters to look again.
    }
}

pub struct ResponseCache {
    settings: CacheSettings,
    max_age: Duration,
    entries: Mutex<Entries>,
}

impl ResponseCache {
    /// `None` when the settings turn the cache off.
    pub fn new(settings: CacheSettings) -> Option<Self> {
        let max_age = Duration::from_std(settings.max_age).ok()?;
        (settings.max_bytes > 0 && max_age > Duration::zero()).then(|| Self {
            settings,
            max_age,
            entries: Mutex::new(Entries::default()),
        })
    }

    fn fresh(&self, stored_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        // Either way: a request that read the clock just before the one
        // that stored the answer finds it fresh too, and a clock stepped
        // far back does not make old answers fresh for longer.
        (now - stored_at).abs() < self.max_age
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an answer for `key` is held (fresh or not, of the newest
    /// generation seen): such a request is a cacheable query.
    pub fn holds(&self, key: &AnswerKey) -> bool {
        self.entries().answers.contains_key(key)
    }

    /// The fresh answer for `key` in this generation, or who computes it.
    pub fn lookup(&self, generation: i64, key: &AnswerKey, now: DateTime<Utc>) -> Lookup<'_> {
        let mut entries = self.entries();
        if !entries.is_current(generation) {
            return Lookup::Compute(None);
        }
        if let Some(answer) = entries
            .answers
            .get(key)
            .filter(|a| self.fresh(a.stored_at, now))
        {
            return Lookup::Hit(answer.clone());
        }
        if let Some(flight) = entries.in_flight.get(key) {
            return Lookup::Wait(flight.done.clone());
        }
        entries.flights_started += 1;
        let id = entries.flights_started;
        let (sender, receiver) = watch::channel(());
        entries
            .in_flight
            .insert(*key, InFlight { id, done: receiver });
        Lookup::Compute(Some(Flight {
            cache: self,
            key: *key,
            id,
            _done: sender,
        }))
    }

    /// Stores an answer computed after reading `generation`. Ignored when a
    /// newer generation has been seen meanwhile (the answer may be stale),
    /// or when the answer alone would take too much of the budget.
    pub fn store_answer(
        &self,
        generation: i64,
        key: AnswerKey,
        body: Bytes,
        operation: Option<String>,
        now: DateTime<Utc>,
    ) {
        let size = body.len();
        if size > self.settings.max_bytes / MAX_ANSWER_SHARE {
            return;
        }
        let mut entries = self.entries();
        if !entries.is_current(generation) {
            return;
        }
        let answer = Answer {
            body,
            operation,
            stored_at: now,
        };
        match entries.answers.insert(key, answer) {
            // Replaced in place: it keeps its (older) place in the order.
            Some(replaced) => entries.bytes -= replaced.body.len(),
            None => entries.stored_order.push_back(key),
        }
        entries.bytes += size;
        while entries.bytes > self.settings.max_bytes {
            let Some(oldest) = entries.stored_order.pop_front() else {
                break;
            };
            if let Some(evicted) = entries.answers.remove(&oldest) {
                entries.bytes -= evicted.body.len();
            }
        }
    }

    /// The account a token authenticated as in this generation, while the
    /// token has not expired and the entry is fresh.
    pub fn caller(&self, generation: i64, token_hash: &str, now: DateTime<Utc>) -> Option<Actor> {
        let mut entries = self.entries();
        if !entries.is_current(generation) {
            return None;
        }
        entries
            .callers
            .get(token_hash)
            .filter(|caller| self.fresh(caller.stored_at, now))
            .filter(|caller| {
                caller
                    .token_expires_at
                    .is_none_or(|expiry| Utc::now() < expiry)
            })
            .map(|caller| caller.actor.clone())
    }

    /// Remembers a successful token lookup made after reading `generation`.
    pub fn store_caller(
        &self,
        generation: i64,
        token_hash: &str,
        actor: Actor,
        token_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let mut entries = self.entries();
        if !entries.is_current(generation) {
            return;
        }
        if entries.callers.len() >= MAX_CALLERS {
            entries.callers.clear();
        }
        entries.callers.insert(
            token_hash.to_owned(),
            Caller {
                actor,
                token_expires_at,
                stored_at: now,
            },
        );
    }

    /// Memory held by stored answers, in bytes (what the budget tests read).
    #[cfg(test)]
    fn stored_bytes(&self) -> usize {
        self.entries().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_bytes: usize) -> ResponseCache {
        ResponseCache::new(CacheSettings {
            max_bytes,
            max_age: std::time::Duration::from_secs(1),
        })
        .unwrap()
    }

    fn key(query: &str) -> AnswerKey {
        AnswerKey::new("token-hash", None, query, "{}")
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    /// The fresh answer, as a request would find it (a flight started for
    /// a missing one ends right away).
    trait AnswerOf {
        fn answer(&self, generation: i64, key: &AnswerKey, now: DateTime<Utc>) -> Option<Answer>;
    }

    impl AnswerOf for ResponseCache {
        fn answer(&self, generation: i64, key: &AnswerKey, now: DateTime<Utc>) -> Option<Answer> {
            match self.lookup(generation, key, now) {
                Lookup::Hit(answer) => Some(answer),
                _ => None,
            }
        }
    }

    fn body(answer: Option<Answer>) -> Option<Bytes> {
        answer.map(|answer| answer.body)
    }

    #[test]
    fn zero_bytes_or_zero_age_turns_the_cache_off() {
        let off = |max_bytes, max_age| ResponseCache::new(CacheSettings { max_bytes, max_age });
        assert!(off(0, std::time::Duration::from_secs(1)).is_none());
        assert!(off(1024, std::time::Duration::ZERO).is_none());
        assert!(off(1024, std::time::Duration::from_millis(1)).is_some());
    }

    #[test]
    fn an_answer_is_served_in_its_generation_only() {
        let cache = cache(1024);
        cache.store_answer(7, key("q"), Bytes::from_static(b"seven"), None, at(0));
        assert_eq!(
            body(cache.answer(7, &key("q"), at(0))),
            Some(Bytes::from_static(b"seven"))
        );
        // A write moved the head: the answer is gone for good.
        assert!(cache.answer(8, &key("q"), at(0)).is_none());
        assert!(cache.answer(7, &key("q"), at(0)).is_none());
        assert_eq!(cache.stored_bytes(), 0);
    }

    #[test]
    fn a_request_that_read_an_older_head_neither_stores_nor_brings_old_answers_back() {
        let cache = cache(1024);
        cache.store_answer(8, key("q"), Bytes::from_static(b"eight"), None, at(0));
        // Stored after reading head 7: computed before the write of 8 maybe.
        cache.store_answer(7, key("old"), Bytes::from_static(b"seven"), None, at(0));
        assert!(cache.answer(7, &key("old"), at(0)).is_none());
        assert!(cache.answer(8, &key("old"), at(0)).is_none());
        assert!(cache.answer(7, &key("q"), at(0)).is_none());
        assert_eq!(
            body(cache.answer(8, &key("q"), at(0))),
            Some(Bytes::from_static(b"eight"))
        );
    }

    #[test]
    fn answers_expire_after_max_age_either_way_of_the_clock() {
        let cache = cache(1024);
        cache.store_answer(1, key("q"), Bytes::from_static(b"a"), None, at(10));
        assert!(cache.answer(1, &key("q"), at(10)).is_some());
        assert!(cache.answer(1, &key("q"), at(11)).is_none());
        // Read the clock a moment before the request that stored it.
        let just_before = at(10) - Duration::milliseconds(500);
        assert!(cache.answer(1, &key("q"), just_before).is_some());
        assert!(cache.answer(1, &key("q"), at(9)).is_none());
    }

    #[test]
    fn answers_are_kept_apart_by_token_operation_query_and_variables() {
        let keys = [
            AnswerKey::new("token-a", None, "q", "{}"),
            AnswerKey::new("token-b", None, "q", "{}"),
            AnswerKey::new("token-a", Some("Page"), "q", "{}"),
            AnswerKey::new("token-a", Some(""), "q", "{}"),
            AnswerKey::new("token-a", None, "q2", "{}"),
            AnswerKey::new("token-a", None, "q", "{\"first\":1}"),
            // Moving text from one part into the next is another request.
            AnswerKey::new("token-a", None, "q{", "}"),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_oldest_answers_make_room_within_the_memory_budget() {
        let cache = cache(40);
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.store_answer(
                1,
                key(name),
                Bytes::from(vec![b'x'; 10]),
                None,
                at(i as i64 / 10),
            );
        }
        assert_eq!(cache.stored_bytes(), 40);
        cache.store_answer(1, key("e"), Bytes::from(vec![b'x'; 10]), None, at(0));
        assert_eq!(cache.stored_bytes(), 40);
        assert!(cache.answer(1, &key("a"), at(0)).is_none());
        assert!(cache.answer(1, &key("b"), at(0)).is_some());
        assert!(cache.answer(1, &key("e"), at(0)).is_some());
        // An answer over a quarter of the budget is never kept.
        cache.store_answer(1, key("big"), Bytes::from(vec![b'x'; 11]), None, at(0));
        assert!(cache.answer(1, &key("big"), at(0)).is_none());
        // Storing the same key again replaces it without double counting.
        cache.store_answer(1, key("e"), Bytes::from(vec![b'y'; 5]), None, at(0));
        assert_eq!(cache.stored_bytes(), 35);
    }

    #[tokio::test]
    async fn one_request_computes_a_missing_answer_while_the_others_wait_for_it() {
        let cache = cache(1024);
        let Lookup::Compute(Some(flight)) = cache.lookup(1, &key("q"), at(0)) else {
            panic!("the first request computes");
        };
        let Lookup::Wait(mut waiting) = cache.lookup(1, &key("q"), at(0)) else {
            panic!("the second waits");
        };
        // Another query is not held up by this one.
        assert!(matches!(
            cache.lookup(1, &key("other"), at(0)),
            Lookup::Compute(Some(_))
        ));
        cache.store_answer(1, key("q"), Bytes::from_static(b"page"), None, at(0));
        drop(flight);
        assert!(waiting.changed().await.is_err(), "the flight ended");
        let Lookup::Hit(answer) = cache.lookup(1, &key("q"), at(0)) else {
            panic!("stored by the flight");
        };
        assert_eq!(answer.body, Bytes::from_static(b"page"));
    }

    #[tokio::test]
    async fn an_abandoned_flight_wakes_its_waiters_and_the_next_request_computes() {
        let cache = cache(1024);
        let Lookup::Compute(Some(flight)) = cache.lookup(1, &key("q"), at(0)) else {
            panic!("the first request computes");
        };
        let Lookup::Wait(mut waiting) = cache.lookup(1, &key("q"), at(0)) else {
            panic!("the second waits");
        };
        drop(flight);
        assert!(waiting.changed().await.is_err());
        assert!(matches!(
            cache.lookup(1, &key("q"), at(0)),
            Lookup::Compute(Some(_))
        ));
    }

    #[test]
    fn a_flight_of_an_older_generation_does_not_end_a_newer_one() {
        let cache = cache(1024);
        let Lookup::Compute(Some(old)) = cache.lookup(1, &key("q"), at(0)) else {
            panic!("computes");
        };
        let Lookup::Compute(Some(_new)) = cache.lookup(2, &key("q"), at(0)) else {
            panic!("a write moved the head: computed again");
        };
        // A request that read the older head computes without storing.
        assert!(matches!(
            cache.lookup(1, &key("q"), at(0)),
            Lookup::Compute(None)
        ));
        drop(old);
        assert!(matches!(cache.lookup(2, &key("q"), at(0)), Lookup::Wait(_)));
    }

    #[test]
    fn a_token_is_remembered_per_generation_until_it_expires() {
        let cache = cache(1024);
        let actor = Actor::for_tests(&["requester"]);
        cache.store_caller(3, "hash", actor.clone(), None, at(0));
        assert_eq!(cache.caller(3, "hash", at(0)), Some(actor.clone()));
        assert!(cache.caller(3, "other", at(0)).is_none());
        assert!(cache.caller(3, "hash", at(1)).is_none());
        // Revoking a token is a write: the next generation asks the database.
        assert!(cache.caller(4, "hash", at(0)).is_none());

        let expired = Utc::now() - Duration::seconds(1);
        cache.store_caller(4, "hash", actor, Some(expired), at(0));
        assert!(cache.caller(4, "hash", at(0)).is_none());
    }
}
