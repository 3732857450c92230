//! Role keys. A few roles are built in and carry application permissions;
//! every other role key (cto, ciso, change_manager, ...) is defined by the
//! active policy and only matters for approvals.
//!
//! An *approval role* is any role key the active policy names as an
//! approver, a substitute approver or a soft-freeze approver
//! (`Policy::approval_roles`). Holding one is approval power.

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
/// Marks a service account (a CI/CD pipeline, a bot): the one kind of
/// account an admin may issue tokens for. It holds neither admin nor an
/// approval role, so whoever holds its token gains no approval power.
pub const SERVICE: &str = "service";

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

/// Segregation of duties between roles on one account, for the active
/// policy's approval roles: the admin role (who manages accounts and
/// tokens) excludes approval power, so an admin can never hand themselves
/// the right to approve; and a service account (whose token an admin may
/// hold) carries neither admin nor approval power.
pub fn check_separation(
    roles: &BTreeSet<String>,
    approval_roles: &BTreeSet<String>,
) -> Result<(), ValidationError> {
    let approving: Vec<&str> = roles
        .intersection(approval_roles)
        .map(String::as_str)
        .collect();
    if roles.contains(ADMIN) && !approving.is_empty() {
        return Err(ValidationError::new(
            "roles",
            format!(
                "the admin role cannot be combined with approval roles of the active policy ({}):                  whoever manages accounts and tokens does not approve changes",
                approving.join(", ")
            ),
        ));
    }
    if roles.contains(SERVICE) {
        if roles.contains(ADMIN) {
            return Err(ValidationError::new(
                "roles",
                "a service account cannot be admin",
            ));
        }
        if !approving.is_empty() {
            return Err(ValidationError::new(
                "roles",
                format!(
                    "a service account cannot hold approval roles of the active policy ({})",
                    approving.join(", ")
                ),
            ));
        }
    }
    Ok(())
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

    fn set(roles: &[&str]) -> BTreeSet<String> {
        roles.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn admin_and_service_accounts_hold_no_approval_power() {
        let approvers = set(&["cto", "change_manager"]);
        assert!(check_separation(&set(&["admin", "requester"]), &approvers).is_ok());
        assert!(check_separation(&set(&["cto", "requester"]), &approvers).is_ok());
        let admin_cto = check_separation(&set(&["admin", "cto"]), &approvers).unwrap_err();
        assert!(admin_cto.message.contains("cto"), "{}", admin_cto.message);
        assert!(check_separation(&set(&["admin", "change_manager"]), &approvers).is_err());
        // Whether a role is an approval role is the policy's call.
        assert!(check_separation(&set(&["admin", "change_manager"]), &set(&["cto"])).is_ok());
        assert!(check_separation(&set(&["service", "pipeline"]), &approvers).is_ok());
        assert!(check_separation(&set(&["service", "cto"]), &approvers).is_err());
        assert!(check_separation(&set(&["service", "admin"]), &approvers).is_err());
    }

    #[test]
    fn auditor_stands_alone() {
        assert!(parse_roles(["auditor"]).is_ok());
        assert!(parse_roles(["auditor", "requester"]).is_err());
    }
}
