//! Who may do what outside the approval policy. One function per action so
//! the authorisation matrix is readable in one file.

use entity::ChangeStatus;
use uuid::Uuid;

use super::roles::{ADMIN, AUDITOR, CHANGE_MANAGER, REQUESTER};
use crate::auth::Actor;

/// Why an action was refused; becomes a FORBIDDEN error.
pub type Denied = String;

pub fn require_any(actor: &Actor, roles: &[&str], action: &str) -> Result<(), Denied> {
    if roles.iter().any(|role| actor.has_role(role)) {
        Ok(())
    } else {
        Err(format!(
            "{action} requires one of the roles: {}",
            roles.join(", ")
        ))
    }
}

pub fn manage_accounts(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN], "managing accounts")
}

pub fn read_accounts(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, AUDITOR], "listing accounts")
}

/// Tokens: admins manage everyone's; any account manages its own (for
/// example a CI token for a pipeline account).
pub fn manage_tokens_of(actor: &Actor, owner: Uuid) -> Result<(), Denied> {
    if actor.user_id == owner && !actor.has_role(AUDITOR) {
        return Ok(());
    }
    require_any(actor, &[ADMIN], "managing another account's tokens")
}

pub fn read_tokens_of(actor: &Actor, owner: Uuid) -> Result<(), Denied> {
    if actor.user_id == owner {
        return Ok(());
    }
    require_any(actor, &[ADMIN, AUDITOR], "listing another account's tokens")
}

/// The whole audit trail (every account's actions, account records in the
/// payloads) and evidence packs. A change's own history is readable by
/// whoever can read the change.
pub fn read_audit_trail(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, AUDITOR], "reading the audit trail")
}

pub fn manage_systems(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[ADMIN, CHANGE_MANAGER], "maintaining systems")
}

pub fn create_change(actor: &Actor) -> Result<(), Denied> {
    require_any(actor, &[REQUESTER], "filing a change request")
}

/// Only the requester edits the content of their change, and only while
/// it is a draft: once submitted, approvers must see what they approve.
pub fn edit_change(actor: &Actor, requester: Uuid, status: ChangeStatus) -> Result<(), Denied> {
    if actor.user_id != requester {
        return Err("only the requester can edit a change request".into());
    }
    if status != ChangeStatus::Draft {
        return Err(format!(
            "a change can only be edited while DRAFT; it is {}",
            serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[&str]) -> Actor {
        Actor::for_tests(roles)
    }

    #[test]
    fn only_admins_manage_accounts() {
        assert!(manage_accounts(&actor(&["admin"])).is_ok());
        assert!(manage_accounts(&actor(&["requester", "cto"])).is_err());
        assert!(manage_accounts(&actor(&["auditor"])).is_err());
    }

    #[test]
    fn auditors_read_accounts_but_do_not_write() {
        let auditor = actor(&["auditor"]);
        assert!(read_accounts(&auditor).is_ok());
        assert!(read_audit_trail(&auditor).is_ok());
        assert!(read_audit_trail(&actor(&["admin"])).is_ok());
        assert!(read_audit_trail(&actor(&["requester", "cto"])).is_err());
        assert!(manage_accounts(&auditor).is_err());
        assert!(create_change(&auditor).is_err());
        assert!(manage_systems(&auditor).is_err());
        assert!(manage_tokens_of(&auditor, auditor.user_id).is_err());
    }

    #[test]
    fn own_tokens_are_self_service() {
        let engineer = actor(&["requester"]);
        assert!(manage_tokens_of(&engineer, engineer.user_id).is_ok());
        assert!(manage_tokens_of(&engineer, Uuid::new_v4()).is_err());
    }

    #[test]
    fn only_the_requester_edits_and_only_drafts() {
        let engineer = actor(&["requester"]);
        assert!(edit_change(&engineer, engineer.user_id, ChangeStatus::Draft).is_ok());
        assert!(edit_change(&engineer, Uuid::new_v4(), ChangeStatus::Draft).is_err());
        let denied = edit_change(&engineer, engineer.user_id, ChangeStatus::Submitted).unwrap_err();
        assert!(denied.contains("SUBMITTED"), "{denied}");
    }
}
