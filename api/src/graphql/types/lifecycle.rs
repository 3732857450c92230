//! Output types of the lifecycle: approvals, gates, evidence, incidents,
//! reviews, deadlines, the CAB and the standard change catalog.

use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    BoardOutcome, BoardRole, Decision, EvidenceStatus, IncidentPriority, MeetingStatus, ReviewKind,
    approval, cab_meeting, cab_member, change_template, evidence, incident, review,
};

use super::{Change, User};
use crate::{
    domain::{approval as rules, lifecycle::OverdueKind},
    error::GqlResultExt,
    graphql::{
        context::ContextExt,
        loaders::{Loaders, UserId},
    },
    service::cab::{self, AgendaReason},
};

async fn user(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<Option<User>> {
    Ok(ctx.data::<Loaders>()?.load_one(UserId(id)).await?.map(User))
}

pub struct ApprovalRecord(pub approval::Model);

/// One person's decision.
#[Object]
impl ApprovalRecord {
    pub async fn id(&self) -> ID {
        global_id(NodeType::ApprovalRecord, self.0.id)
    }
    async fn approver(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.0.approver_id).await
    }
    async fn decision(&self) -> Decision {
        self.0.decision
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn decided_at(&self) -> DateTime<Utc> {
        self.0.decided_at
    }
    /// The approval round (a revised or deferred change starts a new one).
    async fn round(&self) -> i32 {
        self.0.round
    }
    /// Given after implementation started.
    async fn retroactive(&self) -> bool {
        self.0.retroactive
    }
    async fn meeting_id(&self) -> Option<ID> {
        self.0
            .meeting_id
            .map(|id| global_id(NodeType::CabMeeting, id))
    }
    /// The roles the approver held when deciding: the decision counts for
    /// these, whatever roles the account holds now.
    async fn approver_roles(&self) -> Vec<String> {
        crate::store::changes::parse_json(&self.0.approver_roles)
    }
    /// The board seat the decision was cast from, if any: a vote cast from
    /// a CHAIR or MEMBER seat stays counted if the seat is later removed.
    async fn board_role(&self) -> Option<BoardRole> {
        self.0.board_role
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalOutcome {
    Pending,
    Approved,
    Rejected,
    Deferred,
}

impl From<rules::Outcome> for ApprovalOutcome {
    fn from(outcome: rules::Outcome) -> Self {
        match outcome {
            rules::Outcome::Pending => Self::Pending,
            rules::Outcome::Approved => Self::Approved,
            rules::Outcome::Rejected => Self::Rejected,
            rules::Outcome::Deferred => Self::Deferred,
        }
    }
}

#[derive(SimpleObject)]
pub struct BoardTally {
    pub approve: u32,
    pub reject: u32,
    pub defer: u32,
    pub voting_members: u32,
    pub quorum: u32,
    pub decided: Option<BoardOutcome>,
}

pub struct ApprovalStep(pub rules::StepState);

/// One approval requirement of the change's type and how far it is met.
#[Object(name = "ApprovalStepStatus")]
impl ApprovalStep {
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn satisfied(&self) -> bool {
        self.0.satisfied
    }
    /// What is still needed.
    async fn missing(&self) -> &[String] {
        &self.0.missing
    }
    async fn approvers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<User>> {
        let loaders = ctx.data::<Loaders>()?;
        let found = loaders
            .load_many(self.0.approvers.iter().map(|id| UserId(*id)))
            .await?;
        Ok(self
            .0
            .approvers
            .iter()
            .filter_map(|id| found.get(&UserId(*id)).cloned().map(User))
            .collect())
    }
    async fn board(&self) -> Option<BoardTally> {
        self.0.board.as_ref().map(|b| BoardTally {
            approve: b.approve,
            reject: b.reject,
            defer: b.defer,
            voting_members: b.voting_members,
            quorum: b.quorum,
            decided: b.decided,
        })
    }
}

/// The change type's approval requirements against the current round.
pub struct ApprovalStatus(pub rules::ApprovalState);

#[Object]
impl ApprovalStatus {
    async fn outcome(&self) -> ApprovalOutcome {
        self.0.outcome.into()
    }
    async fn steps(&self) -> Vec<ApprovalStep> {
        self.0.steps.iter().cloned().map(ApprovalStep).collect()
    }
    async fn missing(&self) -> Vec<String> {
        self.0.missing()
    }
}

/// One required gate and whether it is met now.
#[derive(SimpleObject)]
pub struct GateResult {
    pub key: String,
    pub label: String,
    pub met: bool,
    pub reason: Option<String>,
    /// The stable code of `reason` (`GATE_MISSING`, `GATE_FAILED`).
    pub reason_code: Option<crate::domain::violation::ViolationCode>,
    /// What the gate must be met before: the start, or (a
    /// post-implementation check) the close.
    pub before: crate::policy::GatePhase,
}

pub struct Evidence(pub evidence::Model);

/// A result recorded against a gate.
#[Object]
impl Evidence {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Evidence, self.0.id)
    }
    async fn gate(&self) -> &str {
        &self.0.gate
    }
    async fn status(&self) -> EvidenceStatus {
        self.0.status
    }
    async fn summary(&self) -> Option<&str> {
        self.0.summary.as_deref()
    }
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }
    async fn recorded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.0.recorded_by).await
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
}

pub struct Incident(pub incident::Model);

#[Object]
impl Incident {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Incident, self.0.id)
    }
    async fn priority(&self) -> IncidentPriority {
        self.0.priority
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }
    async fn opened_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.0.opened_by).await
    }
    /// When the resolution was recorded.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    /// When service was restored; time to restore runs from `openedAt`.
    async fn restored_at(&self) -> Option<DateTime<Utc>> {
        self.0.restored_at
    }
    /// restoredAt - openedAt in hours; null while open.
    async fn hours_to_restore(&self) -> Option<f64> {
        self.0
            .restored_at
            .map(|restored| (restored - self.0.opened_at).num_milliseconds() as f64 / 3_600_000.0)
    }
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
    async fn resolved_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.resolved_by {
            Some(id) => user(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The change it is linked to (directly, or through its deployment).
    async fn change(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Change>> {
        let Some(id) = self.0.change_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .load_one(crate::graphql::loaders::ChangeId(id))
            .await?
            .map(Change))
    }
    async fn deployment(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::Deployment>> {
        let Some(id) = self.0.deployment_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .load_one(crate::graphql::loaders::DeploymentId(id))
            .await?
            .map(super::Deployment))
    }
    /// The systems it affects, as its reporter named them.
    async fn systems(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::System>> {
        Ok(ctx
            .data::<Loaders>()?
            .load_one(crate::graphql::loaders::SystemsOfIncident(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(super::System)
            .collect())
    }
}

pub struct Review(pub review::Model);

#[Object]
impl Review {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Review, self.0.id)
    }
    async fn kind(&self) -> ReviewKind {
        self.0.kind
    }
    async fn reviewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.0.reviewer_id).await
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    async fn lessons_learned(&self) -> Option<&str> {
        self.0.lessons_learned.as_deref()
    }
    /// Why the change failed or was rolled back, where the review says.
    async fn root_cause(&self) -> Option<&str> {
        self.0.root_cause.as_deref()
    }
    async fn reviewed_at(&self) -> DateTime<Utc> {
        self.0.reviewed_at
    }
}

/// A deadline that passed without its record.
#[derive(SimpleObject)]
pub struct OverdueItem {
    pub kind: OverdueKind,
    pub due_at: DateTime<Utc>,
}

/// The deadlines an emergency or a policy sets, and when each was met.
#[derive(SimpleObject)]
pub struct Deadlines {
    pub approval_due_at: Option<DateTime<Utc>>,
    pub documentation_due_at: Option<DateTime<Utc>>,
    pub documented_at: Option<DateTime<Utc>>,
    pub review_due_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// An approved change must have started by then (the type's
    /// `implement_within_hours` after approval), scheduled or not.
    pub implementation_due_at: Option<DateTime<Utc>>,
    /// The approvers' first decision is due by then (the type's
    /// `respond_within_hours` after submission), and when it came.
    pub response_due_at: Option<DateTime<Utc>>,
    pub responded_at: Option<DateTime<Utc>>,
    /// The CAB's review is due by the end of its next scheduled meeting
    /// after implementation ended (`[board.schedule]`), and when it came.
    pub board_review_due_at: Option<DateTime<Utc>>,
    pub board_reviewed_at: Option<DateTime<Utc>>,
    /// A rollback must restore service by then (its kind's objective,
    /// `[[rollback_objective]]`), and when its incident says it did.
    pub restore_due_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
}

/// How a change was rolled back, and how fast service came back.
#[derive(SimpleObject)]
pub struct ChangeRollback {
    pub reason: String,
    /// The policy's kind of rollback, where the policy sets objectives.
    pub kind: Option<String>,
    /// When the rollback began (the change's `actualEnd`).
    pub started_at: DateTime<Utc>,
    /// The kind's objective, in minutes.
    pub objective_minutes: Option<u32>,
    pub restore_due_at: Option<DateTime<Utc>>,
    /// When the rollback's incident says service was restored.
    pub restored_at: Option<DateTime<Utc>>,
    /// The rollback time: restoredAt - startedAt.
    pub minutes_to_restore: Option<f64>,
    /// restoredAt <= restoreDueAt; null without an objective or while
    /// service is not restored.
    pub within_objective: Option<bool>,
}

pub struct Template(pub change_template::Model);

/// A pre-approved procedure of the standard change catalog.
#[Object]
impl Template {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Template, self.0.id)
    }
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn change_type(&self) -> &str {
        &self.0.change_type
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn procedure(&self) -> Vec<String> {
        serde_json::from_value(self.0.procedure.clone()).unwrap_or_default()
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct CabMember(pub cab_member::Model);

#[Object]
impl CabMember {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        user(ctx, self.0.user_id).await
    }
    async fn board_role(&self) -> BoardRole {
        self.0.board_role
    }
    async fn added_at(&self) -> DateTime<Utc> {
        self.0.added_at
    }
}

/// A change on a meeting's agenda.
#[derive(SimpleObject)]
pub struct AgendaItem {
    pub change: Change,
    pub reason: AgendaReason,
}

pub struct CabMeeting(pub cab_meeting::Model);

#[Object]
impl CabMeeting {
    pub async fn id(&self) -> ID {
        global_id(NodeType::CabMeeting, self.0.id)
    }
    async fn scheduled_for(&self) -> DateTime<Utc> {
        self.0.scheduled_for
    }
    async fn status(&self) -> MeetingStatus {
        self.0.status
    }
    async fn held_at(&self) -> Option<DateTime<Utc>> {
        self.0.held_at
    }
    /// The minutes, with the decisions taken, once the meeting was held.
    async fn minutes(&self) -> Option<&str> {
        self.0.minutes.as_deref()
    }
    /// For a planned meeting: what the board will decide or review.
    async fn agenda(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AgendaItem>> {
        if self.0.status == MeetingStatus::Held {
            return Ok(Vec::new());
        }
        let state = ctx.state()?;
        Ok(cab::agenda(&state.db, &state.policy)
            .await
            .gql()?
            .into_iter()
            .map(|(change, reason)| AgendaItem {
                change: Change(change),
                reason,
            })
            .collect())
    }
}
