use crate::domain::node_id::NodeType;
use crate::graphql::types::global_id;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    BoardOutcome, ChangeOutcome, ChangeStatus, DeploymentMethod, Priority, RiskLevel, change,
};

use super::{
    System, User,
    lifecycle::{
        ApprovalRecord, ApprovalStatus, ChangeRollback, Deadlines, Evidence, GateResult, Incident,
        OverdueItem, Review, Template,
    },
};
use crate::{
    domain::change::{Link, RollbackPlan},
    domain::{approval::BoardVote, lifecycle},
    error::GqlResultExt,
    graphql::{
        context::ContextExt,
        loaders::{
            ApprovalsOfChange, EvidenceOfChange, IncidentsOfChange, Loaders, ReviewsOfChange,
            SystemsOfChange, TemplateId, UserId,
        },
    },
    store::changes::{self as change_store, Snapshot, parse_json},
};

impl Change {
    async fn snapshot(&self, ctx: &Context<'_>) -> async_graphql::Result<Snapshot> {
        let state = ctx.state()?;
        change_store::snapshot(&state.db, &state.policy, self.0.clone())
            .await
            .gql()
    }
}

pub struct Change(pub change::Model);

/// Likelihood x impact, before and after mitigations.
#[derive(SimpleObject)]
pub struct Risk {
    pub likelihood: i32,
    pub impact: i32,
    /// likelihood x impact, 1-25.
    pub inherent_score: i32,
    pub mitigations: Option<String>,
    pub residual_likelihood: Option<i32>,
    pub residual_impact: Option<i32>,
    pub residual_score: Option<i32>,
    /// From the residual score when assessed, else the inherent score.
    pub level: RiskLevel,
}

#[derive(SimpleObject)]
pub struct ImplementationPlan {
    pub steps: Vec<String>,
    pub deployment_method: Option<DeploymentMethod>,
    /// Traffic percentages of each canary stage.
    pub canary_stages: Vec<i32>,
}

/// A change request.
#[Object]
impl Change {
    pub async fn id(&self) -> ID {
        global_id(NodeType::Change, self.0.id)
    }
    /// Human key, `CR-YYYY-NNNN`.
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn business_justification(&self) -> &str {
        &self.0.business_justification
    }
    async fn expected_benefit(&self) -> Option<&str> {
        self.0.expected_benefit.as_deref()
    }
    async fn urgency(&self) -> Priority {
        self.0.urgency
    }
    async fn priority(&self) -> Priority {
        self.0.priority
    }
    /// Key of the policy's change type (`standard`, `normal`, ...).
    #[graphql(name = "type")]
    async fn change_type(&self) -> &str {
        &self.0.change_type
    }
    /// The policy document's own name for the type.
    async fn type_label(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let policy = &ctx.state()?.policy;
        Ok(policy
            .change_types
            .iter()
            .find(|t| t.key == self.0.change_type)
            .map(|t| t.label.clone()))
    }
    async fn status(&self) -> ChangeStatus {
        self.0.status
    }
    async fn risk(&self) -> Risk {
        Risk {
            likelihood: self.0.likelihood,
            impact: self.0.impact,
            inherent_score: self.0.inherent_score,
            mitigations: self.0.mitigations.clone(),
            residual_likelihood: self.0.residual_likelihood,
            residual_impact: self.0.residual_impact,
            residual_score: self.0.residual_score,
            level: self.0.risk_level,
        }
    }
    /// The account that filed the change.
    async fn requester(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let loader = ctx.data::<Loaders>()?;
        loader
            .load_one(UserId(self.0.requester_id))
            .await?
            .map(User)
            .ok_or_else(|| async_graphql::Error::new("requester not found"))
    }
    /// Affected systems (configuration items).
    async fn systems(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<System>> {
        let loader = ctx.data::<Loaders>()?;
        Ok(loader
            .load_one(SystemsOfChange(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(System)
            .collect())
    }
    async fn services(&self) -> Vec<String> {
        parse_json(&self.0.services)
    }
    async fn customers_affected(&self) -> Option<&str> {
        self.0.customers_affected.as_deref()
    }
    async fn downtime_required(&self) -> bool {
        self.0.downtime_required
    }
    async fn performance_impact(&self) -> Option<&str> {
        self.0.performance_impact.as_deref()
    }
    async fn implementation_plan(&self) -> ImplementationPlan {
        ImplementationPlan {
            steps: parse_json(&self.0.implementation_steps),
            deployment_method: self.0.deployment_method,
            canary_stages: parse_json(&self.0.canary_stages),
        }
    }
    async fn test_plan(&self) -> Option<&str> {
        self.0.test_plan.as_deref()
    }
    async fn rollback_plan(&self) -> Option<RollbackPlan> {
        self.0.rollback_plan.as_ref().map(parse_json)
    }
    /// Pull requests, tickets and documents.
    async fn links(&self) -> Vec<Link> {
        parse_json(&self.0.links)
    }
    /// The window the requester asks for.
    async fn planned_start(&self) -> Option<DateTime<Utc>> {
        self.0.planned_start
    }
    async fn planned_end(&self) -> Option<DateTime<Utc>> {
        self.0.planned_end
    }
    /// The policy's attribute keys the change carries (conditional gates
    /// apply by them).
    async fn attributes(&self) -> Vec<String> {
        self.0
            .attributes
            .as_ref()
            .map(crate::store::changes::parse_json::<Vec<String>>)
            .unwrap_or_default()
    }
    /// The window the change was scheduled into.
    async fn scheduled_start(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_start
    }
    async fn scheduled_end(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_end
    }
    async fn actual_start(&self) -> Option<DateTime<Utc>> {
        self.0.actual_start
    }
    async fn actual_end(&self) -> Option<DateTime<Utc>> {
        self.0.actual_end
    }
    async fn outcome(&self) -> Option<ChangeOutcome> {
        self.0.outcome
    }
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }
    async fn approved_at(&self) -> Option<DateTime<Utc>> {
        self.0.approved_at
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Optimistic-concurrency version; pass it as `expectedVersion` when
    /// editing.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Approval round; revising or deferring a change starts a new one.
    async fn approval_round(&self) -> i32 {
        self.0.approval_round
    }
    /// The change type the policy's risk matrix suggests for the ratings.
    async fn suggested_type(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let policy = &ctx.state()?.policy;
        Ok(policy
            .risk_matrix
            .as_ref()
            .and_then(|m| m.suggest(self.0.likelihood, self.0.impact))
            .map(str::to_owned))
    }
    /// Standard change catalog template.
    async fn template(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Template>> {
        let Some(id) = self.0.template_id else {
            return Ok(None);
        };
        let loader = ctx.data::<Loaders>()?;
        Ok(loader.load_one(TemplateId(id)).await?.map(Template))
    }
    /// The CAB's decision in the current approval round, when the change
    /// went before the board (cleared when a rejected change is revised).
    async fn board_outcome(&self) -> Option<BoardOutcome> {
        self.0.board_outcome
    }
    /// When the board reached `boardOutcome`; the CAB approval rate counts
    /// a decision in the period of this instant.
    async fn board_decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.board_decided_at
    }
    async fn rollback_reason(&self) -> Option<&str> {
        self.0.rollback_reason.as_deref()
    }
    /// The rollback, once the change was rolled back: its kind, and the
    /// rollback time against the kind's objective (seed 001 §7.3).
    async fn rollback(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ChangeRollback>> {
        let c = &self.0;
        let (Some(reason), Some(started_at)) = (&c.rollback_reason, c.actual_end) else {
            return Ok(None);
        };
        let policy = &ctx.state()?.policy;
        let objective_minutes = c.rollback_kind.as_ref().and_then(|kind| {
            policy
                .rollback_objectives
                .iter()
                .find(|o| &o.kind == kind)
                .map(|o| o.restore_within_minutes)
        });
        Ok(Some(ChangeRollback {
            reason: reason.clone(),
            kind: c.rollback_kind.clone(),
            started_at,
            objective_minutes,
            restore_due_at: c.restore_due_at,
            restored_at: c.restored_at,
            minutes_to_restore: c
                .restored_at
                .map(|restored| (restored - started_at).num_milliseconds() as f64 / 60_000.0),
            within_objective: lifecycle::within_restore_objective(c.restore_due_at, c.restored_at),
        }))
    }
    async fn deadlines(&self) -> Deadlines {
        Deadlines {
            approval_due_at: self.0.approval_due_at,
            documentation_due_at: self.0.documentation_due_at,
            documented_at: self.0.documented_at,
            review_due_at: self.0.review_due_at,
            reviewed_at: self.0.reviewed_at,
            implementation_due_at: self.0.implementation_due_at,
            response_due_at: self.0.response_due_at,
            responded_at: self.0.responded_at,
            board_review_due_at: self.0.board_review_due_at,
            board_reviewed_at: self.0.board_reviewed_at,
            restore_due_at: self.0.restore_due_at,
            restored_at: self.0.restored_at,
        }
    }
    /// Decisions, newest first; of the current round unless `allRounds`.
    async fn approvals(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] all_rounds: bool,
    ) -> async_graphql::Result<Vec<ApprovalRecord>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(ApprovalsOfChange(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .filter(|row| all_rounds || row.round == self.0.approval_round)
            .map(ApprovalRecord)
            .collect())
    }
    /// Each approval step of the policy and what it still needs.
    async fn approval_status(&self, ctx: &Context<'_>) -> async_graphql::Result<ApprovalStatus> {
        let snapshot = self.snapshot(ctx).await?;
        Ok(ApprovalStatus(
            snapshot.approval(&ctx.state()?.policy, BoardVote::Open),
        ))
    }
    /// The gates the policy requires of this change (its type's, narrowed
    /// by the change's attributes), met or not (now): those checked before
    /// the start, then the post-implementation ones checked before closing.
    async fn gates(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GateResult>> {
        let state = ctx.state()?;
        let snapshot = self.snapshot(ctx).await?;
        Ok(snapshot
            .gate_results(&state.policy, state.clock.now())
            .into_iter()
            .chain(snapshot.close_gate_results(&state.policy))
            .map(|(gate, reason)| GateResult {
                key: gate.key.clone(),
                label: gate.label.clone(),
                met: reason.is_none(),
                reason_code: reason.as_ref().map(|v| v.code),
                reason: reason.map(|v| v.message),
                before: gate.before,
            })
            .collect())
    }
    async fn evidence(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Evidence>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(EvidenceOfChange(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Evidence).collect())
    }
    /// Incidents linked to the change (a rollback opens one).
    async fn incidents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Incident>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(IncidentsOfChange(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Incident).collect())
    }
    async fn reviews(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Review>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(ReviewsOfChange(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Review).collect())
    }
    /// Deadlines passed without their record (retroactive approval,
    /// documentation, review).
    async fn overdue(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OverdueItem>> {
        let state = ctx.state()?;
        let snapshot = self.snapshot(ctx).await?;
        let approval = snapshot.approval(&state.policy, BoardVote::Open);
        let now = state.clock.now();
        Ok(
            lifecycle::overdue(&snapshot.facts(&state.policy, &approval, now), now)
                .into_iter()
                .map(|item| OverdueItem {
                    kind: item.kind,
                    due_at: item.due_at,
                })
                .collect(),
        )
    }
    /// The verdict of each change-management control (SOC 2 CC8.1) on this
    /// change's recorded history, judged against the policy in force, with
    /// the audit events that prove it.
    #[graphql(cache_control(no_cache))]
    async fn controls(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::domain::controls::ControlVerdict>> {
        Ok(ctx
            .data::<Loaders>()?
            .load_one(crate::graphql::loaders::ControlsOfChange(self.0.id))
            .await
            .map_err(|e| async_graphql::ErrorExtensions::extend(e.as_ref()))?
            .unwrap_or_default())
    }
    /// Every audit event of this change, oldest first.
    #[graphql(cache_control(no_cache))]
    async fn history(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::AuditEvent>> {
        let loader = ctx.data::<Loaders>()?;
        Ok(loader
            .load_one(crate::graphql::loaders::HistoryOfChange(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(super::AuditEvent)
            .collect())
    }
}
