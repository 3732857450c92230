//! Global object ids: `Type:uuid`, e.g. `Change:0193a5c2-…`.
//!
//! Every object a client can refetch by id (Relay's `node(id:)`, Apollo's
//! and urql's normalised caches) carries one, so an id alone names its
//! type. The uuid part is the record's key, as webhooks, evidence packs,
//! the audit trail and the CLI show it; inputs take either form.

use std::{fmt, str::FromStr};

use uuid::Uuid;

use super::ValidationError;

/// The types whose ids are global ids, by their GraphQL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    Change,
    User,
    ApiToken,
    System,
    ApprovalRecord,
    Evidence,
    Incident,
    Review,
    Template,
    CabMeeting,
    Deployment,
    Webhook,
    WebhookDelivery,
    CalendarRuleRecord,
    FeedToken,
}

impl NodeType {
    pub const ALL: [NodeType; 15] = [
        Self::Change,
        Self::User,
        Self::ApiToken,
        Self::System,
        Self::ApprovalRecord,
        Self::Evidence,
        Self::Incident,
        Self::Review,
        Self::Template,
        Self::CabMeeting,
        Self::Deployment,
        Self::Webhook,
        Self::WebhookDelivery,
        Self::CalendarRuleRecord,
        Self::FeedToken,
    ];

    /// The GraphQL type name, which prefixes the id.
    pub fn name(self) -> &'static str {
        match self {
            Self::Change => "Change",
            Self::User => "User",
            Self::ApiToken => "ApiToken",
            Self::System => "System",
            Self::ApprovalRecord => "ApprovalRecord",
            Self::Evidence => "Evidence",
            Self::Incident => "Incident",
            Self::Review => "Review",
            Self::Template => "Template",
            Self::CabMeeting => "CabMeeting",
            Self::Deployment => "Deployment",
            Self::Webhook => "Webhook",
            Self::WebhookDelivery => "WebhookDelivery",
            Self::CalendarRuleRecord => "CalendarRuleRecord",
            Self::FeedToken => "FeedToken",
        }
    }
}

impl FromStr for NodeType {
    type Err = ();

    fn from_str(name: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|node_type| node_type.name() == name)
            .ok_or(())
    }
}

/// A parsed id: the type when the id named one, and the record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId {
    pub node_type: Option<NodeType>,
    pub uuid: Uuid,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node_type {
            Some(node_type) => write!(f, "{}:{}", node_type.name(), self.uuid),
            None => write!(f, "{}", self.uuid),
        }
    }
}

/// The global id of the record `uuid` of type `node_type`.
pub fn global(node_type: NodeType, uuid: Uuid) -> String {
    NodeId {
        node_type: Some(node_type),
        uuid,
    }
    .to_string()
}

/// Reads a global id (`Change:uuid`) or a bare uuid, as every id argument
/// takes them.
pub fn parse(field: &str, text: &str) -> Result<NodeId, ValidationError> {
    let invalid = || ValidationError::new(field, "is not a valid id");
    match text.split_once(':') {
        None => Ok(NodeId {
            node_type: None,
            uuid: text.parse().map_err(|_| invalid())?,
        }),
        Some((name, uuid)) => {
            let node_type = name.parse::<NodeType>().map_err(|()| {
                ValidationError::new(field, format!("names no type of object: `{name}`"))
            })?;
            Ok(NodeId {
                node_type: Some(node_type),
                uuid: uuid.parse().map_err(|_| invalid())?,
            })
        }
    }
}

/// Reads an id argument that must name a `expected`: a global id of that
/// type or a bare uuid.
pub fn parse_as(field: &str, text: &str, expected: NodeType) -> Result<Uuid, ValidationError> {
    let id = parse(field, text)?;
    match id.node_type {
        Some(node_type) if node_type != expected => Err(ValidationError::new(
            field,
            format!(
                "is the id of a {}, not of a {}",
                node_type.name(),
                expected.name()
            ),
        )),
        _ => Ok(id.uuid),
    }
}

/// Deserializes an account id inside JSON a client sends (evidence
/// details), in either form.
pub fn deserialize_user_id<'de, D>(deserializer: D) -> Result<Uuid, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    parse_as("id", &text, NodeType::User).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0193a5c2-7d1e-7c3a-9f00-000000000001";

    #[test]
    fn a_global_id_names_its_type_and_reads_back() {
        let uuid: Uuid = UUID.parse().unwrap();
        for node_type in NodeType::ALL {
            let id = global(node_type, uuid);
            assert_eq!(id, format!("{}:{UUID}", node_type.name()));
            assert_eq!(
                parse("id", &id).unwrap(),
                NodeId {
                    node_type: Some(node_type),
                    uuid
                }
            );
        }
    }

    #[test]
    fn a_bare_uuid_is_still_an_id() {
        let id = parse("id", UUID).unwrap();
        assert_eq!(id.node_type, None);
        assert_eq!(parse_as("id", UUID, NodeType::Change).unwrap(), id.uuid);
    }

    #[test]
    fn ids_of_another_or_no_type_are_refused_with_the_reason() {
        let system = format!("System:{UUID}");
        let error = parse_as("changeId", &system, NodeType::Change).unwrap_err();
        assert_eq!(error.field, "changeId");
        assert_eq!(error.message, "is the id of a System, not of a Change");
        assert!(
            parse("id", &format!("Gadget:{UUID}"))
                .unwrap_err()
                .message
                .contains("Gadget")
        );
        assert_eq!(
            parse("id", "Change:nope").unwrap_err().message,
            "is not a valid id"
        );
        assert_eq!(parse("id", "").unwrap_err().message, "is not a valid id");
    }
}
