use crate::domain::node_id::NodeType;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{ChangeOutcome, Decision, EvidenceStatus, IncidentPriority, ReviewKind};

use crate::{
    domain::timestamps,
    error::GqlResultExt,
    graphql::{
        context::{ContextExt, parse_id, transition},
        types::{
            Change,
            lifecycle::{Evidence, Incident, Review},
        },
    },
    service::lifecycle,
};

#[derive(Default)]
pub struct LifecycleMutation;

/// A gate result, e.g. from a CI/CD pipeline.
#[derive(InputObject)]
pub struct EvidenceInput {
    /// A gate key of the active policy (`policy.gates`).
    pub gate: String,
    pub status: EvidenceStatus,
    pub summary: Option<String>,
    /// Link to the build, scan or review.
    pub url: Option<String>,
    /// Gate details: code_review `{"reviewers": [{"id": "<account id>"}]}`
    /// (active accounts other than the requester; seniority comes from
    /// their roles), sast `{"unaddressedCritical": 0, "unaddressedHigh": 0}`.
    pub data: Option<Json<serde_json::Value>>,
}

#[derive(SimpleObject)]
pub struct RollbackResult {
    pub change: Change,
    pub incident: Incident,
}

#[Object]
impl LifecycleMutation {
    /// DRAFT -> AWAITING_APPROVAL (APPROVED for pre-approved types). Requester only.
    async fn submit_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::submit(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            expected_version,
        )
        .await
        .map(Change)
        .gql()
    }

    /// REJECTED or DEFERRED -> DRAFT, to revise and resubmit. Requester only.
    async fn revise_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::revise(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            expected_version,
        )
        .await
        .map(Change)
        .gql()
    }

    /// The caller's decision for every approval step their roles qualify
    /// for, and their vote when they sit on the board. A rejection or
    /// deferral needs a comment.
    async fn decide_approval(
        &self,
        ctx: &Context<'_>,
        change_id: ID,
        decision: Decision,
        comment: Option<String>,
        meeting_id: Option<ID>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let meeting = meeting_id
            .as_ref()
            .map(|id| parse_id(NodeType::CabMeeting, "meetingId", id))
            .transpose()?;
        lifecycle::decide(
            &transition(state, &caller),
            parse_id(NodeType::Change, "changeId", &change_id)?,
            decision,
            comment.as_deref(),
            meeting,
        )
        .await
        .map(Change)
        .gql()
    }

    /// A soft freeze's extra approval: a holder of one of the roles a soft
    /// freeze in force names lets the change into the freeze (before
    /// implementation; never the requester).
    async fn approve_freeze_entry(
        &self,
        ctx: &Context<'_>,
        change_id: ID,
        comment: Option<String>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::approve_freeze_entry(
            &transition(state, &caller),
            parse_id(NodeType::Change, "changeId", &change_id)?,
            comment.as_deref(),
        )
        .await
        .map(Change)
        .gql()
    }

    /// Records a gate result (tests, code review, SAST, documentation, ...).
    async fn record_evidence(
        &self,
        ctx: &Context<'_>,
        change_id: ID,
        input: EvidenceInput,
    ) -> async_graphql::Result<Evidence> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let data = input.data.map_or_else(|| serde_json::json!({}), |d| d.0);
        lifecycle::record_evidence(
            &transition(state, &caller),
            parse_id(NodeType::Change, "changeId", &change_id)?,
            &input.gate,
            input.status,
            input.summary.as_deref(),
            input.url.as_deref(),
            data,
        )
        .await
        .map(Evidence)
        .gql()
    }

    /// APPROVED -> SCHEDULED (or reschedules), checking the notice period.
    async fn schedule_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Change> {
        timestamps::check("start", start).gql()?;
        timestamps::check("end", end).gql()?;
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::schedule(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            start,
            end,
            expected_version,
        )
        .await
        .map(Change)
        .gql()
    }

    /// -> IMPLEMENTING once approvals, gates and the window allow it (an
    /// emergency may start before approval where the policy allows).
    async fn start_implementation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::start_implementation(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            expected_version,
        )
        .await
        .map(Change)
        .gql()
    }

    /// IMPLEMENTING -> IMPLEMENTED (SUCCESSFUL, SUCCESSFUL_WITH_ISSUES) or FAILED.
    async fn complete_implementation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outcome: ChangeOutcome,
        notes: Option<String>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::complete(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            outcome,
            notes.as_deref(),
        )
        .await
        .map(Change)
        .gql()
    }

    /// For a pipeline about to deploy: may change `number` deploy now? With
    /// `waitSeconds` (at most 300), answered as soon as it may, or when the
    /// wait is over; the answer is recorded in the audit trail
    /// (`change.gate_checked`) as evidence (pipeline, implementer,
    /// change_manager, requester).
    async fn check_gate(
        &self,
        ctx: &Context<'_>,
        number: String,
        #[graphql(default = 0)] wait_seconds: i32,
    ) -> async_graphql::Result<crate::graphql::query::GateStatus> {
        use async_graphql::ErrorExtensions;
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let wait = u64::try_from(wait_seconds).map_err(|_| {
            crate::error::ServiceError::validation("waitSeconds", "must not be negative").extend()
        })?;
        lifecycle::check_gate(
            &transition(state, &caller),
            number.trim(),
            std::time::Duration::from_secs(wait),
        )
        .await
        .map(Into::into)
        .gql()
    }

    /// IMPLEMENTING -> ROLLED_BACK; opens a linked incident (P3 unless a
    /// higher priority is given). Resolving that incident records when
    /// service was restored, against the rollback kind's time objective.
    async fn roll_back_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        incident_priority: Option<IncidentPriority>,
        #[graphql(
            desc = "The policy's kind of rollback (`policy { rollbackObjectives { kind } }`): required where the policy sets rollback time objectives, and its objective makes the restore due."
        )]
        rollback_kind: Option<String>,
    ) -> async_graphql::Result<RollbackResult> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        let (change, incident) = lifecycle::roll_back(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            &reason,
            incident_priority,
            rollback_kind.as_deref(),
        )
        .await
        .gql()?;
        Ok(RollbackResult {
            change: Change(change),
            incident: Incident(incident),
        })
    }

    /// Post-implementation, post-emergency or board review.
    async fn record_review(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default_with = "ReviewKind::PostImplementation")] kind: ReviewKind,
        summary: String,
        lessons_learned: Option<String>,
        #[graphql(
            desc = "Why the change failed or was rolled back (required there where the policy says so)."
        )]
        root_cause: Option<String>,
    ) -> async_graphql::Result<Review> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::record_review(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            kind,
            &summary,
            lessons_learned.as_deref(),
            root_cause.as_deref(),
        )
        .await
        .map(Review)
        .gql()
    }

    /// IMPLEMENTED, FAILED or ROLLED_BACK -> CLOSED once reviews, retroactive
    /// approval and documentation are in.
    async fn close_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::close(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            expected_version,
        )
        .await
        .map(Change)
        .gql()
    }

    /// DRAFT..SCHEDULED -> CANCELLED, with a reason.
    async fn cancel_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<i32>,
    ) -> async_graphql::Result<Change> {
        let (state, caller) = (ctx.state()?, ctx.caller()?);
        lifecycle::cancel(
            &transition(state, &caller),
            parse_id(NodeType::Change, "id", &id)?,
            &reason,
            expected_version,
        )
        .await
        .map(Change)
        .gql()
    }
}
