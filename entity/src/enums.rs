//! Enumerations stored as short strings, so that a row stays readable in
//! `psql` or `sqlite3` and adding a value never needs a type migration.

use async_graphql::Enum;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a change request is in its lifecycle (see DESIGN.md, Lifecycle).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeStatus {
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    #[sea_orm(string_value = "SUBMITTED")]
    Submitted,
    #[sea_orm(string_value = "AWAITING_APPROVAL")]
    AwaitingApproval,
    #[sea_orm(string_value = "APPROVED")]
    Approved,
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "IMPLEMENTING")]
    Implementing,
    #[sea_orm(string_value = "IMPLEMENTED")]
    Implemented,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "DEFERRED")]
    Deferred,
    #[sea_orm(string_value = "ROLLED_BACK")]
    RolledBack,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// How an implemented change ended (DESIGN.md, Lifecycle and Metrics).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeOutcome {
    #[sea_orm(string_value = "SUCCESSFUL")]
    Successful,
    #[sea_orm(string_value = "SUCCESSFUL_WITH_ISSUES")]
    SuccessfulWithIssues,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "ROLLED_BACK")]
    RolledBack,
}

/// Risk level derived from the risk score (see `api::domain::risk`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevel {
    #[sea_orm(string_value = "LOW")]
    Low,
    #[sea_orm(string_value = "MEDIUM")]
    Medium,
    #[sea_orm(string_value = "HIGH")]
    High,
    #[sea_orm(string_value = "CRITICAL")]
    Critical,
}

/// Priority and urgency share one four-step scale.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    #[sea_orm(string_value = "LOW")]
    Low,
    #[sea_orm(string_value = "MEDIUM")]
    Medium,
    #[sea_orm(string_value = "HIGH")]
    High,
    #[sea_orm(string_value = "CRITICAL")]
    Critical,
}

/// How the change reaches production.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentMethod {
    #[sea_orm(string_value = "CANARY")]
    Canary,
    #[sea_orm(string_value = "BLUE_GREEN")]
    BlueGreen,
    #[sea_orm(string_value = "ROLLING")]
    Rolling,
    #[sea_orm(string_value = "DIRECT")]
    Direct,
}

/// What a link on a change points at. Stored inside the change's JSON
/// `links` document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkKind {
    PullRequest,
    Ticket,
    Incident,
    Document,
    Other,
}

/// An approver's or CAB member's decision on a change.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    #[sea_orm(string_value = "APPROVE")]
    Approve,
    #[sea_orm(string_value = "REJECT")]
    Reject,
    #[sea_orm(string_value = "DEFER")]
    Defer,
}

/// What the CAB decided about a change put before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BoardOutcome {
    #[sea_orm(string_value = "APPROVED")]
    Approved,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "DEFERRED")]
    Deferred,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EvidenceStatus {
    #[sea_orm(string_value = "PASSED")]
    Passed,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(4))")]
pub enum IncidentPriority {
    #[sea_orm(string_value = "P1")]
    P1,
    #[sea_orm(string_value = "P2")]
    P2,
    #[sea_orm(string_value = "P3")]
    P3,
    #[sea_orm(string_value = "P4")]
    P4,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewKind {
    /// After a rollback or failure, or as the policy requires.
    #[sea_orm(string_value = "POST_IMPLEMENTATION")]
    PostImplementation,
    /// The review an emergency change owes within the policy's deadline.
    #[sea_orm(string_value = "POST_EMERGENCY")]
    PostEmergency,
    /// The CAB's review of an emergency change at its next meeting.
    #[sea_orm(string_value = "BOARD")]
    Board,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BoardRole {
    #[sea_orm(string_value = "CHAIR")]
    Chair,
    #[sea_orm(string_value = "MEMBER")]
    Member,
    /// Attends and advises; does not vote or count toward quorum.
    #[sea_orm(string_value = "ADVISOR")]
    Advisor,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Enum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MeetingStatus {
    #[sea_orm(string_value = "PLANNED")]
    Planned,
    #[sea_orm(string_value = "HELD")]
    Held,
}
