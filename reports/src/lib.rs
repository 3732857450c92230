//! Metrics and reports over the change history, with polars.
//!
//! - `vocabulary`: the outcome codes and output column names the other
//!   modules share (it imports none of them);
//! - `catalogue`: every metric's key, column, label, unit and definition;
//! - `input`: the frames the metrics read (one row per change);
//! - `period`: weeks, months and quarters in an IANA time zone;
//! - `metrics`: one function per metric family, each a `LazyFrame`;
//! - `targets`: the policy targets each metric is compared with;
//! - `report`: collecting the plans into buckets (the only `collect`);
//! - `document` and `render`: the monthly, quarterly, trend and weekly CAB
//!   reports and their formats.
//!
//! No HTTP, GraphQL or database here: `api` loads the frames and serves
//! the results.

pub mod catalogue;
pub mod input;
pub mod metrics;
pub mod period;
pub mod report;
pub mod targets;
pub mod vocabulary;

pub use catalogue::{Metric, Unit};
pub use input::{ChangeFacts, ChangeFrames, ChangeFramesBuilder, DeploymentFacts};
pub use period::{Granularity, Period, PeriodError, PeriodSpec};
pub use report::{Bucket, MetricsOptions, MetricsTables, ReportError, buckets, compute};
pub use targets::{Comparison, Target, TargetParseError, parse_targets};
pub mod document;
pub mod render;
