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

#[cfg(test)]
mod tests {
    use super::*;

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
