use sea_orm::entity::prelude::*;

use crate::enums::{
    BoardOutcome, ChangeOutcome, ChangeStatus, DeploymentMethod, Priority, RiskLevel,
};

/// A change request. Structured parts of the plan (steps, rollback plan,
/// links) are JSON documents validated by `api::domain::change`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Human key `CR-YYYY-NNNN`.
    #[sea_orm(unique)]
    pub number: String,
    pub title: String,
    pub description: String,
    pub business_justification: String,
    pub expected_benefit: Option<String>,
    pub urgency: Priority,
    pub priority: Priority,
    /// Key of one of the active policy's change types.
    pub change_type: String,
    pub status: ChangeStatus,
    pub likelihood: i32,
    pub impact: i32,
    pub inherent_score: i32,
    pub mitigations: Option<String>,
    pub residual_likelihood: Option<i32>,
    pub residual_impact: Option<i32>,
    pub residual_score: Option<i32>,
    pub risk_level: RiskLevel,
    pub requester_id: Uuid,
    /// JSON array of service names.
    pub services: Json,
    pub customers_affected: Option<String>,
    pub downtime_required: bool,
    pub performance_impact: Option<String>,
    /// JSON array of ordered implementation steps.
    pub implementation_steps: Json,
    pub deployment_method: Option<DeploymentMethod>,
    /// JSON array of traffic percentages, e.g. `[5, 25, 50, 100]`.
    pub canary_stages: Json,
    pub test_plan: Option<String>,
    /// JSON object: trigger, steps, owner, verification, timeEstimateMinutes.
    pub rollback_plan: Option<Json>,
    /// JSON array of `{kind, url, title}` links to pull requests and tickets.
    pub links: Json,
    pub planned_start: Option<DateTimeUtc>,
    pub planned_end: Option<DateTimeUtc>,
    pub scheduled_start: Option<DateTimeUtc>,
    pub scheduled_end: Option<DateTimeUtc>,
    pub actual_start: Option<DateTimeUtc>,
    pub actual_end: Option<DateTimeUtc>,
    pub outcome: Option<ChangeOutcome>,
    pub submitted_at: Option<DateTimeUtc>,
    pub approved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Catalog template of a standard change.
    pub template_id: Option<Uuid>,
    /// Incremented when a rejected change is revised and resubmitted, so
    /// earlier votes no longer count.
    pub approval_round: i32,
    /// Emergency changes started before approval: when the retroactive
    /// approval is due.
    pub approval_due_at: Option<DateTimeUtc>,
    /// When the (post-hoc) documentation is due.
    pub documentation_due_at: Option<DateTimeUtc>,
    pub documented_at: Option<DateTimeUtc>,
    /// When the post-implementation / post-emergency review is due.
    pub review_due_at: Option<DateTimeUtc>,
    pub reviewed_at: Option<DateTimeUtc>,
    /// When the CAB's review is due: the end of the board's next scheduled
    /// meeting after implementation ended, where the policy sends the
    /// change to the CAB and the board meets on a schedule.
    pub board_review_due_at: Option<DateTimeUtc>,
    /// When the first BOARD review was recorded.
    pub board_reviewed_at: Option<DateTimeUtc>,
    /// The account that started implementation (segregation of duties).
    pub implementation_started_by: Option<Uuid>,
    /// When an approved change is due to have started (the type's
    /// `implement_within_hours` after approval).
    pub implementation_due_at: Option<DateTimeUtc>,
    /// When the approvers' first decision is due, and when it came.
    pub response_due_at: Option<DateTimeUtc>,
    pub responded_at: Option<DateTimeUtc>,
    /// JSON array of the policy's attribute keys the change carries;
    /// NULL for none.
    pub attributes: Option<Json>,
    /// The CAB's decision in the current approval round, when the change
    /// went before the board.
    pub board_outcome: Option<BoardOutcome>,
    /// When the board reached `board_outcome`.
    pub board_decided_at: Option<DateTimeUtc>,
    pub rollback_reason: Option<String>,
    /// The policy's kind of rollback (`[[rollback_objective]]`), where the
    /// policy sets rollback time objectives.
    pub rollback_kind: Option<String>,
    /// The incident the rollback opened.
    pub rollback_incident_id: Option<Uuid>,
    /// When service must be restored: the rollback's start plus its kind's
    /// objective.
    pub restore_due_at: Option<DateTimeUtc>,
    /// When the rollback's incident says service was restored.
    pub restored_at: Option<DateTimeUtc>,
    /// iCalendar SEQUENCE of the change's event: bumped on every
    /// reschedule and on cancellation.
    pub schedule_sequence: i32,
    /// Optimistic concurrency: every write bumps it; updates name the
    /// version they were based on.
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::RequesterId",
        to = "super::user::Column::Id"
    )]
    Requester,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Requester.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
