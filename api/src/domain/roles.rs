//! Role keys. Three roles are built in and carry application permissions;
//! every other role key (cto, ciso, change_manager, ...) is defined by the
//! active policy and only matters for approvals.

use std::collections::BTreeSet;

use super::ValidationError;

/// Manages accounts, tokens and systems. Holds no approval power by itself.
pub const ADMIN: &str = "admin";
/// Reads everything, writes nothing.
pub const AUDITOR: &str = "auditor";
/// Files change requests.
pub const REQUESTER: &str = "requester";
/// Maintains the systems (configuration items) register with admins.
pub const CHANGE_MANAGER: &str = "change_manager";

const MAX_ROLES: usize = 32;

/// Parses and checks a role list: lowercase keys, no duplicates, and an
/// auditor holds no other role so that the read-only account stays
/// read-only (segregation of duties).
pub fn parse_roles<I, S>(roles: I) -> Result<BTreeSet<String>, ValidationError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut parsed = BTreeSet::new();
    for role in roles {
        let role = role.as_ref().trim();
        if !is_role_key(role) {
            return Err(ValidationError::new(
                "roles",
                format!(
                    "`{role}` is not a role key (lowercase letters, digits and _; starts with a letter; at most 64)"
                ),
            ));
        }
        parsed.insert(role.to_owned());
    }
    if parsed.len() > MAX_ROLES {
        return Err(ValidationError::new(
            "roles",
            format!("at most {MAX_ROLES} roles"),
        ));
    }
    if parsed.contains(AUDITOR) && parsed.len() > 1 {
        return Err(ValidationError::new(
            "roles",
            "the auditor role cannot be combined with other roles",
        ));
    }
    Ok(parsed)
}

fn is_role_key(role: &str) -> bool {
    let mut bytes = role.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && role.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_policy_roles() {
        let roles = parse_roles(["requester", "change_manager", "cto"]).unwrap();
        assert_eq!(roles.len(), 3);
    }

    #[test]
    fn rejects_malformed_keys() {
        for bad in ["", "CTO", "1st", "change-manager", "a b"] {
            assert!(parse_roles([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn auditor_stands_alone() {
        assert!(parse_roles(["auditor"]).is_ok());
        assert!(parse_roles(["auditor", "requester"]).is_err());
    }
}
