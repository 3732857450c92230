//! Account fields.

use super::{ValidationError, required_text};

pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    required_text("name", name, 200)
}

/// A deliberately plain check: one `@`, something on both sides, no spaces.
/// Deliverability is not Gatehouse's concern; uniqueness and readability are.
pub fn normalize_email(email: &str) -> Result<String, ValidationError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(ValidationError::new("email", "is not an email address"))
    }
}

/// One account as the admin-count rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminStanding<Id> {
    pub id: Id,
    pub active: bool,
    pub admin: bool,
}

/// Whether at least one active admin remains once `target` becomes
/// `after`. Gatehouse must never end up without an active admin: nobody
/// could then manage accounts or tokens except by editing the database.
pub fn leaves_an_active_admin<Id: PartialEq>(
    accounts: &[AdminStanding<Id>],
    target: &Id,
    after: &AdminStanding<Id>,
) -> bool {
    accounts
        .iter()
        .map(|account| {
            if &account.id == target {
                after
            } else {
                account
            }
        })
        .any(|account| account.active && account.admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: u8, active: bool, admin: bool) -> AdminStanding<u8> {
        AdminStanding { id, active, admin }
    }

    #[test]
    fn the_last_active_admin_cannot_go() {
        let accounts = [
            account(1, true, true),
            account(2, false, true),
            account(3, true, false),
        ];
        // Deactivating or demoting the only active admin leaves none.
        assert!(!leaves_an_active_admin(
            &accounts,
            &1,
            &account(1, false, true)
        ));
        assert!(!leaves_an_active_admin(
            &accounts,
            &1,
            &account(1, true, false)
        ));
        // Changes to anyone else, or keeping the admin active, are fine.
        assert!(leaves_an_active_admin(
            &accounts,
            &3,
            &account(3, false, false)
        ));
        assert!(leaves_an_active_admin(
            &accounts,
            &2,
            &account(2, false, false)
        ));
        assert!(leaves_an_active_admin(
            &accounts,
            &1,
            &account(1, true, true)
        ));
        // With a second active admin either one may go.
        let two = [account(1, true, true), account(2, true, true)];
        assert!(leaves_an_active_admin(&two, &1, &account(1, false, true)));
        assert!(leaves_an_active_admin(&two, &2, &account(2, true, false)));
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email(" Ada@Example.com ").unwrap(),
            "ada@example.com"
        );
        for bad in ["", "ada", "@x", "a@", "a b@x", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
