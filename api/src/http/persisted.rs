//! Automatic persisted queries, the protocol Apollo Client and urql speak:
//! a client sends `extensions.persistedQuery {version: 1, sha256Hash}`
//! without the document; the server answers from the documents it has seen
//! under that hash, or `PersistedQueryNotFound`, and the client sends the
//! document once with its hash. With hashes instead of documents, queries
//! fit a GET URL that a browser or CDN can revalidate (`ETag`).
//!
//! The documents are kept in this process, least recently used out first,
//! within a byte budget: a miss only costs the client one more request,
//! so nothing needs to be shared between replicas or survive a restart.
//! A document is kept only once its request has authenticated.

use std::sync::Mutex;

use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What the documents kept may add up to.
const BUDGET_BYTES: usize = 16 * 1024 * 1024;

pub struct PersistedQueries {
    documents: Mutex<Kept>,
}

struct Kept {
    by_hash: LruCache<[u8; 32], String>,
    bytes: usize,
}

/// How a request's `persistedQuery` extension resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    /// No `persistedQuery` extension: an ordinary request.
    NotPersisted,
    /// The hash of a document this process has kept; here it is.
    Found(String),
    /// The document came with its hash, which matches: keep it once the
    /// request has authenticated.
    Register([u8; 32]),
}

/// Why a persisted query cannot be answered: the message and code clients
/// of the protocol recognise.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
    pub code: &'static str,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self {
            documents: Mutex::new(Kept {
                by_hash: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }
}

impl PersistedQueries {
    /// Reads the request's `persistedQuery` extension against `query` (the
    /// document sent, empty when only the hash was).
    pub fn resolve(&self, extension: Option<&Value>, query: &str) -> Result<Resolution, Refused> {
        let Some(extension) = extension else {
            return Ok(Resolution::NotPersisted);
        };
        if extension.get("version").and_then(Value::as_i64) != Some(1) {
            return Err(Refused {
                message: "PersistedQueryNotSupported".into(),
                code: "PERSISTED_QUERY_NOT_SUPPORTED",
            });
        }
        let hash = extension
            .get("sha256Hash")
            .and_then(Value::as_str)
            .and_then(parse_hash)
            .ok_or_else(|| Refused {
                message:
                    "persistedQuery.sha256Hash is the SHA-256 of the document in 64 hex digits"
                        .into(),
                code: "VALIDATION",
            })?;
        if query.is_empty() {
            let mut kept = self.documents.lock().unwrap_or_else(|e| e.into_inner());
            return match kept.by_hash.get(&hash) {
                Some(document) => Ok(Resolution::Found(document.clone())),
                None => Err(Refused {
                    message: "PersistedQueryNotFound".into(),
                    code: "PERSISTED_QUERY_NOT_FOUND",
                }),
            };
        }
        if Sha256::digest(query.as_bytes())[..] != hash[..] {
            return Err(Refused {
                message: "persistedQuery.sha256Hash does not match the document sent".into(),
                code: "VALIDATION",
            });
        }
        Ok(Resolution::Register(hash))
    }

    /// Keeps `document` under `hash` (checked by `resolve`), dropping the
    /// least recently used documents beyond the budget.
    pub fn keep(&self, hash: [u8; 32], document: &str) {
        let mut kept = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        if kept.by_hash.contains(&hash) || document.len() > BUDGET_BYTES {
            return;
        }
        kept.bytes += document.len();
        kept.by_hash.put(hash, document.to_owned());
        while kept.bytes > BUDGET_BYTES {
            match kept.by_hash.pop_lru() {
                Some((_, dropped)) => kept.bytes -= dropped.len(),
                None => break,
            }
        }
    }
}

fn parse_hash(hex_digits: &str) -> Option<[u8; 32]> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut hash).ok()?;
    Some(hash)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sha(document: &str) -> String {
        hex::encode(Sha256::digest(document.as_bytes()))
    }

    #[test]
    fn a_hash_is_answered_once_its_document_was_sent() {
        let store = PersistedQueries::default();
        let document = "query Me { me { email } }";
        let extension = json!({"version": 1, "sha256Hash": sha(document)});
        let miss = store.resolve(Some(&extension), "").unwrap_err();
        assert_eq!(
            (miss.message.as_str(), miss.code),
            ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        );
        let Resolution::Register(hash) = store.resolve(Some(&extension), document).unwrap() else {
            panic!("a document with its hash is registered");
        };
        store.keep(hash, document);
        assert_eq!(
            store.resolve(Some(&extension), ""),
            Ok(Resolution::Found(document.to_owned()))
        );
        assert_eq!(store.resolve(None, document), Ok(Resolution::NotPersisted));
    }

    #[test]
    fn a_wrong_hash_or_version_is_refused() {
        let store = PersistedQueries::default();
        let wrong = json!({"version": 1, "sha256Hash": sha("{ me { id } }")});
        assert_eq!(
            store
                .resolve(Some(&wrong), "{ me { email } }")
                .unwrap_err()
                .code,
            "VALIDATION"
        );
        for malformed in [
            json!({"version": 1, "sha256Hash": "abc"}),
            json!({"version": 1}),
        ] {
            assert_eq!(
                store.resolve(Some(&malformed), "").unwrap_err().code,
                "VALIDATION"
            );
        }
        let future = json!({"version": 2, "sha256Hash": sha("{ me { id } }")});
        assert_eq!(
            store.resolve(Some(&future), "").unwrap_err().code,
            "PERSISTED_QUERY_NOT_SUPPORTED"
        );
    }

    #[test]
    fn documents_beyond_the_budget_push_out_the_least_recently_used() {
        let store = PersistedQueries::default();
        let big = "x".repeat(BUDGET_BYTES / 2);
        let documents: Vec<String> = (0..3).map(|n| format!("{n}{big}")).collect();
        let hashes: Vec<[u8; 32]> = documents
            .iter()
            .map(|d| Sha256::digest(d.as_bytes()).into())
            .collect();
        for (hash, document) in hashes.iter().zip(&documents) {
            store.keep(*hash, document);
        }
        let kept = store.documents.lock().unwrap();
        assert!(kept.bytes <= BUDGET_BYTES);
        assert!(!kept.by_hash.contains(&hashes[0]), "the oldest went first");
        assert!(kept.by_hash.contains(&hashes[2]));
    }
}
