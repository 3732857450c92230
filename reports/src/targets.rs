//! Metric targets per policy preset (DESIGN.md, Policy: "the metric
//! targets"). They belong in the policy TOML; until `api::policy::Policy`
//! carries them they are defined here, keyed by preset name, exactly as the
//! seed documents state them.

use serde::Serialize;

/// A metric that can carry a target, by its column in the metrics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Metric {
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
    ApprovalTimeP50Hours,
    ApprovalTimeMeanHours,
    CabApprovalRate,
    EmergencyDocsOnTimeRate,
}

impl Metric {
    /// The column of the metrics table holding this metric.
    pub fn column(self) -> &'static str {
        use crate::metrics::out;
        match self {
            Self::SuccessRate => out::SUCCESS_RATE,
            Self::RollbackRate => out::ROLLBACK_RATE,
            Self::FailureRate => out::FAILURE_RATE,
            Self::EmergencyShare => out::EMERGENCY_SHARE,
            Self::WithIssuesRate => out::WITH_ISSUES_RATE,
            Self::LeadTimeP50Hours => out::LEAD_TIME_P50,
            Self::LeadTimeP90Hours => out::LEAD_TIME_P90,
            Self::LeadTimeMeanHours => out::LEAD_TIME_MEAN,
            Self::ChangeDurationMeanHours => out::DURATION_MEAN,
            Self::ChangeDurationP50Hours => out::DURATION_P50,
            Self::ApprovalTimeP50Hours => out::APPROVAL_P50,
            Self::ApprovalTimeMeanHours => out::APPROVAL_MEAN,
            Self::CabApprovalRate => out::CAB_APPROVAL_RATE,
            Self::EmergencyDocsOnTimeRate => out::EMERGENCY_DOCS_RATE,
        }
    }

    /// Human name used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::SuccessRate => "Success rate",
            Self::RollbackRate => "Rollback rate",
            Self::FailureRate => "Change failure rate",
            Self::EmergencyShare => "Emergency changes",
            Self::WithIssuesRate => "Changes with issues",
            Self::LeadTimeP50Hours => "Lead time (median)",
            Self::LeadTimeP90Hours => "Lead time (p90)",
            Self::LeadTimeMeanHours => "Lead time (mean)",
            Self::ChangeDurationMeanHours => "Average change time",
            Self::ChangeDurationP50Hours => "Change time (median)",
            Self::ApprovalTimeP50Hours => "Approval time (median)",
            Self::ApprovalTimeMeanHours => "Approval time (mean)",
            Self::CabApprovalRate => "CAB approval rate",
            Self::EmergencyDocsOnTimeRate => "Emergency documentation on time",
        }
    }

    /// Rates are shown as percentages, the rest in hours.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Self::SuccessRate
                | Self::RollbackRate
                | Self::FailureRate
                | Self::EmergencyShare
                | Self::WithIssuesRate
                | Self::CabApprovalRate
                | Self::EmergencyDocsOnTimeRate
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Comparison {
    LessThan,
    AtMost,
    GreaterThan,
    AtLeast,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::LessThan => "<",
            Self::AtMost => "<=",
            Self::GreaterThan => ">",
            Self::AtLeast => ">=",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::LessThan => value < threshold,
            Self::AtMost => value <= threshold,
            Self::GreaterThan => value > threshold,
            Self::AtLeast => value >= threshold,
        }
    }
}

/// `metric comparison threshold`, e.g. success rate > 0.95. Rates are
/// fractions (0.95), durations hours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub metric: Metric,
    pub comparison: Comparison,
    pub threshold: f64,
}

impl Target {
    pub const fn new(metric: Metric, comparison: Comparison, threshold: f64) -> Self {
        Self {
            metric,
            comparison,
            threshold,
        }
    }

    /// Name of the boolean column saying whether a period met the target.
    pub fn met_column(self) -> String {
        format!("{}_target_met", self.metric.column())
    }

    /// `< 5 %`, `> 95 %`, `< 2 h`.
    pub fn describe(self) -> String {
        let value = if self.metric.is_rate() {
            format!("{} %", trim_number(self.threshold * 100.0))
        } else {
            format!("{} h", trim_number(self.threshold))
        };
        format!("{} {value}", self.comparison.symbol())
    }
}

fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Targets of a preset policy. Seeds 000, 002 and 004 list metrics to track
/// but set no numbers, so their presets have no targets.
pub fn preset_targets(policy_name: &str) -> Vec<Target> {
    use Comparison::{GreaterThan, LessThan};
    match policy_name {
        // Seed 001, section 9.3 (monthly metrics).
        "tiered-cab" => vec![
            Target::new(Metric::EmergencyShare, LessThan, 0.05),
            Target::new(Metric::SuccessRate, GreaterThan, 0.95),
            Target::new(Metric::RollbackRate, LessThan, 0.05),
            Target::new(Metric::WithIssuesRate, LessThan, 0.10),
            Target::new(Metric::ChangeDurationMeanHours, LessThan, 2.0),
        ],
        // Seed 003, section 10. "Change lead time < 2 weeks" is read as the
        // median, as DORA's lead time is. MTTR has no data in Gatehouse yet.
        "weekly-cab" => vec![
            Target::new(Metric::SuccessRate, GreaterThan, 0.95),
            Target::new(Metric::FailureRate, LessThan, 0.05),
            Target::new(Metric::LeadTimeP50Hours, LessThan, 14.0 * 24.0),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_targets_are_encoded() {
        let tiered = preset_targets("tiered-cab");
        assert_eq!(tiered.len(), 5);
        assert_eq!(tiered[0].describe(), "< 5 %");
        assert_eq!(tiered[1].describe(), "> 95 %");
        assert_eq!(tiered[4].describe(), "< 2 h");
        let weekly = preset_targets("weekly-cab");
        assert_eq!(weekly[2].describe(), "< 336 h");
        assert!(preset_targets("cab-quorum").is_empty());
    }
}
