//! Report documents: the monthly (CTO), quarterly (executives), trends and
//! weekly CAB reports, built from one set of input frames.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use polars::prelude::*;
use serde::Serialize;

use crate::{
    input::ChangeFrames,
    period::{Granularity, Period, PeriodSpec},
    report::{Bucket, MetricsOptions, ReportError, buckets, compute},
    targets::Target,
    vocabulary::{out, outcome},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ReportKind {
    /// One month with the twelve months ending with it.
    Monthly { period: String },
    /// One quarter with its months and the five quarters ending with it.
    Quarterly { period: String },
    /// Quarters (and their months) from `from` to `to`, both included.
    Trends { from: String, to: String },
    /// One ISO week with the eight weeks ending with it.
    CabWeekly { week: String },
}

/// The periods one report reads.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    pub kind: ReportKind,
    pub title: String,
    /// The period the headline figures are for.
    pub subject: PeriodSpec,
    /// The trend series.
    pub series: PeriodSpec,
    /// A finer series inside the subject (the months of a quarter), if any.
    pub detail: Option<PeriodSpec>,
}

impl ReportPlan {
    pub fn new(kind: ReportKind, zone: Tz) -> Result<Self, ReportError> {
        let plan = match &kind {
            ReportKind::Monthly { period } => Self {
                title: format!("Change management report — {period}"),
                subject: PeriodSpec::between_labels(Granularity::Month, zone, period, period)?,
                series: PeriodSpec::trailing(Granularity::Month, zone, period, 12)?,
                detail: None,
                kind,
            },
            ReportKind::Quarterly { period } => Self {
                title: format!("Quarterly change management review — {period}"),
                subject: PeriodSpec::between_labels(Granularity::Quarter, zone, period, period)?,
                series: PeriodSpec::trailing(Granularity::Quarter, zone, period, 5)?,
                detail: Some(
                    PeriodSpec::between_labels(Granularity::Quarter, zone, period, period)
                        .and_then(|q| {
                            PeriodSpec::new(
                                Granularity::Month,
                                zone,
                                q.from,
                                q.to,
                                crate::period::MAX_PERIODS,
                            )
                        })?,
                ),
                kind,
            },
            ReportKind::Trends { from, to } => {
                let series = PeriodSpec::between_labels(Granularity::Quarter, zone, from, to)?;
                let detail = PeriodSpec::new(
                    Granularity::Month,
                    zone,
                    series.from,
                    series.to,
                    crate::period::MAX_PERIODS,
                )?;
                let mut subject = series.clone();
                subject.periods = vec![Period {
                    label: format!("{from} – {to}"),
                    start: series.from,
                    end: series.to,
                }];
                Self {
                    title: format!("Change management trends — {from} to {to}"),
                    subject,
                    series,
                    detail: Some(detail),
                    kind,
                }
            }
            ReportKind::CabWeekly { week } => Self {
                title: format!("CAB weekly report — {week}"),
                subject: PeriodSpec::between_labels(Granularity::Week, zone, week, week)?,
                series: PeriodSpec::trailing(Granularity::Week, zone, week, 8)?,
                detail: None,
                kind,
            },
        };
        Ok(plan)
    }

    /// The instants the input frames must cover.
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let mut from = self.subject.from.min(self.series.from);
        let mut to = self.subject.to.max(self.series.to);
        if let Some(detail) = &self.detail {
            from = from.min(detail.from);
            to = to.max(detail.to);
        }
        (from, to)
    }
}

/// An emergency or rolled-back change listed in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotableChange {
    pub number: String,
    pub title: String,
    pub change_type: String,
    pub outcome: Option<String>,
    /// When implementation started: what a change without an approval
    /// deadline had to be approved by.
    pub actual_start: Option<DateTime<Utc>>,
    pub actual_end: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approval_due_at: Option<DateTime<Utc>>,
    pub rollback_reason: Option<String>,
}

impl NotableChange {
    /// Whether the approval was on time: the rule the emergency
    /// documentation metric counts ([`crate::input::approved_on_time`]);
    /// `None` when it cannot be told, and the metric leaves it out.
    pub fn approved_on_time(&self) -> Option<bool> {
        crate::input::approved_on_time(self.approved_at, self.approval_due_at, self.actual_start)
    }

    /// `approved_on_time` as the lists print it.
    pub fn approved_on_time_label(&self) -> &'static str {
        match self.approved_on_time() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not known (no start on record)",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDocument {
    #[serde(flatten)]
    pub kind: ReportKind,
    pub title: String,
    pub time_zone: String,
    pub policy: String,
    pub generated_at: DateTime<Utc>,
    pub targets: Vec<Target>,
    pub headline: Bucket,
    pub series_granularity: Granularity,
    pub series: Vec<Bucket>,
    pub detail: Vec<Bucket>,
    pub emergencies: Vec<NotableChange>,
    pub rollbacks: Vec<NotableChange>,
    /// The trend series as a table (CSV, Parquet, XLSX).
    #[serde(skip)]
    pub series_table: DataFrame,
}

/// Computes every table of a report. Blocking (polars).
pub fn build(
    plan: &ReportPlan,
    frames: &ChangeFrames,
    options: &MetricsOptions,
    notable: Vec<NotableChange>,
    policy: &str,
    generated_at: DateTime<Utc>,
) -> Result<ReportDocument, ReportError> {
    let run = |spec: &PeriodSpec| -> Result<(Vec<Bucket>, DataFrame), ReportError> {
        let tables = compute(frames, spec, options)?;
        Ok((buckets(&tables, spec, options)?, tables.metrics))
    };
    let (mut headline, _) = run(&plan.subject)?;
    let headline = headline
        .pop()
        .ok_or_else(|| ReportError::Unsupported("the report period is empty".into()))?;
    let (series, series_table) = run(&plan.series)?;
    let detail = match &plan.detail {
        Some(spec) => run(spec)?.0,
        None => Vec::new(),
    };
    let in_subject = |c: &NotableChange| {
        c.actual_end
            .is_some_and(|end| end >= headline.start && end < headline.end)
    };
    let emergencies = notable
        .iter()
        .filter(|c| c.change_type == options.emergency_type && in_subject(c))
        .cloned()
        .collect();
    let rollbacks = notable
        .iter()
        .filter(|c| {
            c.outcome.as_deref() == Some(outcome::name(outcome::ROLLED_BACK)) && in_subject(c)
        })
        .cloned()
        .collect();
    let series_table = series_table.drop(out::PERIOD)?;
    Ok(ReportDocument {
        kind: plan.kind.clone(),
        title: plan.title.clone(),
        time_zone: plan.subject.time_zone.name().to_owned(),
        policy: policy.to_owned(),
        generated_at,
        targets: options.targets.clone(),
        headline,
        series_granularity: plan.series.granularity,
        series,
        detail,
        emergencies,
        rollbacks,
        series_table,
    })
}
