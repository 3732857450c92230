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

use reports::Target;

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

/// A metric target of the policy in force.
#[derive(Debug, Clone, PartialEq, SimpleObject)]
pub struct PolicyTarget {
    /// `SUCCESS_RATE`, `LEAD_TIME_P50_HOURS`, ... (as in `MetricTarget`).
    pub metric: String,
    /// The key in the policy file's `[targets]` table (`success_rate`).
    pub key: String,
    pub label: String,
    /// `LESS_THAN`, `AT_MOST`, `GREATER_THAN` or `AT_LEAST`.
    pub comparison: String,
    /// A fraction for rates, hours for durations.
    pub threshold: f64,
    /// Human form, e.g. `> 95 %`.
    pub target: String,
}

fn screaming<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<&Target> for PolicyTarget {
    fn from(target: &Target) -> Self {
        Self {
            metric: target.metric.name(),
            key: target.metric.key().to_owned(),
            label: target.metric.label().to_owned(),
            comparison: screaming(&target.comparison),
            threshold: target.threshold,
            target: target.describe(),
        }
    }
}
