//! A refusal as a typed value: a stable code that clients and tests match,
//! and the English sentence a person reads. The code never changes once
//! released; the sentence may be reworded.

use std::fmt;

use serde::Serialize;

/// Why a rule refused an action. Exposed as `extensions.violationCodes`
/// on a `POLICY_VIOLATION` error and as `GateStatus.reasonCodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViolationCode {
    /// The change is not in a status the action is taken from.
    WrongStatus,
    /// The change type needs a standard change template and none is set.
    TemplateMissing,
    /// The request lacks information its type requires at submission.
    InformationMissing,
    /// The change's risk level is above what its type accepts.
    RiskAboveCeiling,
    /// The policy's binding risk matrix rates the change as a higher type
    /// than the one it is filed as (`[risk_matrix] binding_order`).
    RiskAboveType,
    /// The change's deployment method is not one its type allows.
    DeploymentMethodNotAllowed,
    /// The change type is not defined by the active policy.
    UnknownChangeType,
    /// The scheduled end is not after its start.
    EndBeforeStart,
    /// The scheduled start has passed.
    StartInPast,
    /// The policy's notice period before implementation is not met.
    NoticePeriod,
    /// The slot lies later than the type's implementation deadline after
    /// approval.
    ImplementationDeadline,
    /// An approval the change type requires is missing.
    ApprovalMissing,
    /// The change was rejected.
    Rejected,
    /// Implementation is attempted outside the change's scheduled slot.
    OutsideScheduledSlot,
    /// A required gate has no (accepted, timely, independent) record.
    GateMissing,
    /// A gate's record says it failed.
    GateFailed,
    /// A gate's record states a number outside the policy's bounds (e.g.
    /// coverage below 80 %).
    GateThreshold,
    /// The slot lies outside every change window for the type.
    OutsideWindow,
    /// The slot falls in a hard freeze.
    HardFreeze,
    /// The slot falls in a soft freeze without the approval it needs.
    SoftFreeze,
    /// The start falls in a freeze and the type needs the CAB's approval
    /// to start during one (`[change_type.in_freeze] board_approval`).
    FreezeApprovalMissing,
    /// Another change is booked on an overlapping system in the slot.
    Conflict,
    /// A CAB meeting at a time the board's schedule has none, and no
    /// business the policy lets call an extraordinary one.
    MeetingOffSchedule,
    /// A rollback goes through `rollBackChange`, with its reason.
    RollbackThroughRollBack,
    /// A rollback needs a reason.
    RollbackReasonMissing,
    /// Closing needs the post-implementation review on record.
    ReviewMissing,
    /// A review lacks what the policy asks it to state (lessons learned,
    /// root cause after a rollback).
    ReviewContentMissing,
    /// Closing needs the CAB's review of the emergency (a BOARD review).
    BoardReviewMissing,
    /// Closing waits for the type's monitoring period after implementation.
    MonitoringPeriod,
    /// Closing needs the emergency's retroactive approval.
    RetroactiveApprovalMissing,
    /// Closing needs the emergency's documentation.
    DocumentationMissing,
    /// A requester may not approve their own change.
    SelfApproval,
    /// The account does not hold the roles or seat the approval needs.
    NotAnApprover,
    /// The account already decided in this approval round.
    AlreadyDecided,
    /// The policy's segregation of duties keeps this person from the act
    /// (an approver implementing, an implementer reviewing).
    SegregationOfDuties,
    /// The board records a rationale with every decision and this vote
    /// gives none.
    RationaleMissing,
    /// The step the person would decide waits for an earlier step (the
    /// Change Manager's review before the CAB).
    StepNotOpen,
    /// A backup approver decides without saying why the primary cannot.
    SubstituteReasonMissing,
    /// The retention period does not allow purging these audit events.
    RetentionNotElapsed,
}

impl ViolationCode {
    /// The code as clients see it, e.g. `NOTICE_PERIOD` (the GraphQL enum
    /// value and the serde name agree).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One violated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: ViolationCode,
    pub message: String,
}

impl Violation {
    pub fn new(code: ViolationCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The codes of `violations`, in order (for tests and clients).
pub fn codes(violations: &[Violation]) -> Vec<ViolationCode> {
    violations.iter().map(|v| v.code).collect()
}

/// The messages of `violations`, in order.
pub fn messages(violations: &[Violation]) -> Vec<String> {
    violations.iter().map(|v| v.message.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_reads_as_its_message_and_serialises_its_code() {
        let v = Violation::new(ViolationCode::NoticePeriod, "notice period not met");
        assert_eq!(v.to_string(), "notice period not met");
        assert_eq!(
            serde_json::to_value(v.code).unwrap(),
            serde_json::json!("NOTICE_PERIOD")
        );
        assert_eq!(
            codes(std::slice::from_ref(&v)),
            vec![ViolationCode::NoticePeriod]
        );
        assert_eq!(messages(&[v]), vec!["notice period not met".to_owned()]);
    }
}
