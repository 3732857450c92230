//! What every format shows the same way: a metric's value written by its
//! unit, and the rows of the headline table. A module of its own so the
//! formats import it, not the `render` module that calls them.

use crate::{
    catalogue::{Metric, Unit},
    document::ReportDocument,
    report::{Bucket, TargetState},
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

/// The headline rows: label, target, actual value and status of each
/// metric of `HEADLINE` (`–` where it has no target).
pub(crate) fn headline_rows(doc: &ReportDocument) -> Vec<(String, String, String, String)> {
    let b = &doc.headline;
    HEADLINE
        .into_iter()
        .map(|metric| {
            let status = b.targets.iter().find(|t| t.metric == metric);
            (
                metric.label().to_owned(),
                status.map_or("–".to_owned(), |t| t.target.clone()),
                show_metric(b, metric),
                status.map_or("–".to_owned(), |t| {
                    match t.status {
                        TargetState::Met => "met",
                        TargetState::Missed => "missed",
                        TargetState::NoData => "no data",
                    }
                    .to_owned()
                }),
            )
        })
        .collect()
}
