//! The edge of the lazy plans: collecting the metrics tables and turning
//! them into plain values (buckets) for GraphQL, JSON and the renderers.

use chrono::{DateTime, Utc};
use polars::prelude::*;
use serde::Serialize;

use crate::{
    catalogue::{Metric, Metric as M},
    input::{ChangeFrames, col},
    metrics,
    period::PeriodSpec,
    targets::{Comparison, Target},
    vocabulary::out,
};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Period(#[from] crate::period::PeriodError),
    #[error("metrics computation failed: {0}")]
    Polars(#[from] PolarsError),
    #[error("writing the report failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the spreadsheet failed: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("{0}")]
    Unsupported(String),
}

/// What the metrics need beside the data.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsOptions {
    /// The change type key counted as emergency (`emergency` in every
    /// preset).
    pub emergency_type: String,
    pub targets: Vec<Target>,
}

impl MetricsOptions {
    pub fn new(targets: Vec<Target>) -> Self {
        Self {
            emergency_type: "emergency".to_owned(),
            targets,
        }
    }
}

/// The collected tables of one computation.
#[derive(Debug, Clone)]
pub struct MetricsTables {
    /// One row per period, every metric a column.
    pub metrics: DataFrame,
    /// Long format: period, key, count.
    pub by_type: DataFrame,
    pub by_outcome: DataFrame,
    pub by_system: DataFrame,
}

/// Runs every metric family over `frames` for the periods of `spec`.
/// Blocking and CPU-bound: call it from `spawn_blocking` in async code.
pub fn compute(
    frames: &ChangeFrames,
    spec: &PeriodSpec,
    options: &MetricsOptions,
) -> Result<MetricsTables, ReportError> {
    let changes = &frames.changes;
    let implemented = changes.column(col::OUTCOME)?.is_not_null();
    let period = metrics::period_index(changes.column(col::ACTUAL_END)?, Some(&implemented), spec)?;
    let mut with_period = changes.clone();
    with_period.with_column(period.clone())?;
    // Collected once: the plans below are separate queries, and a lazy
    // `cache()` is not shared between them. The rows are ordered by
    // `actual_end` (unset last), so the counted rows are usually one
    // contiguous run (all of them when a loader read only implemented
    // changes in the range): a slice of it shares the columns, where a
    // filter would copy every column.
    let counted = period.len() - period.null_count();
    let run = period.i32()?;
    let mut bucketed = match (run.first_non_null(), run.last_non_null()) {
        (Some(first), Some(last)) if last + 1 - first == counted => {
            with_period.slice(first as i64, counted)
        }
        _ => metrics::bucketed(with_period.lazy()).collect()?,
    };
    // The changes frame is ordered by `actual_end`, so the periods of the
    // bucketed rows never decrease; telling polars so lets it group
    // contiguous slices.
    metrics::flag_if_sorted(&mut bucketed, out::PERIOD)?;
    let bucketed = bucketed.lazy();
    let periods = spec.periods.len();
    let by_type = metrics::volume_by(
        metrics::coded_rows(&period, &frames.types, col::CHANGE_TYPE, periods)?.lazy(),
        &frames.change_types,
    )?;
    let by_system = metrics::volume_by(
        metrics::coded_rows(&period, &frames.systems, col::SYSTEM, periods)?.lazy(),
        &frames.system_names,
    )?;
    let mut decisions = frames.board_decisions.clone();
    let decision_period =
        metrics::period_index(decisions.column(col::BOARD_DECIDED_AT)?, None, spec)?;
    decisions.with_column(decision_period)?;
    let decisions = metrics::bucketed(decisions.lazy());
    // Each DORA input bucketed by its own instant: a deployment by when it
    // finished, an incident by when service was restored, an exception by
    // when it happened.
    let in_periods = |frame: &DataFrame, instant: &str| -> PolarsResult<LazyFrame> {
        let mut frame = frame.clone();
        let period = metrics::period_index(frame.column(instant)?, None, spec)?;
        frame.with_column(period)?;
        Ok(metrics::bucketed(frame.lazy()))
    };
    let delivery = metrics::DeliveryInput {
        deployments: in_periods(&frames.deployments, col::DEPLOYED_AT)?,
        restorations: in_periods(&frames.restorations, col::RESTORED_AT)?,
        exceptions: in_periods(&frames.exceptions, col::EXCEPTION_AT)?,
    };
    let emergency = frames.change_type_code(&options.emergency_type);
    let table = metrics::metrics_table(
        metrics::periods(spec)?,
        bucketed,
        decisions,
        delivery,
        emergency,
        &options.targets,
    );
    let table = table.collect()?;
    let by_outcome = metrics::volume_by_outcome(table.clone().lazy())?;
    Ok(MetricsTables {
        by_type: by_type.collect()?,
        by_outcome: by_outcome.collect()?,
        by_system: by_system.collect()?,
        metrics: table,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadTime {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeDuration {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub planned_mean: Option<f64>,
    pub planned_p50: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalTime {
    pub p50: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeToRestore {
    pub p50: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeCount {
    pub key: String,
    pub count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetState {
    Met,
    Missed,
    /// The metric has no value in the period (no changes, or none with the
    /// timestamps it needs).
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    pub metric: Metric,
    pub label: &'static str,
    pub comparison: Comparison,
    pub threshold: f64,
    /// `< 5 %`.
    pub target: String,
    pub value: Option<f64>,
    pub status: TargetState,
}

/// The metrics of one period, in the shape JSON and GraphQL show (the
/// metrics table's columns, grouped by family): a field per metric of the
/// catalogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub period: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub implemented: i64,
    pub successful: i64,
    pub successful_with_issues: i64,
    pub failed: i64,
    pub rolled_back: i64,
    pub emergency: i64,
    pub with_issues: i64,
    pub success_rate: Option<f64>,
    pub rollback_rate: Option<f64>,
    pub failure_rate: Option<f64>,
    pub emergency_share: Option<f64>,
    pub with_issues_rate: Option<f64>,
    pub lead_time_hours: LeadTime,
    pub change_duration_hours: ChangeDuration,
    pub approval_time_hours: ApprovalTime,
    pub cab_approved: i64,
    pub cab_rejected: i64,
    pub cab_approval_rate: Option<f64>,
    pub emergency_docs_on_time: i64,
    pub emergency_docs_on_time_rate: Option<f64>,
    pub deployments: i64,
    pub deployments_per_day: Option<f64>,
    pub deployment_lead_time_hours: LeadTime,
    pub failed_deployments: i64,
    pub deployment_failure_rate: Option<f64>,
    pub incidents_restored: i64,
    pub time_to_restore_hours: TimeToRestore,
    pub unauthorised_deployments: i64,
    pub volume_by_type: Vec<VolumeCount>,
    pub volume_by_outcome: Vec<VolumeCount>,
    pub volume_by_system: Vec<VolumeCount>,
    pub targets: Vec<TargetStatus>,
}

impl Bucket {
    /// The bucket's value of `metric` (a count as a number).
    pub fn value(&self, metric: Metric) -> Option<f64> {
        let count = |n: i64| Some(n as f64);
        match metric {
            M::Implemented => count(self.implemented),
            M::Successful => count(self.successful),
            M::SuccessfulWithIssues => count(self.successful_with_issues),
            M::Failed => count(self.failed),
            M::RolledBack => count(self.rolled_back),
            M::Emergency => count(self.emergency),
            M::WithIssues => count(self.with_issues),
            M::SuccessRate => self.success_rate,
            M::RollbackRate => self.rollback_rate,
            M::FailureRate => self.failure_rate,
            M::EmergencyShare => self.emergency_share,
            M::WithIssuesRate => self.with_issues_rate,
            M::LeadTimeP50Hours => self.lead_time_hours.p50,
            M::LeadTimeP90Hours => self.lead_time_hours.p90,
            M::LeadTimeMeanHours => self.lead_time_hours.mean,
            M::ChangeDurationMeanHours => self.change_duration_hours.mean,
            M::ChangeDurationP50Hours => self.change_duration_hours.p50,
            M::PlannedDurationMeanHours => self.change_duration_hours.planned_mean,
            M::PlannedDurationP50Hours => self.change_duration_hours.planned_p50,
            M::ApprovalTimeP50Hours => self.approval_time_hours.p50,
            M::ApprovalTimeMeanHours => self.approval_time_hours.mean,
            M::CabApproved => count(self.cab_approved),
            M::CabRejected => count(self.cab_rejected),
            M::CabApprovalRate => self.cab_approval_rate,
            M::EmergencyDocsOnTime => count(self.emergency_docs_on_time),
            M::EmergencyDocsOnTimeRate => self.emergency_docs_on_time_rate,
            M::Deployments => count(self.deployments),
            M::DeploymentsPerDay => self.deployments_per_day,
            M::DeploymentLeadTimeP50Hours => self.deployment_lead_time_hours.p50,
            M::DeploymentLeadTimeP90Hours => self.deployment_lead_time_hours.p90,
            M::DeploymentLeadTimeMeanHours => self.deployment_lead_time_hours.mean,
            M::FailedDeployments => count(self.failed_deployments),
            M::DeploymentFailureRate => self.deployment_failure_rate,
            M::IncidentsRestored => count(self.incidents_restored),
            M::TimeToRestoreP50Hours => self.time_to_restore_hours.p50,
            M::TimeToRestoreMeanHours => self.time_to_restore_hours.mean,
            M::UnauthorisedDeployments => count(self.unauthorised_deployments),
        }
    }
}

/// Reads the collected tables into one bucket per period of `spec`.
pub fn buckets(
    tables: &MetricsTables,
    spec: &PeriodSpec,
    options: &MetricsOptions,
) -> Result<Vec<Bucket>, ReportError> {
    let table = &tables.metrics;
    let index: Vec<Option<i32>> = table.column(out::PERIOD)?.i32()?.iter().collect();
    let by_type = volumes(&tables.by_type)?;
    let by_outcome = volumes(&tables.by_outcome)?;
    let by_system = volumes(&tables.by_system)?;

    let mut result = Vec::with_capacity(index.len());
    for (row, period_index) in index.iter().enumerate() {
        let Some(period) = period_index
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| spec.periods.get(i))
        else {
            continue;
        };
        // A few dozen periods at most: reading a cell by column name is
        // cheap enough, and names each metric where it lands.
        let count = |metric: Metric| -> PolarsResult<i64> {
            Ok(table.column(metric.column())?.i64()?.get(row).unwrap_or(0))
        };
        let value = |metric: Metric| -> PolarsResult<Option<f64>> {
            Ok(table.column(metric.column())?.f64()?.get(row))
        };
        let volume_of = |all: &[(i32, String, i64)]| {
            all.iter()
                .filter(|(p, _, _)| Some(*p) == *period_index)
                .map(|(_, key, count)| VolumeCount {
                    key: key.clone(),
                    count: *count,
                })
                .collect()
        };
        let mut bucket = Bucket {
            period: period.label.clone(),
            start: period.start,
            end: period.end,
            implemented: count(M::Implemented)?,
            successful: count(M::Successful)?,
            successful_with_issues: count(M::SuccessfulWithIssues)?,
            failed: count(M::Failed)?,
            rolled_back: count(M::RolledBack)?,
            emergency: count(M::Emergency)?,
            with_issues: count(M::WithIssues)?,
            success_rate: value(M::SuccessRate)?,
            rollback_rate: value(M::RollbackRate)?,
            failure_rate: value(M::FailureRate)?,
            emergency_share: value(M::EmergencyShare)?,
            with_issues_rate: value(M::WithIssuesRate)?,
            lead_time_hours: LeadTime {
                p50: value(M::LeadTimeP50Hours)?,
                p90: value(M::LeadTimeP90Hours)?,
                mean: value(M::LeadTimeMeanHours)?,
            },
            change_duration_hours: ChangeDuration {
                mean: value(M::ChangeDurationMeanHours)?,
                p50: value(M::ChangeDurationP50Hours)?,
                planned_mean: value(M::PlannedDurationMeanHours)?,
                planned_p50: value(M::PlannedDurationP50Hours)?,
            },
            approval_time_hours: ApprovalTime {
                p50: value(M::ApprovalTimeP50Hours)?,
                mean: value(M::ApprovalTimeMeanHours)?,
            },
            cab_approved: count(M::CabApproved)?,
            cab_rejected: count(M::CabRejected)?,
            cab_approval_rate: value(M::CabApprovalRate)?,
            emergency_docs_on_time: count(M::EmergencyDocsOnTime)?,
            emergency_docs_on_time_rate: value(M::EmergencyDocsOnTimeRate)?,
            deployments: count(M::Deployments)?,
            deployments_per_day: value(M::DeploymentsPerDay)?,
            deployment_lead_time_hours: LeadTime {
                p50: value(M::DeploymentLeadTimeP50Hours)?,
                p90: value(M::DeploymentLeadTimeP90Hours)?,
                mean: value(M::DeploymentLeadTimeMeanHours)?,
            },
            failed_deployments: count(M::FailedDeployments)?,
            deployment_failure_rate: value(M::DeploymentFailureRate)?,
            incidents_restored: count(M::IncidentsRestored)?,
            time_to_restore_hours: TimeToRestore {
                p50: value(M::TimeToRestoreP50Hours)?,
                mean: value(M::TimeToRestoreMeanHours)?,
            },
            unauthorised_deployments: count(M::UnauthorisedDeployments)?,
            volume_by_type: volume_of(&by_type),
            volume_by_outcome: volume_of(&by_outcome),
            volume_by_system: volume_of(&by_system),
            targets: Vec::new(),
        };
        bucket.targets = target_statuses(table, row, &bucket, &options.targets)?;
        result.push(bucket);
    }
    Ok(result)
}

fn target_statuses(
    table: &DataFrame,
    row: usize,
    bucket: &Bucket,
    targets: &[Target],
) -> PolarsResult<Vec<TargetStatus>> {
    targets
        .iter()
        .map(|target| {
            let met = table.column(&target.met_column())?.bool()?.get(row);
            Ok(TargetStatus {
                metric: target.metric,
                label: target.metric.label(),
                comparison: target.comparison,
                threshold: target.threshold,
                target: target.describe(),
                value: bucket.value(target.metric),
                status: match met {
                    Some(true) => TargetState::Met,
                    Some(false) => TargetState::Missed,
                    None => TargetState::NoData,
                },
            })
        })
        .collect()
}

fn volumes(frame: &DataFrame) -> PolarsResult<Vec<(i32, String, i64)>> {
    let periods = frame.column(out::PERIOD)?.i32()?;
    let keys = frame.column(out::KEY)?.str()?;
    let counts = frame.column(out::COUNT)?.i64()?;
    Ok(periods
        .iter()
        .zip(keys.iter())
        .zip(counts.iter())
        .filter_map(|((p, k), c)| Some((p?, k.unwrap_or("(none)").to_owned(), c?)))
        .collect())
}
