//! Who is asking: the account or operator every service call acts for.

use crate::{auth::Actor, domain::permissions::Denied, error::ServiceError};

/// Who is asking: an authenticated account (GraphQL, HTTP) or the operator
/// of the host running a CLI command against the database directly.
#[derive(Debug, Clone)]
pub enum Caller {
    Account(Actor),
    Operator { label: String },
}

impl Caller {
    /// The operator, named after the OS user so CLI writes stay attributable.
    pub fn operator() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "operator".into());
        Self::Operator {
            label: format!("cli:{user}"),
        }
    }

    /// Applies a permission rule. The operator has direct database access
    /// anyway, so rules bind accounts only.
    pub fn authorize(
        &self,
        rule: impl FnOnce(&Actor) -> Result<(), Denied>,
    ) -> Result<(), ServiceError> {
        match self {
            Self::Account(actor) => rule(actor).map_err(ServiceError::Forbidden),
            Self::Operator { .. } => Ok(()),
        }
    }

    pub fn account(&self) -> Option<&Actor> {
        match self {
            Self::Account(actor) => Some(actor),
            Self::Operator { .. } => None,
        }
    }
}
