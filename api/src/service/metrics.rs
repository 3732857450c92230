//! Metrics over the change history: loads the columns the metrics need in
//! streamed queries (binary `COPY` on PostgreSQL) and runs the polars plans
//! of the `reports` crate on the blocking pool.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    BoardOutcome, DeploymentStatus, board_decision, change, change_system, deployment, incident,
    system,
};
use futures::TryStreamExt;
use reports::{
    Bucket, ChangeFacts, ChangeFrames, ChangeFramesBuilder, DeploymentFacts, Granularity,
    MetricsOptions, PeriodError, PeriodSpec, Target,
    document::{self, NotableChange, ReportDocument, ReportKind, ReportPlan},
    period, render,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Statement,
    sea_query::{Expr, ExprTrait, Order, Query},
};
use uuid::Uuid;

use crate::{
    domain::timestamps,
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
    timestamps::check("from", from)?;
    timestamps::check("to", to)?;
    let zone = period::parse_time_zone(time_zone).map_err(period_error)?;
    PeriodSpec::new(granularity, zone, from, to, period::MAX_PERIODS).map_err(period_error)
}

/// Loads the implemented changes whose `actual_end` lies in `[from, to)`,
/// their affected systems, and the board decisions taken in `[from, to)`.
///
/// On PostgreSQL the rows come as binary `COPY` output parsed straight into
/// the column builders (`load_frames_copy`): decoding a million rows
/// through the row protocol, a `String` per text value, was most of the
/// metrics' end-to-end time. Elsewhere (SQLite) `load_frames_rows` reads
/// the same columns with ordinary queries; both give the same frames.
#[tracing::instrument(skip(db))]
pub async fn load_frames(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<ChangeFrames> {
    match db.get_database_backend() {
        DbBackend::Postgres => load_frames_copy(db, from, to).await,
        _ => load_frames_rows(db, from, to).await,
    }
}

/// Which part of the record the metrics cover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Everything.
    #[default]
    All,
    /// What touches these systems: the changes affecting any of them (with
    /// their board decisions), the deployments to any of them or of such a
    /// change, the incidents affecting any of them or linked to such a
    /// change. Empty: nothing.
    Systems(Vec<Uuid>),
}

/// The scope of a metrics request: the systems named, those the team
/// owns, or both (the systems named that the team owns).
pub async fn scope(
    db: &DatabaseConnection,
    systems: &[String],
    team: Option<&str>,
) -> ServiceResult<Scope> {
    const MAX_SYSTEMS: usize = 100;
    if systems.len() > MAX_SYSTEMS {
        return Err(ServiceError::validation(
            "systems",
            format!("at most {MAX_SYSTEMS} systems"),
        ));
    }
    crate::domain::optional_text("team", team, 100)?;
    let team = team.map(str::trim).filter(|t| !t.is_empty());
    if systems.is_empty() && team.is_none() {
        return Ok(Scope::All);
    }
    let mut ids: Vec<Uuid> = if systems.is_empty() {
        system::Entity::find()
            .select_only()
            .column(system::Column::Id)
            .into_tuple::<Uuid>()
            .all(db)
            .await?
    } else {
        crate::store::systems::named(db, "systems", systems)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    if let Some(team) = team {
        let owned: Vec<Uuid> = system::Entity::find()
            .select_only()
            .column(system::Column::Id)
            .filter(system::Column::Team.eq(team))
            .into_tuple::<Uuid>()
            .all(db)
            .await?;
        ids.retain(|id| owned.contains(id));
    }
    Ok(Scope::Systems(ids))
}

/// `SELECT change_id FROM change_systems WHERE system_id IN (ids)`.
fn changes_affecting(ids: &[Uuid]) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(change_system::Column::ChangeId)
        .from(change_system::Entity)
        .and_where(Expr::col(change_system::Column::SystemId).is_in(ids.iter().copied()))
        .to_owned()
}

impl Scope {
    /// The condition on `column` (a change id) that keeps the changes in
    /// scope.
    fn changes(&self, column: impl sea_orm::ColumnTrait) -> sea_orm::Condition {
        match self {
            Self::All => sea_orm::Condition::all(),
            Self::Systems(ids) => {
                sea_orm::Condition::all().add(column.in_subquery(changes_affecting(ids)))
            }
        }
    }

    /// The deployments in scope.
    fn deployments(&self) -> sea_orm::Condition {
        match self {
            Self::All => sea_orm::Condition::all(),
            Self::Systems(ids) => sea_orm::Condition::any()
                .add(
                    deployment::Column::Id.in_subquery(
                        Query::select()
                            .column(entity::deployment_system::Column::DeploymentId)
                            .from(entity::deployment_system::Entity)
                            .and_where(
                                Expr::col(entity::deployment_system::Column::SystemId)
                                    .is_in(ids.iter().copied()),
                            )
                            .to_owned(),
                    ),
                )
                .add(deployment::Column::ChangeId.in_subquery(changes_affecting(ids))),
        }
    }

    /// The incidents in scope.
    fn incidents(&self) -> sea_orm::Condition {
        match self {
            Self::All => sea_orm::Condition::all(),
            Self::Systems(ids) => sea_orm::Condition::any()
                .add(
                    incident::Column::Id.in_subquery(
                        Query::select()
                            .column(entity::incident_system::Column::IncidentId)
                            .from(entity::incident_system::Entity)
                            .and_where(
                                Expr::col(entity::incident_system::Column::SystemId)
                                    .is_in(ids.iter().copied()),
                            )
                            .to_owned(),
                    ),
                )
                .add(incident::Column::ChangeId.in_subquery(changes_affecting(ids))),
        }
    }
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

/// Implemented changes ending in `[from, to)`.
fn implemented_in(from: DateTime<Utc>, to: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(change::Column::Outcome.is_not_null())
        .add(change::Column::ActualEnd.gte(from))
        .add(change::Column::ActualEnd.lt(to))
}

/// Whether a change has an incident: `id IN (SELECT change_id FROM
/// incidents)`, which both databases evaluate once as a set (PostgreSQL a
/// hashed subplan), where a correlated `EXISTS` probed the incidents index
/// once per change.
fn has_incident() -> Expr {
    // Without the NULLs of incidents linked to no change: `x IN (set
    // with a NULL)` is NULL, not false, for every change without one.
    Expr::col((change::Entity, change::Column::Id)).in_subquery(
        Query::select()
            .column(incident::Column::ChangeId)
            .from(incident::Entity)
            .and_where(Expr::col(incident::Column::ChangeId).is_not_null())
            .to_owned(),
    )
}

/// System names by id: a few dozen rows, so each (change, system) row
/// carries only the system's id and the builder's code for it.
async fn system_codes(
    db: &DatabaseConnection,
    builder: &mut ChangeFramesBuilder,
) -> ServiceResult<HashMap<Uuid, u32>> {
    let systems = system::Entity::find()
        .select_only()
        .column(system::Column::Id)
        .column(system::Column::Name)
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?;
    Ok(systems
        .into_iter()
        .map(|(id, name)| (id, builder.system_code(&name)))
        .collect())
}

/// The portable loader (SQLite, and PostgreSQL in the tests): three
/// streamed queries decoded as tuples into the column builders.
#[tracing::instrument(skip(db))]
pub async fn load_frames_rows(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<ChangeFrames> {
    load_frames_scoped(db, from, to, &Scope::All).await
}

/// `load_frames_rows` over a scope. Scoped metrics read a part of the
/// record, so both databases read them with ordinary queries.
#[tracing::instrument(skip(db))]
pub async fn load_frames_scoped(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
) -> ServiceResult<ChangeFrames> {
    let mut builder = ChangeFramesBuilder::default();
    let system_codes = system_codes(db, &mut builder).await?;
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
        .expr_as(has_incident(), "has_incident")
        .filter(implemented_in(from, to))
        .filter(scope.changes(change::Column::Id))
        .into_tuple::<FactsRow>()
        .stream(db)
        .await?;
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
        .column(change_system::Column::SystemId)
        .join(JoinType::InnerJoin, change_system::Relation::Change.def())
        .filter(implemented_in(from, to))
        .filter(scope.changes(change::Column::Id))
        .into_tuple::<(Uuid, Uuid)>()
        .stream(db)
        .await?;
    while let Some((change_id, system_id)) = systems.try_next().await? {
        if let (Some(key), Some(code)) = (keys.get(&change_id), system_codes.get(&system_id)) {
            builder.push_system_code(*key, *code);
        }
    }
    drop(systems);
    let mut decisions = board_decision::Entity::find()
        .select_only()
        .column(board_decision::Column::Outcome)
        .column(board_decision::Column::DecidedAt)
        .filter(board_decision::Column::DecidedAt.gte(from))
        .filter(board_decision::Column::DecidedAt.lt(to))
        .filter(scope.changes(board_decision::Column::ChangeId))
        .into_tuple::<(BoardOutcome, DateTime<Utc>)>()
        .stream(db)
        .await?;
    while let Some((outcome, decided_at)) = decisions.try_next().await? {
        builder.push_board_decision(board_outcome_name(outcome), decided_at);
    }
    drop(decisions);
    load_delivery(db, &mut builder, from, to, scope).await?;
    finish(builder)
}

/// The inputs of the DORA metrics in `[from, to)`, as read
/// (`fetch_delivery`), before they go into the builder (`push_delivery`).
struct Delivery {
    deployments: Vec<DeploymentFacts>,
    restorations: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    exceptions: Vec<DateTime<Utc>>,
}

/// Reads and pushes the DORA inputs (the portable loader).
async fn load_delivery(
    db: &DatabaseConnection,
    builder: &mut ChangeFramesBuilder,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
) -> ServiceResult<()> {
    let delivery = fetch_delivery(db, from, to, scope).await?;
    push_delivery(builder, delivery);
    Ok(())
}

fn push_delivery(builder: &mut ChangeFramesBuilder, delivery: Delivery) {
    for facts in delivery.deployments {
        builder.push_deployment(facts);
    }
    for (opened_at, restored_at) in delivery.restorations {
        builder.push_restoration(opened_at, restored_at);
    }
    for happened_at in delivery.exceptions {
        builder.push_exception(happened_at);
    }
}

/// The inputs of the DORA metrics in `[from, to)`: deployments by when
/// they finished, incidents by when service was restored, exceptions by
/// when they happened. Far fewer rows than changes, read with ordinary
/// queries on both databases; the PostgreSQL loader reads them beside the
/// changes' `COPY`, on a connection of their own, so they add little to
/// its time.
async fn fetch_delivery(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
) -> ServiceResult<Delivery> {
    // Failed: its change failed or rolled back, or an incident names it
    // (sets, evaluated once each; NULL when the deployment has no change
    // and no incident names it).
    let change_failed = Expr::col((deployment::Entity, deployment::Column::ChangeId)).in_subquery(
        Query::select()
            .column(change::Column::Id)
            .from(change::Entity)
            .and_where(Expr::col(change::Column::Outcome).is_in(["FAILED", "ROLLED_BACK"]))
            .to_owned(),
    );
    let named_by_incident = Expr::col((deployment::Entity, deployment::Column::Id)).in_subquery(
        Query::select()
            .column(incident::Column::DeploymentId)
            .from(incident::Entity)
            .and_where(Expr::col(incident::Column::DeploymentId).is_not_null())
            .to_owned(),
    );
    let deployments = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::FinishedAt)
        .column(deployment::Column::Production)
        .column(deployment::Column::Status)
        .column(deployment::Column::CommitTime)
        .expr_as(change_failed.or(named_by_incident), "failed")
        .filter(deployment::Column::FinishedAt.gte(from))
        .filter(deployment::Column::FinishedAt.lt(to))
        .filter(scope.deployments())
        .into_tuple::<(
            DateTime<Utc>,
            bool,
            DeploymentStatus,
            Option<DateTime<Utc>>,
            Option<bool>,
        )>()
        .all(db)
        .await?
        .into_iter()
        .map(
            |(finished_at, production, status, commit_time, failed)| DeploymentFacts {
                finished_at,
                counted: production && status == DeploymentStatus::Success,
                commit_time,
                failed: failed.unwrap_or(false),
            },
        )
        .collect();
    let restorations = incident::Entity::find()
        .select_only()
        .column(incident::Column::OpenedAt)
        .column(incident::Column::RestoredAt)
        .filter(incident::Column::RestoredAt.gte(from))
        .filter(incident::Column::RestoredAt.lt(to))
        .filter(scope.incidents())
        .into_tuple::<(DateTime<Utc>, DateTime<Utc>)>()
        .all(db)
        .await?;
    let exceptions = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::ExceptionAt)
        .filter(deployment::Column::ExceptionAt.gte(from))
        .filter(deployment::Column::ExceptionAt.lt(to))
        .filter(scope.deployments())
        .into_tuple::<DateTime<Utc>>()
        .all(db)
        .await?;
    Ok(Delivery {
        deployments,
        restorations,
        exceptions,
    })
}

fn finish(builder: ChangeFramesBuilder) -> ServiceResult<ChangeFrames> {
    builder
        .finish()
        .map_err(|error| ServiceError::internal_from("building the metrics input", error))
}

fn board_outcome_name(outcome: BoardOutcome) -> &'static str {
    match outcome {
        BoardOutcome::Approved => "APPROVED",
        BoardOutcome::Rejected => "REJECTED",
        BoardOutcome::Deferred => "DEFERRED",
    }
}

/// Adds a change held in memory (as `gatehouse import` or `demo-data`
/// would store it) to `builder` the way the loaders read it back: its
/// board decision, and the change with its systems when it was
/// implemented. The tests and the benchmark compare the loaders with it.
pub fn push_imported(
    builder: &mut ChangeFramesBuilder,
    row: &crate::domain::import::ImportedChange,
) {
    if let (Some(outcome), Some(decided_at)) = (row.board_outcome, row.board_decided_at) {
        builder.push_board_decision(board_outcome_name(outcome), decided_at);
    }
    let Some(outcome) = row.outcome else {
        return;
    };
    // Stored as its serde name, which is what the loaders read.
    let outcome = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let key = builder.push(ChangeFacts {
        change_type: row.content.change_type.clone(),
        outcome: Some(outcome),
        submitted_at: row.submitted_at,
        approved_at: row.approved_at,
        scheduled_start: row.scheduled_start,
        scheduled_end: row.scheduled_end,
        actual_start: row.actual_start,
        actual_end: row.actual_end,
        approval_due_at: row.approval_due_at,
        has_incident: row.incident_priority().is_some(),
    });
    for name in &row.system_names {
        builder.push_system(key, name);
    }
}

/// The PostgreSQL loader: the queries of `load_frames_rows`, each run as
/// `COPY (...) TO STDOUT (FORMAT binary)` and parsed by `copy::rows` with
/// no per-row allocation; the changes come in `actual_end` order, and
/// which of them had an incident is a fourth query rather than a test per
/// change.
#[tracing::instrument(skip(db))]
pub async fn load_frames_copy(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<ChangeFrames> {
    use sea_orm::sea_query::PostgresQueryBuilder;

    let whole_history = covers_every_implemented_change(db, from, to).await?;
    // Room for every change when the range holds them all (a trend over
    // the whole history); a narrower range grows its columns as it reads.
    let capacity = if whole_history {
        estimated_changes(db).await?
    } else {
        0
    };
    let mut builder = ChangeFramesBuilder::with_capacity(capacity);
    let system_codes = system_codes(db, &mut builder).await?;
    let pool = db.get_postgres_connection_pool();
    // COPY takes no bind parameters, so the range is not written into its
    // text: `copy::rows` binds the two instants to settings of the
    // connection first, and the statements read them from there.
    let range = copy::Range { from, to };
    let in_range = sea_orm::Condition::all()
        .add(change::Column::Outcome.is_not_null())
        .add(
            Expr::col((change::Entity, change::Column::ActualEnd)).gte(copy::Range::from_setting()),
        )
        .add(Expr::col((change::Entity, change::Column::ActualEnd)).lt(copy::Range::to_setting()));
    let changes = Query::select()
        .columns([
            (change::Entity, change::Column::Id),
            (change::Entity, change::Column::ChangeType),
            (change::Entity, change::Column::Outcome),
            (change::Entity, change::Column::SubmittedAt),
            (change::Entity, change::Column::ApprovedAt),
            (change::Entity, change::Column::ScheduledStart),
            (change::Entity, change::Column::ScheduledEnd),
            (change::Entity, change::Column::ActualStart),
            (change::Entity, change::Column::ActualEnd),
            (change::Entity, change::Column::ApprovalDueAt),
        ])
        .from(change::Entity)
        .cond_where(in_range.clone())
        // In the frame's order, so the builder keeps the rows where they
        // are: an index-only scan of `idx_changes_metrics_input` (migration
        // m20261130_000006), which is also the narrowest read.
        .order_by((change::Entity, change::Column::ActualEnd), Order::Asc)
        .to_string(PostgresQueryBuilder);
    let mut systems = Query::select()
        .columns([
            (change_system::Entity, change_system::Column::ChangeId),
            (change_system::Entity, change_system::Column::SystemId),
        ])
        .from(change_system::Entity)
        .to_owned();
    // Rows of changes outside the range are dropped below (their change
    // has no key), so the join only saves reading them. When the range
    // holds every implemented change (a trend over the whole history) it
    // saves nothing and costs a second scan of `changes` and a hash join:
    // the systems are read whole then.
    if !whole_history {
        systems
            .inner_join(
                change::Entity,
                Expr::col((change::Entity, change::Column::Id))
                    .equals((change_system::Entity, change_system::Column::ChangeId)),
            )
            .cond_where(in_range);
    }
    let systems = systems.to_string(PostgresQueryBuilder);
    let system_codes: HashMap<[u8; 16], u32> = system_codes
        .into_iter()
        .map(|(id, code)| (*id.as_bytes(), code))
        .collect();
    // The changes, their systems and the incidents are read at the same
    // time over three connections, so the server runs the scans on the
    // machine's cores while this task parses; the systems and incidents
    // wait until every change has its key.
    let mut keys: HashMap<[u8; 16], u32, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(builder.capacity(), Default::default());
    let mut affected: Vec<([u8; 16], u32)> = Vec::new();
    // Which changes have an incident is read beside them (a few
    // thousand ids) and marked once every change has its key: one
    // membership test per change on the server cost PostgreSQL a sixth
    // of its time for the changes.
    // Incidents linked to systems only have no change.
    let incidents = Query::select()
        .column(incident::Column::ChangeId)
        .from(incident::Entity)
        .and_where(Expr::col(incident::Column::ChangeId).is_not_null())
        .to_string(PostgresQueryBuilder);
    let mut with_incident: Vec<[u8; 16]> = Vec::new();
    let read_changes = copy::rows(pool, &changes, Some(range), 10, |fields| {
        let mut stamps = [None; 7];
        for (stamp, field) in stamps.iter_mut().zip(&fields[3..10]) {
            *stamp = copy::timestamp(*field)?;
        }
        let key = builder.push_micros(
            copy::text(fields[1])?.unwrap_or_default(),
            copy::text(fields[2])?,
            stamps,
            false,
        );
        keys.insert(copy::uuid(fields[0])?, key);
        Ok(())
    });
    let systems_range = (!whole_history).then_some(range);
    let read_systems = copy::rows(pool, &systems, systems_range, 2, |fields| {
        if let Some(code) = system_codes.get(&copy::uuid(fields[1])?) {
            affected.push((copy::uuid(fields[0])?, *code));
        }
        Ok(())
    });
    let read_incidents = copy::rows(pool, &incidents, None, 1, |fields| {
        with_incident.push(copy::uuid(fields[0])?);
        Ok(())
    });
    let delivery = fetch_delivery(db, from, to, &Scope::All);
    let ((), (), (), delivery) =
        futures::try_join!(read_changes, read_systems, read_incidents, delivery)?;
    for (change_id, code) in affected {
        if let Some(key) = keys.get(&change_id) {
            builder.push_system_code(*key, code);
        }
    }
    // Incidents of changes outside the range have no key.
    for change_id in with_incident {
        if let Some(key) = keys.get(&change_id) {
            builder.mark_incident(*key);
        }
    }
    let decisions = Query::select()
        .columns([
            board_decision::Column::Outcome,
            board_decision::Column::DecidedAt,
        ])
        .from(board_decision::Entity)
        .and_where(
            Expr::col((board_decision::Entity, board_decision::Column::DecidedAt))
                .gte(copy::Range::from_setting()),
        )
        .and_where(
            Expr::col((board_decision::Entity, board_decision::Column::DecidedAt))
                .lt(copy::Range::to_setting()),
        )
        .to_string(PostgresQueryBuilder);
    copy::rows(pool, &decisions, Some(range), 2, |fields| {
        let outcome = copy::text(fields[0])?.unwrap_or_default();
        let decided_at = copy::timestamp(fields[1])?
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(|| copy::malformed("a board decision without a time"))?;
        builder.push_board_decision(outcome, decided_at);
        Ok(())
    })
    .await?;
    push_delivery(&mut builder, delivery);
    finish(builder)
}

/// The planner's estimate of the number of changes (`pg_class.reltuples`,
/// kept by `ANALYZE` and autovacuum): capacity for the builder's columns,
/// so a million rows are not copied through a dozen doublings. 0 when the
/// table was never analysed; capped, as it only sizes buffers.
async fn estimated_changes(db: &DatabaseConnection) -> ServiceResult<usize> {
    const CAP: i64 = 20_000_000;
    let estimate: Option<i64> = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT CAST(GREATEST(reltuples, 0) AS BIGINT) AS estimate FROM pg_class \
             WHERE oid = to_regclass('changes')",
        ))
        .await?
        .map(|row| row.try_get("", "estimate"))
        .transpose()?;
    Ok(usize::try_from(estimate.unwrap_or(0).clamp(0, CAP)).unwrap_or(0))
}

/// Whether `[from, to)` holds the `actual_end` of every implemented change
/// (two index lookups on `idx_changes_actual_end`).
async fn covers_every_implemented_change(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ServiceResult<bool> {
    type FirstAndLast = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let bounds: Option<FirstAndLast> = change::Entity::find()
        .select_only()
        .column_as(change::Column::ActualEnd.min(), "first")
        .column_as(change::Column::ActualEnd.max(), "last")
        .filter(change::Column::Outcome.is_not_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(match bounds {
        Some((Some(first), Some(last))) => from <= first && last < to,
        // No implemented change (with an end) at all.
        _ => true,
    })
}

use crate::store::pg_copy as copy;

/// Runs CPU-bound polars work on the blocking pool, within the reports'
/// time budget (polars cannot look at a deadline: past the budget the
/// caller is answered TIMEOUT and the thread finishes on its own).
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, reports::ReportError> + Send + 'static,
) -> ServiceResult<T> {
    crate::heavy::run(crate::heavy::REPORTS, move |_| {
        work().map_err(|error| match error {
            reports::ReportError::Period(period) => period_error(period),
            other => ServiceError::internal_from("computing the metrics", other),
        })
    })
    .await
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
    scope: &Scope,
) -> ServiceResult<Vec<Bucket>> {
    let spec = spec(granularity, time_zone, from, to)?;
    let frames = match scope {
        Scope::All => load_frames(db, from, to).await?,
        scoped => load_frames_scoped(db, from, to, scoped).await?,
    };
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
        .column(change::Column::ActualStart)
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
            actual_start: r.4,
            actual_end: r.5,
            approved_at: r.6,
            approval_due_at: r.7,
            rollback_reason: r.8,
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
    let (first_field, last_field) = match &kind {
        ReportKind::Monthly { .. } | ReportKind::Quarterly { .. } => ("period", "period"),
        ReportKind::Trends { .. } => ("from", "to"),
        ReportKind::CabWeekly { .. } => ("week", "week"),
    };
    let plan = ReportPlan::new(kind, zone).map_err(|error| match error {
        reports::ReportError::Period(period) => period_error(period),
        other => ServiceError::internal_from("computing the metrics", other),
    })?;
    let (from, to) = plan.range();
    // A period at the edge of the calendar (`0000-01`, or `9999-12`, which
    // ends in year 10000) reaches instants the databases cannot hold.
    timestamps::check(first_field, from)?;
    timestamps::check(last_field, to)?;
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

#[cfg(test)]
mod tests {
    //! Both loaders read the same history as the in-memory frame built from
    //! the generated rows: the rows loader on SQLite, and on PostgreSQL
    //! (when `GATEHOUSE_TEST_POSTGRES_URL` names a server) the rows loader
    //! and the `COPY` loader.

    use chrono::{DateTime, Utc};
    use reports::{ChangeFramesBuilder, Granularity};
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
    use serde_json::Value;

    use crate::{
        db::{self, QueryCounter},
        domain::demo::{self, DemoSpec},
        policy::Policy,
        {cli::demo::demo_types, service::Caller},
    };

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn spec(policy: &Policy) -> DemoSpec {
        DemoSpec {
            changes: 400,
            months: 4,
            seed: 7,
            end: at("2026-11-01T00:00:00Z"),
            types: demo_types(policy),
        }
    }

    /// The generated rows as the metrics input, without a database.
    fn expected_frames(policy: &Policy) -> reports::ChangeFrames {
        let mut builder = ChangeFramesBuilder::default();
        for row in demo::generate(&spec(policy)) {
            super::push_imported(&mut builder, &row);
        }
        builder.finish().unwrap()
    }

    /// Monthly buckets over a range that cuts a month, as JSON.
    fn metrics(frames: &reports::ChangeFrames, policy: &Policy) -> Value {
        let (from, to) = (at("2026-07-15T00:00:00Z"), at("2026-11-01T00:00:00Z"));
        let spec = super::spec(Granularity::Month, "UTC", from, to).unwrap();
        let options = super::options(policy);
        let tables = reports::compute(frames, &spec, &options).unwrap();
        serde_json::to_value(reports::buckets(&tables, &spec, &options).unwrap()).unwrap()
    }

    /// Equal, floats within 1e-9 (rows arrive in another order, so sums of
    /// hours may differ in the last bit).
    fn assert_same(actual: &Value, expected: &Value, path: &str) {
        match (actual, expected) {
            (Value::Number(a), Value::Number(e)) if a.is_f64() || e.is_f64() => {
                let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
                assert!((a - e).abs() < 1e-9, "{path}: {a} != {e}");
            }
            (Value::Array(a), Value::Array(e)) => {
                assert_eq!(a.len(), e.len(), "{path}: lengths");
                for (i, (a, e)) in a.iter().zip(e).enumerate() {
                    assert_same(a, e, &format!("{path}[{i}]"));
                }
            }
            (Value::Object(a), Value::Object(e)) => {
                assert_eq!(
                    a.keys().collect::<Vec<_>>(),
                    e.keys().collect::<Vec<_>>(),
                    "{path}: keys"
                );
                for (key, a) in a {
                    assert_same(a, &e[key], &format!("{path}.{key}"));
                }
            }
            _ => assert_eq!(actual, expected, "{path}"),
        }
    }

    async fn seeded(url: &str, policy: &Policy) -> DatabaseConnection {
        let db = db::connect(url, &QueryCounter::default()).await.unwrap();
        db::migrate_up(&db).await.unwrap();
        crate::cli::demo::generate(&db, policy, &Caller::operator(), &spec(policy))
            .await
            .unwrap();
        db
    }

    // The import behind the seeding blocks in place: it needs worker threads.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_loaders_read_what_was_written() {
        let policy = Policy::load("tiered-cab").unwrap();
        let expected = metrics(&expected_frames(&policy), &policy);
        let (from, to) = (at("2026-07-15T00:00:00Z"), at("2026-11-01T00:00:00Z"));
        // The range is what the buckets read; loading a wider one as well
        // shows the loaders' own range filter agrees with the metrics'.
        let wide = (at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        // And one holding every change: PostgreSQL reads the systems whole.
        let all = (at("2000-01-01T00:00:00Z"), at("2100-01-01T00:00:00Z"));

        let file =
            std::env::temp_dir().join(format!("gh_test_{}.db", uuid::Uuid::new_v4().simple()));
        let sqlite = seeded(&format!("sqlite://{}?mode=rwc", file.display()), &policy).await;
        for (from, to) in [(from, to), wide, all] {
            let frames = super::load_frames(&sqlite, from, to).await.unwrap();
            assert_same(&metrics(&frames, &policy), &expected, "sqlite");
        }
        // Scoped to every system (every demo change affects one): the
        // same; to none: nothing; to one: fewer.
        let every: Vec<uuid::Uuid> = <entity::system::Entity as sea_orm::EntityTrait>::find()
            .all(&sqlite)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        let scoped = |ids: Vec<uuid::Uuid>| {
            let db = sqlite.clone();
            async move {
                let frames = super::load_frames_scoped(&db, from, to, &super::Scope::Systems(ids))
                    .await
                    .unwrap();
                frames.changes.height()
            }
        };
        let unscoped = super::load_frames(&sqlite, from, to).await.unwrap();
        assert_same(
            &metrics(
                &super::load_frames_scoped(
                    &sqlite,
                    from,
                    to,
                    &super::Scope::Systems(every.clone()),
                )
                .await
                .unwrap(),
                &policy,
            ),
            &expected,
            "sqlite, every system",
        );
        assert_eq!(scoped(Vec::new()).await, 0);
        let affected = <entity::change_system::Entity as sea_orm::EntityTrait>::find()
            .one(&sqlite)
            .await
            .unwrap()
            .unwrap()
            .system_id;
        let one = scoped(vec![affected]).await;
        assert!(one > 0 && one < unscoped.changes.height(), "{one}");
        sqlite.close().await.unwrap();
        std::fs::remove_file(&file).ok();

        let Some(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return;
        };
        let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (server, _) = admin_url.rsplit_once('/').unwrap();
        let postgres = seeded(&format!("{server}/{name}"), &policy).await;
        let covers = |(from, to)| super::covers_every_implemented_change(&postgres, from, to);
        assert!(covers(all).await.unwrap());
        assert!(!covers((from, to)).await.unwrap());
        for (from, to) in [(from, to), wide, all] {
            let copied = super::load_frames_copy(&postgres, from, to).await.unwrap();
            assert_same(&metrics(&copied, &policy), &expected, "postgres copy");
            let rows = super::load_frames_rows(&postgres, from, to).await.unwrap();
            assert_same(&metrics(&rows, &policy), &expected, "postgres rows");
            assert_eq!(copied.changes.height(), rows.changes.height());
            assert_eq!(copied.systems.height(), rows.systems.height());
        }
        postgres.close().await.unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
    }
    /// A `COPY` that failed, or whose reader stopped early, leaves its
    /// connection out of step with the server; the next query given that
    /// connection would read the rest of the `COPY`'s answer as its own.
    /// One connection in the pool, so the next query gets the same one if
    /// it was returned.
    #[tokio::test]
    async fn a_copy_that_failed_is_never_handed_to_the_next_query() {
        let Some(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return;
        };
        let mut options = sea_orm::ConnectOptions::new(admin_url);
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.unwrap();
        let pool = db.get_postgres_connection_pool();
        let answers_right = || async {
            for n in 1..=20 {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        format!("SELECT {n} AS n"),
                    ))
                    .await
                    .unwrap()
                    .expect("a row");
                assert_eq!(row.try_get::<i32>("", "n").unwrap(), n);
            }
        };
        answers_right().await;
        // Refused before any row: no year 0 in PostgreSQL.
        let refused =
            super::copy::rows(
                pool,
                "SELECT '0000-01-01'::timestamptz",
                None,
                1,
                |_| Ok(()),
            )
            .await;
        assert!(refused.is_err());
        answers_right().await;
        // Failing after some rows.
        let failed = super::copy::rows(
            pool,
            "SELECT 1 / (100 - n) FROM generate_series(1, 1000) AS n",
            None,
            1,
            |_| Ok(()),
        )
        .await;
        assert!(failed.is_err());
        answers_right().await;
        // The reader stops at the first row of many.
        let stopped = super::copy::rows(
            pool,
            "SELECT n FROM generate_series(1, 1000000) AS n",
            None,
            1,
            |_| Err(super::copy::malformed("stop")),
        )
        .await;
        assert!(stopped.is_err());
        answers_right().await;
        // The range reaches the statement as bound values.
        let range = super::copy::Range {
            from: at("0001-01-01T00:00:00Z"),
            to: at("9999-12-31T23:59:59.999999Z"),
        };
        let mut read = Vec::new();
        super::copy::rows(
            pool,
            "SELECT current_setting('gatehouse.copy_from')::timestamptz, \
             current_setting('gatehouse.copy_to')::timestamptz",
            Some(range),
            2,
            |fields| {
                for field in fields {
                    read.push(super::copy::timestamp(*field)?);
                }
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(
            read,
            [
                Some(range.from.timestamp_micros()),
                Some(range.to.timestamp_micros())
            ]
        );
        answers_right().await;
    }
}
