//! Metrics over the change history: loads the columns the metrics need in
//! three streamed queries and runs the polars plans of the `reports` crate on
//! the blocking pool.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{BoardOutcome, board_decision, change, change_system, incident, system};
use futures::TryStreamExt;
use reports::{
    Bucket, ChangeFacts, ChangeFrames, ChangeFramesBuilder, Granularity, MetricsOptions,
    PeriodError, PeriodSpec, Target,
    document::{self, NotableChange, ReportDocument, ReportKind, ReportPlan},
    period, render,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use crate::{
    error::{ServiceError, ServiceResult},
    policy::Policy,
};

/// The targets of the policy in force (its `[targets]` table).
pub fn targets(policy: &Policy) -> Vec<Target> {
    policy.targets.clone()
}

pub fn options(policy: &Policy) -> MetricsOptions {
    MetricsOptions::new(targets(policy))
}

/// Maps a period error to the argument the client got wrong.
pub fn period_error(error: PeriodError) -> ServiceError {
    let field = match &error {
        PeriodError::TimeZone(_) => "timeZone",
        PeriodError::EmptyRange => "to",
        PeriodError::TooManyPeriods { .. } => "granularity",
        PeriodError::Label { .. } => "period",
    };
    ServiceError::validation(field, error.to_string())
}

/// Validates the arguments of a metrics request.
pub fn spec(
    granularity: Granularity,
    time_zone: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<PeriodSpec> {
    let zone = period::parse_time_zone(time_zone).map_err(period_error)?;
    PeriodSpec::new(granularity, zone, from, to, period::MAX_PERIODS).map_err(period_error)
}

type FactsRow = (
    Uuid,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
);

/// Loads the implemented changes whose `actual_end` lies in `[from, to)`:
/// one query for the changes (only the columns the metrics read, streamed
/// into columns), one for their affected systems, and one for the board
/// decisions taken in `[from, to)`.
#[tracing::instrument(skip(db))]
pub async fn load_frames(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<ChangeFrames> {
    let in_range = || {
        change::Column::Outcome
            .is_not_null()
            .and(change::Column::ActualEnd.gte(from))
            .and(change::Column::ActualEnd.lt(to))
    };
    let has_incident = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(incident::Entity)
            .and_where(
                Expr::col((incident::Entity, incident::Column::ChangeId))
                    .equals((change::Entity, change::Column::Id)),
            )
            .to_owned(),
    );
    let mut rows = change::Entity::find()
        .select_only()
        .column(change::Column::Id)
        .column(change::Column::ChangeType)
        .column(change::Column::Outcome)
        .column(change::Column::SubmittedAt)
        .column(change::Column::ApprovedAt)
        .column(change::Column::ScheduledStart)
        .column(change::Column::ScheduledEnd)
        .column(change::Column::ActualStart)
        .column(change::Column::ActualEnd)
        .column(change::Column::ApprovalDueAt)
        .expr_as(has_incident, "has_incident")
        .filter(in_range())
        .into_tuple::<FactsRow>()
        .stream(db)
        .await?;
    let mut builder = ChangeFramesBuilder::default();
    let mut keys: HashMap<Uuid, u32> = HashMap::new();
    while let Some(row) = rows.try_next().await? {
        let key = builder.push(ChangeFacts {
            change_type: row.1,
            outcome: row.2,
            submitted_at: row.3,
            approved_at: row.4,
            scheduled_start: row.5,
            scheduled_end: row.6,
            actual_start: row.7,
            actual_end: row.8,
            approval_due_at: row.9,
            has_incident: row.10,
        });
        keys.insert(row.0, key);
    }
    drop(rows);
    let mut systems = change_system::Entity::find()
        .select_only()
        .column(change_system::Column::ChangeId)
        .column(system::Column::Name)
        .join(JoinType::InnerJoin, change_system::Relation::System.def())
        .join(JoinType::InnerJoin, change_system::Relation::Change.def())
        .filter(in_range())
        .into_tuple::<(Uuid, String)>()
        .stream(db)
        .await?;
    while let Some((change_id, name)) = systems.try_next().await? {
        if let Some(key) = keys.get(&change_id) {
            builder.push_system(*key, name);
        }
    }
    drop(systems);
    let mut decisions = board_decision::Entity::find()
        .select_only()
        .column(board_decision::Column::Outcome)
        .column(board_decision::Column::DecidedAt)
        .filter(board_decision::Column::DecidedAt.gte(from))
        .filter(board_decision::Column::DecidedAt.lt(to))
        .into_tuple::<(BoardOutcome, DateTime<Utc>)>()
        .stream(db)
        .await?;
    while let Some((outcome, decided_at)) = decisions.try_next().await? {
        builder.push_board_decision(board_outcome_name(outcome), decided_at);
    }
    drop(decisions);
    builder
        .finish()
        .map_err(|error| ServiceError::Internal(format!("building the metrics input: {error}")))
}

fn board_outcome_name(outcome: BoardOutcome) -> &'static str {
    match outcome {
        BoardOutcome::Approved => "APPROVED",
        BoardOutcome::Rejected => "REJECTED",
        BoardOutcome::Deferred => "DEFERRED",
    }
}

/// Runs CPU-bound polars work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, reports::ReportError> + Send + 'static,
) -> ServiceResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ServiceError::Internal(format!("metrics task failed: {error}")))?
        .map_err(|error| match error {
            reports::ReportError::Period(period) => period_error(period),
            other => ServiceError::Internal(other.to_string()),
        })
}

/// One bucket per period of `[from, to)`.
#[tracing::instrument(skip(db, policy))]
pub async fn buckets(
    db: &DatabaseConnection,
    policy: &Policy,
    granularity: Granularity,
    time_zone: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<Vec<Bucket>> {
    let spec = spec(granularity, time_zone, from, to)?;
    let frames = load_frames(db, from, to).await?;
    let options = options(policy);
    blocking(move || {
        let tables = reports::compute(&frames, &spec, &options)?;
        reports::buckets(&tables, &spec, &options)
    })
    .await
}

/// Emergency and rolled-back changes that ended in `[from, to)`, for the
/// lists in reports (small: one query with the columns shown).
pub async fn notable_changes(
    db: &DatabaseConnection,
    emergency_type: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<Vec<NotableChange>> {
    let rows = change::Entity::find()
        .select_only()
        .column(change::Column::Number)
        .column(change::Column::Title)
        .column(change::Column::ChangeType)
        .column(change::Column::Outcome)
        .column(change::Column::ActualEnd)
        .column(change::Column::ApprovedAt)
        .column(change::Column::ApprovalDueAt)
        .column(change::Column::RollbackReason)
        .filter(change::Column::Outcome.is_not_null())
        .filter(change::Column::ActualEnd.gte(from))
        .filter(change::Column::ActualEnd.lt(to))
        .filter(
            change::Column::ChangeType
                .eq(emergency_type)
                .or(change::Column::Outcome.eq(entity::ChangeOutcome::RolledBack)),
        )
        .order_by_asc(change::Column::ActualEnd)
        .order_by_asc(change::Column::Number)
        .into_tuple::<(
            String,
            String,
            String,
            Option<String>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<String>,
        )>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| NotableChange {
            number: r.0,
            title: r.1,
            change_type: r.2,
            outcome: r.3,
            actual_end: r.4,
            approved_at: r.5,
            approval_due_at: r.6,
            rollback_reason: r.7,
        })
        .collect())
}

/// Builds a report document: loads its range once, computes on the
/// blocking pool.
#[tracing::instrument(skip(db, policy))]
pub async fn report(
    db: &DatabaseConnection,
    policy: &Policy,
    kind: ReportKind,
    time_zone: &str,
) -> ServiceResult<ReportDocument> {
    let zone = period::parse_time_zone(time_zone).map_err(period_error)?;
    let plan = ReportPlan::new(kind, zone).map_err(|error| match error {
        reports::ReportError::Period(period) => period_error(period),
        other => ServiceError::Internal(other.to_string()),
    })?;
    let (from, to) = plan.range();
    let options = options(policy);
    let frames = load_frames(db, from, to).await?;
    let notable = notable_changes(db, &options.emergency_type, from, to).await?;
    let policy_name = policy.name.clone();
    let now = crate::db::now();
    blocking(move || document::build(&plan, &frames, &options, notable, &policy_name, now)).await
}

/// Renders a document on the blocking pool.
pub async fn render(
    document: ReportDocument,
    format: render::Format,
    table: render::Table,
) -> ServiceResult<Vec<u8>> {
    blocking(move || render::render(&document, format, table)).await
}
