//! The metric catalogue: every metric the reports compute, each with its
//! stable key, its column in the metrics table, its label for people, its
//! unit, its definition and whether a policy can set a target on it.
//!
//! This is the one place a metric is named. The computation (`metrics`)
//! aliases its columns from here, the targets (`targets`) parse keys and
//! units from here, and the renderers take labels and number formats from
//! here. Adding a metric: a variant of [`Metric`], its entry in
//! [`CATALOGUE`] (the build fails when the two disagree in order), its
//! computation in `metrics`, and its field in `report::Bucket`.

use serde::{Serialize, Serializer};

/// A metric, by its entry in [`CATALOGUE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
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
    LeadTimeP50Hours,
    LeadTimeP90Hours,
    LeadTimeMeanHours,
    ChangeDurationMeanHours,
    ChangeDurationP50Hours,
    PlannedDurationMeanHours,
    PlannedDurationP50Hours,
    ApprovalTimeP50Hours,
    ApprovalTimeMeanHours,
    CabApproved,
    CabRejected,
    CabApprovalRate,
    EmergencyDocsOnTime,
    EmergencyDocsOnTimeRate,
    Deployments,
    DeploymentsPerDay,
    DeploymentLeadTimeP50Hours,
    DeploymentLeadTimeP90Hours,
    DeploymentLeadTimeMeanHours,
    FailedDeployments,
    DeploymentFailureRate,
    IncidentsRestored,
    TimeToRestoreP50Hours,
    TimeToRestoreMeanHours,
    UnauthorisedDeployments,
}

/// What a metric's number is, which decides how it is written: a target
/// on a rate is a percentage (`> 95%`), on a duration hours (`< 2h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of changes or decisions (`i64`; 0 in a period without any).
    Count,
    /// A fraction, 0 to 1 (null when its denominator is 0).
    Rate,
    /// A duration in hours (null without data).
    Hours,
    /// A number per day of the period (null for a period of no length).
    PerDay,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub metric: Metric,
    /// The stable name: a policy's `[targets]` key, and in upper case the
    /// metric's name in JSON and GraphQL (`SUCCESS_RATE`).
    pub key: &'static str,
    /// The column of the metrics table (and of the CSV and Parquet exports).
    pub column: &'static str,
    /// The name reports show people.
    pub label: &'static str,
    pub unit: Unit,
    /// What the number is, in one sentence (the GraphQL description of the
    /// metric's field, where it has one).
    pub definition: &'static str,
    /// Whether a policy may set a target on it. Counts grow with the size
    /// of the organisation, so only rates and durations carry targets.
    pub has_target: bool,
}

use Metric as M;
use Unit::{Count, Hours, PerDay, Rate};

/// Every metric, in the order of the metrics table's columns (and of the
/// targets in a report), one entry per [`Metric`] variant in the order of
/// the variants.
pub const CATALOGUE: [Entry; 37] = [
    Entry {
        metric: M::Implemented,
        key: "implemented",
        column: "implemented",
        label: "Implemented changes",
        unit: Count,
        definition: "Changes whose outcome is SUCCESSFUL, SUCCESSFUL_WITH_ISSUES, FAILED or ROLLED_BACK and whose implementation ended in the period.",
        has_target: false,
    },
    Entry {
        metric: M::Successful,
        key: "successful",
        column: "successful",
        label: "Successful",
        unit: Count,
        definition: "Implemented changes whose outcome is SUCCESSFUL.",
        has_target: false,
    },
    Entry {
        metric: M::SuccessfulWithIssues,
        key: "successful_with_issues",
        column: "successful_with_issues",
        label: "Successful with issues",
        unit: Count,
        definition: "Implemented changes whose outcome is SUCCESSFUL_WITH_ISSUES.",
        has_target: false,
    },
    Entry {
        metric: M::Failed,
        key: "failed",
        column: "failed",
        label: "Failed",
        unit: Count,
        definition: "Implemented changes whose outcome is FAILED.",
        has_target: false,
    },
    Entry {
        metric: M::RolledBack,
        key: "rolled_back",
        column: "rolled_back",
        label: "Rolled back",
        unit: Count,
        definition: "Implemented changes whose outcome is ROLLED_BACK.",
        has_target: false,
    },
    Entry {
        metric: M::Emergency,
        key: "emergency",
        column: "emergency",
        label: "Emergency changes implemented",
        unit: Count,
        definition: "Implemented changes of the emergency type.",
        has_target: false,
    },
    Entry {
        metric: M::WithIssues,
        key: "with_issues",
        column: "with_issues",
        label: "Changes with issues implemented",
        unit: Count,
        definition: "Implemented changes SUCCESSFUL_WITH_ISSUES or with a linked incident, each once.",
        has_target: false,
    },
    Entry {
        metric: M::SuccessRate,
        key: "success_rate",
        column: "success_rate",
        label: "Success rate",
        unit: Rate,
        definition: "(SUCCESSFUL + SUCCESSFUL_WITH_ISSUES) / implemented.",
        has_target: true,
    },
    Entry {
        metric: M::RollbackRate,
        key: "rollback_rate",
        column: "rollback_rate",
        label: "Rollback rate",
        unit: Rate,
        definition: "ROLLED_BACK / implemented.",
        has_target: true,
    },
    Entry {
        metric: M::FailureRate,
        key: "failure_rate",
        column: "failure_rate",
        label: "Change failure rate",
        unit: Rate,
        definition: "(FAILED + ROLLED_BACK) / implemented.",
        has_target: true,
    },
    Entry {
        metric: M::EmergencyShare,
        key: "emergency_share",
        column: "emergency_share",
        label: "Emergency changes",
        unit: Rate,
        definition: "Emergency-type implemented / implemented.",
        has_target: true,
    },
    Entry {
        metric: M::WithIssuesRate,
        key: "with_issues_rate",
        column: "with_issues_rate",
        label: "Changes with issues",
        unit: Rate,
        definition: "Changes SUCCESSFUL_WITH_ISSUES or with a linked incident (each once) / implemented.",
        has_target: true,
    },
    Entry {
        metric: M::LeadTimeP50Hours,
        key: "lead_time_p50_hours",
        column: "lead_time_hours_p50",
        label: "Lead time (median)",
        unit: Hours,
        definition: "Median of actual_end - submitted_at.",
        has_target: true,
    },
    Entry {
        metric: M::LeadTimeP90Hours,
        key: "lead_time_p90_hours",
        column: "lead_time_hours_p90",
        label: "Lead time (p90)",
        unit: Hours,
        definition: "90th percentile of actual_end - submitted_at.",
        has_target: true,
    },
    Entry {
        metric: M::LeadTimeMeanHours,
        key: "lead_time_mean_hours",
        column: "lead_time_hours_mean",
        label: "Lead time (mean)",
        unit: Hours,
        definition: "Mean of actual_end - submitted_at.",
        has_target: true,
    },
    Entry {
        metric: M::ChangeDurationMeanHours,
        key: "change_duration_mean_hours",
        column: "change_duration_hours_mean",
        label: "Average change time",
        unit: Hours,
        definition: "Mean of actual_end - actual_start.",
        has_target: true,
    },
    Entry {
        metric: M::ChangeDurationP50Hours,
        key: "change_duration_p50_hours",
        column: "change_duration_hours_p50",
        label: "Change time (median)",
        unit: Hours,
        definition: "Median of actual_end - actual_start.",
        has_target: true,
    },
    Entry {
        metric: M::PlannedDurationMeanHours,
        key: "planned_duration_mean_hours",
        column: "planned_duration_hours_mean",
        label: "Planned change time (mean)",
        unit: Hours,
        definition: "Mean of scheduled_end - scheduled_start.",
        has_target: false,
    },
    Entry {
        metric: M::PlannedDurationP50Hours,
        key: "planned_duration_p50_hours",
        column: "planned_duration_hours_p50",
        label: "Planned change time (median)",
        unit: Hours,
        definition: "Median of scheduled_end - scheduled_start.",
        has_target: false,
    },
    Entry {
        metric: M::ApprovalTimeP50Hours,
        key: "approval_time_p50_hours",
        column: "approval_time_hours_p50",
        label: "Approval time (median)",
        unit: Hours,
        definition: "Median of approved_at - submitted_at.",
        has_target: true,
    },
    Entry {
        metric: M::ApprovalTimeMeanHours,
        key: "approval_time_mean_hours",
        column: "approval_time_hours_mean",
        label: "Approval time (mean)",
        unit: Hours,
        definition: "Mean of approved_at - submitted_at.",
        has_target: true,
    },
    Entry {
        metric: M::CabApproved,
        key: "cab_approved",
        column: "cab_approved",
        label: "CAB approvals",
        unit: Count,
        definition: "Board decisions of the period that approved.",
        has_target: false,
    },
    Entry {
        metric: M::CabRejected,
        key: "cab_rejected",
        column: "cab_rejected",
        label: "CAB rejections",
        unit: Count,
        definition: "Board decisions of the period that rejected.",
        has_target: false,
    },
    Entry {
        metric: M::CabApprovalRate,
        key: "cab_approval_rate",
        column: "cab_approval_rate",
        label: "CAB approval rate",
        unit: Rate,
        definition: "Approved / (approved + rejected) among board-decided changes.",
        has_target: true,
    },
    Entry {
        metric: M::EmergencyDocsOnTime,
        key: "emergency_docs_on_time",
        column: "emergency_docs_on_time",
        label: "Emergency changes documented on time",
        unit: Count,
        definition: "Emergency changes approved by their retroactive-approval deadline (or before implementing).",
        has_target: false,
    },
    Entry {
        metric: M::EmergencyDocsOnTimeRate,
        key: "emergency_docs_on_time_rate",
        column: "emergency_docs_on_time_rate",
        label: "Emergency documentation on time",
        unit: Rate,
        definition: "Emergency changes approved by their retroactive-approval deadline (or before implementing) / emergency changes; one with no deadline and no start on record is left out.",
        has_target: true,
    },
    Entry {
        metric: M::Deployments,
        key: "deployments",
        column: "deployments",
        label: "Production deployments",
        unit: Count,
        definition: "Successful production deployments that finished in the period.",
        has_target: false,
    },
    Entry {
        metric: M::DeploymentsPerDay,
        key: "deployments_per_day",
        column: "deployments_per_day",
        label: "Deployment frequency",
        unit: PerDay,
        definition: "Successful production deployments per day of the period.",
        has_target: true,
    },
    Entry {
        metric: M::DeploymentLeadTimeP50Hours,
        key: "deployment_lead_time_p50_hours",
        column: "deployment_lead_time_hours_p50",
        label: "Lead time for changes (median)",
        unit: Hours,
        definition: "Median of finished_at - commit time, over successful production deployments with a commit time.",
        has_target: true,
    },
    Entry {
        metric: M::DeploymentLeadTimeP90Hours,
        key: "deployment_lead_time_p90_hours",
        column: "deployment_lead_time_hours_p90",
        label: "Lead time for changes (p90)",
        unit: Hours,
        definition: "90th percentile of finished_at - commit time, over successful production deployments with a commit time.",
        has_target: true,
    },
    Entry {
        metric: M::DeploymentLeadTimeMeanHours,
        key: "deployment_lead_time_mean_hours",
        column: "deployment_lead_time_hours_mean",
        label: "Lead time for changes (mean)",
        unit: Hours,
        definition: "Mean of finished_at - commit time, over successful production deployments with a commit time.",
        has_target: true,
    },
    Entry {
        metric: M::FailedDeployments,
        key: "failed_deployments",
        column: "failed_deployments",
        label: "Deployments causing failure",
        unit: Count,
        definition: "Successful production deployments of the period whose change failed or rolled back, or that an incident names.",
        has_target: false,
    },
    Entry {
        metric: M::DeploymentFailureRate,
        key: "deployment_failure_rate",
        column: "deployment_failure_rate",
        label: "Change failure rate (deployments)",
        unit: Rate,
        definition: "Deployments whose change failed or rolled back, or that an incident names / successful production deployments.",
        has_target: true,
    },
    Entry {
        metric: M::IncidentsRestored,
        key: "incidents_restored",
        column: "incidents_restored",
        label: "Incidents restored",
        unit: Count,
        definition: "Incidents whose service was restored in the period.",
        has_target: false,
    },
    Entry {
        metric: M::TimeToRestoreP50Hours,
        key: "time_to_restore_p50_hours",
        column: "time_to_restore_hours_p50",
        label: "Time to restore (median)",
        unit: Hours,
        definition: "Median of restored_at - opened_at, over incidents restored in the period.",
        has_target: true,
    },
    Entry {
        metric: M::TimeToRestoreMeanHours,
        key: "mttr_hours",
        column: "time_to_restore_hours_mean",
        label: "Mean time to restore",
        unit: Hours,
        definition: "Mean of restored_at - opened_at, over incidents restored in the period.",
        has_target: true,
    },
    Entry {
        metric: M::UnauthorisedDeployments,
        key: "unauthorised_deployments",
        column: "unauthorised_deployments",
        label: "Unauthorised deployments",
        unit: Count,
        definition: "Production deployments no change authorised (exceptions) that happened in the period.",
        has_target: false,
    },
];

// `Metric::entry` indexes the catalogue by variant: each entry must sit at
// its variant's position, checked when the crate builds.
const _: () = {
    let mut i = 0;
    while i < CATALOGUE.len() {
        assert!(
            CATALOGUE[i].metric as usize == i,
            "CATALOGUE is out of the order of Metric's variants"
        );
        i += 1;
    }
};

impl Metric {
    /// This metric's entry in the catalogue.
    pub const fn entry(self) -> &'static Entry {
        &CATALOGUE[self as usize]
    }

    /// Every metric, in the catalogue's order.
    pub fn all() -> impl Iterator<Item = Metric> {
        CATALOGUE.iter().map(|entry| entry.metric)
    }

    /// The metrics a policy may set a target on, in the catalogue's order.
    pub fn with_targets() -> impl Iterator<Item = Metric> {
        CATALOGUE
            .iter()
            .filter(|entry| entry.has_target)
            .map(|entry| entry.metric)
    }

    /// The metric a key names (`success_rate`), whether or not it can
    /// carry a target.
    pub fn from_key(key: &str) -> Option<Metric> {
        CATALOGUE
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.metric)
    }

    pub const fn key(self) -> &'static str {
        self.entry().key
    }

    /// The metric's name in JSON and GraphQL: its key in upper case
    /// (`SUCCESS_RATE`).
    pub fn name(self) -> String {
        self.key().to_ascii_uppercase()
    }

    pub const fn column(self) -> &'static str {
        self.entry().column
    }

    pub const fn label(self) -> &'static str {
        self.entry().label
    }

    pub const fn unit(self) -> Unit {
        self.entry().unit
    }

    pub const fn definition(self) -> &'static str {
        self.entry().definition
    }

    pub const fn has_target(self) -> bool {
        self.entry().has_target
    }
}

/// As [`Metric::name`]: `"SUCCESS_RATE"`.
impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_columns_are_unique() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            for b in &CATALOGUE[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.column, b.column);
                assert_ne!(a.label, b.label);
            }
        }
    }

    #[test]
    fn every_key_names_its_metric() {
        for metric in Metric::all() {
            assert_eq!(Metric::from_key(metric.key()), Some(metric));
        }
        assert_eq!(
            Metric::from_key("mttr_hours"),
            Some(Metric::TimeToRestoreMeanHours)
        );
        assert_eq!(Metric::from_key("mean_time_to_repair"), None);
    }

    #[test]
    fn counts_carry_no_targets() {
        for metric in Metric::with_targets() {
            assert_ne!(metric.unit(), Unit::Count, "{metric:?}");
        }
        assert_eq!(Metric::with_targets().count(), 21);
    }

    /// The names JSON and GraphQL have always shown (they were serde's
    /// spelling of the variants).
    #[test]
    fn names_are_the_keys_in_upper_case() {
        let json = serde_json::to_string(&[
            Metric::SuccessRate,
            Metric::LeadTimeP50Hours,
            Metric::ChangeDurationMeanHours,
            Metric::EmergencyDocsOnTimeRate,
        ])
        .unwrap_or_default();
        assert_eq!(
            json,
            r#"["SUCCESS_RATE","LEAD_TIME_P50_HOURS","CHANGE_DURATION_MEAN_HOURS","EMERGENCY_DOCS_ON_TIME_RATE"]"#
        );
    }
}
