//! Changes as more than one service reads them: finding one, its content
//! and systems, its number sequence, and the snapshot the lifecycle rules
//! read (type, votes, seats, evidence, template).

use chrono::{DateTime, Utc};
use entity::{
    ChangeStatus, Decision, approval, cab_member, change, change_sequence, change_system,
    change_template, evidence, user,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    domain::{
        approval::{self as approvals, ApprovalState, BoardVote, Seat, Vote},
        change::{ChangeContent, Link, RollbackPlan},
        gates::{self, EvidenceRecord},
        lifecycle::{ChangeFacts, OverdueKind},
        numbering,
        violation::{Violation, ViolationCode},
    },
    error::{ServiceError, ServiceResult},
    policy::{ChangeType, GatePhase, Policy},
    store::accounts,
};

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> ServiceResult<change::Model> {
    change::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(ServiceError::NotFound { entity: "change" })
}

/// Hands out the next number of `year` inside the caller's transaction.
pub async fn next_sequence<C: ConnectionTrait>(conn: &C, year: i32) -> ServiceResult<i32> {
    let statement = Query::insert()
        .into_table(change_sequence::Entity)
        .columns([
            change_sequence::Column::Year,
            change_sequence::Column::LastValue,
        ])
        .values_panic([year.into(), 1.into()])
        .on_conflict(
            OnConflict::column(change_sequence::Column::Year)
                .value(
                    change_sequence::Column::LastValue,
                    Expr::col((change_sequence::Entity, change_sequence::Column::LastValue)).add(1),
                )
                .to_owned(),
        )
        .returning_col(change_sequence::Column::LastValue)
        .to_owned();
    let row = conn
        .query_one(&statement)
        .await?
        .ok_or_else(|| ServiceError::internal("change number allocation returned no row"))?;
    Ok(row.try_get::<i32>("", "last_value")?)
}

pub async fn replace_systems<C: ConnectionTrait>(
    conn: &C,
    change_id: Uuid,
    ids: &[Uuid],
) -> ServiceResult<()> {
    change_system::Entity::delete_many()
        .filter(change_system::Column::ChangeId.eq(change_id))
        .exec(conn)
        .await?;
    if !ids.is_empty() {
        change_system::Entity::insert_many(ids.iter().map(|system_id| {
            change_system::ActiveModel {
                change_id: Set(change_id),
                system_id: Set(*system_id),
            }
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// System ids of one change, in a stable order.
pub async fn system_ids_of<C: ConnectionTrait>(
    conn: &C,
    change_id: Uuid,
) -> ServiceResult<Vec<Uuid>> {
    Ok(change_system::Entity::find()
        .select_only()
        .column(change_system::Column::SystemId)
        .filter(change_system::Column::ChangeId.eq(change_id))
        .order_by_asc(change_system::Column::SystemId)
        .into_tuple()
        .all(conn)
        .await?)
}

pub fn write_content(active: &mut change::ActiveModel, content: &ChangeContent) {
    let risk = content.risk();
    active.title = Set(content.title.trim().to_owned());
    active.description = Set(content.description.clone());
    active.business_justification = Set(content.business_justification.clone());
    active.expected_benefit = Set(content.expected_benefit.clone());
    active.urgency = Set(content.urgency);
    active.priority = Set(content.priority);
    active.change_type = Set(content.change_type.clone());
    active.likelihood = Set(content.likelihood);
    active.impact = Set(content.impact);
    active.inherent_score = Set(risk.inherent_score);
    active.mitigations = Set(content.mitigations.clone());
    active.residual_likelihood = Set(content.residual_likelihood);
    active.residual_impact = Set(content.residual_impact);
    active.residual_score = Set(risk.residual_score);
    active.risk_level = Set(risk.level);
    active.services = Set(json!(content.services));
    active.customers_affected = Set(content.customers_affected.clone());
    active.downtime_required = Set(content.downtime_required);
    active.performance_impact = Set(content.performance_impact.clone());
    active.implementation_steps = Set(json!(content.implementation_steps));
    active.deployment_method = Set(content.deployment_method);
    active.canary_stages = Set(json!(content.canary_stages));
    active.test_plan = Set(content.test_plan.clone());
    active.rollback_plan = Set(content.rollback_plan.as_ref().map(|plan| json!(plan)));
    active.links = Set(json!(content.links));
    active.planned_start = Set(content.planned_start);
    active.planned_end = Set(content.planned_end);
    active.template_id = Set(content.template_id);
    active.attributes = Set(Some(json!(content.attributes)));
}

/// The JSON columns were written by `write_content` from validated values,
/// so they parse; a row edited by hand into something else reads as empty
/// rather than failing every request that touches it.
pub fn content_of(model: &change::Model, mut system_ids: Vec<Uuid>) -> ChangeContent {
    system_ids.sort();
    ChangeContent {
        title: model.title.clone(),
        description: model.description.clone(),
        business_justification: model.business_justification.clone(),
        expected_benefit: model.expected_benefit.clone(),
        urgency: model.urgency,
        priority: model.priority,
        change_type: model.change_type.clone(),
        likelihood: model.likelihood,
        impact: model.impact,
        mitigations: model.mitigations.clone(),
        residual_likelihood: model.residual_likelihood,
        residual_impact: model.residual_impact,
        system_ids,
        services: parse_json(&model.services),
        customers_affected: model.customers_affected.clone(),
        downtime_required: model.downtime_required,
        performance_impact: model.performance_impact.clone(),
        implementation_steps: parse_json(&model.implementation_steps),
        deployment_method: model.deployment_method,
        canary_stages: parse_json(&model.canary_stages),
        test_plan: model.test_plan.clone(),
        rollback_plan: model.rollback_plan.as_ref().map(parse_json::<RollbackPlan>),
        links: parse_json::<Vec<Link>>(&model.links),
        planned_start: model.planned_start,
        planned_end: model.planned_end,
        template_id: model.template_id,
        attributes: model
            .attributes
            .as_ref()
            .map(parse_json)
            .unwrap_or_default(),
    }
}

pub fn parse_json<T: serde::de::DeserializeOwned + Default>(value: &serde_json::Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// The change as locked by this transaction, with the records the rules
/// read.
pub struct Snapshot {
    pub change: change::Model,
    pub change_type: ChangeType,
    pub votes: Vec<Vote>,
    pub seats: Vec<Seat>,
    pub evidence: Vec<EvidenceRecord>,
    pub has_template: bool,
    /// The systems the change touches, read only where the type's
    /// `required_information` asks for them (the one rule that reads them),
    /// so other transitions and resolvers skip the query.
    pub system_ids: Vec<Uuid>,
}

impl Snapshot {
    pub fn approval(&self, policy: &Policy, board_vote: BoardVote) -> ApprovalState {
        approvals::evaluate(
            &self.change_type,
            policy.board.as_ref(),
            &self.seats,
            &self.votes,
            self.change.requester_id,
            board_vote,
        )
    }

    /// The people whose approval of the current round is on record.
    pub fn approvers(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.votes
            .iter()
            .filter(|v| v.decision == entity::Decision::Approve)
            .map(|v| v.person)
    }

    /// The roles of the people who approved the change: a soft freeze
    /// lets the change in when one of them is a role the freeze names.
    pub fn approving_roles(&self) -> std::collections::BTreeSet<String> {
        roles_of_approvers(&self.votes)
    }

    /// The gates that apply to the change (its type's, narrowed by the
    /// change's attributes), each with why it is unmet if it is, were
    /// implementation to start at `start_at`.
    pub fn gate_results<'p>(
        &self,
        policy: &'p Policy,
        start_at: DateTime<Utc>,
    ) -> Vec<(&'p crate::policy::Gate, Option<Violation>)> {
        self.results_of_gates(policy, &self.change_type.gates, start_at)
    }

    /// The type's post-implementation gates (`before = "close"`) that apply
    /// to the change, each with why it is unmet: only evidence recorded
    /// since implementation started verifies what was implemented.
    pub fn close_gate_results<'p>(
        &self,
        policy: &'p Policy,
    ) -> Vec<(&'p crate::policy::Gate, Option<Violation>)> {
        let started = self.change.actual_start;
        // A change imported as implemented without its start began before
        // any evidence Gatehouse holds of it was recorded.
        let started_unrecorded =
            started.is_none() && crate::domain::lifecycle::has_started(self.change.status, None);
        let since_start: Vec<EvidenceRecord> = self
            .evidence
            .iter()
            .filter(|e| {
                started_unrecorded || started.is_some_and(|started| e.recorded_at >= started)
            })
            .cloned()
            .collect();
        self.results_against(
            policy,
            &self.change_type.gates,
            GatePhase::Close,
            &since_start,
            started.unwrap_or_default(),
        )
        .into_iter()
        .map(|(gate, unmet)| {
            let unmet = unmet.map(|mut v| {
                v.message = format!(
                    "{} (recorded after implementation started, before closing)",
                    v.message
                );
                v
            });
            (gate, unmet)
        })
        .collect()
    }

    /// The gates of `keys` checked before the start that apply to the
    /// change, each with why it is unmet if it is: the type's own, or
    /// those it adds during a freeze.
    pub fn results_of_gates<'p>(
        &self,
        policy: &'p Policy,
        keys: &[String],
        start_at: DateTime<Utc>,
    ) -> Vec<(&'p crate::policy::Gate, Option<Violation>)> {
        self.results_against(policy, keys, GatePhase::Start, &self.evidence, start_at)
    }

    /// The gates of `keys` in `phase` that apply to the change, each judged
    /// on `evidence`.
    fn results_against<'p>(
        &self,
        policy: &'p Policy,
        keys: &[String],
        phase: GatePhase,
        evidence: &[EvidenceRecord],
        start_at: DateTime<Utc>,
    ) -> Vec<(&'p crate::policy::Gate, Option<Violation>)> {
        let content = content_of(&self.change, Vec::new());
        keys.iter()
            .filter_map(|key| policy.gate(key))
            .filter(|gate| gate.before == phase && gate.applies_to(&content.attributes))
            .map(|gate| {
                let unmet = gates::unmet(
                    gate,
                    evidence,
                    self.change.requester_id,
                    content.rollback_plan.as_ref(),
                    start_at,
                );
                (gate, unmet)
            })
            .collect()
    }

    pub fn unmet_gates(&self, policy: &Policy, start_at: DateTime<Utc>) -> Vec<Violation> {
        self.gate_results(policy, start_at)
            .into_iter()
            .filter_map(|(_, unmet)| unmet)
            .collect()
    }

    pub fn facts<'a>(
        &'a self,
        policy: &Policy,
        approval: &'a ApprovalState,
        now: DateTime<Utc>,
    ) -> ChangeFacts<'a> {
        let c = &self.change;
        let content = content_of(c, self.system_ids.clone());
        ChangeFacts {
            status: c.status,
            change_type: &self.change_type,
            approval,
            unmet_gates: self.unmet_gates(policy, now),
            unmet_close_gates: self
                .close_gate_results(policy)
                .into_iter()
                .filter_map(|(_, unmet)| unmet)
                .collect(),
            calendar_violations: Vec::new(),
            has_template: self.has_template,
            missing_information: content
                .missing_information(&self.change_type.required_information),
            risk_level: content.risk().level,
            suggested_type: policy
                .risk_matrix
                .as_ref()
                .and_then(|m| m.suggest(c.likelihood, c.impact))
                .map(str::to_owned),
            // Bound by the ratings that stand: the residual ones once the
            // risk is assessed after mitigation, as the type's ceiling is.
            required_type: policy.risk_matrix.as_ref().and_then(|m| {
                let (likelihood, impact) = match (c.residual_likelihood, c.residual_impact) {
                    (Some(likelihood), Some(impact)) => (likelihood, impact),
                    _ => (c.likelihood, c.impact),
                };
                m.suggest(likelihood, impact)
                    .and_then(|suggested| m.floor_above(&c.change_type, suggested))
                    .map(str::to_owned)
            }),
            deployment_method: c.deployment_method,
            approved_at: c.approved_at,
            scheduled_start: c.scheduled_start,
            scheduled_end: c.scheduled_end,
            actual_end: c.actual_end,
            implementation_due_at: c.implementation_due_at,
            response_due_at: c.response_due_at,
            responded_at: c.responded_at,
            actual_start: c.actual_start,
            approval_due_at: c.approval_due_at,
            documentation_due_at: c.documentation_due_at,
            documented_at: c.documented_at,
            review_due_at: c.review_due_at,
            reviewed_at: c.reviewed_at,
            // Set by the first BOARD review (and filled from earlier ones
            // by the migration that added it).
            board_reviewed: c.board_reviewed_at.is_some(),
            board_review_due_at: c.board_review_due_at,
            next_board_meeting_end: None,
            restore_due_at: c.restore_due_at,
            restored_at: c.restored_at,
        }
    }
}

/// Loads what the rules read about `change`.
pub async fn snapshot<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    change: change::Model,
) -> ServiceResult<Snapshot> {
    let change_type = policy
        .change_type(&change.change_type)
        .cloned()
        .ok_or_else(|| {
            ServiceError::PolicyViolation(vec![Violation::new(
                ViolationCode::UnknownChangeType,
                format!(
                    "change type `{}` is not defined by the active policy `{}`",
                    change.change_type, policy.name
                ),
            )])
        })?;
    let votes = votes_of(conn, &change).await?;
    let seats = board_seats(conn, policy.board.as_ref()).await?;
    let evidence = evidence::Entity::find()
        .filter(evidence::Column::ChangeId.eq(change.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|e| EvidenceRecord {
            gate: e.gate,
            status: e.status,
            data: e.data,
            recorded_at: e.recorded_at,
            recorded_by: e.recorded_by,
        })
        .collect();
    let has_template = match change.template_id {
        Some(template_id) => change_template::Entity::find_by_id(template_id)
            .one(conn)
            .await?
            .is_some_and(|t| t.active && t.change_type == change.change_type),
        None => false,
    };
    let system_ids = if change_type
        .required_information
        .contains(&crate::domain::change::RequiredItem::AffectedSystems)
    {
        system_ids_of(conn, change.id).await?
    } else {
        Vec::new()
    };
    Ok(Snapshot {
        change,
        change_type,
        votes,
        seats,
        evidence,
        has_template,
        system_ids,
    })
}

/// The decisions of the change's current approval round, each with the
/// roles and seat its person held when deciding (never their current ones:
/// a later role change neither creates nor withdraws an approval).
pub async fn votes_of<C: ConnectionTrait>(
    conn: &C,
    change: &change::Model,
) -> ServiceResult<Vec<Vote>> {
    let rows = approval::Entity::find()
        .filter(approval::Column::ChangeId.eq(change.id))
        .filter(approval::Column::Round.eq(change.approval_round))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|vote| Vote {
            person: vote.approver_id,
            roles: parse_json(&vote.approver_roles),
            seat: vote.board_role,
            decision: vote.decision,
            after_start: vote.retroactive,
            freeze_entry: vote.freeze_entry,
        })
        .collect())
}

/// Roles of the people who approved the change in its current round (soft
/// freezes let a change through on an approval by certain roles).
pub async fn approver_roles<C: ConnectionTrait>(
    conn: &C,
    change: &change::Model,
) -> ServiceResult<std::collections::BTreeSet<String>> {
    Ok(roles_of_approvers(&votes_of(conn, change).await?))
}

fn roles_of_approvers(votes: &[Vote]) -> std::collections::BTreeSet<String> {
    votes
        .iter()
        .filter(|v| v.decision == Decision::Approve)
        .flat_map(|v| v.roles.iter().cloned())
        .collect()
}

/// The board seats that count now: those whose holders may act on the
/// board as their accounts stand (a seat of an auditor or a deactivated
/// account counts for nothing, nor one whose holder no longer holds a
/// role the policy seats it from).
pub async fn board_seats<C: ConnectionTrait>(
    conn: &C,
    board: Option<&crate::policy::BoardPolicy>,
) -> ServiceResult<Vec<Seat>> {
    Ok(cab_member::Entity::find()
        .find_also_related(user::Entity)
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|(seat, person)| {
            let standing = accounts::standing_of(&person?, Some(seat.board_role), board);
            standing.board_seat().map(|role| Seat {
                person: seat.user_id,
                role,
            })
        })
        .collect())
}

/// The change whose rollback opened incident `incident_id`, if any: the
/// incident's own change (`change_id`), looked up by its key.
pub async fn rolled_back_by<C: ConnectionTrait>(
    conn: &C,
    incident_id: Uuid,
    change_id: Option<Uuid>,
) -> ServiceResult<Option<change::Model>> {
    let Some(change_id) = change_id else {
        return Ok(None);
    };
    Ok(change::Entity::find_by_id(change_id)
        .filter(change::Column::RollbackIncidentId.eq(incident_id))
        .one(conn)
        .await?)
}

/// Copies the restore time of a rollback's incident onto its change, which
/// meets the change's `RESTORE` deadline.
pub async fn record_restoration<C: ConnectionTrait>(
    conn: &C,
    incident_id: Uuid,
    change_id: Option<Uuid>,
    restored_at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let Some(change_id) = change_id else {
        return Ok(());
    };
    change::Entity::update_many()
        .col_expr(change::Column::RestoredAt, restored_at.into())
        .filter(change::Column::Id.eq(change_id))
        .filter(change::Column::RollbackIncidentId.eq(incident_id))
        .filter(change::Column::RestoredAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn find_by_number(db: &DatabaseConnection, number: &str) -> ServiceResult<change::Model> {
    numbering::parse_number(number)?;
    change::Entity::find()
        .filter(change::Column::Number.eq(number))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound { entity: "change" })
}

/// The columns each deadline is stored in: when it falls due, and the
/// record that meets it (`domain::lifecycle::OverdueKind` names them).
fn deadline_columns(kind: OverdueKind) -> (change::Column, change::Column) {
    match kind {
        OverdueKind::Approval => (change::Column::ApprovalDueAt, change::Column::ApprovedAt),
        OverdueKind::Documentation => (
            change::Column::DocumentationDueAt,
            change::Column::DocumentedAt,
        ),
        OverdueKind::Review => (change::Column::ReviewDueAt, change::Column::ReviewedAt),
        OverdueKind::Implementation => (
            change::Column::ImplementationDueAt,
            change::Column::ActualStart,
        ),
        OverdueKind::Response => (change::Column::ResponseDueAt, change::Column::RespondedAt),
        OverdueKind::BoardReview => (
            change::Column::BoardReviewDueAt,
            change::Column::BoardReviewedAt,
        ),
        OverdueKind::Restore => (change::Column::RestoreDueAt, change::Column::RestoredAt),
    }
}

/// Changes whose deadline of `kind` passed before `now` without its record.
pub fn overdue_condition(kind: OverdueKind, now: DateTime<Utc>) -> Condition {
    let (due, done) = deadline_columns(kind);
    let condition = Condition::all().add(due.lt(now)).add(done.is_null());
    if matches!(kind, OverdueKind::Implementation | OverdueKind::Response) {
        // A cancelled change owes no start (`ChangeFacts::deadline`).
        condition.add(change::Column::Status.ne(ChangeStatus::Cancelled))
    } else {
        condition
    }
}

/// Changes with any deadline passed and its record missing.
pub fn any_overdue_condition(now: DateTime<Utc>) -> Condition {
    OverdueKind::ALL
        .into_iter()
        .fold(Condition::any(), |any, kind| {
            any.add(overdue_condition(kind, now))
        })
}

/// The changes an audit period holds (`auditPopulation`,
/// `auditExceptions`): created, started, implemented or closed in
/// `[from, to)`. One definition for both, so the exception register
/// covers exactly the population.
pub fn touching_period(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> sea_orm::Condition {
    use sea_orm::{ColumnTrait, Condition};
    let within = |column: change::Column| Condition::all().add(column.gte(from)).add(column.lt(to));
    Condition::any()
        .add(within(change::Column::CreatedAt))
        .add(within(change::Column::ActualStart))
        .add(within(change::Column::ActualEnd))
        .add(within(change::Column::ClosedAt))
}
