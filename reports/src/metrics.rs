//! The metrics of DESIGN.md ("Metrics"), one function per metric family,
//! each returning a `LazyFrame` keyed by `period`. Nothing here collects:
//! `crate::report` does, at the edge.
//!
//! Conventions shared by every family:
//! - the input is `bucketed(...)`: implemented changes (outcome set) whose
//!   `actual_end` lies in the range, with the index of their period; the
//!   CAB approval rate alone reads `decisions_bucketed(...)`, the board's
//!   decisions by the time they were taken;
//! - a duration is `end - start` in hours; a change lacking either instant
//!   is null there, and aggregations skip nulls, so it drops out of that
//!   metric only;
//! - percentiles interpolate linearly between closest ranks, as
//!   PostgreSQL's `percentile_cont` does;
//! - rates are null when their denominator is 0.

use polars::prelude::*;

use crate::{
    input::col,
    period::{Period, PeriodSpec},
    targets::Target,
};

/// Output column names (every output column is aliased to one of these).
pub mod out {
    pub const PERIOD: &str = "period";
    pub const LABEL: &str = "period_label";
    pub const START: &str = "period_start";
    pub const END: &str = "period_end";
    pub const KEY: &str = "key";
    pub const COUNT: &str = "count";

    pub const IMPLEMENTED: &str = "implemented";
    pub const SUCCESSFUL: &str = "successful";
    pub const SUCCESSFUL_WITH_ISSUES: &str = "successful_with_issues";
    pub const FAILED: &str = "failed";
    pub const ROLLED_BACK: &str = "rolled_back";
    pub const EMERGENCY: &str = "emergency";
    pub const WITH_ISSUES: &str = "with_issues";
    pub const SUCCESS_RATE: &str = "success_rate";
    pub const ROLLBACK_RATE: &str = "rollback_rate";
    pub const FAILURE_RATE: &str = "failure_rate";
    pub const EMERGENCY_SHARE: &str = "emergency_share";
    pub const WITH_ISSUES_RATE: &str = "with_issues_rate";

    pub const LEAD_TIME_P50: &str = "lead_time_hours_p50";
    pub const LEAD_TIME_P90: &str = "lead_time_hours_p90";
    pub const LEAD_TIME_MEAN: &str = "lead_time_hours_mean";

    pub const DURATION_MEAN: &str = "change_duration_hours_mean";
    pub const DURATION_P50: &str = "change_duration_hours_p50";
    pub const PLANNED_MEAN: &str = "planned_duration_hours_mean";
    pub const PLANNED_P50: &str = "planned_duration_hours_p50";

    pub const APPROVAL_P50: &str = "approval_time_hours_p50";
    pub const APPROVAL_MEAN: &str = "approval_time_hours_mean";

    pub const CAB_APPROVED: &str = "cab_approved";
    pub const CAB_REJECTED: &str = "cab_rejected";
    pub const CAB_APPROVAL_RATE: &str = "cab_approval_rate";

    pub const EMERGENCY_DOCS_ON_TIME: &str = "emergency_docs_on_time";
    pub const EMERGENCY_DOCS_RATE: &str = "emergency_docs_on_time_rate";

    /// Counts that are 0, not null, in a period without changes.
    pub const COUNTS: [&str; 10] = [
        IMPLEMENTED,
        SUCCESSFUL,
        SUCCESSFUL_WITH_ISSUES,
        FAILED,
        ROLLED_BACK,
        EMERGENCY,
        WITH_ISSUES,
        CAB_APPROVED,
        CAB_REJECTED,
        EMERGENCY_DOCS_ON_TIME,
    ];
}

pub const SUCCESSFUL: &str = "SUCCESSFUL";
pub const SUCCESSFUL_WITH_ISSUES: &str = "SUCCESSFUL_WITH_ISSUES";
pub const FAILED: &str = "FAILED";
pub const ROLLED_BACK: &str = "ROLLED_BACK";
pub const IMPLEMENTED_OUTCOMES: [&str; 4] =
    [SUCCESSFUL, SUCCESSFUL_WITH_ISSUES, FAILED, ROLLED_BACK];

const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// A timestamp column as microseconds since the epoch.
fn micros(name: &str) -> Expr {
    col(name).cast(DataType::Int64)
}

/// `end - start` in hours; null when either is missing.
fn hours_between(end: &str, start: &str) -> Expr {
    (micros(end) - micros(start)).cast(DataType::Float64) / lit(MICROS_PER_HOUR)
}

fn count_where(condition: Expr) -> Expr {
    condition.cast(DataType::Int64).sum()
}

/// `numerator / denominator`, null when the denominator is 0.
fn rate(numerator: Expr, denominator: Expr) -> Expr {
    when(denominator.clone().gt(lit(0)))
        .then(numerator.cast(DataType::Float64) / denominator.cast(DataType::Float64))
        .otherwise(lit(NULL).cast(DataType::Float64))
}

fn outcome_is(outcome: &str) -> Expr {
    col(col::OUTCOME).eq(lit(outcome))
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
        ],
    )?;
    Ok(frame.lazy())
}

/// Whether the instant `column` lies in `[from, to)`, and the index of its
/// period: the number of period starts after the first at or before it.
fn in_range_and_period(column: &str, spec: &PeriodSpec) -> (Expr, Expr) {
    let at = micros(column);
    let index = spec
        .start_micros()
        .into_iter()
        .skip(1)
        .fold(lit(0i32), |acc, start| {
            acc + at.clone().gt_eq(lit(start)).cast(DataType::Int32)
        });
    let in_range = at
        .clone()
        .gt_eq(lit(spec.from.timestamp_micros()))
        .and(at.lt(lit(spec.to.timestamp_micros())));
    (in_range, index.alias(out::PERIOD))
}

/// Implemented changes whose `actual_end` lies in `[from, to)`, with the
/// index of their period.
pub fn bucketed(changes: LazyFrame, spec: &PeriodSpec) -> LazyFrame {
    let implemented = IMPLEMENTED_OUTCOMES
        .iter()
        .map(|o| outcome_is(o))
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false));
    let (in_range, period) = in_range_and_period(col::ACTUAL_END, spec);
    changes
        .filter(implemented.and(in_range))
        .with_column(period)
}

/// Board decisions taken in `[from, to)`, with the index of their period:
/// a decision counts in the period the board took it, whenever (and
/// whether) the change was implemented.
pub fn decisions_bucketed(decisions: LazyFrame, spec: &PeriodSpec) -> LazyFrame {
    let (in_range, period) = in_range_and_period(col::BOARD_DECIDED_AT, spec);
    decisions.filter(in_range).with_column(period)
}

/// Volume by outcome and the outcome rates.
pub fn outcome_rates(bucketed: LazyFrame, emergency_type: &str) -> LazyFrame {
    bucketed
        .group_by([col(out::PERIOD)])
        .agg([
            len().cast(DataType::Int64).alias(out::IMPLEMENTED),
            count_where(outcome_is(SUCCESSFUL)).alias(out::SUCCESSFUL),
            count_where(outcome_is(SUCCESSFUL_WITH_ISSUES)).alias(out::SUCCESSFUL_WITH_ISSUES),
            count_where(outcome_is(FAILED)).alias(out::FAILED),
            count_where(outcome_is(ROLLED_BACK)).alias(out::ROLLED_BACK),
            count_where(col(col::CHANGE_TYPE).eq(lit(emergency_type))).alias(out::EMERGENCY),
            // Counted once even when both hold.
            count_where(outcome_is(SUCCESSFUL_WITH_ISSUES).or(col(col::HAS_INCIDENT)))
                .alias(out::WITH_ISSUES),
        ])
        .with_columns([
            rate(
                col(out::SUCCESSFUL) + col(out::SUCCESSFUL_WITH_ISSUES),
                col(out::IMPLEMENTED),
            )
            .alias(out::SUCCESS_RATE),
            rate(col(out::ROLLED_BACK), col(out::IMPLEMENTED)).alias(out::ROLLBACK_RATE),
            rate(
                col(out::FAILED) + col(out::ROLLED_BACK),
                col(out::IMPLEMENTED),
            )
            .alias(out::FAILURE_RATE),
            rate(col(out::EMERGENCY), col(out::IMPLEMENTED)).alias(out::EMERGENCY_SHARE),
            rate(col(out::WITH_ISSUES), col(out::IMPLEMENTED)).alias(out::WITH_ISSUES_RATE),
        ])
}

/// Lead time = actual_end - submitted_at, in hours.
pub fn lead_time(bucketed: LazyFrame) -> LazyFrame {
    let hours = || hours_between(col::ACTUAL_END, col::SUBMITTED_AT);
    bucketed.group_by([col(out::PERIOD)]).agg([
        p(0.5, hours()).alias(out::LEAD_TIME_P50),
        p(0.9, hours()).alias(out::LEAD_TIME_P90),
        hours().mean().alias(out::LEAD_TIME_MEAN),
    ])
}

/// Change duration = actual_end - actual_start, against the planned
/// duration scheduled_end - scheduled_start, in hours.
pub fn change_duration(bucketed: LazyFrame) -> LazyFrame {
    let actual = || hours_between(col::ACTUAL_END, col::ACTUAL_START);
    let planned = || hours_between(col::SCHEDULED_END, col::SCHEDULED_START);
    bucketed.group_by([col(out::PERIOD)]).agg([
        actual().mean().alias(out::DURATION_MEAN),
        p(0.5, actual()).alias(out::DURATION_P50),
        planned().mean().alias(out::PLANNED_MEAN),
        p(0.5, planned()).alias(out::PLANNED_P50),
    ])
}

/// Approval time = approved_at - submitted_at, in hours.
pub fn approval_time(bucketed: LazyFrame) -> LazyFrame {
    let hours = || hours_between(col::APPROVED_AT, col::SUBMITTED_AT);
    bucketed.group_by([col(out::PERIOD)]).agg([
        p(0.5, hours()).alias(out::APPROVAL_P50),
        hours().mean().alias(out::APPROVAL_MEAN),
    ])
}

/// CAB approval rate = approved / (approved + rejected) among the board's
/// decisions of the period (deferrals are not decisions). Input:
/// `decisions_bucketed`.
pub fn cab_approval(decisions: LazyFrame) -> LazyFrame {
    let board_is = |outcome: &str| col(col::BOARD_OUTCOME).eq(lit(outcome));
    decisions
        .group_by([col(out::PERIOD)])
        .agg([
            count_where(board_is("APPROVED")).alias(out::CAB_APPROVED),
            count_where(board_is("REJECTED")).alias(out::CAB_REJECTED),
        ])
        .with_column(
            rate(
                col(out::CAB_APPROVED),
                col(out::CAB_APPROVED) + col(out::CAB_REJECTED),
            )
            .alias(out::CAB_APPROVAL_RATE),
        )
}

/// Emergency documentation on time = emergency changes approved by their
/// retroactive-approval deadline (`approval_due_at`), or approved before
/// implementation started (no deadline was set), / emergency changes.
/// An emergency change never approved is not on time.
pub fn emergency_documentation(bucketed: LazyFrame, emergency_type: &str) -> LazyFrame {
    let approved = micros(col::APPROVED_AT);
    let on_time = col(col::APPROVED_AT).is_not_null().and(
        when(col(col::APPROVAL_DUE_AT).is_not_null())
            .then(approved.clone().lt_eq(micros(col::APPROVAL_DUE_AT)))
            .when(col(col::ACTUAL_START).is_not_null())
            .then(approved.lt_eq(micros(col::ACTUAL_START)))
            .otherwise(lit(true)),
    );
    bucketed
        .filter(col(col::CHANGE_TYPE).eq(lit(emergency_type)))
        .group_by([col(out::PERIOD)])
        .agg([
            len().cast(DataType::Int64).alias("emergency_changes"),
            count_where(on_time).alias(out::EMERGENCY_DOCS_ON_TIME),
        ])
        .select([
            col(out::PERIOD),
            col(out::EMERGENCY_DOCS_ON_TIME),
            rate(col(out::EMERGENCY_DOCS_ON_TIME), col("emergency_changes"))
                .alias(out::EMERGENCY_DOCS_RATE),
        ])
}

/// Long-format volume: `period`, `key` (the value of `column`), `count`.
pub fn volume_by(bucketed: LazyFrame, column: &str) -> LazyFrame {
    bucketed
        .group_by([col(out::PERIOD), col(column).alias(out::KEY)])
        .agg([len().cast(DataType::Int64).alias(out::COUNT)])
        .sort_by_exprs(
            [col(out::PERIOD), col(out::COUNT), col(out::KEY)],
            SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
        )
}

/// Volume by affected system. A change affecting several systems counts
/// once for each.
pub fn volume_by_system(bucketed: LazyFrame, systems: LazyFrame) -> LazyFrame {
    let affected = bucketed
        .select([col(out::PERIOD), col(col::KEY)])
        .inner_join(systems, col(col::KEY), col(col::KEY))
        .select([col(out::PERIOD), col(col::SYSTEM)]);
    volume_by(affected, col::SYSTEM)
}

/// One row per period (periods without changes included), every family
/// joined in; counts of empty periods are 0, their rates and durations
/// null.
pub fn metrics_table(
    periods: LazyFrame,
    bucketed: LazyFrame,
    decisions: LazyFrame,
    emergency_type: &str,
    targets: &[Target],
) -> LazyFrame {
    let families = [
        outcome_rates(bucketed.clone(), emergency_type),
        lead_time(bucketed.clone()),
        change_duration(bucketed.clone()),
        approval_time(bucketed.clone()),
        cab_approval(decisions),
        emergency_documentation(bucketed, emergency_type),
    ];
    let joined = families.into_iter().fold(periods, |table, family| {
        table.left_join(family, col(out::PERIOD), col(out::PERIOD))
    });
    let table = joined
        .with_columns(
            out::COUNTS
                .iter()
                .map(|name| col(*name).fill_null(lit(0i64)).alias(*name))
                .collect::<Vec<_>>(),
        )
        .sort([out::PERIOD], SortMultipleOptions::default());
    with_targets(table, targets)
}

/// Adds `<metric>_target_met` per target: true or false, null when the
/// metric has no value in the period.
pub fn with_targets(table: LazyFrame, targets: &[Target]) -> LazyFrame {
    if targets.is_empty() {
        return table;
    }
    table.with_columns(
        targets
            .iter()
            .map(|target| {
                let value = col(target.metric.column());
                let threshold = lit(target.threshold);
                let holds = match target.comparison {
                    crate::targets::Comparison::LessThan => value.clone().lt(threshold),
                    crate::targets::Comparison::AtMost => value.clone().lt_eq(threshold),
                    crate::targets::Comparison::GreaterThan => value.clone().gt(threshold),
                    crate::targets::Comparison::AtLeast => value.clone().gt_eq(threshold),
                };
                when(value.is_null())
                    .then(lit(NULL).cast(DataType::Boolean))
                    .otherwise(holds)
                    .alias(target.met_column())
            })
            .collect::<Vec<_>>(),
    )
}
