//! The content of a change request and the rules it must satisfy to be
//! stored. Lifecycle rules (who may move it where) live elsewhere; these are
//! the rules of a well-formed record.

use chrono::{DateTime, Utc};
use entity::{DeploymentMethod, LinkKind, Priority, RiskLevel};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ValidationError, optional_text, required_text, risk};

pub const MAX_TITLE: usize = 200;
pub const MAX_LONG_TEXT: usize = 20_000;
pub const MAX_SHORT_TEXT: usize = 2_000;
pub const MAX_LIST: usize = 100;
pub const MAX_URL: usize = 2_000;

/// What the rollback plan says. Drafts may hold a partial plan; policies
/// that need all five parts (seed 002) check `missing_parts` at the gate.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    async_graphql::SimpleObject,
    async_graphql::InputObject,
)]
#[graphql(input_name = "RollbackPlanInput")]
#[serde(rename_all = "camelCase")]
pub struct RollbackPlan {
    pub trigger: Option<String>,
    #[serde(default)]
    #[graphql(default)]
    pub steps: Vec<String>,
    pub owner: Option<String>,
    #[serde(default)]
    #[graphql(default)]
    pub verification: Vec<String>,
    pub time_estimate_minutes: Option<i32>,
}

impl RollbackPlan {
    /// The names of a plan's parts, as `required_parts` in a policy's
    /// rollback-plan gate names them.
    pub const PARTS: [&'static str; 5] = [
        "trigger",
        "steps",
        "owner",
        "verification",
        "timeEstimateMinutes",
    ];

    /// The parts of a complete plan (trigger, steps, owner, verification,
    /// time estimate) that this plan lacks.
    pub fn missing_parts(&self) -> Vec<&'static str> {
        let blank = |text: &Option<String>| text.as_deref().is_none_or(|t| t.trim().is_empty());
        let mut missing = Vec::new();
        if blank(&self.trigger) {
            missing.push("trigger");
        }
        if self.steps.is_empty() {
            missing.push("steps");
        }
        if blank(&self.owner) {
            missing.push("owner");
        }
        if self.verification.is_empty() {
            missing.push("verification");
        }
        if self.time_estimate_minutes.is_none() {
            missing.push("timeEstimateMinutes");
        }
        missing
    }
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    async_graphql::SimpleObject,
    async_graphql::InputObject,
)]
#[graphql(input_name = "LinkInput")]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub kind: LinkKind,
    pub url: String,
    pub title: Option<String>,
}

/// Everything a requester writes on a change request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeContent {
    pub title: String,
    pub description: String,
    pub business_justification: String,
    pub expected_benefit: Option<String>,
    pub urgency: Priority,
    pub priority: Priority,
    pub change_type: String,
    pub likelihood: i32,
    pub impact: i32,
    pub mitigations: Option<String>,
    pub residual_likelihood: Option<i32>,
    pub residual_impact: Option<i32>,
    pub system_ids: Vec<Uuid>,
    pub services: Vec<String>,
    pub customers_affected: Option<String>,
    pub downtime_required: bool,
    pub performance_impact: Option<String>,
    pub implementation_steps: Vec<String>,
    pub deployment_method: Option<DeploymentMethod>,
    pub canary_stages: Vec<i32>,
    pub test_plan: Option<String>,
    pub rollback_plan: Option<RollbackPlan>,
    pub links: Vec<Link>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    /// The standard change catalog template this change follows.
    pub template_id: Option<Uuid>,
    /// Keys of the policy's attributes the change carries
    /// (`authentication`, `user_facing`): conditional gates read them.
    pub attributes: Vec<String>,
}

/// A part of a change request a policy may require at submission (seed 000
/// "Required Information", 002 §2, 003 §4.1, 004's request template).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, async_graphql::Enum,
)]
#[serde(rename_all = "snake_case")]
pub enum RequiredItem {
    /// At least one affected system (`systemIds`).
    AffectedSystems,
    /// At least one implementation step (`implementationPlan.steps`).
    ImplementationPlan,
    /// A test plan with its acceptance criteria (`testPlan`).
    TestPlan,
    /// A rollback plan with its trigger and steps (`rollbackPlan`).
    RollbackPlan,
    /// Mitigations and the residual ratings after them (`mitigations`,
    /// `residualLikelihood`, `residualImpact`); likelihood and impact are
    /// always required.
    RiskAssessment,
    /// The planned implementation window and so its duration
    /// (`plannedStart`, `plannedEnd`).
    PlannedWindow,
}

impl RequiredItem {
    /// What a requester reads when the item is missing, naming the input
    /// fields that supply it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::AffectedSystems => "affected systems (systemIds)",
            Self::ImplementationPlan => {
                "an implementation plan with steps (implementationPlan.steps)"
            }
            Self::TestPlan => "a test plan and acceptance criteria (testPlan)",
            Self::RollbackPlan => "a rollback plan with its trigger and steps (rollbackPlan)",
            Self::RiskAssessment => {
                "a risk assessment: mitigations and residual risk (mitigations, residualLikelihood, residualImpact)"
            }
            Self::PlannedWindow => {
                "the planned implementation window and duration (plannedStart, plannedEnd)"
            }
        }
    }
}

/// Scores derived from the content; never supplied by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskScores {
    pub inherent_score: i32,
    pub residual_score: Option<i32>,
    pub level: RiskLevel,
}

impl ChangeContent {
    pub fn risk(&self) -> RiskScores {
        let inherent_score = risk::score(self.likelihood, self.impact);
        let residual_score = match (self.residual_likelihood, self.residual_impact) {
            (Some(likelihood), Some(impact)) => Some(risk::score(likelihood, impact)),
            _ => None,
        };
        RiskScores {
            inherent_score,
            residual_score,
            level: risk::effective_level(inherent_score, residual_score),
        }
    }

    /// Checks the attributes against the keys the active policy defines.
    pub fn validate_attributes(&self, known: &[&str]) -> Result<(), ValidationError> {
        validate_list("attributes", &self.attributes, |field, attribute| {
            if known.contains(&attribute.as_str()) {
                Ok(())
            } else if known.is_empty() {
                Err(ValidationError::new(
                    field,
                    "the active policy defines no attributes",
                ))
            } else {
                Err(ValidationError::new(
                    field,
                    format!(
                        "`{attribute}` is not an attribute of the active policy (one of: {})",
                        known.join(", ")
                    ),
                ))
            }
        })?;
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = self.attributes.iter().find(|a| !seen.insert(a.as_str())) {
            return Err(ValidationError::new(
                "attributes",
                format!("lists `{twice}` twice"),
            ));
        }
        Ok(())
    }

    /// The items of `required` this request does not yet supply, in the
    /// order given. Blank text counts as missing.
    pub fn missing_information(&self, required: &[RequiredItem]) -> Vec<RequiredItem> {
        let blank = |text: &Option<String>| text.as_deref().is_none_or(|t| t.trim().is_empty());
        required
            .iter()
            .copied()
            .filter(|item| match item {
                RequiredItem::AffectedSystems => self.system_ids.is_empty(),
                RequiredItem::ImplementationPlan => self.implementation_steps.is_empty(),
                RequiredItem::TestPlan => blank(&self.test_plan),
                RequiredItem::RollbackPlan => self
                    .rollback_plan
                    .as_ref()
                    .is_none_or(|plan| blank(&plan.trigger) || plan.steps.is_empty()),
                RequiredItem::RiskAssessment => {
                    blank(&self.mitigations)
                        || self.residual_likelihood.is_none()
                        || self.residual_impact.is_none()
                }
                RequiredItem::PlannedWindow => {
                    self.planned_start.is_none() || self.planned_end.is_none()
                }
            })
            .collect()
    }

    /// Checks every rule; the first broken one is reported with its field.
    /// `change_types` are the keys the active policy defines.
    pub fn validate(&self, change_types: &[&str]) -> Result<(), ValidationError> {
        required_text("title", &self.title, MAX_TITLE)?;
        required_text("description", &self.description, MAX_LONG_TEXT)?;
        required_text(
            "businessJustification",
            &self.business_justification,
            MAX_LONG_TEXT,
        )?;
        optional_text(
            "expectedBenefit",
            self.expected_benefit.as_deref(),
            MAX_LONG_TEXT,
        )?;
        if !change_types.contains(&self.change_type.as_str()) {
            return Err(ValidationError::new(
                "type",
                format!(
                    "`{}` is not a change type of the active policy (one of: {})",
                    self.change_type,
                    change_types.join(", ")
                ),
            ));
        }
        risk::validate_rating("likelihood", self.likelihood)?;
        risk::validate_rating("impact", self.impact)?;
        optional_text("mitigations", self.mitigations.as_deref(), MAX_LONG_TEXT)?;
        match (self.residual_likelihood, self.residual_impact) {
            (Some(likelihood), Some(impact)) => {
                risk::validate_rating("residualLikelihood", likelihood)?;
                risk::validate_rating("residualImpact", impact)?;
            }
            (None, None) => {}
            (None, Some(_)) => {
                return Err(ValidationError::new(
                    "residualLikelihood",
                    "residual likelihood and impact are given together",
                ));
            }
            (Some(_), None) => {
                return Err(ValidationError::new(
                    "residualImpact",
                    "residual likelihood and impact are given together",
                ));
            }
        }
        validate_list("systemIds", &self.system_ids, |_, _| Ok(()))?;
        if has_duplicates(&self.system_ids) {
            return Err(ValidationError::new("systemIds", "lists a system twice"));
        }
        validate_list("services", &self.services, |field, service| {
            required_text(field, service, MAX_TITLE)
        })?;
        optional_text(
            "customersAffected",
            self.customers_affected.as_deref(),
            MAX_SHORT_TEXT,
        )?;
        optional_text(
            "performanceImpact",
            self.performance_impact.as_deref(),
            MAX_SHORT_TEXT,
        )?;
        validate_list(
            "implementationPlan.steps",
            &self.implementation_steps,
            |field, step| required_text(field, step, MAX_SHORT_TEXT),
        )?;
        self.validate_canary_stages()?;
        optional_text("testPlan", self.test_plan.as_deref(), MAX_LONG_TEXT)?;
        if let Some(plan) = &self.rollback_plan {
            validate_rollback_plan(plan)?;
        }
        validate_list("links", &self.links, |field, link| {
            validate_link(field, link)
        })?;
        super::timestamps::check_optional("plannedStart", self.planned_start)?;
        super::timestamps::check_optional("plannedEnd", self.planned_end)?;
        match (self.planned_start, self.planned_end) {
            (Some(start), Some(end)) if end <= start => {
                return Err(ValidationError::new(
                    "plannedEnd",
                    "must be after plannedStart",
                ));
            }
            (Some(_), None) => {
                return Err(ValidationError::new(
                    "plannedEnd",
                    "is required with plannedStart",
                ));
            }
            (None, Some(_)) => {
                return Err(ValidationError::new(
                    "plannedStart",
                    "is required with plannedEnd",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn validate_canary_stages(&self) -> Result<(), ValidationError> {
        let field = "implementationPlan.canaryStages";
        if self.canary_stages.is_empty() {
            return Ok(());
        }
        if self.deployment_method != Some(DeploymentMethod::Canary) {
            return Err(ValidationError::new(
                field,
                "canary stages need deploymentMethod CANARY",
            ));
        }
        if self.canary_stages.len() > 20 {
            return Err(ValidationError::new(field, "at most 20 stages"));
        }
        let in_range = self.canary_stages.iter().all(|p| (1..=100).contains(p));
        let increasing = self.canary_stages.windows(2).all(|w| w[0] < w[1]);
        if !in_range || !increasing {
            return Err(ValidationError::new(
                field,
                "must be strictly increasing traffic percentages between 1 and 100",
            ));
        }
        Ok(())
    }
}

fn has_duplicates(ids: &[Uuid]) -> bool {
    let mut seen = std::collections::HashSet::new();
    !ids.iter().all(|id| seen.insert(id))
}

fn validate_list<T>(
    field: &str,
    items: &[T],
    check: impl Fn(&str, &T) -> Result<(), ValidationError>,
) -> Result<(), ValidationError> {
    if items.len() > MAX_LIST {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
    }
    for (index, item) in items.iter().enumerate() {
        check(&format!("{field}[{index}]"), item)?;
    }
    Ok(())
}

fn validate_rollback_plan(plan: &RollbackPlan) -> Result<(), ValidationError> {
    optional_text(
        "rollbackPlan.trigger",
        plan.trigger.as_deref(),
        MAX_SHORT_TEXT,
    )?;
    optional_text("rollbackPlan.owner", plan.owner.as_deref(), MAX_TITLE)?;
    validate_list("rollbackPlan.steps", &plan.steps, |field, step| {
        required_text(field, step, MAX_SHORT_TEXT)
    })?;
    validate_list(
        "rollbackPlan.verification",
        &plan.verification,
        |field, step| required_text(field, step, MAX_SHORT_TEXT),
    )?;
    if let Some(minutes) = plan.time_estimate_minutes
        && !(1..=10_080).contains(&minutes)
    {
        return Err(ValidationError::new(
            "rollbackPlan.timeEstimateMinutes",
            "must be between 1 minute and 7 days (10080)",
        ));
    }
    Ok(())
}

fn validate_link(field: &str, link: &Link) -> Result<(), ValidationError> {
    let url_field = format!("{field}.url");
    super::http_url(&url_field, &link.url, MAX_URL)?;
    optional_text(&format!("{field}.title"), link.title.as_deref(), MAX_TITLE)
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;

    const TYPES: &[&str] = &["standard", "normal", "major", "emergency"];

    pub(crate) fn sample() -> ChangeContent {
        ChangeContent {
            title: "Upgrade PostgreSQL to 16".into(),
            description: "Minor version upgrade of the primary cluster".into(),
            business_justification: "Security fixes".into(),
            expected_benefit: None,
            urgency: Priority::Medium,
            priority: Priority::Medium,
            change_type: "normal".into(),
            likelihood: 3,
            impact: 4,
            mitigations: None,
            residual_likelihood: None,
            residual_impact: None,
            system_ids: vec![],
            services: vec![],
            customers_affected: None,
            downtime_required: false,
            performance_impact: None,
            implementation_steps: vec!["Fail over".into(), "Upgrade".into()],
            deployment_method: Some(DeploymentMethod::Rolling),
            canary_stages: vec![],
            test_plan: None,
            rollback_plan: None,
            links: vec![],
            planned_start: None,
            planned_end: None,
            template_id: None,
            attributes: vec![],
        }
    }

    fn field_of(content: &ChangeContent) -> String {
        content.validate(TYPES).unwrap_err().field
    }

    #[test]
    fn a_complete_draft_is_valid() {
        assert_eq!(sample().validate(TYPES), Ok(()));
    }

    #[test]
    fn each_required_item_is_missing_until_its_fields_are_given() {
        use RequiredItem::*;
        let all = [
            AffectedSystems,
            ImplementationPlan,
            TestPlan,
            RollbackPlan,
            RiskAssessment,
            PlannedWindow,
        ];
        let mut c = sample();
        c.implementation_steps.clear();
        c.test_plan = Some("  ".into());
        c.mitigations = Some("canary first".into());
        c.residual_likelihood = Some(1);
        c.rollback_plan = Some(super::RollbackPlan {
            steps: vec!["redeploy".into()],
            ..super::RollbackPlan::default()
        });
        assert_eq!(c.missing_information(&all), all.to_vec());
        assert_eq!(c.missing_information(&[]), vec![]);

        c.system_ids = vec![Uuid::nil()];
        c.implementation_steps = vec!["Upgrade".into()];
        c.test_plan = Some("replica passes the smoke suite".into());
        c.rollback_plan.as_mut().unwrap().trigger = Some("errors above 1%".into());
        c.residual_impact = Some(2);
        c.planned_start = Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
        assert_eq!(c.missing_information(&all), vec![PlannedWindow]);
        c.planned_end = Some(Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap());
        assert_eq!(c.missing_information(&all), vec![]);
    }

    #[test]
    fn risk_is_derived_from_ratings() {
        let mut content = sample();
        assert_eq!(content.risk().inherent_score, 12);
        assert_eq!(content.risk().level, RiskLevel::High);
        content.residual_likelihood = Some(1);
        content.residual_impact = Some(4);
        assert_eq!(content.risk().residual_score, Some(4));
        assert_eq!(content.risk().level, RiskLevel::Low);
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let mut c = sample();
        c.title = "   ".into();
        assert_eq!(field_of(&c), "title");

        let mut c = sample();
        c.title = "x".repeat(MAX_TITLE + 1);
        assert_eq!(field_of(&c), "title");

        let mut c = sample();
        c.change_type = "yolo".into();
        assert_eq!(field_of(&c), "type");

        let mut c = sample();
        c.likelihood = 6;
        assert_eq!(field_of(&c), "likelihood");

        let mut c = sample();
        c.residual_impact = Some(2);
        assert_eq!(field_of(&c), "residualLikelihood");

        let mut c = sample();
        c.implementation_steps = vec!["ok".into(), "".into()];
        assert_eq!(field_of(&c), "implementationPlan.steps[1]");

        let mut c = sample();
        c.canary_stages = vec![5, 25];
        assert_eq!(field_of(&c), "implementationPlan.canaryStages");

        let mut c = sample();
        c.deployment_method = Some(DeploymentMethod::Canary);
        c.canary_stages = vec![25, 5];
        assert_eq!(field_of(&c), "implementationPlan.canaryStages");

        let mut c = sample();
        c.links = vec![Link {
            kind: LinkKind::PullRequest,
            url: "javascript:alert(1)".into(),
            title: None,
        }];
        assert_eq!(field_of(&c), "links[0].url");

        let mut c = sample();
        c.planned_start = Some(Utc.with_ymd_and_hms(2026, 12, 6, 4, 0, 0).unwrap());
        c.planned_end = Some(Utc.with_ymd_and_hms(2026, 12, 6, 2, 0, 0).unwrap());
        assert_eq!(field_of(&c), "plannedEnd");

        let mut c = sample();
        let id = Uuid::new_v4();
        c.system_ids = vec![id, id];
        assert_eq!(field_of(&c), "systemIds");

        let mut c = sample();
        c.rollback_plan = Some(RollbackPlan {
            time_estimate_minutes: Some(0),
            ..Default::default()
        });
        assert_eq!(field_of(&c), "rollbackPlan.timeEstimateMinutes");
    }

    #[test]
    fn rollback_plan_reports_missing_parts() {
        let plan = RollbackPlan {
            trigger: Some("error rate > 5%".into()),
            steps: vec!["revert".into()],
            owner: None,
            verification: vec![],
            time_estimate_minutes: Some(15),
        };
        assert_eq!(plan.missing_parts(), vec!["owner", "verification"]);
        assert_eq!(RollbackPlan::default().missing_parts().len(), 5);
    }
}

/// A partial edit of a change. `None` leaves a field alone; for nullable
/// fields `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ChangePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub business_justification: Option<String>,
    pub expected_benefit: Option<Option<String>>,
    pub urgency: Option<Priority>,
    pub priority: Option<Priority>,
    pub change_type: Option<String>,
    pub likelihood: Option<i32>,
    pub impact: Option<i32>,
    pub mitigations: Option<Option<String>>,
    pub residual_likelihood: Option<Option<i32>>,
    pub residual_impact: Option<Option<i32>>,
    pub system_ids: Option<Vec<Uuid>>,
    pub services: Option<Vec<String>>,
    pub customers_affected: Option<Option<String>>,
    pub downtime_required: Option<bool>,
    pub performance_impact: Option<Option<String>>,
    pub implementation_steps: Option<Vec<String>>,
    pub deployment_method: Option<Option<DeploymentMethod>>,
    pub canary_stages: Option<Vec<i32>>,
    pub test_plan: Option<Option<String>>,
    pub rollback_plan: Option<Option<RollbackPlan>>,
    pub links: Option<Vec<Link>>,
    pub planned_start: Option<Option<DateTime<Utc>>>,
    pub planned_end: Option<Option<DateTime<Utc>>>,
    pub template_id: Option<Option<Uuid>>,
    pub attributes: Option<Vec<String>>,
}

macro_rules! apply_fields {
    ($patch:ident, $content:ident; $($field:ident),* $(,)?) => {
        $(if let Some(value) = $patch.$field { $content.$field = value; })*
    };
}

impl ChangePatch {
    pub fn apply(self, content: &mut ChangeContent) {
        let patch = self;
        apply_fields!(patch, content;
            title, description, business_justification, expected_benefit, urgency, priority,
            change_type, likelihood, impact, mitigations, residual_likelihood, residual_impact,
            system_ids, services, customers_affected, downtime_required, performance_impact,
            implementation_steps, deployment_method, canary_stages, test_plan, rollback_plan,
            links, planned_start, planned_end, template_id, attributes,
        );
    }
}

/// The fields that differ between two versions, as
/// `{field: {"before": .., "after": ..}}` for the audit trail.
pub fn diff(before: &ChangeContent, after: &ChangeContent) -> serde_json::Value {
    let (serde_json::Value::Object(old), serde_json::Value::Object(new)) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    ) else {
        return serde_json::Value::Null;
    };
    let changed: serde_json::Map<String, serde_json::Value> = new
        .into_iter()
        .filter(|(key, value)| old.get(key) != Some(value))
        .map(|(key, value)| {
            let previous = old.get(&key).cloned().unwrap_or_default();
            (key, serde_json::json!({"before": previous, "after": value}))
        })
        .collect();
    serde_json::Value::Object(changed)
}

#[cfg(test)]
mod patch_tests {
    use super::{tests::sample, *};

    #[test]
    fn patch_sets_and_clears_only_what_it_names() {
        let mut content = sample();
        content.mitigations = Some("feature flag".into());
        let before = content.clone();
        ChangePatch {
            title: Some("New title".into()),
            mitigations: Some(None),
            ..Default::default()
        }
        .apply(&mut content);
        assert_eq!(content.title, "New title");
        assert_eq!(content.mitigations, None);
        assert_eq!(content.description, before.description);
        let changes = diff(&before, &content);
        let keys: Vec<&String> = changes.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["mitigations", "title"]);
        assert_eq!(changes["title"]["before"], "Upgrade PostgreSQL to 16");
    }
}

#[cfg(test)]
mod input_properties {
    use proptest::prelude::*;

    use super::{tests::sample, *};

    proptest! {
        /// Whatever a client sends, validation answers Ok or names a field;
        /// it never panics (huge strings, unicode, NUL, odd numbers).
        #[test]
        fn validation_never_panics(
            title in ".{0,300}",
            description in "\\PC{0,50}",
            likelihood in any::<i32>(),
            impact in any::<i32>(),
            residual in proptest::option::of(any::<i32>()),
            stages in proptest::collection::vec(any::<i32>(), 0..25),
            url in "\\PC{0,40}",
            minutes in proptest::option::of(any::<i32>()),
        ) {
            let mut content = sample();
            content.title = title;
            content.description = description;
            content.likelihood = likelihood;
            content.impact = impact;
            content.residual_likelihood = residual;
            content.residual_impact = residual;
            content.deployment_method = Some(DeploymentMethod::Canary);
            content.canary_stages = stages;
            content.links = vec![Link { kind: LinkKind::Other, url, title: None }];
            content.rollback_plan = Some(RollbackPlan { time_estimate_minutes: minutes, ..Default::default() });
            if let Err(error) = content.validate(&["normal"]) {
                prop_assert!(!error.field.is_empty());
            }
        }

        #[test]
        fn change_numbers_parse_or_fail_cleanly(text in "\\PC{0,30}") {
            let _ = super::super::numbering::parse_number(&text);
        }

        #[test]
        fn calendar_rules_parse_or_fail_cleanly(dtstart in "\\PC{0,25}", rrule in "\\PC{0,60}", zone in "\\PC{0,30}", minutes in any::<u32>()) {
            let _ = crate::policy::calendar_rule("x", &dtstart, Some(&rrule), minutes, &zone);
        }
    }
}
