//! The policy's `[targets]` table: one entry per metric with a target,
//! written as a comparison and a threshold, e.g.
//!
//! ```toml
//! [targets]
//! success_rate = "> 95%"          # rates as percentages
//! lead_time_p50_hours = "< 336"   # durations in hours ("< 336h" too)
//! ```
//!
//! Which keys name which metrics is `reports::catalogue`, and what the
//! texts mean `reports::targets`; this module reads the table strictly (an
//! unknown metric or a malformed comparison makes the policy invalid) and
//! shows the targets in GraphQL.

use std::fmt;

use async_graphql::SimpleObject;
use serde::{
    Deserializer, Serializer,
    de::{self, MapAccess, Visitor},
    ser::SerializeMap,
};

use reports::{Comparison, Metric, Target};

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Target>, D::Error> {
    struct TargetsTable;

    impl<'de> Visitor<'de> for TargetsTable {
        type Value = Vec<Target>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str(
                r#"a table of metric = "comparison threshold", e.g. success_rate = "> 95%""#,
            )
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries: Vec<(String, String)> = Vec::new();
            while let Some((key, text)) = map.next_entry::<String, String>()? {
                entries.push((key, text));
            }
            reports::parse_targets(entries.iter().map(|(k, t)| (k.as_str(), t.as_str())))
                .map_err(|error| de::Error::custom(format!("targets: {error}")))
        }
    }

    deserializer.deserialize_map(TargetsTable)
}

pub fn serialize<S: Serializer>(targets: &[Target], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(targets.len()))?;
    for target in targets {
        map.serialize_entry(target.metric.key(), &target.policy_text())?;
    }
    map.end()
}

/// A metric of the catalogue, as the API names it: the policy key in
/// upper case (`success_rate` is `SUCCESS_RATE`). The match below is
/// exhaustive, so a metric added to the catalogue cannot be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "MetricName")]
pub enum MetricName {
    Implemented,
    Successful,
    SuccessfulWithIssues,
    Failed,
    RolledBack,
    Emergency,
    WithIssues,
    SuccessRate,
    RollbackRate,
    FailureRate,
    EmergencyShare,
    WithIssuesRate,
    #[graphql(name = "LEAD_TIME_P50_HOURS")]
    LeadTimeP50Hours,
    #[graphql(name = "LEAD_TIME_P90_HOURS")]
    LeadTimeP90Hours,
    LeadTimeMeanHours,
    ChangeDurationMeanHours,
    #[graphql(name = "CHANGE_DURATION_P50_HOURS")]
    ChangeDurationP50Hours,
    PlannedDurationMeanHours,
    #[graphql(name = "PLANNED_DURATION_P50_HOURS")]
    PlannedDurationP50Hours,
    #[graphql(name = "APPROVAL_TIME_P50_HOURS")]
    ApprovalTimeP50Hours,
    ApprovalTimeMeanHours,
    CabApproved,
    CabRejected,
    CabApprovalRate,
    EmergencyDocsOnTime,
    EmergencyDocsOnTimeRate,
    Deployments,
    DeploymentsPerDay,
    #[graphql(name = "DEPLOYMENT_LEAD_TIME_P50_HOURS")]
    DeploymentLeadTimeP50Hours,
    #[graphql(name = "DEPLOYMENT_LEAD_TIME_P90_HOURS")]
    DeploymentLeadTimeP90Hours,
    DeploymentLeadTimeMeanHours,
    FailedDeployments,
    DeploymentFailureRate,
    IncidentsRestored,
    #[graphql(name = "TIME_TO_RESTORE_P50_HOURS")]
    TimeToRestoreP50Hours,
    /// The mean time to restore (policy key `mttr_hours`).
    #[graphql(name = "MTTR_HOURS")]
    TimeToRestoreMeanHours,
    UnauthorisedDeployments,
}

impl From<Metric> for MetricName {
    fn from(metric: Metric) -> Self {
        match metric {
            Metric::Implemented => Self::Implemented,
            Metric::Successful => Self::Successful,
            Metric::SuccessfulWithIssues => Self::SuccessfulWithIssues,
            Metric::Failed => Self::Failed,
            Metric::RolledBack => Self::RolledBack,
            Metric::Emergency => Self::Emergency,
            Metric::WithIssues => Self::WithIssues,
            Metric::SuccessRate => Self::SuccessRate,
            Metric::RollbackRate => Self::RollbackRate,
            Metric::FailureRate => Self::FailureRate,
            Metric::EmergencyShare => Self::EmergencyShare,
            Metric::WithIssuesRate => Self::WithIssuesRate,
            Metric::LeadTimeP50Hours => Self::LeadTimeP50Hours,
            Metric::LeadTimeP90Hours => Self::LeadTimeP90Hours,
            Metric::LeadTimeMeanHours => Self::LeadTimeMeanHours,
            Metric::ChangeDurationMeanHours => Self::ChangeDurationMeanHours,
            Metric::ChangeDurationP50Hours => Self::ChangeDurationP50Hours,
            Metric::PlannedDurationMeanHours => Self::PlannedDurationMeanHours,
            Metric::PlannedDurationP50Hours => Self::PlannedDurationP50Hours,
            Metric::ApprovalTimeP50Hours => Self::ApprovalTimeP50Hours,
            Metric::ApprovalTimeMeanHours => Self::ApprovalTimeMeanHours,
            Metric::CabApproved => Self::CabApproved,
            Metric::CabRejected => Self::CabRejected,
            Metric::CabApprovalRate => Self::CabApprovalRate,
            Metric::EmergencyDocsOnTime => Self::EmergencyDocsOnTime,
            Metric::EmergencyDocsOnTimeRate => Self::EmergencyDocsOnTimeRate,
            Metric::Deployments => Self::Deployments,
            Metric::DeploymentsPerDay => Self::DeploymentsPerDay,
            Metric::DeploymentLeadTimeP50Hours => Self::DeploymentLeadTimeP50Hours,
            Metric::DeploymentLeadTimeP90Hours => Self::DeploymentLeadTimeP90Hours,
            Metric::DeploymentLeadTimeMeanHours => Self::DeploymentLeadTimeMeanHours,
            Metric::FailedDeployments => Self::FailedDeployments,
            Metric::DeploymentFailureRate => Self::DeploymentFailureRate,
            Metric::IncidentsRestored => Self::IncidentsRestored,
            Metric::TimeToRestoreP50Hours => Self::TimeToRestoreP50Hours,
            Metric::TimeToRestoreMeanHours => Self::TimeToRestoreMeanHours,
            Metric::UnauthorisedDeployments => Self::UnauthorisedDeployments,
        }
    }
}

/// How a target compares a period's value with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum TargetComparison {
    LessThan,
    AtMost,
    GreaterThan,
    AtLeast,
}

impl From<Comparison> for TargetComparison {
    fn from(comparison: Comparison) -> Self {
        match comparison {
            Comparison::LessThan => Self::LessThan,
            Comparison::AtMost => Self::AtMost,
            Comparison::GreaterThan => Self::GreaterThan,
            Comparison::AtLeast => Self::AtLeast,
        }
    }
}

/// A metric target of the policy in force.
#[derive(Debug, Clone, PartialEq, SimpleObject)]
pub struct PolicyTarget {
    /// The metric (as in `MetricTarget`).
    pub metric: MetricName,
    /// The key in the policy file's `[targets]` table (`success_rate`).
    pub key: String,
    pub label: String,
    pub comparison: TargetComparison,
    /// A fraction for rates, hours for durations.
    pub threshold: f64,
    /// Human form, e.g. `> 95 %`.
    pub target: String,
}

impl From<&Target> for PolicyTarget {
    fn from(target: &Target) -> Self {
        Self {
            metric: target.metric.into(),
            key: target.metric.key().to_owned(),
            label: target.metric.label().to_owned(),
            comparison: target.comparison.into(),
            threshold: target.threshold,
            target: target.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's name of every metric is its catalogue key in upper case,
    /// as the JSON and CSV outputs write it.
    #[test]
    fn every_metric_is_named_as_its_key_in_upper_case() {
        for entry in reports::catalogue::CATALOGUE {
            let value = async_graphql::InputType::to_value(&MetricName::from(entry.metric));
            assert_eq!(
                value,
                async_graphql::Value::Enum(async_graphql::Name::new(entry.metric.name())),
                "{}",
                entry.key
            );
        }
        for (comparison, name) in [
            (Comparison::LessThan, "LESS_THAN"),
            (Comparison::AtMost, "AT_MOST"),
            (Comparison::GreaterThan, "GREATER_THAN"),
            (Comparison::AtLeast, "AT_LEAST"),
        ] {
            assert_eq!(
                async_graphql::InputType::to_value(&TargetComparison::from(comparison)),
                async_graphql::Value::Enum(async_graphql::Name::new(name))
            );
        }
    }
}
