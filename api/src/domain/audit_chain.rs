//! The audit hash chain: canonical encoding, hashing and verification as
//! pure functions, so the rules can be tested (and re-implemented by an
//! auditor) without a database.
//!
//! Each event's hash is SHA-256 over the canonical JSON of its fields:
//! keys sorted, no insignificant whitespace, timestamps as RFC 3339 with
//! microseconds and `Z`, the payload as the exact stored text.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed fields of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContent<'a> {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_label: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub payload: &'a str,
    pub prev_hash: &'a str,
}

/// JSON text with object keys sorted at every level, independent of how
/// the value was built.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for key in keys {
                    out.insert(key.clone(), sorted(&map[key]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // serde_json writes object keys in map order; with `preserve_order`
    // enabled anywhere in the build that is insertion order, which `sorted`
    // made alphabetical.
    sorted(value).to_string()
}

/// The canonical encoding the hash is taken over.
pub fn canonical_encoding(event: &EventContent<'_>) -> String {
    let mut out = String::with_capacity(ENCODING_OVERHEAD + event.payload.len());
    write_canonical_encoding(event, &mut out);
    out
}

/// Room for everything but the payload in one encoding, so a buffer sized
/// with it rarely grows.
const ENCODING_OVERHEAD: usize = 512;

/// Writes the canonical encoding into `out` (cleared first) without
/// building a JSON tree: the nine keys in sorted order, strings escaped
/// exactly as serde_json escapes them (and as Python's `json.dumps(...,
/// ensure_ascii=False)` does). Verification reuses one buffer for a whole
/// chain; the unit tests prove the output equal to `canonical_json` of the
/// same fields.
pub fn write_canonical_encoding(event: &EventContent<'_>, out: &mut String) {
    out.clear();
    out.push_str("{\"action\":");
    push_json_string(out, event.action);
    out.push_str(",\"actorId\":");
    match event.actor_id {
        Some(id) => {
            out.push('"');
            out.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"actorLabel\":");
    push_json_string(out, event.actor_label);
    out.push_str(",\"entityId\":");
    push_json_string(out, event.entity_id);
    out.push_str(",\"entityType\":");
    push_json_string(out, event.entity_type);
    out.push_str(",\"occurredAt\":\"");
    push_timestamp(out, event.occurred_at);
    out.push_str("\",\"payload\":");
    push_json_string(out, event.payload);
    out.push_str(",\"prevHash\":");
    push_json_string(out, event.prev_hash);
    out.push_str(",\"seq\":");
    // Writing into a String cannot fail.
    let _ = write!(out, "{}", event.seq);
    out.push('}');
}

/// A JSON string literal: `"` and `\` escaped, control characters as
/// `\b \t \n \f \r` or `\u00xx` (lowercase hex), everything else as is.
fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        // Every escaped byte is ASCII, so `index` is a char boundary.
        out.push_str(&text[start..index]);
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// RFC 3339 with microseconds and `Z`, as `to_rfc3339_opts(Micros, true)`.
fn push_timestamp(out: &mut String, at: DateTime<Utc>) {
    let nanos = at.timestamp_subsec_nanos();
    if !(0..=9999).contains(&at.year()) || nanos >= 1_000_000_000 {
        // Outside four-digit years or on a leap second chrono knows best.
        out.push_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true));
        return;
    }
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        nanos / 1_000
    );
}

/// SHA-256 of the canonical encoding, in lowercase hex.
pub fn event_hash(event: &EventContent<'_>) -> String {
    let mut buffer = String::with_capacity(ENCODING_OVERHEAD + event.payload.len());
    String::from_utf8_lossy(&hash_into(event, &mut buffer)).into_owned()
}

/// Hashes with a caller-owned encoding buffer; the hex digest on the stack.
fn hash_into(event: &EventContent<'_>, buffer: &mut String) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    write_canonical_encoding(event, buffer);
    let digest = Sha256::digest(buffer.as_bytes());
    let mut hex = [0u8; 64];
    for (index, byte) in digest.iter().enumerate() {
        hex[2 * index] = HEX[usize::from(byte >> 4)];
        hex[2 * index + 1] = HEX[usize::from(byte & 0x0f)];
    }
    hex
}

/// An anchor given by a client: both parts or neither, a positive sequence
/// number and a SHA-256 in lowercase hex.
pub fn parse_anchor(
    seq: Option<i64>,
    hash: Option<String>,
) -> Result<Option<(i64, String)>, super::ValidationError> {
    use super::ValidationError;
    match (seq, hash) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ValidationError::new(
            "anchorHash",
            "give anchorHash together with anchorSeq",
        )),
        (None, Some(_)) => Err(ValidationError::new(
            "anchorSeq",
            "give anchorSeq together with anchorHash",
        )),
        (Some(seq), _) if seq < 1 => Err(ValidationError::new("anchorSeq", "must be at least 1")),
        (Some(seq), Some(hash)) => {
            if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                Ok(Some((seq, hash)))
            } else {
                Err(ValidationError::new(
                    "anchorHash",
                    "must be 64 lowercase hexadecimal digits",
                ))
            }
        }
    }
}

/// The retention rule: events that occurred before `purge_before` may be
/// deleted only if every one of them is older than the policy's retention
/// period, counted in calendar years back from `now`. Without a retention
/// period in the policy nothing is ever deletable. Returns the reason for
/// refusing.
pub fn check_purge_cutoff(
    purge_before: DateTime<Utc>,
    now: DateTime<Utc>,
    retention_years: Option<u32>,
) -> Result<(), String> {
    let Some(years) = retention_years else {
        return Err(
            "the policy sets no audit_retention_years, so audit events are kept forever".into(),
        );
    };
    let latest_cutoff = now
        .checked_sub_months(chrono::Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    if purge_before > latest_cutoff {
        return Err(format!(
            "the policy keeps audit events for {years} years: only events before {} may be purged",
            latest_cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    Ok(())
}

/// Why a chain failed verification, at the first event found broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks events streamed in `seq` order, one call per event, keeping only
/// the state of the previous link so a million events need no memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    /// A head recorded elsewhere (an evidence pack manifest): the chain must
    /// reach it with the same hash, which detects a truncated tail.
    anchor: Option<(i64, String)>,
    /// Reused for every event's encoding.
    buffer: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            anchor: None,
            buffer: String::with_capacity(4 * ENCODING_OVERHEAD),
        }
    }
}

impl ChainVerifier {
    pub fn with_anchor(seq: i64, hash: impl Into<String>) -> Self {
        Self {
            anchor: Some((seq, hash.into())),
            ..Self::default()
        }
    }

    /// Verifies a run of the chain that starts after event `prev_seq`
    /// whose hash was `prev_hash` (an evidence pack's segment).
    pub fn resume(prev_seq: i64, prev_hash: impl Into<String>) -> Self {
        Self {
            expected_seq: prev_seq + 1,
            prev_hash: prev_hash.into(),
            ..Self::default()
        }
    }

    /// Verifies a whole trail: from the genesis, or from `start` — the last
    /// event a retention purge removed — and, with an anchor, up to it.
    /// An anchor at or before `start` can only require the chain to reach
    /// it: its own event is gone.
    pub fn starting(start: Option<(i64, String)>, anchor: Option<(i64, String)>) -> Self {
        let verifier = match start {
            Some((seq, hash)) => Self::resume(seq, hash),
            None => Self::default(),
        };
        Self { anchor, ..verifier }
    }

    pub fn check(&mut self, event: &EventContent<'_>, stored_hash: &str) -> Result<(), ChainBreak> {
        let broken = |reason: String| ChainBreak {
            seq: event.seq,
            reason,
        };
        if event.seq != self.expected_seq {
            return Err(ChainBreak {
                seq: self.expected_seq,
                reason: format!(
                    "expected event {} next but found event {} (an event was deleted or reordered)",
                    self.expected_seq, event.seq
                ),
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(broken(format!(
                "prev_hash {} does not match the hash of the previous event {}",
                event.prev_hash, self.prev_hash
            )));
        }
        let recomputed = hash_into(event, &mut self.buffer);
        if stored_hash.as_bytes() != recomputed {
            return Err(broken(format!(
                "stored hash {stored_hash} does not match the recomputed {} (the event was edited)",
                String::from_utf8_lossy(&recomputed)
            )));
        }
        if let Some((seq, hash)) = &self.anchor
            && *seq == event.seq
            && hash.as_bytes() != recomputed
        {
            return Err(broken(format!(
                "event hashes to {stored_hash} but the anchor recorded {hash}"
            )));
        }
        self.expected_seq += 1;
        // Equal to the recomputed hash; copied without a new allocation.
        self.prev_hash.clear();
        self.prev_hash.push_str(stored_hash);
        Ok(())
    }

    /// Ends verification of a run that must reach event `last`.
    pub fn finish_at(self, last: i64) -> Result<(i64, String), ChainBreak> {
        let head_seq = self.expected_seq - 1;
        if head_seq < last {
            return Err(ChainBreak {
                seq: head_seq + 1,
                reason: format!(
                    "the run ends at event {head_seq} but should reach event {last} (events are missing)"
                ),
            });
        }
        self.finish()
    }

    /// Ends verification: the number of events and the head `(seq, hash)`.
    pub fn finish(self) -> Result<(i64, String), ChainBreak> {
        let head_seq = self.expected_seq - 1;
        if let Some((seq, _)) = &self.anchor
            && head_seq < *seq
        {
            return Err(ChainBreak {
                seq: head_seq + 1,
                reason: format!(
                    "the chain ends at event {head_seq} but event {seq} was recorded (the tail was truncated)"
                ),
            });
        }
        Ok((head_seq, self.prev_hash))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purge_cutoff_respects_the_retention_period_in_calendar_years() {
        let now = "2026-11-23T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        assert!(check_purge_cutoff(at("2019-11-23T12:00:00Z"), now, Some(7)).is_ok());
        assert!(check_purge_cutoff(at("2019-01-01T00:00:00Z"), now, Some(7)).is_ok());
        let refused = check_purge_cutoff(at("2019-11-23T12:00:01Z"), now, Some(7)).unwrap_err();
        assert!(refused.contains("7 years"), "{refused}");
        assert!(refused.contains("2019-11-23T12:00:00Z"), "{refused}");
        assert!(check_purge_cutoff(at("2026-01-01T00:00:00Z"), now, Some(0)).is_ok());
        let forever = check_purge_cutoff(at("1990-01-01T00:00:00Z"), now, None).unwrap_err();
        assert!(forever.contains("kept forever"), "{forever}");
    }

    #[test]
    fn starting_after_a_purge_expects_the_next_event() {
        let first = EventContent {
            seq: 6,
            occurred_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            actor_id: None,
            actor_label: "operator",
            action: "system.created",
            entity_type: "system",
            entity_id: "x",
            payload: "{}",
            prev_hash: "ab",
        };
        let hash = event_hash(&first);
        let mut verifier = ChainVerifier::starting(Some((5, "ab".into())), None);
        verifier.check(&first, &hash).unwrap();
        assert_eq!(verifier.finish().unwrap(), (6, hash.clone()));
        let mut wrong_start = ChainVerifier::starting(Some((5, "cd".into())), None);
        assert!(wrong_start.check(&first, &hash).is_err());
        let anchored = ChainVerifier::starting(Some((5, "ab".into())), Some((7, "ef".into())));
        let mut anchored = anchored;
        anchored.check(&first, &hash).unwrap();
        assert!(anchored.finish().unwrap_err().reason.contains("truncated"));
    }

    use chrono::TimeZone;

    use super::*;

    struct Owned {
        seq: i64,
        payload: String,
        prev_hash: String,
        hash: String,
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn content(e: &Owned) -> EventContent<'_> {
        EventContent {
            seq: e.seq,
            occurred_at: at(),
            actor_id: None,
            actor_label: "cli:root",
            action: "change.created",
            entity_type: "change",
            entity_id: "x",
            payload: &e.payload,
            prev_hash: &e.prev_hash,
        }
    }

    fn chain(n: i64) -> Vec<Owned> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut event = Owned {
                    seq,
                    payload: format!("{{\"n\":{seq}}}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                event.hash = event_hash(&content(&event));
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    fn verify_with(
        mut verifier: ChainVerifier,
        events: &[Owned],
    ) -> Result<(i64, String), ChainBreak> {
        for event in events {
            verifier.check(&content(event), &event.hash)?;
        }
        verifier.finish()
    }

    fn verify_run(
        mut verifier: ChainVerifier,
        events: &[Owned],
        last: i64,
    ) -> Result<(i64, String), ChainBreak> {
        for event in events {
            verifier.check(&content(event), &event.hash)?;
        }
        verifier.finish_at(last)
    }

    fn verify(events: &[Owned]) -> Result<(i64, String), ChainBreak> {
        verify_with(ChainVerifier::default(), events)
    }

    /// The encoding as first written: a JSON tree with sorted keys. The
    /// fast writer must produce exactly these bytes.
    fn reference_encoding(event: &EventContent<'_>) -> String {
        canonical_json(&serde_json::json!({
            "seq": event.seq,
            "occurredAt": event.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "actorId": event.actor_id.map(|id| id.to_string()),
            "actorLabel": event.actor_label,
            "action": event.action,
            "entityType": event.entity_type,
            "entityId": event.entity_id,
            "payload": event.payload,
            "prevHash": event.prev_hash,
        }))
    }

    #[test]
    fn the_encoding_escapes_like_serde_json() {
        let payload = "{\"q\":\"\\\"x\\\"\"}\u{0}\u{1f}\u{7f}\u{8}\u{c}\n\r\t é ✓ 𝄞 \u{2028}";
        let event = EventContent {
            seq: -3,
            occurred_at: at() + chrono::Duration::nanoseconds(1_234_567),
            actor_id: Some(Uuid::from_u128(0xABCDEF)),
            actor_label: "Zoë \"quoted\" \\ back",
            action: "a",
            entity_type: "",
            entity_id: "\u{1}",
            payload,
            prev_hash: GENESIS_HASH,
        };
        assert_eq!(canonical_encoding(&event), reference_encoding(&event));
        assert!(
            canonical_encoding(&event).contains("\"occurredAt\":\"2026-11-23T12:00:00.001234Z\"")
        );
        let far = EventContent {
            occurred_at: Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0).unwrap(),
            actor_id: None,
            ..event
        };
        assert_eq!(canonical_encoding(&far), reference_encoding(&far));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_encoding_equals_the_reference(
            seq in proptest::num::i64::ANY,
            micros in 0i64..8_000_000_000_000_000,
            actor in proptest::option::of(proptest::num::u128::ANY),
            label in ".*",
            action in "[a-z._]{0,20}",
            entity_id in "\\PC*",
            payload in proptest::string::string_regex("(.|\\n|\\r|\\t|\\x00|\\x1b|\"|\\\\)*").unwrap(),
        ) {
            let event = EventContent {
                seq,
                occurred_at: DateTime::from_timestamp_micros(micros).unwrap(),
                actor_id: actor.map(Uuid::from_u128),
                actor_label: &label,
                action: &action,
                entity_type: "change",
                entity_id: &entity_id,
                payload: &payload,
                prev_hash: GENESIS_HASH,
            };
            proptest::prop_assert_eq!(canonical_encoding(&event), reference_encoding(&event));
        }
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let value = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": null}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn anchors_come_whole_and_well_formed() {
        let hash = "ab".repeat(32);
        assert_eq!(parse_anchor(None, None).unwrap(), None);
        assert_eq!(
            parse_anchor(Some(3), Some(hash.clone())).unwrap(),
            Some((3, hash.clone()))
        );
        assert_eq!(parse_anchor(Some(3), None).unwrap_err().field, "anchorHash");
        assert_eq!(
            parse_anchor(None, Some(hash.clone())).unwrap_err().field,
            "anchorSeq"
        );
        assert_eq!(
            parse_anchor(Some(0), Some(hash.clone())).unwrap_err().field,
            "anchorSeq"
        );
        assert_eq!(
            parse_anchor(Some(3), Some(hash.to_uppercase()))
                .unwrap_err()
                .field,
            "anchorHash"
        );
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        assert_eq!(verify(&events).unwrap(), (5, events[4].hash.clone()));
        let anchored = ChainVerifier::with_anchor(5, events[4].hash.clone());
        assert!(verify_with(anchored, &events).is_ok());
        assert_eq!(verify(&[]).unwrap(), (0, GENESIS_HASH.to_owned()));
    }

    #[test]
    fn an_edited_payload_is_detected() {
        let mut events = chain(5);
        events[2].payload = "{\"n\":99}".into();
        assert_eq!(verify(&events).unwrap_err().seq, 3);
    }

    #[test]
    fn a_deleted_event_is_detected() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events).unwrap_err().seq, 2);
    }

    #[test]
    fn swapped_events_are_detected() {
        let mut events = chain(5);
        events.swap(1, 2);
        assert_eq!(verify(&events).unwrap_err().seq, 2);
    }

    #[test]
    fn a_forged_rehash_of_one_event_breaks_the_next_link() {
        let mut events = chain(5);
        events[2].payload = "{\"n\":99}".into();
        events[2].hash = event_hash(&content(&events[2]));
        assert_eq!(verify(&events).unwrap_err().seq, 4);
    }

    #[test]
    fn a_segment_verifies_from_the_hash_before_it() {
        let events = chain(5);
        let resumed = ChainVerifier::resume(2, events[1].hash.clone());
        assert_eq!(
            verify_with(resumed, &events[2..]).unwrap(),
            (5, events[4].hash.clone())
        );
        let short = ChainVerifier::resume(2, events[1].hash.clone());
        assert_eq!(verify_run(short, &events[2..4], 5).unwrap_err().seq, 5);
        let wrong = ChainVerifier::resume(2, GENESIS_HASH);
        assert_eq!(verify_with(wrong, &events[2..]).unwrap_err().seq, 3);
    }

    #[test]
    fn a_truncated_tail_is_detected_against_an_anchor() {
        let events = chain(5);
        let anchor = events[4].hash.clone();
        let anchored = ChainVerifier::with_anchor(5, anchor);
        assert_eq!(verify_with(anchored, &events[..3]).unwrap_err().seq, 4);
    }
}
