//! The change-management policy in force: configuration, not code.
//!
//! A policy is a TOML document. Presets encoding the five seed policies ship
//! inside the binary and are chosen by name; any other value of
//! GATEHOUSE_POLICY is read as a path to a TOML file of the same shape.

use serde::{Deserialize, Serialize};

/// Presets by name, each encoding one seed document in `shared/seeds/`.
pub const PRESETS: &[(&str, &str)] = &[
    ("cab-quorum", include_str!("presets/cab-quorum.toml")),
    ("tiered-cab", include_str!("presets/tiered-cab.toml")),
    ("dual-approval", include_str!("presets/dual-approval.toml")),
    ("weekly-cab", include_str!("presets/weekly-cab.toml")),
    (
        "security-officer",
        include_str!("presets/security-officer.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid policy {name}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Short name (`tiered-cab`).
    pub name: String,
    /// Human title of the policy document.
    pub title: String,
    /// The seed document or internal policy this encodes.
    pub source: String,
    /// Change types in the order the document lists them.
    #[serde(rename = "change_type")]
    pub change_types: Vec<ChangeType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
#[graphql(name = "PolicyChangeType")]
pub struct ChangeType {
    /// Stable key stored on changes (`standard`, `normal`, `major`, `emergency`).
    pub key: String,
    /// The document's own name for the type (`Standard Changes (P2)`).
    pub label: String,
    pub description: String,
}

impl Policy {
    /// Loads a preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Self, PolicyError> {
        if let Some((_, text)) = PRESETS.iter().find(|(name, _)| *name == name_or_path) {
            return Self::parse(name_or_path, text);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|source| PolicyError::Read {
            path: format!(
                "{name_or_path} (not a preset either: {})",
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            source,
        })?;
        Self::parse(name_or_path, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Self, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|error| PolicyError::Invalid {
            name: name.to_owned(),
            message: error.to_string(),
        })?;
        policy.check().map_err(|message| PolicyError::Invalid {
            name: name.to_owned(),
            message,
        })?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), String> {
        if self.change_types.is_empty() {
            return Err("defines no change types".into());
        }
        let mut keys = std::collections::BTreeSet::new();
        for change_type in &self.change_types {
            if !keys.insert(change_type.key.as_str()) {
                return Err(format!("change type `{}` defined twice", change_type.key));
            }
        }
        Ok(())
    }

    pub fn change_type_keys(&self) -> Vec<&str> {
        self.change_types.iter().map(|t| t.key.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses() {
        for (name, _) in PRESETS {
            let policy = Policy::load(name).unwrap();
            assert_eq!(&policy.name, name);
        }
    }

    #[test]
    fn presets_keep_their_seed_change_types() {
        let keys = |name: &str| Policy::load(name).unwrap().change_type_keys().join(",");
        assert_eq!(keys("cab-quorum"), "standard,normal,emergency");
        assert_eq!(keys("tiered-cab"), "standard,normal,major,emergency");
        assert_eq!(keys("dual-approval"), "standard,normal,major,emergency");
        assert_eq!(keys("weekly-cab"), "emergency,standard,normal");
        assert_eq!(keys("security-officer"), "emergency,standard,major");
    }

    #[test]
    fn unknown_policy_name_is_an_error() {
        assert!(Policy::load("no-such-policy").is_err());
    }
}
