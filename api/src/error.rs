//! The service-layer error and its mapping to GraphQL errors.
//!
//! Every error a client sees carries a stable `extensions.code`. Internal
//! errors are logged with their source and reach the client only as
//! "internal error".

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

use crate::domain::violation::{self, Violation};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("authentication required: send `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("policy violation: {}", crate::domain::violation::messages(.0).join("; "))]
    PolicyViolation(Vec<Violation>),
    #[error("database error")]
    Database(#[source] DbErr),
    /// Something that should not happen did; the context says where, the
    /// cause (when there is one) keeps the error it came from, so the log
    /// shows the whole chain. Clients see "internal error" only.
    #[error("internal error: {context}")]
    Internal {
        context: String,
        #[source]
        cause: Option<Cause>,
    },
    /// A subscriber fell too far behind; its stream ends after this error.
    #[error(
        "this subscription fell behind and missed {missed} events; subscribe again and re-read the changes you show"
    )]
    Lagged { missed: u64 },
    /// CPU-bound work (calendar expansion, metrics, reports, audit
    /// verification) ran past its time budget and was stopped, so that one
    /// request cannot hold a core that other users need.
    #[error(
        "this request needed more computing than its time budget allows and was stopped; ask for less (a shorter range, fewer records)"
    )]
    Timeout,
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The error an internal error came from.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl ServiceError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An internal error with no underlying error (an invariant broke).
    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            cause: None,
        }
    }

    /// An internal error caused by `cause`, which is kept (not flattened
    /// into text) so its own sources are logged too.
    pub fn internal_from(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        Self::Internal {
            context: context.into(),
            cause: Some(cause.into()),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Validation { .. } => "VALIDATION",
            Self::Conflict(_) => "CONFLICT",
            Self::PolicyViolation(_) => "POLICY_VIOLATION",
            Self::Database(_) | Self::Internal { .. } => "INTERNAL",
            Self::Lagged { .. } => "LAGGED",
            Self::Timeout => "TIMEOUT",
        }
    }
}

impl From<DbErr> for ServiceError {
    fn from(error: DbErr) -> Self {
        // A unique index firing means two writers raced for the same key;
        // the client can retry or pick another value.
        if let Some(SqlErr::UniqueConstraintViolation(_)) = error.sql_err() {
            return Self::Conflict("a record with the same unique key already exists".into());
        }
        Self::Database(error)
    }
}

impl From<crate::domain::budget::OutOfTime> for ServiceError {
    fn from(_: crate::domain::budget::OutOfTime) -> Self {
        Self::Timeout
    }
}

impl From<crate::domain::ValidationError> for ServiceError {
    fn from(error: crate::domain::ValidationError) -> Self {
        Self::Validation {
            field: error.field,
            message: error.message,
        }
    }
}

impl ErrorExtensions for ServiceError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            Self::Database(source) => {
                tracing::error!(error = %source, debug = ?source, "database error");
                "internal error".to_owned()
            }
            Self::Internal { .. } => {
                tracing::error!(error = %cause_chain(self), "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            match self {
                Self::Validation { field, .. } => extensions.set("field", field.as_str()),
                Self::PolicyViolation(violations) => {
                    // The sentences for people, and in the same order the
                    // stable codes clients and tests match.
                    extensions.set("violations", violation::messages(violations));
                    extensions.set(
                        "violationCodes",
                        violation::codes(violations)
                            .into_iter()
                            .map(|code| async_graphql::Value::from(code.name()))
                            .collect::<Vec<_>>(),
                    );
                }
                _ => {}
            }
        })
    }
}

/// `async_graphql::Error` converts from anything displayable, which would
/// drop `extensions.code`; resolvers call `.gql()` instead of `?` alone.
pub trait GqlResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResultExt<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|error| error.extend())
    }
}

/// For domain checks a resolver runs on its arguments.
impl<T> GqlResultExt<T> for Result<T, crate::domain::ValidationError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|error| ServiceError::from(error).extend())
    }
}

/// An error and every source below it, `outer: inner: innermost`.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_chain_and_tells_clients_nothing() {
        let io = std::io::Error::other("disk full");
        let error = ServiceError::internal_from("writing the evidence pack", io);
        assert_eq!(
            cause_chain(&error),
            "internal error: writing the evidence pack: disk full"
        );
        assert!(std::error::Error::source(&error).is_some());
        let graphql = error.extend();
        assert_eq!(graphql.message, "internal error");
        assert_eq!(error.code(), "INTERNAL");
    }
}
