//! The metrics of docs/design.md ("Metrics"), one function per metric family,
//! each returning a `LazyFrame` keyed by `period`. Nothing here collects:
//! `crate::report` does, at the edge.
//!
//! Conventions shared by every family:
//! - the input is `bucketed(...)`: implemented changes (outcome set) whose
//!   `actual_end` lies in the range, with the index of their period
//!   (`period_index`); the CAB approval rate alone reads the board's
//!   decisions, bucketed by the time they were taken;
//! - the families reading the changes are lists of aggregations run in one
//!   `group_by` (`change_metrics`): one pass over the rows, not one per
//!   family;
//! - a duration is `end - start` in hours; a change lacking either instant
//!   is null there, and aggregations skip nulls, so it drops out of that
//!   metric only;
//! - percentiles interpolate linearly between closest ranks, as
//!   PostgreSQL's `percentile_cont` does;
//! - rates are null when their denominator is 0.

use polars::prelude::*;

use crate::{
    catalogue::{Metric, Metric as M, Unit},
    input::col,
    period::{Period, PeriodSpec},
    targets::Target,
    vocabulary::out,
};

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// A change type code no change has: what "emergency" compares with when
/// no change of the emergency type is in the frame.
const NO_TYPE: u32 = u32::MAX;

/// A metric's column of the metrics table.
fn metric(metric: Metric) -> Expr {
    col(metric.column())
}

/// A timestamp column as microseconds since the epoch.
fn micros(name: &str) -> Expr {
    col(name).cast(DataType::Int64)
}

/// `end - start` in hours; null when either is missing.
fn hours_between(end: &str, start: &str) -> Expr {
    (micros(end) - micros(start)).cast(DataType::Float64) / lit(MICROS_PER_HOUR)
}

/// Rows where `condition` holds (null counts as not).
fn count_where(condition: Expr) -> Expr {
    // Not `condition.cast(Int64).sum()`: polars casts a boolean bit by bit
    // (7 % of the metrics' time), and selects between two constants by
    // whole words of the mask. The constants are cast because a literal
    // integer is typed by its use, and the counts are `i64`.
    let count = |n: i64| lit(n).cast(DataType::Int64);
    when(condition).then(count(1)).otherwise(count(0)).sum()
}

/// `numerator / denominator`, null when the denominator is 0.
fn rate(numerator: Expr, denominator: Expr) -> Expr {
    when(denominator.clone().gt(lit(0)))
        .then(numerator.cast(DataType::Float64) / denominator.cast(DataType::Float64))
        .otherwise(lit(NULL).cast(DataType::Float64))
}

fn outcome_is(code: u32) -> Expr {
    col(col::OUTCOME).eq(lit(code))
}

fn is_emergency(emergency_code: Option<u32>) -> Expr {
    col(col::CHANGE_TYPE).eq(lit(emergency_code.unwrap_or(NO_TYPE)))
}

fn p(quantile: f64, values: Expr) -> Expr {
    values.quantile(lit(quantile), QuantileMethod::Linear)
}

/// The periods of `spec`, one row each, with index, label and bounds.
pub fn periods(spec: &PeriodSpec) -> PolarsResult<LazyFrame> {
    let rfc3339 = |p: &Period, end: bool| {
        let instant = if end { p.end } else { p.start };
        instant
            .with_timezone(&spec.time_zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let n = spec.periods.len();
    let frame = DataFrame::new(
        n,
        vec![
            Column::new(
                out::PERIOD.into(),
                (0..n).map(|i| i as i32).collect::<Vec<_>>(),
            ),
            Column::new(
                out::LABEL.into(),
                spec.periods
                    .iter()
                    .map(|p| p.label.clone())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                out::START.into(),
                spec.periods
                    .iter()
                    .map(|p| rfc3339(p, false))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                out::END.into(),
                spec.periods
                    .iter()
                    .map(|p| rfc3339(p, true))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                DAYS.into(),
                spec.periods
                    .iter()
                    .map(|p| (p.end - p.start).num_seconds() as f64 / 86_400.0)
                    .collect::<Vec<_>>(),
            ),
        ],
    )?;
    Ok(frame.lazy())
}

/// Working column of `periods`: the length in days of the part of the
/// period inside the range (what deployments per day divides by).
const DAYS: &str = "period_days";

/// The index of the period each instant of `instants` (a `Datetime(µs)`
/// column) falls in, as `period` (`i32`): the last period starting at or
/// before it; null outside `[from, to)`, and where `counts` is false.
///
/// Computed eagerly with a binary search over the period starts: as a
/// polars expression this was one comparison pass over all rows per
/// period (24 passes over a million rows for two years of months), the
/// largest single cost of the monthly metrics.
pub fn period_index(
    instants: &Column,
    counts: Option<&BooleanChunked>,
    spec: &PeriodSpec,
) -> PolarsResult<Column> {
    let starts = spec.start_micros();
    let (from, to) = (spec.from.timestamp_micros(), spec.to.timestamp_micros());
    let micros = instants.cast(&DataType::Int64)?;
    let micros = micros.i64()?;
    // Over the raw values (what an unset instant holds there is masked
    // below): an `Option` per row cost as much as the search itself.
    let mut index = Vec::with_capacity(micros.len());
    for chunk in micros.downcast_iter() {
        index.extend(chunk.values().iter().map(|at| {
            if (from..to).contains(at) {
                // starts[0] == from <= at, so the partition point is at
                // least 1.
                starts.partition_point(|start| start <= at) as i32 - 1
            } else {
                -1
            }
        }));
    }
    let index = Int32Chunked::from_vec(out::PERIOD.into(), index);
    let mut uncounted = &index.lt(0) | &micros.is_null();
    if let Some(counts) = counts {
        uncounted = &uncounted | &!&counts.fill_null_with_values(false)?;
    }
    Ok(index.set(&uncounted, None)?.into_column())
}

/// Implemented changes (outcome set) whose `actual_end` lies in
/// `[from, to)`: the rows of `changes` (with its `period_index` column
/// added) whose period is set.
pub fn bucketed(changes_with_period: LazyFrame) -> LazyFrame {
    changes_with_period.filter(col(out::PERIOD).is_not_null())
}

/// Volume by outcome and the outcome counts (the rates are
/// `outcome_rates`).
fn outcome_counts(emergency_code: Option<u32>) -> Vec<Expr> {
    use crate::vocabulary::outcome::{FAILED, ROLLED_BACK, SUCCESSFUL, SUCCESSFUL_WITH_ISSUES};
    vec![
        len().cast(DataType::Int64).alias(M::Implemented.column()),
        count_where(outcome_is(SUCCESSFUL)).alias(M::Successful.column()),
        count_where(outcome_is(SUCCESSFUL_WITH_ISSUES)).alias(M::SuccessfulWithIssues.column()),
        count_where(outcome_is(FAILED)).alias(M::Failed.column()),
        count_where(outcome_is(ROLLED_BACK)).alias(M::RolledBack.column()),
        count_where(is_emergency(emergency_code)).alias(M::Emergency.column()),
        // Counted once even when both hold.
        count_where(outcome_is(SUCCESSFUL_WITH_ISSUES).or(col(col::HAS_INCIDENT)))
            .alias(M::WithIssues.column()),
    ]
}

/// The outcome rates, over the columns of `outcome_counts`.
fn outcome_rates() -> Vec<Expr> {
    vec![
        rate(
            metric(M::Successful) + metric(M::SuccessfulWithIssues),
            metric(M::Implemented),
        )
        .alias(M::SuccessRate.column()),
        rate(metric(M::RolledBack), metric(M::Implemented)).alias(M::RollbackRate.column()),
        rate(
            metric(M::Failed) + metric(M::RolledBack),
            metric(M::Implemented),
        )
        .alias(M::FailureRate.column()),
        rate(metric(M::Emergency), metric(M::Implemented)).alias(M::EmergencyShare.column()),
        rate(metric(M::WithIssues), metric(M::Implemented)).alias(M::WithIssuesRate.column()),
    ]
}

/// Working columns: each duration of a change in hours, computed once per
/// row before the `group_by` (several aggregations read each one).
const LEAD_HOURS: &str = "lead_time_hours";
const ACTUAL_HOURS: &str = "change_duration_hours";
const PLANNED_HOURS: &str = "planned_duration_hours";
const APPROVAL_HOURS: &str = "approval_time_hours";

/// The durations in hours, as the working columns above.
fn durations() -> Vec<Expr> {
    vec![
        hours_between(col::ACTUAL_END, col::SUBMITTED_AT).alias(LEAD_HOURS),
        hours_between(col::ACTUAL_END, col::ACTUAL_START).alias(ACTUAL_HOURS),
        hours_between(col::SCHEDULED_END, col::SCHEDULED_START).alias(PLANNED_HOURS),
        hours_between(col::APPROVED_AT, col::SUBMITTED_AT).alias(APPROVAL_HOURS),
    ]
}

/// Lead time = actual_end - submitted_at, in hours.
fn lead_time() -> Vec<Expr> {
    vec![
        p(0.5, col(LEAD_HOURS)).alias(M::LeadTimeP50Hours.column()),
        p(0.9, col(LEAD_HOURS)).alias(M::LeadTimeP90Hours.column()),
        col(LEAD_HOURS).mean().alias(M::LeadTimeMeanHours.column()),
    ]
}

/// Change duration = actual_end - actual_start, against the planned
/// duration scheduled_end - scheduled_start, in hours.
fn change_duration() -> Vec<Expr> {
    vec![
        col(ACTUAL_HOURS)
            .mean()
            .alias(M::ChangeDurationMeanHours.column()),
        p(0.5, col(ACTUAL_HOURS)).alias(M::ChangeDurationP50Hours.column()),
        col(PLANNED_HOURS)
            .mean()
            .alias(M::PlannedDurationMeanHours.column()),
        p(0.5, col(PLANNED_HOURS)).alias(M::PlannedDurationP50Hours.column()),
    ]
}

/// Approval time = approved_at - submitted_at, in hours.
fn approval_time() -> Vec<Expr> {
    vec![
        p(0.5, col(APPROVAL_HOURS)).alias(M::ApprovalTimeP50Hours.column()),
        col(APPROVAL_HOURS)
            .mean()
            .alias(M::ApprovalTimeMeanHours.column()),
    ]
}

/// Working column: the emergency changes whose approval could be judged
/// on time or late (the rate's denominator).
const EMERGENCY_JUDGED: &str = "emergency_judged";

/// Emergency documentation on time = emergency changes approved on time
/// (`input::approved_on_time`: by the retroactive-approval deadline, or
/// before implementation started when no deadline was set) / emergency
/// changes. The rule is applied once per change as the frames are built;
/// this counts its flag. A change whose flag is null (no deadline and no
/// start on record) is left out of both counts: of this metric only, as
/// it still counts among the `emergency` of `outcome_counts`.
fn emergency_documentation(emergency_code: Option<u32>) -> Vec<Expr> {
    vec![
        count_where(is_emergency(emergency_code).and(col(col::APPROVED_ON_TIME)))
            .alias(M::EmergencyDocsOnTime.column()),
        count_where(is_emergency(emergency_code).and(col(col::APPROVED_ON_TIME).is_not_null()))
            .alias(EMERGENCY_JUDGED),
    ]
}

/// Every metric family read from the changes, in one `group_by` over the
/// bucketed rows (one hashing of the period per computation, not one per
/// family), with the rates computed over its counts.
pub fn change_metrics(bucketed: LazyFrame, emergency_code: Option<u32>) -> LazyFrame {
    let aggregations = [
        outcome_counts(emergency_code),
        lead_time(),
        change_duration(),
        approval_time(),
        emergency_documentation(emergency_code),
    ]
    .concat();
    let mut rates = outcome_rates();
    rates.push(
        rate(metric(M::EmergencyDocsOnTime), col(EMERGENCY_JUDGED))
            .alias(M::EmergencyDocsOnTimeRate.column()),
    );
    bucketed
        .with_columns(durations())
        .group_by([col(out::PERIOD)])
        .agg(aggregations)
        .with_columns(rates)
}

/// CAB approval rate = approved / (approved + rejected) among the board's
/// decisions of the period (deferrals are not decisions). Input: the board
/// decisions with their `period_index`, rows outside the range dropped.
pub fn cab_approval(decisions: LazyFrame) -> LazyFrame {
    use crate::vocabulary::board_outcome::{APPROVED, REJECTED};
    let board_is = |code: u32| col(col::BOARD_OUTCOME).eq(lit(code));
    decisions
        .group_by([col(out::PERIOD)])
        .agg([
            count_where(board_is(APPROVED)).alias(M::CabApproved.column()),
            count_where(board_is(REJECTED)).alias(M::CabRejected.column()),
        ])
        .with_column(
            rate(
                metric(M::CabApproved),
                metric(M::CabApproved) + metric(M::CabRejected),
            )
            .alias(M::CabApprovalRate.column()),
        )
}

/// The DORA metrics read from the deployments (docs/design.md, "DORA
/// metrics"), over the finished deployments with their `period_index`,
/// rows outside the range dropped: deployment frequency counts the
/// successful production deployments of the period; lead time for changes
/// is finished_at - commit time over those with a commit time; the
/// deployments' change failure rate is those whose change failed or rolled
/// back, or that an incident names, / those deployments.
pub fn deployment_metrics(deployments: LazyFrame) -> LazyFrame {
    let lead = || col(col::DEPLOYMENT_LEAD_HOURS);
    deployments
        .filter(col(col::DEPLOYMENT_COUNTED))
        .group_by([col(out::PERIOD)])
        .agg([
            len().cast(DataType::Int64).alias(M::Deployments.column()),
            p(0.5, lead()).alias(M::DeploymentLeadTimeP50Hours.column()),
            p(0.9, lead()).alias(M::DeploymentLeadTimeP90Hours.column()),
            lead().mean().alias(M::DeploymentLeadTimeMeanHours.column()),
            count_where(col(col::DEPLOYMENT_FAILED)).alias(M::FailedDeployments.column()),
        ])
        .with_column(
            rate(metric(M::FailedDeployments), metric(M::Deployments))
                .alias(M::DeploymentFailureRate.column()),
        )
}

/// Time to restore = restored_at - opened_at of the incidents restored in
/// the period (an incident belongs to the period it was restored in).
pub fn time_to_restore(restorations: LazyFrame) -> LazyFrame {
    let hours = || col(col::RESTORE_HOURS);
    restorations.group_by([col(out::PERIOD)]).agg([
        len()
            .cast(DataType::Int64)
            .alias(M::IncidentsRestored.column()),
        p(0.5, hours()).alias(M::TimeToRestoreP50Hours.column()),
        hours().mean().alias(M::TimeToRestoreMeanHours.column()),
    ])
}

/// Unauthorised deployments = the exceptions that happened in the period.
pub fn unauthorised(exceptions: LazyFrame) -> LazyFrame {
    exceptions.group_by([col(out::PERIOD)]).agg([len()
        .cast(DataType::Int64)
        .alias(M::UnauthorisedDeployments.column())])
}

/// The frames the DORA metrics read, each with its `period_index` and
/// only the rows inside the range.
pub struct DeliveryInput {
    pub deployments: LazyFrame,
    pub restorations: LazyFrame,
    pub exceptions: LazyFrame,
}

/// A `code` -> `key` frame naming the codes of a coded column.
fn dictionary(names: &[String]) -> PolarsResult<LazyFrame> {
    let codes: Vec<u32> = (0..names.len()).map(|i| i as u32).collect();
    Ok(DataFrame::new(
        names.len(),
        vec![
            Column::new(CODE.into(), codes),
            Column::new(out::KEY.into(), names.to_vec()),
        ],
    )?
    .lazy())
}

/// The order of every volume table: by period, largest count first, then
/// by key.
fn volume_order(volume: LazyFrame) -> LazyFrame {
    volume.sort_by_exprs(
        [col(out::PERIOD), col(out::COUNT), col(out::KEY)],
        SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
    )
}

/// Working columns of `coded_rows`: the row's code and its group.
const CODE: &str = "code";
const GROUP: &str = "group";

/// The rows of a coded frame (`change_key` and the code in `code_column`,
/// ordered by code, then key: `ChangeFrames::types` and `systems`) that
/// fall in a period, each with its change's `period` (taken from
/// `period`, the changes frame's `period_index`, by key), its `code` and
/// its `group` = code x periods + period.
///
/// Within a code the keys ascend, so the periods never decrease (the
/// changes are ordered by `actual_end`), and `group` is sorted: it is
/// flagged so, and polars groups contiguous slices instead of hashing a
/// million keys (that hashing was the largest item of the metrics'
/// profile). A frame ordered otherwise is checked, not assumed, and only
/// groups the slower way.
pub fn coded_rows(
    period: &Column,
    coded: &DataFrame,
    code_column: &str,
    periods: usize,
) -> PolarsResult<DataFrame> {
    let keys = coded.column(col::KEY)?.u32()?;
    let rows = DataFrame::new(
        coded.height(),
        vec![
            period.take(keys)?,
            coded.column(code_column)?.clone().with_name(CODE.into()),
        ],
    )?;
    // `u32`, like the codes. Codes x periods stays far below 2^32 (a
    // decade of months x a million systems would not reach it).
    let group = col(CODE) * lit(periods.max(1) as u32) + col(out::PERIOD).cast(DataType::UInt32);
    let mut rows = rows
        .lazy()
        .filter(col(out::PERIOD).is_not_null())
        .with_column(group.alias(GROUP))
        .collect()?;
    flag_if_sorted(&mut rows, GROUP)?;
    Ok(rows)
}

/// Sets the sorted flag of an `i32` or `u32` column of `frame` when its
/// values ascend, so polars groups it by contiguous slices.
pub fn flag_if_sorted(frame: &mut DataFrame, column: &str) -> PolarsResult<()> {
    // Over the raw values, chunk by chunk (an `Option` per row cost more
    // than the grouping it saves); a column with nulls is not flagged.
    fn ascends<T: PolarsNumericType>(values: &ChunkedArray<T>) -> bool {
        let mut last = None;
        values.null_count() == 0
            && values.downcast_iter().all(|chunk| {
                let chunk = chunk.values().as_slice();
                let joins = match (last, chunk.first()) {
                    (Some(last), Some(first)) => last <= *first,
                    _ => true,
                };
                last = chunk.last().copied().or(last);
                joins && chunk.is_sorted()
            })
    }
    let mut values = frame.column(column)?.clone();
    let ascending = match values.dtype() {
        DataType::Int32 => ascends(values.i32()?),
        DataType::UInt32 => ascends(values.u32()?),
        other => polars_bail!(InvalidOperation: "cannot check the order of a {other} column"),
    };
    if ascending {
        values.set_sorted_flag(polars::series::IsSorted::Ascending);
        frame.with_column(values)?;
    }
    Ok(())
}

/// Long-format volume over `coded_rows`: `period`, `key` (the name of the
/// code), `count`, one row per period and code present.
///
/// Groups by the one integer `group` (the pair's period and code are then
/// any row's of the group); the names are joined to the few grouped rows
/// only.
pub fn volume_by(rows: LazyFrame, names: &[String]) -> PolarsResult<LazyFrame> {
    Ok(volume_order(
        rows.group_by([col(GROUP)])
            .agg([
                col(out::PERIOD).first(),
                col(CODE).first(),
                len().cast(DataType::Int64).alias(out::COUNT),
            ])
            .inner_join(dictionary(names)?, col(CODE), col(CODE))
            .select([col(out::PERIOD), col(out::KEY), col(out::COUNT)]),
    ))
}

/// Volume by outcome, read off the metrics table's outcome counts (the
/// same numbers as grouping the rows by outcome, without another pass over
/// them): one row per period and outcome with a count above 0.
pub fn volume_by_outcome(table: LazyFrame) -> PolarsResult<LazyFrame> {
    use crate::vocabulary::outcome::NAMES;
    let counts = [
        M::Successful.column(),
        M::SuccessfulWithIssues.column(),
        M::Failed.column(),
        M::RolledBack.column(),
    ];
    let per_outcome: Vec<LazyFrame> = NAMES
        .iter()
        .zip(counts)
        .map(|(name, count)| {
            table.clone().select([
                col(out::PERIOD),
                lit(*name).alias(out::KEY),
                col(count).alias(out::COUNT),
            ])
        })
        .collect();
    Ok(volume_order(
        concat(per_outcome, UnionArgs::default())?.filter(col(out::COUNT).gt(lit(0i64))),
    ))
}

/// One row per period (periods without changes included), every family
/// joined in: the period columns, then every metric in the catalogue's
/// order (the exports' column order); counts of empty periods are 0, their
/// rates and durations null.
pub fn metrics_table(
    periods: LazyFrame,
    bucketed: LazyFrame,
    decisions: LazyFrame,
    delivery: DeliveryInput,
    emergency_code: Option<u32>,
    targets: &[Target],
) -> LazyFrame {
    let table = periods
        .left_join(
            change_metrics(bucketed, emergency_code),
            col(out::PERIOD),
            col(out::PERIOD),
        )
        .left_join(cab_approval(decisions), col(out::PERIOD), col(out::PERIOD))
        .left_join(
            deployment_metrics(delivery.deployments),
            col(out::PERIOD),
            col(out::PERIOD),
        )
        .left_join(
            time_to_restore(delivery.restorations),
            col(out::PERIOD),
            col(out::PERIOD),
        )
        .left_join(
            unauthorised(delivery.exceptions),
            col(out::PERIOD),
            col(out::PERIOD),
        )
        .with_columns(
            Metric::all()
                .filter(|metric| metric.unit() == Unit::Count)
                .map(|metric| {
                    col(metric.column())
                        .fill_null(lit(0i64))
                        .alias(metric.column())
                })
                .collect::<Vec<_>>(),
        )
        .with_column(
            when(col(DAYS).gt(lit(0.0)))
                .then(metric(M::Deployments).cast(DataType::Float64) / col(DAYS))
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias(M::DeploymentsPerDay.column()),
        )
        .select(
            [out::PERIOD, out::LABEL, out::START, out::END]
                .into_iter()
                .chain(Metric::all().map(Metric::column))
                .map(col)
                .collect::<Vec<_>>(),
        )
        .sort([out::PERIOD], SortMultipleOptions::default());
    with_targets(table, targets)
}

/// Adds `<metric>_target_met` per target (`Target::met`).
pub fn with_targets(table: LazyFrame, targets: &[Target]) -> LazyFrame {
    if targets.is_empty() {
        return table;
    }
    table.with_columns(
        targets
            .iter()
            .map(|target| target.met())
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged(values: Column) -> bool {
        let mut frame = DataFrame::new(values.len(), vec![values]).unwrap();
        flag_if_sorted(&mut frame, "v").unwrap();
        frame.column("v").unwrap().is_sorted_flag() == polars::series::IsSorted::Ascending
    }

    #[test]
    fn only_ascending_columns_without_nulls_are_flagged_sorted() {
        assert!(flagged(Column::new("v".into(), [1u32, 1, 2, 5])));
        assert!(flagged(Column::new("v".into(), [-1i32, 0, 0])));
        assert!(!flagged(Column::new("v".into(), [1u32, 3, 2])));
        assert!(!flagged(Column::new(
            "v".into(),
            [Some(1i32), None, Some(2)]
        )));
        assert!(flagged(Column::new("v".into(), Vec::<u32>::new())));
    }

    #[test]
    fn order_across_chunks_is_checked_too() {
        let mut series = Series::new("v".into(), [1u32, 2]);
        series.append(&Series::new("v".into(), [3u32, 4])).unwrap();
        assert_eq!(series.n_chunks(), 2);
        assert!(flagged(series.clone().into()));
        let mut descending_join = Series::new("v".into(), [3u32, 4]);
        descending_join
            .append(&Series::new("v".into(), [1u32, 2]))
            .unwrap();
        assert!(!flagged(descending_join.into()));
    }
}
