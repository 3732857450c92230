//! The GraphQL metrics types (docs/design.md, Metrics): mirrors of
//! `reports::Bucket`, so the reports crate stays free of GraphQL. What a
//! metric means is `reports::catalogue`; a field's description repeats the
//! metric's definition there (a derive takes only doc comments), and a
//! test below holds the two to the same text.

use async_graphql::{Enum, SimpleObject};
use chrono::{DateTime, Utc};

use crate::policy::targets::{MetricName, TargetComparison};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "MetricsGranularity")]
pub enum Granularity {
    /// ISO weeks, Monday to Monday.
    Week,
    Month,
    Quarter,
}

impl From<Granularity> for reports::Granularity {
    fn from(value: Granularity) -> Self {
        match value {
            Granularity::Week => Self::Week,
            Granularity::Month => Self::Month,
            Granularity::Quarter => Self::Quarter,
        }
    }
}

/// Whether a period met a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TargetStatus {
    Met,
    Missed,
    /// The metric has no value in the period.
    NoData,
}

/// One period's metrics. Rates are fractions (0.95), null when their
/// denominator is 0; durations are hours, null without data.
#[derive(Debug, Clone, SimpleObject)]
pub struct MetricsBucket {
    /// `2026-10`, `2026-Q3` or `2026-W47`.
    pub period: String,
    /// The part of the period inside the requested range: `[start, end)`.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Changes whose outcome is SUCCESSFUL, SUCCESSFUL_WITH_ISSUES, FAILED
    /// or ROLLED_BACK and whose implementation ended in the period.
    pub implemented: i64,
    pub volume: MetricsVolume,
    /// (SUCCESSFUL + SUCCESSFUL_WITH_ISSUES) / implemented.
    pub success_rate: Option<f64>,
    /// ROLLED_BACK / implemented.
    pub rollback_rate: Option<f64>,
    /// (FAILED + ROLLED_BACK) / implemented.
    pub failure_rate: Option<f64>,
    /// Emergency-type implemented / implemented.
    pub emergency_share: Option<f64>,
    /// Changes SUCCESSFUL_WITH_ISSUES or with a linked incident (each
    /// once) / implemented.
    pub with_issues_rate: Option<f64>,
    /// actual_end - submitted_at.
    pub lead_time_hours: LeadTimeHours,
    /// actual_end - actual_start, against scheduled_end - scheduled_start.
    pub change_duration_hours: ChangeDurationHours,
    /// approved_at - submitted_at.
    pub approval_time_hours: ApprovalTimeHours,
    /// Approved / (approved + rejected) among board-decided changes.
    pub cab_approval_rate: Option<f64>,
    /// Emergency changes approved by their retroactive-approval deadline
    /// (or before implementing) / emergency changes; one with no deadline
    /// and no start on record is left out.
    pub emergency_docs_on_time_rate: Option<f64>,
    /// Successful production deployments that finished in the period.
    pub deployments: i64,
    /// Successful production deployments per day of the period.
    pub deployments_per_day: Option<f64>,
    /// Lead time for changes: finished_at - commit time of the successful
    /// production deployments with a commit time.
    pub deployment_lead_time_hours: LeadTimeHours,
    /// Successful production deployments of the period whose change failed
    /// or rolled back, or that an incident names.
    pub failed_deployments: i64,
    /// Deployments whose change failed or rolled back, or that an incident
    /// names / successful production deployments.
    pub deployment_failure_rate: Option<f64>,
    /// Incidents whose service was restored in the period.
    pub incidents_restored: i64,
    /// restored_at - opened_at of the incidents restored in the period.
    pub time_to_restore_hours: TimeToRestoreHours,
    /// Production deployments no change authorised (exceptions) that
    /// happened in the period.
    pub unauthorised_deployments: i64,
    /// The policy's targets and whether this period met them.
    pub targets: Vec<MetricTarget>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct MetricsVolume {
    pub by_type: Vec<VolumeCount>,
    pub by_outcome: Vec<VolumeCount>,
    /// A change affecting several systems counts for each.
    pub by_system: Vec<VolumeCount>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct VolumeCount {
    pub key: String,
    pub count: i64,
}

/// Percentiles interpolate linearly between closest ranks (PostgreSQL
/// `percentile_cont`).
#[derive(Debug, Clone, SimpleObject)]
pub struct LeadTimeHours {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ChangeDurationHours {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub planned_mean: Option<f64>,
    pub planned_p50: Option<f64>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ApprovalTimeHours {
    pub p50: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct TimeToRestoreHours {
    pub p50: Option<f64>,
    /// The mean time to restore (MTTR).
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct MetricTarget {
    pub metric: MetricName,
    pub label: String,
    pub comparison: TargetComparison,
    /// A fraction for rates, hours for durations.
    pub threshold: f64,
    /// Human form, e.g. `< 5 %`.
    pub target: String,
    pub value: Option<f64>,
    pub status: TargetStatus,
}

fn counts(list: Vec<reports::report::VolumeCount>) -> Vec<VolumeCount> {
    list.into_iter()
        .map(|c| VolumeCount {
            key: c.key,
            count: c.count,
        })
        .collect()
}

impl From<reports::Bucket> for MetricsBucket {
    fn from(b: reports::Bucket) -> Self {
        Self {
            period: b.period,
            start: b.start,
            end: b.end,
            implemented: b.implemented,
            volume: MetricsVolume {
                by_type: counts(b.volume_by_type),
                by_outcome: counts(b.volume_by_outcome),
                by_system: counts(b.volume_by_system),
            },
            success_rate: b.success_rate,
            rollback_rate: b.rollback_rate,
            failure_rate: b.failure_rate,
            emergency_share: b.emergency_share,
            with_issues_rate: b.with_issues_rate,
            lead_time_hours: LeadTimeHours {
                p50: b.lead_time_hours.p50,
                p90: b.lead_time_hours.p90,
                mean: b.lead_time_hours.mean,
            },
            change_duration_hours: ChangeDurationHours {
                mean: b.change_duration_hours.mean,
                p50: b.change_duration_hours.p50,
                planned_mean: b.change_duration_hours.planned_mean,
                planned_p50: b.change_duration_hours.planned_p50,
            },
            approval_time_hours: ApprovalTimeHours {
                p50: b.approval_time_hours.p50,
                mean: b.approval_time_hours.mean,
            },
            cab_approval_rate: b.cab_approval_rate,
            emergency_docs_on_time_rate: b.emergency_docs_on_time_rate,
            deployments: b.deployments,
            deployments_per_day: b.deployments_per_day,
            deployment_lead_time_hours: LeadTimeHours {
                p50: b.deployment_lead_time_hours.p50,
                p90: b.deployment_lead_time_hours.p90,
                mean: b.deployment_lead_time_hours.mean,
            },
            failed_deployments: b.failed_deployments,
            deployment_failure_rate: b.deployment_failure_rate,
            incidents_restored: b.incidents_restored,
            time_to_restore_hours: TimeToRestoreHours {
                p50: b.time_to_restore_hours.p50,
                mean: b.time_to_restore_hours.mean,
            },
            unauthorised_deployments: b.unauthorised_deployments,
            targets: b
                .targets
                .into_iter()
                .map(|t| MetricTarget {
                    metric: t.metric.into(),
                    label: t.label.to_owned(),
                    comparison: t.comparison.into(),
                    threshold: t.threshold,
                    target: t.target,
                    value: t.value,
                    status: match t.status {
                        reports::report::TargetState::Met => TargetStatus::Met,
                        reports::report::TargetState::Missed => TargetStatus::Missed,
                        reports::report::TargetState::NoData => TargetStatus::NoData,
                    },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{OutputType, registry::Registry};
    use reports::Metric;

    use super::MetricsBucket;

    /// `success_rate` -> `successRate`, as async-graphql names the fields.
    fn camel_case(snake: &str) -> String {
        let mut parts = snake.split('_');
        let mut name = parts.next().unwrap_or_default().to_owned();
        for part in parts {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                name.extend(first.to_uppercase());
                name.push_str(chars.as_str());
            }
        }
        name
    }

    #[test]
    fn metric_fields_are_described_by_the_catalogue() {
        let mut registry = Registry::default();
        MetricsBucket::create_type_info(&mut registry);
        let bucket = registry
            .types
            .get("MetricsBucket")
            .expect("MetricsBucket is registered");
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut described = Vec::new();
        for metric in Metric::all() {
            let Some(field) = bucket.field_by_name(&camel_case(metric.column())) else {
                continue;
            };
            let description = field.description.as_deref().unwrap_or_default();
            assert_eq!(words(description), metric.definition(), "{}", field.name);
            described.push(metric);
        }
        // Every metric that is a field of its own (the durations are
        // grouped in objects, and the outcome counts are the volume).
        assert_eq!(described.len(), 14, "{described:?}");
    }
}
