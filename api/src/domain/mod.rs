//! Domain rules as plain Rust over plain data: no database, no GraphQL.
//! Each rule lives in exactly one place and is unit-tested beside it.

pub mod account;
pub mod approval;
pub mod audit_action;
pub mod audit_chain;
pub mod audit_sample;
pub mod budget;
pub mod calendar;
pub mod change;
pub mod controls;
pub mod deadlines;
pub mod demo;
pub mod deployment;
pub mod evidence_pack;
pub mod forge;
pub mod gates;
pub mod import;
pub mod lifecycle;
pub mod node_id;
pub mod numbering;
pub mod pagination;
pub mod permissions;
pub mod risk;
pub mod roles;
pub mod segregation;
pub mod systems;
pub mod timestamps;
pub mod violation;
pub mod webhooks;

/// A rule broken by client input, naming the offending field the way the
/// GraphQL API spells it (`rollbackPlan.owner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Checks that a required text is present, not blank and not too long.
/// An http(s) URL as links and evidence carry them: required, at most
/// `max` characters, `http://` or `https://`, and no whitespace anywhere
/// (a URL with a space or a line break in it is a paste gone wrong, and
/// would be rendered split in reports and evidence packs).
pub fn http_url(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    required_text(field, value, max)?;
    if !(value.starts_with("https://") || value.starts_with("http://"))
        || value.chars().any(char::is_whitespace)
    {
        return Err(ValidationError::new(field, "must be an http(s) URL"));
    }
    Ok(())
}

pub fn required_text(field: &str, value: &str, max_chars: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be blank"));
    }
    optional_text(field, Some(value), max_chars)
}

/// Checks the length of an optional text.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), ValidationError> {
    match value {
        Some(text) if text.chars().count() > max_chars => Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        )),
        Some(text) if text.contains('\0') => Err(ValidationError::new(
            field,
            "must not contain NUL characters",
        )),
        _ => Ok(()),
    }
}

/// Checks that no string in a JSON value (keys included) holds NUL, which
/// PostgreSQL cannot store in text or `jsonb`. Iterative, so a deeply
/// nested value cannot exhaust the stack.
pub fn json_without_nul(field: &str, value: &serde_json::Value) -> Result<(), ValidationError> {
    use serde_json::Value;
    let refused = || ValidationError::new(field, "must not contain NUL characters");
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return Err(refused()),
            Value::Array(items) => pending.extend(items),
            Value::Object(entries) => {
                for (key, item) in entries {
                    if key.contains('\0') {
                        return Err(refused());
                    }
                    pending.push(item);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_anywhere_in_json_is_refused() {
        assert!(json_without_nul("data", &json!({"a": [1, "x", {"b": null}]})).is_ok());
        for value in [
            json!("a\u{0}b"),
            json!({"note": "a\u{0}b"}),
            json!({"a\u{0}": 1}),
            json!([[["\u{0}"]]]),
        ] {
            let error = json_without_nul("data", &value).expect_err("refused");
            assert_eq!(error.field, "data");
        }
    }

    #[test]
    fn one_url_rule_for_links_and_evidence() {
        for ok in ["https://ci.example.com/run/1", "http://wiki/page?a=b#c"] {
            assert!(http_url("url", ok, 2_000).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "https://example.com/a b",
            "https://example.com/\nrun",
            "https://example.com\t",
            " https://example.com",
            "",
        ] {
            let error = http_url("url", bad, 2_000).expect_err(bad);
            assert_eq!(error.field, "url");
        }
    }
}
