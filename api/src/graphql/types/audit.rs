use async_graphql::SimpleObject;

use crate::service::audit::Verification;

/// Result of recomputing the audit hash chain.
#[derive(SimpleObject)]
pub struct AuditVerification {
    /// True when every event's hash and link recomputes.
    pub ok: bool,
    /// Number of events verified (up to the first broken one).
    pub events: i64,
    /// Hash of the last event when the chain is intact.
    pub head_hash: Option<String>,
    /// Sequence number of the first broken event.
    pub broken_at: Option<i64>,
    /// What is wrong at `broken_at`.
    pub reason: Option<String>,
}

impl From<Verification> for AuditVerification {
    fn from(verification: Verification) -> Self {
        match verification {
            Verification::Intact { events, head_hash } => Self {
                ok: true,
                events,
                head_hash: Some(head_hash),
                broken_at: None,
                reason: None,
            },
            Verification::Broken(broken) => Self {
                ok: false,
                events: broken.seq - 1,
                head_hash: None,
                broken_at: Some(broken.seq),
                reason: Some(broken.reason),
            },
        }
    }
}
