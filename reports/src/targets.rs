//! Metric targets (docs/design.md, Policy: "the metric targets"): which
//! metric, which comparison, which threshold, the text form a policy file
//! writes them in (`success_rate = "> 95%"`, `lead_time_p50_hours = "< 336"`)
//! and whether a period met them. The policy (`api::policy`) owns which
//! targets are in force; the catalogue owns which metrics can carry one
//! and in which unit; this module owns what a target means and how its
//! text parses.

use polars::prelude::*;
use serde::Serialize;

use crate::catalogue::{Metric, Unit};

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

    /// Longest symbol first, so `<=` is not read as `<` followed by `=`.
    const BY_SYMBOL: [Comparison; 4] = [
        Self::AtMost,
        Self::AtLeast,
        Self::LessThan,
        Self::GreaterThan,
    ];

    /// Whether `value` compares so with `threshold`, as a polars expression.
    fn holds(self, value: Expr, threshold: Expr) -> Expr {
        match self {
            Self::LessThan => value.lt(threshold),
            Self::AtMost => value.lt_eq(threshold),
            Self::GreaterThan => value.gt(threshold),
            Self::AtLeast => value.gt_eq(threshold),
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

    /// Whether a period of the metrics table met the target, aliased to
    /// `met_column`: true or false, null when the metric has no value in
    /// the period.
    pub fn met(self) -> Expr {
        let value = col(self.metric.column());
        when(value.clone().is_null())
            .then(lit(NULL).cast(DataType::Boolean))
            .otherwise(self.comparison.holds(value, lit(self.threshold)))
            .alias(self.met_column())
    }

    /// Parses a target as a policy file writes it: a comparison (`<`,
    /// `<=`, `>`, `>=`) and a threshold; rates as a percentage (`"> 95%"`),
    /// durations in hours (`"< 336"`, `"< 2h"`).
    pub fn parse(metric_key: &str, text: &str) -> Result<Self, TargetParseError> {
        let metric = Metric::from_key(metric_key)
            .filter(|metric| metric.has_target())
            .ok_or_else(|| TargetParseError::UnknownMetric {
                key: metric_key.to_owned(),
            })?;
        let malformed = |reason: String| TargetParseError::Malformed {
            metric: metric_key.to_owned(),
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        let (comparison, rest) = Comparison::BY_SYMBOL
            .into_iter()
            .find_map(|c| {
                trimmed
                    .strip_prefix(c.symbol())
                    .map(|rest| (c, rest.trim()))
            })
            .ok_or_else(|| {
                malformed(
                    "expected a comparison `<`, `<=`, `>` or `>=` followed by a threshold".into(),
                )
            })?;
        let unit_suffix = if metric.unit() == Unit::PerDay {
            "/day"
        } else {
            "h"
        };
        let (number, percent) = match rest.strip_suffix('%') {
            Some(number) => (number.trim_end(), true),
            None => (
                rest.strip_suffix(unit_suffix).unwrap_or(rest).trim_end(),
                false,
            ),
        };
        let value: f64 = number
            .parse()
            .ok()
            .filter(|value: &f64| value.is_finite() && *value >= 0.0 && !number.starts_with('+'))
            .ok_or_else(|| malformed(format!("`{number}` is not a non-negative number")))?;
        let is_rate = metric.unit() == Unit::Rate;
        let threshold = match (is_rate, percent) {
            (true, true) if value <= 100.0 => value / 100.0,
            (true, true) => return Err(malformed("a rate cannot exceed 100%".into())),
            (true, false) => {
                return Err(malformed(
                    "a rate is written as a percentage, e.g. `> 95%`".into(),
                ));
            }
            (false, true) if metric.unit() == Unit::PerDay => {
                return Err(malformed(
                    "this metric is a number per day, e.g. `>= 1` or `>= 1/day`, not a percentage"
                        .into(),
                ));
            }
            (false, true) => {
                return Err(malformed(
                    "this metric is in hours, e.g. `< 2` or `< 2h`, not a percentage".into(),
                ));
            }
            (false, false) => value,
        };
        Ok(Self::new(metric, comparison, threshold))
    }

    /// The form `parse` reads: `> 95%`, `< 336h`, `>= 1/day`.
    pub fn policy_text(self) -> String {
        let symbol = self.comparison.symbol();
        match self.metric.unit() {
            Unit::Rate => format!("{symbol} {}%", trim_number(self.threshold * 100.0)),
            Unit::PerDay => format!("{symbol} {}/day", trim_number(self.threshold)),
            Unit::Hours | Unit::Count => format!("{symbol} {}h", trim_number(self.threshold)),
        }
    }

    /// `< 5 %`, `> 95 %`, `< 2 h`, `>= 1 /day`.
    pub fn describe(self) -> String {
        let value = match self.metric.unit() {
            Unit::Rate => format!("{} %", trim_number(self.threshold * 100.0)),
            Unit::PerDay => format!("{} /day", trim_number(self.threshold)),
            Unit::Hours | Unit::Count => format!("{} h", trim_number(self.threshold)),
        };
        format!("{} {value}", self.comparison.symbol())
    }
}

fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Why a policy's target does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetParseError {
    #[error("unknown metric `{key}` (known: {known})", known = known_keys())]
    UnknownMetric { key: String },
    #[error("{metric} = \"{text}\": {reason}")]
    Malformed {
        metric: String,
        text: String,
        reason: String,
    },
}

fn known_keys() -> String {
    Metric::with_targets()
        .map(Metric::key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `[targets]` table's entries (metric key, text) into targets in
/// the order of the catalogue, so reports list them the same way whatever
/// order the file uses.
pub fn parse_targets<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<Target>, TargetParseError> {
    let mut targets = entries
        .into_iter()
        .map(|(key, text)| Target::parse(key, text))
        .collect::<Result<Vec<_>, _>>()?;
    targets.sort_by_key(|t| t.metric as usize);
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Comparison::{AtLeast, AtMost, GreaterThan, LessThan};

    fn parse(key: &str, text: &str) -> Result<Target, TargetParseError> {
        Target::parse(key, text)
    }

    #[test]
    fn rates_are_percentages_and_durations_hours() {
        assert_eq!(
            parse("success_rate", "> 95%"),
            Ok(Target::new(Metric::SuccessRate, GreaterThan, 0.95))
        );
        assert_eq!(
            parse("emergency_share", "<5 %"),
            Ok(Target::new(Metric::EmergencyShare, LessThan, 0.05))
        );
        assert_eq!(
            parse("with_issues_rate", "  <= 10%  "),
            Ok(Target::new(Metric::WithIssuesRate, AtMost, 0.10))
        );
        assert_eq!(
            parse("lead_time_p50_hours", "< 336"),
            Ok(Target::new(Metric::LeadTimeP50Hours, LessThan, 336.0))
        );
        assert_eq!(
            parse("change_duration_mean_hours", "< 2h"),
            Ok(Target::new(Metric::ChangeDurationMeanHours, LessThan, 2.0))
        );
        assert_eq!(
            parse("cab_approval_rate", ">= 80.5%"),
            Ok(Target::new(Metric::CabApprovalRate, AtLeast, 0.805))
        );
        assert_eq!(
            parse("approval_time_p50_hours", "<= 0.5"),
            Ok(Target::new(Metric::ApprovalTimeP50Hours, AtMost, 0.5))
        );
    }

    #[test]
    fn every_metric_with_a_target_has_a_key_that_parses_back() {
        for metric in Metric::with_targets() {
            let text = if metric.unit() == Unit::Rate {
                "> 50%"
            } else {
                "< 4"
            };
            let target = parse(metric.key(), text).unwrap();
            assert_eq!(parse(metric.key(), &target.policy_text()), Ok(target));
        }
    }

    #[test]
    fn unknown_metrics_are_refused_with_the_known_ones() {
        let error = parse("mean_time_to_repair", "< 4").unwrap_err();
        assert_eq!(
            error,
            TargetParseError::UnknownMetric {
                key: "mean_time_to_repair".into()
            }
        );
        let message = error.to_string();
        assert!(message.starts_with("unknown metric `mean_time_to_repair` (known: success_rate, "));
        assert!(message.ends_with("time_to_restore_p50_hours, mttr_hours)"));
        // A metric without targets is not a target's metric.
        assert_eq!(
            parse("implemented", "> 4"),
            Err(TargetParseError::UnknownMetric {
                key: "implemented".into()
            })
        );
        // Keys are exact: no case folding, no GraphQL spelling.
        assert!(parse("SUCCESS_RATE", "> 95%").is_err());
        assert!(parse("successRate", "> 95%").is_err());
    }

    #[test]
    fn malformed_comparisons_are_refused_with_the_reason() {
        let reason = |key: &str, text: &str| match parse(key, text) {
            Err(TargetParseError::Malformed { reason, .. }) => reason,
            other => panic!("{key} = {text:?}: expected malformed, got {other:?}"),
        };
        let no_comparison = "expected a comparison `<`, `<=`, `>` or `>=` followed by a threshold";
        assert_eq!(reason("success_rate", "95%"), no_comparison);
        assert_eq!(reason("success_rate", "= 95%"), no_comparison);
        assert_eq!(reason("success_rate", "=> 95%"), no_comparison);
        assert_eq!(reason("success_rate", ""), no_comparison);
        assert_eq!(
            reason("success_rate", "> 0.95"),
            "a rate is written as a percentage, e.g. `> 95%`"
        );
        assert_eq!(
            reason("success_rate", "> 101%"),
            "a rate cannot exceed 100%"
        );
        assert_eq!(
            reason("lead_time_p50_hours", "< 5%"),
            "this metric is in hours, e.g. `< 2` or `< 2h`, not a percentage"
        );
        for bad in [
            "< ", "< two", "< -1", "< +1", "< NaN", "< inf", "< 2 days", "<< 2", "< 2hh",
        ] {
            assert!(
                reason("lead_time_p50_hours", bad).contains("is not a non-negative number"),
                "{bad}"
            );
        }
        assert_eq!(
            parse("success_rate", "> 95").unwrap_err().to_string(),
            "success_rate = \"> 95\": a rate is written as a percentage, e.g. `> 95%`"
        );
    }

    #[test]
    fn tables_come_out_in_report_order() {
        let targets = parse_targets([
            ("change_duration_mean_hours", "< 2"),
            ("emergency_share", "< 5%"),
            ("success_rate", "> 95%"),
        ])
        .unwrap();
        let metrics: Vec<_> = targets.iter().map(|t| t.metric).collect();
        assert_eq!(
            metrics,
            [
                Metric::SuccessRate,
                Metric::EmergencyShare,
                Metric::ChangeDurationMeanHours
            ]
        );
        assert_eq!(targets[0].describe(), "> 95 %");
        assert_eq!(targets[1].describe(), "< 5 %");
        assert_eq!(targets[2].describe(), "< 2 h");
        assert!(parse_targets([("success_rate", "> 95%"), ("nope", "< 1")]).is_err());
    }
}
