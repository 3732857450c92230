//! Bearer tokens and the authenticated caller.
//!
//! A token is `gh_` followed by 32 random bytes in hex. Only its SHA-256 is
//! stored: the tokens are high-entropy, so a fast hash is enough and a
//! database dump does not reveal usable credentials.

use std::collections::BTreeSet;

use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const TOKEN_PREFIX: &str = "gh_";

/// The authenticated account a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub roles: BTreeSet<String>,
    /// The token the request presented, recorded in every audit event the
    /// request writes; `None` only in unit tests.
    pub credential: Option<Credential>,
}

/// Which token acted and who issued it, so an audit event shows when one
/// account's credentials were in someone else's hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub token_id: Uuid,
    /// The issuing account; `None` when the operator issued the token from
    /// the host (CLI, bootstrap) or the token predates issuer tracking.
    pub issued_by: Option<Uuid>,
    /// The issuer as the audit trail names it (email or `cli:<user>`).
    pub issued_by_label: Option<String>,
}

impl Actor {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    #[cfg(test)]
    pub fn for_tests(roles: &[&str]) -> Self {
        Self {
            user_id: Uuid::new_v4(),
            name: "Test".into(),
            email: "test@example.com".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            credential: None,
        }
    }
}

/// A new random token secret.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The stored form of a token secret.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
    }

    #[test]
    fn hash_is_stable_hex_sha256() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parses_bearer_header() {
        assert_eq!(bearer_token("Bearer gh_x"), Some("gh_x"));
        assert_eq!(bearer_token("bearer   gh_x "), Some("gh_x"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("gh_x"), None);
    }
}
