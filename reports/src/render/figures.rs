//! What every format shows the same way: a metric's value written by its
//! unit, the rows of the headline table, and for the formats people read
//! (HTML, Markdown) instants and outcomes in words. A module of its own so the
//! formats import it, not the `render` module that calls them.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::{
    catalogue::{Metric, Unit},
    document::ReportDocument,
    report::{Bucket, TargetState},
    vocabulary::outcome,
};

/// A metric's value as reports write it, by its unit: `66.7 %`, `1.50 h`,
/// `7`, `–` for null.
pub(crate) fn show(value: Option<f64>, unit: Unit) -> String {
    match (value, unit) {
        (None, _) => "–".to_owned(),
        (Some(v), Unit::Rate) => format!("{:.1} %", v * 100.0),
        (Some(v), Unit::Hours) => format!("{v:.2} h"),
        (Some(v), Unit::Count) => format!("{v}"),
        (Some(v), Unit::PerDay) => format!("{v:.2} /day"),
    }
}

/// A metric's value in a bucket, written by its unit.
pub(crate) fn show_metric(bucket: &Bucket, metric: Metric) -> String {
    show(bucket.value(metric), metric.unit())
}

/// The metrics of the headline table, in its order (not quite the
/// catalogue's: the change failure rate, which counts rollbacks too, comes
/// before the rollback rate).
const HEADLINE: [Metric; 22] = [
    Metric::Implemented,
    Metric::SuccessRate,
    Metric::FailureRate,
    Metric::RollbackRate,
    Metric::EmergencyShare,
    Metric::WithIssuesRate,
    Metric::LeadTimeP50Hours,
    Metric::LeadTimeP90Hours,
    Metric::LeadTimeMeanHours,
    Metric::ChangeDurationMeanHours,
    Metric::ChangeDurationP50Hours,
    Metric::ApprovalTimeP50Hours,
    Metric::ApprovalTimeMeanHours,
    Metric::CabApprovalRate,
    Metric::EmergencyDocsOnTimeRate,
    Metric::Deployments,
    Metric::DeploymentsPerDay,
    Metric::DeploymentLeadTimeP50Hours,
    Metric::DeploymentFailureRate,
    Metric::TimeToRestoreP50Hours,
    Metric::TimeToRestoreMeanHours,
    Metric::UnauthorisedDeployments,
];

/// One row of the headline table.
pub(crate) struct HeadlineRow {
    pub metric: Metric,
    /// The target as written (`> 95 %`); `–` where the metric has none.
    pub target: String,
    pub value: Option<f64>,
    /// `met`, `missed`, `no data`; `–` where the metric has no target.
    pub status: &'static str,
}

impl HeadlineRow {
    /// The value written by its unit (`66.7 %`), for the text formats.
    pub fn shown(&self) -> String {
        show(self.value, self.metric.unit())
    }
}

/// The headline rows, one per metric of `HEADLINE`. The text formats show
/// the value with [`HeadlineRow::shown`]; XLSX writes the number itself.
pub(crate) fn headline_rows(doc: &ReportDocument) -> Vec<HeadlineRow> {
    let b = &doc.headline;
    HEADLINE
        .into_iter()
        .map(|metric| {
            let status = b.targets.iter().find(|t| t.metric == metric);
            HeadlineRow {
                metric,
                target: status.map_or("–".to_owned(), |t| t.target.clone()),
                value: b.value(metric),
                status: status.map_or("–", |t| match t.status {
                    TargetState::Met => "met",
                    TargetState::Missed => "missed",
                    TargetState::NoData => "no data",
                }),
            }
        })
        .collect()
}

/// An instant as people read it, in the report's time zone to the
/// minute, with the zone's abbreviation: `2026-12-02 01:18 UTC`,
/// `2026-02-10 03:00 CET`.
pub(crate) fn show_instant(instant: DateTime<Utc>, zone: Tz) -> String {
    instant
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The report's time zone; UTC if its name does not parse (it was parsed
/// to build the report, so it does).
pub(crate) fn zone_of(doc: &ReportDocument) -> Tz {
    doc.time_zone.parse().unwrap_or(Tz::UTC)
}

/// An outcome code as words (`SUCCESSFUL_WITH_ISSUES` -> `successful with
/// issues`); other text, such as a change type or system name, unchanged.
pub(crate) fn outcome_words(key: &str) -> Cow<'_, str> {
    if outcome::code(key).is_some() {
        Cow::Owned(key.to_lowercase().replace('_', " "))
    } else {
        Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_show_in_the_report_zone_to_the_minute() {
        let at: DateTime<Utc> = "2026-12-02T01:18:32.047864+00:00".parse().unwrap();
        assert_eq!(show_instant(at, Tz::UTC), "2026-12-02 01:18 UTC");
        assert_eq!(
            show_instant(at, chrono_tz::Europe::Berlin),
            "2026-12-02 02:18 CET"
        );
    }

    #[test]
    fn outcome_codes_read_as_words() {
        assert_eq!(
            outcome_words("SUCCESSFUL_WITH_ISSUES"),
            "successful with issues"
        );
        assert_eq!(outcome_words("ROLLED_BACK"), "rolled back");
        assert_eq!(outcome_words("=db"), "=db");
    }
}
